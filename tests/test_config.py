from pathlib import Path

import pytest
import yaml

from interop_pipeline.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_demo_config_is_valid_and_paths_resolve_against_its_folder():
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.district.code == "demo-usd"
    assert config.data_dir == DEFAULT_CONFIG_PATH.parent.parent.resolve()
    assert config.drop_folder(config.sources["oneroster_csv"]) == config.data_dir / "drops" / "sis"
    assert config.school_year.ending_year == config.school_year.end.year


def test_environment_variable_selects_the_config(tmp_path, monkeypatch):
    path = _write(tmp_path, lambda raw: raw["district"].update(name="Elsewhere ISD"))
    monkeypatch.setenv("INTEROP_DISTRICT_CONFIG", str(path))
    assert load_config().district.name == "Elsewhere ISD"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda raw: raw["district"].update(colour="blue"), "district.colour: unknown key"),
        (lambda raw: raw["school_year"].update(start="not a date"), "school_year.start"),
        (
            lambda raw: raw["sources"]["oneroster_csv"].update(max_uncompressed_mb="lots"),
            "sources.oneroster_csv.oneroster_csv.max_uncompressed_mb",
        ),
        (lambda raw: raw["sources"]["oneroster_csv"].update(kind="ftp"), "sources.oneroster_csv"),
        (lambda raw: raw.pop("schedule"), "schedule: required setting is missing"),
        (lambda raw: raw["school_year"].update(end="2025-01-01"), "end must be after start"),
        (lambda raw: raw["district"].update(code="Has Spaces"), "district.code"),
    ],
)
def test_invalid_config_names_file_and_key_path(tmp_path, mutate, expected):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message
    assert expected in message


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("district: [unclosed")
    with pytest.raises(ConfigError, match=f"{bad}: not valid YAML"):
        load_config(bad)
