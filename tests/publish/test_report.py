"""The district report, built from the shared publish district's released warehouse: its numbers
are the marts' numbers, suppressed cells read "suppressed", empty marts read "no data", and in a
real browser (headless Chromium) every chart draws, offline, without an error."""

from __future__ import annotations

import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, MetadataValue, materialize

from interop_pipeline.assets.publish.report import REPORT_KEY, build_report_asset
from interop_pipeline.config import load_config
from interop_pipeline.publish.report import (
    NO_DATA,
    SUPPRESSED,
    administration_title,
    report_path,
    write_report,
)
from tests.browser_tools import require_browser, run_browser_script
from tests.conftest import write_config
from tests.district_build import run_dbt
from tests.publish.conftest import STUDENTS, release


class Tables(HTMLParser):
    """Every data-table of the page: {table: {(row, column): text}} from data-row and data-col."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[tuple[str, str], str]] = {}
        self._table = self._row = self._col = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a["data-table"]
            self.tables[self._table] = {}
        elif tag == "tr" and "data-row" in a:
            self._row = a["data-row"]
        elif tag == "td" and self._row is not None:
            self._col = a["data-col"]
            self.tables[self._table][(self._row, self._col)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None

    def handle_data(self, data: str) -> None:
        if self._col is not None:
            self.tables[self._table][(self._row, self._col)] += data


def mart(warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# The shared district rebuilds, after identity resolution, only what the extracts read; the report
# also reads these marts of the crosswalk.
AFTER_IDENTITY_MARTS = ("mart_assessment_proficiency", "identity_match_quality")


@pytest.fixture(scope="module")
def published(built_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A released copy of the shared district's warehouse (the report reads the published file),
    with the marts built from the identity crosswalk brought up to date in the copy."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "warehouse").mkdir()
    (folder / "landing").symlink_to(built_district / "landing")  # dbt reads it, writes nothing there
    shutil.copyfile(built_district / "warehouse" / "build.duckdb", folder / "warehouse" / "build.duckdb")
    config = load_config(write_config(folder, students=STUDENTS))
    run = run_dbt(config, folder / "dbt_target", "run", "--quiet", "--select", *AFTER_IDENTITY_MARTS)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    release(config)
    return config.published_warehouse_path


@pytest.fixture(scope="module")
def report(published: Path) -> tuple[Path, dict[str, dict[tuple[str, str], str]]]:
    summary = write_report(published)
    assert summary.path == report_path(published) == published.with_name("district_report.html")
    assert summary.sections_without_data == ()
    return summary.path, Tables(summary.path.read_text()).tables


def expected_cell(row: dict, numerator: str, denominator: str, rate: str) -> str:
    if row["is_suppressed"]:
        return SUPPRESSED
    return f"{row[rate] * 100:.1f}% ({row[numerator]:,} of {row[denominator]:,})"


def shown_cells(tables: dict, section: str) -> int:
    """Cells of the section's tables that hold a mart cell (the rest read "—": no such cell)."""
    cells = [text for name, table in tables.items() if name.startswith(f"{section}:") for text in table.values()]
    return sum(text != "—" for text in cells)


def chart_labels(path: Path, section: str, label: str) -> int:
    figures = re.findall(rf'<figure class="chart" data-chart="{section}-\d+">(.*?)</figure>', path.read_text())
    return sum(figure.count(f">{label}</text>") for figure in figures)


def test_chronic_absenteeism_cells_are_the_marts_and_suppressed_cells_say_so(report, published) -> None:
    path, tables = report
    rows = mart(published, "select * from mart_chronic_absenteeism where grade_level = 'all'")
    definitions = {r["definition_name"] for r in rows}
    assert definitions and {t for t in tables if t.startswith("chronic-absenteeism:")} == {
        f"chronic-absenteeism:{d}" for d in definitions
    }
    for r in rows:
        cell = tables[f"chronic-absenteeism:{r['definition_name']}"][(r["subgroup"], r["school_name"])]
        assert cell == expected_cell(r, "students_chronically_absent", "students_measured", "chronic_absenteeism_rate")
    suppressed = [r for r in rows if r["is_suppressed"]]
    assert suppressed and all(r["students_measured"] is None for r in suppressed)  # the fixture has some
    assert shown_cells(tables, "chronic-absenteeism") == len(rows)
    # The charts label each suppressed cell with the word too.
    assert chart_labels(path, "chronic-absenteeism", SUPPRESSED) == len(suppressed)


