"""The same dbt project on Spark: the core marts of the shared district, built by dbt-spark (pyspark
in local mode, dbt's `spark` target) from the same landing zone, equal to DuckDB's build row for
row.

Covered: every dim_* / fct_* of models/marts/core with their staging and intermediate upstreams,
seeds and the identity crosswalks, except the two built on dbt snapshots (dim_student_history,
fct_program_participation): dbt-spark snapshots need a Delta or Iceberg table format, whose jars
pyspark does not ship. fct_assessment_score builds on Spark too but is not compared: the shared
DuckDB district does not build it. dbt's data tests run on DuckDB only: on Spark they pass too
(checked by hand) but double the build's time.

Values are compared after one normalization: floating-point numbers rounded to 9 decimals and
timestamps written in UTC (Spark has no zoned timestamp type: a DuckDB TIMESTAMP WITH TIME ZONE
column is a Spark TIMESTAMP holding the same instant). No column is left out."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.connectors.landing import PLACEHOLDER_NAME
from interop_pipeline.transform.placeholders import spark_placeholders
from tests.district_build import run_dbt

SNAPSHOT_BASED = ("dim_student_history", "fct_program_participation")
SPARK_SELECTION = ("+path:models/marts/core",)
# Seeds and models only: the data tests run on the DuckDB build.
SPARK_EXCLUDE = (*SNAPSHOT_BASED, "resource_type:snapshot", "resource_type:test", "resource_type:unit_test")
COMPARED = (
    "dim_assessment",
    "dim_course",
    "dim_district",
    "dim_lms_assignment",
    "dim_school",
    "dim_school_calendar",
    "dim_section",
    "dim_session",
    "dim_staff",
    "dim_student",
    "fct_assessment_result",
    "fct_course_grade",
    "fct_lms_submission",
    "fct_school_enrollment",
    "fct_section_enrollment",
    "fct_staff_section_assignment",
    "fct_student_daily_attendance",
    "student_identity_xwalk",
    "staff_identity_xwalk",
)


def build_on_spark(built_district, spark_dir: Path) -> Path:
    """The Spark build of the core marts; returns the folder of the main schema's tables."""
    spark_placeholders(built_district.config.landing_dir, spark_dir)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INTEROP_SPARK_DIR", str(spark_dir))
        # A JVM that lives a minute on a small district: the quick compiler alone and the serial
        # collector cost it a quarter less CPU than the defaults, tuned for long-running servers.
        env.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        run = run_dbt(
            built_district.config,
            spark_dir / "dbt_target",
            "build",
            "--target",
            "spark",
            "--select",
            *SPARK_SELECTION,
            "--exclude",
            *SPARK_EXCLUDE,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return spark_dir / "warehouse" / "main.db"


def normalized(relation: str, columns: list[tuple[str, str]]) -> str:
    """A select of `relation` with every value as comparable text."""
    values = []
    for name, data_type in columns:
        column = f'"{name}"'
        if data_type in ("DOUBLE", "FLOAT") or data_type.startswith("DECIMAL"):
            values.append(f"cast(round(cast({column} as double), 9) as varchar)")
        elif data_type.startswith("TIMESTAMP"):
            values.append(f"strftime(timezone('UTC', cast({column} as timestamptz)), '%Y-%m-%d %H:%M:%S.%f')")
        else:
            values.append(f"cast({column} as varchar)")
    return "select " + ", ".join(f"{v} as {c}" for v, (c, _) in zip(values, columns, strict=True)) + f" from {relation}"


def differences(con: duckdb.DuckDBPyConnection, table: str, spark_tables: Path) -> list[str]:
    """How Spark's `table` differs from DuckDB's (nothing when they are equal)."""
    spark = f"read_parquet('{spark_tables / table}/*.parquet')"
    duck = f"duck.main.{table}"
    duck_columns = [(c, t) for c, t, *_ in con.execute(f"describe {duck}").fetchall()]
    spark_columns = [(c, t) for c, t, *_ in con.execute(f"describe select * from {spark}").fetchall()]
    if [c for c, _ in spark_columns] != [c for c, _ in duck_columns]:
        return [f"{table}: columns {[c for c, _ in spark_columns]} on Spark, {[c for c, _ in duck_columns]} on DuckDB"]
    duck_rows = con.execute(f"select count(*) from {duck}").fetchone()[0]
    spark_rows = con.execute(f"select count(*) from {spark}").fetchone()[0]
    if duck_rows == 0:
        return [f"{table} is empty on DuckDB: the comparison would prove nothing"]
    if spark_rows != duck_rows:
        return [f"{table}: {spark_rows} rows on Spark, {duck_rows} on DuckDB"]
    duck_values, spark_values = normalized(duck, duck_columns), normalized(spark, spark_columns)
    only_duckdb = con.execute(f"{duck_values} except all {spark_values} limit 3").fetchall()
    only_spark = con.execute(f"{spark_values} except all {duck_values} limit 3").fetchall()
    if only_duckdb or only_spark:
        return [f"{table}: rows only DuckDB built {only_duckdb}; rows only Spark built {only_spark}"]
    return []


# One test for the whole comparison: the Spark build is the expensive part, and a module fixture
# would be built again on each worker that ran one of several tests.
def test_core_marts_built_on_spark_equal_duckdbs(built_district, tmp_path):
    spark_tables = build_on_spark(built_district, tmp_path / "spark")
    with duckdb.connect() as con:
        con.execute("set timezone = 'UTC'")
        con.execute(f"attach '{built_district.warehouse}' as duck (read_only)")
        found = [difference for table in COMPARED for difference in differences(con, table, spark_tables)]
    assert not found, "\n".join(found)


def test_the_readmes_spark_commands_are_the_ones_tested(tmp_path):
    """The README's lines: the placeholder copy runs as written (in a folder with a landing zone
    of one zero-row file), and its dbt build selects and excludes what this file's build does."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### The warehouse on Spark", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    copy = next(line for line in lines if "interop_pipeline.transform.placeholders" in line)
    placeholder = tmp_path / "data" / "landing" / "canvas" / "users" / PLACEHOLDER_NAME
    placeholder.parent.mkdir(parents=True)
    placeholder.write_bytes(b"PAR1")
    done = subprocess.run(
        [sys.executable, *shlex.split(copy)[1:]], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "1 zero-row files copied" in done.stdout
    assert (tmp_path / "data/spark/landing_placeholders/canvas/users/empty.parquet").read_bytes() == b"PAR1"
    build = shlex.split(next(line for line in lines if "dbt build" in line))
    selected = build[build.index("--select") + 1 : build.index("--exclude")]
    assert tuple(selected) == SPARK_SELECTION and tuple(build[build.index("--exclude") + 1 :]) == SPARK_EXCLUDE
