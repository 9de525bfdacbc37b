"""dbt's DuckDB works within the memory it is told (dbt_project/profiles.yml), spilling past it,
instead of DuckDB's own default of 80% of the machine's memory."""

from __future__ import annotations

import re

from tests.district_build import run_dbt


def test_dbt_works_within_the_memory_limit_it_is_told(built_district, monkeypatch):
    monkeypatch.setenv("INTEROP_DUCKDB_MEMORY_LIMIT", "300MB")
    # Its own target folder: a changed profile makes dbt parse again, and the warehouse tests'
    # folder keeps the parse of the usual one.
    target = built_district.target.parent / "dbt_memory_limit"
    run = run_dbt(
        built_district.config, target, "show", "--inline", "select current_setting('memory_limit') as memory_limit"
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"\|\s*286\.1 MiB\s*\|", run.stdout), run.stdout[-3000:]