def test_proficiency_cells_are_the_marts_by_school_and_grade(report, published) -> None:
    path, tables = report
    rows = mart(
        published,
        "select *, coalesce(season, '') as season from mart_assessment_proficiency where subgroup = 'all_students'",
    )
    assert rows
    for r in rows:
        cell = tables[f"proficiency:{administration_title(r)}"][(r["grade_level"], r["school_name"])]
        assert cell == expected_cell(r, "students_proficient", "students_tested", "proficiency_rate")
    assert shown_cells(tables, "proficiency") == len(rows)
    assert chart_labels(path, "proficiency", SUPPRESSED) == sum(r["is_suppressed"] for r in rows) > 0


def test_each_source_shows_its_rows_rejects_and_freshness(report, published) -> None:
    _, tables = report
    table = tables["data-quality"]
    sources = mart(
        published,
        """select source_system, any_value(source_status) as status, sum(rows_landed) as landed,
                  sum(rows_rejected) as rejected, max(freshness_limit_hours) as limit_hours,
                  max(source_newest_batch_age_hours) as age
           from mart_data_quality group by source_system""",
    )
    assert {row for row, _ in table} == {s["source_system"] for s in sources}
    for s in sources:
        row = s["source_system"]
        assert table[(row, "source_status")] == s["status"]
        assert int(table[(row, "rows_landed")].replace(",", "")) == s["landed"]
        assert int(table[(row, "rows_rejected")].replace(",", "")) == s["rejected"]
        limit = table[(row, "freshness_limit_hours")]
        assert limit == "none" if s["limit_hours"] is None else float(limit) == s["limit_hours"]
        if s["age"] is not None:
            assert float(table[(row, "newest_batch_age_hours")]) == pytest.approx(s["age"], abs=0.05)
    assert any(s["landed"] for s in sources)


def test_identity_match_rates_per_system_are_the_marts(report, published) -> None:
    _, tables = report
    table = tables["identity"]
    rows = mart(published, "select * from identity_match_quality")
    assert rows and len({row for row, _ in table}) == len(rows)
    for r in rows:
        key = f"{r['person_type']}:{r['source_system']}"
        for column in ("records", "linked", "queued", "unlinked"):
            assert int(table[(key, column)].replace(",", "")) == r[column]
        assert table[(key, "match_rate")] == f"{r['match_rate'] * 100:.1f}%"


def test_the_report_holds_no_personal_value(report, published) -> None:
    path, _ = report
    page = path.read_text()
    people = mart(
        published,
        """select sis_student_id, local_student_id, state_student_id, first_name, last_name, email, birth_date
           from dim_student""",
    )
    assert people
    for p in people:
        assert not any(
            p[k] and p[k] in page for k in ("sis_student_id", "local_student_id", "state_student_id", "email")
        )
        assert f"{p['first_name']} {p['last_name']}" not in page
        assert str(p["birth_date"]) not in page
    # Nothing to fetch, nothing to run.
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)


def test_empty_marts_read_no_data(published: Path, tmp_path: Path) -> None:
    """A district without attendance and before any identity run (the hub district has no
    attendance): those sections say "no data", the rest still render."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(published, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from main.mart_chronic_absenteeism")
        con.execute("drop table main.identity_match_quality")
    summary = write_report(warehouse)
    page = summary.path.read_text()
    assert summary.sections_without_data == ("chronic-absenteeism", "identity")
    assert page.count('class="no-data"') == 2 and f"{NO_DATA.capitalize()}:" in page
    assert 'data-chart="proficiency-1"' in page and 'data-chart="data-quality-rows"' in page

    empty = tmp_path / "empty" / "warehouse.duckdb"  # no marts at all
    empty.parent.mkdir()
    duckdb.connect(str(empty)).close()
    assert len(write_report(empty).sections_without_data) == 4


def test_the_asset_writes_the_report_beside_the_published_warehouse(published: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, students=STUDENTS))
    release(config, published)
    asset = build_report_asset(config, upstream=[])
    with DagsterInstance.ephemeral() as instance:
        result = materialize([asset], instance=instance)
        assert result.success
        [event] = result.asset_materializations_for_node(asset.op.name)
    path = report_path(config.published_warehouse_path)
    assert event.asset_key == REPORT_KEY and path.is_file()
    assert event.metadata["path"] == MetadataValue.path(str(path))
    assert event.metadata["charts"].value > 0
    assert event.metadata["sections_without_data"].value == "none"


def test_every_chart_renders_in_chromium_offline_without_errors(report) -> None:
    path, _ = report
    require_browser()
    figures = path.read_text().count('<figure class="chart"')
    started = time.perf_counter()
    seen = run_browser_script("check_report.js", str(path), timeout=120)
    assert len(seen["charts"]) == figures > 0
    for chart in seen["charts"]:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["mark_groups"] > 0 and chart["marks_drawn"] > 0, chart
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["requests"] == [seen["url"]] and seen["url"] == path.resolve().as_uri()
    assert seen["no_data"] == []
    assert time.perf_counter() - started < 60
