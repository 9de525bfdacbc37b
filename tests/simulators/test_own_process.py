"""The simulated APIs in a process of their own (what the demo, `run --simulate` and the bench
use): they answer a run in another process with the credentials they hand over, and stop with
the block."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
import requests

from interop_pipeline.config import api_base_url_env, load_config, recipient_base_url_env
from interop_pipeline.connectors.api_sources import source_client
from interop_pipeline.simulators.apis import RECIPIENTS_ONLY, api_sources, simulators_in_own_process
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_config(tmp_path_factory.mktemp("own_process"), students=40)
    write_district(load_config(path), students=40, seed=11)
    return path


def test_they_serve_a_run_elsewhere_with_the_credentials_they_hand_over_and_stop_with_the_block(config_path):
    config = load_config(config_path)
    before = dict(os.environ)
    with simulators_in_own_process(config_path) as ready:
        assert dict(os.environ) == before  # the caller decides where the environment goes
        assert set(ready["urls"]) == set(api_sources(config))
        env = ready["env"]
        assert env[api_base_url_env("oneroster_api")].startswith(ready["urls"]["oneroster_api"] + "/")
        with mock.patch.dict(os.environ, env):
            source = config.sources["oneroster_api"]
            client = source_client(config, "oneroster_api", source)
            users = client.get_json("users", params={"limit": 5}).body["users"]
            client.close()
        assert len(users) == 5
        ods = env[recipient_base_url_env("state_ods")]
        assert requests.get(ods, timeout=10).json()["version"]  # the recipient's empty ODS/API too
    assert ready["peak_mb"] > 0
    with pytest.raises(requests.ConnectionError):  # gone with the block
        requests.get(ready["urls"]["oneroster_api"], timeout=5)


def test_only_the_recipients(config_path):
    with simulators_in_own_process(config_path, RECIPIENTS_ONLY) as ready:
        assert set(ready["urls"]) == {"state_ods"}  # an empty ODS/API, and no source
        assert ready["env"][recipient_base_url_env("state_ods")] == ready["urls"]["state_ods"]
        assert not any(api_base_url_env(name) in ready["env"] for name in api_sources(load_config(config_path)))


def test_a_district_never_generated_is_named(tmp_path):
    path = write_config(tmp_path, students=40)
    with pytest.raises(RuntimeError, match="did not start"), simulators_in_own_process(path):
        pass
