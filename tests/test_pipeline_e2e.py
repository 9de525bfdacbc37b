"""End to end, as a district would run it: the CLI generates a small district, the refresh job
runs with the multiprocess executor in a real Dagster instance, dbt builds a real DuckDB file,
and the release publishes it. Counts in the published warehouse must equal the generator's truth."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from interop_pipeline.assets.release import RELEASE_TABLES, table_counts
from interop_pipeline.config import load_config
from interop_pipeline.publish.audit import read_audit_log
from tests.conftest import write_config

pytestmark = pytest.mark.e2e


def secrets_of(config_path: Path) -> dict[str, str]:
    """A known value for every secret the config names (API clients, recipients, HMAC keys), so
    a test can look for them where they must never appear."""
    config = load_config(config_path)
    names = [
        getattr(settings, field)
        for settings in (*config.sources.values(), *config.recipients.values())
        for field in ("client_secret_env", "hmac_secret_env", "serve_client_secret_env")
        if getattr(settings, field, None)
    ]
    return {name: f"Zq{name.lower().replace('_', '')}x7Kp" for name in names}


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **secrets_of(config), "INTEROP_DISTRICT_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "interop_pipeline.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("district")
    config_path = write_config(folder, students=300, seed=21)
    result = cli("demo", "--executor", "multiprocess", config=config_path)  # as the UI and the daemon run it
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return load_config(config_path), result


def published_counts(path: Path) -> dict[str, int]:
    """Rows of the released core tables (the landing bookkeeping grows with every run's batches)."""
    return {table: n for table, n in table_counts(path).items() if table in RELEASE_TABLES}


def test_published_warehouse_matches_the_generator_truth(demo_run):
    config, result = demo_run
    truth = {
        name: pq.read_table(config.truth_dir / f"{name}.parquet")
        for name in ("schools", "students", "staff", "courses", "sections", "school_enrollments", "section_enrollments")
    }
    counts = published_counts(config.published_warehouse_path)
    expected = {
        "dim_school": truth["schools"].num_rows,
        "dim_student": truth["students"].num_rows,
        "dim_staff": truth["staff"].num_rows,
        "dim_course": truth["courses"].num_rows,
        "dim_section": truth["sections"].num_rows,
        "fct_school_enrollment": truth["school_enrollments"].num_rows,
        "fct_section_enrollment": truth["section_enrollments"].num_rows,
    }
    assert {table: counts[table] for table in expected} == expected
    assert "students" in result.stdout and str(config.published_warehouse_path) in result.stdout


def test_vendor_files_land_in_their_staging_tables(demo_run):
    config, _ = demo_run
    truth = {
        name: pq.read_table(config.truth_dir / f"{name}.parquet").num_rows
        for name in ("attendance_events", "map_results", "iready_results", "state_results")
    }
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        count = lambda table: con.execute(f"select count(*) from staging.{table}").fetchone()[0]  # noqa: E731
        assert count("stg_sis_attendance__daily_attendance") == truth["attendance_events"]
        assert count("stg_state_assessment__summative_results") == truth["state_results"]
        # A few students are missing from NWEA's roster, as in real districts.
        assert 0.95 * truth["map_results"] <= count("stg_nwea_map__assessment_results") < truth["map_results"]
        iready = count("stg_iready__diagnostic_ela") + count("stg_iready__diagnostic_math")
        assert 0.95 * truth["iready_results"] <= iready < truth["iready_results"]
        # Every result reaches the facts through its declaration's conformance, vendor by vendor.
        facts = dict(con.execute("select vendor, count(*) from main.fct_assessment_result group by 1").fetchall())
        assert facts == {
            "nwea_map": count("stg_nwea_map__assessment_results"),
            "iready": iready,
            "state_assessment": count("stg_state_assessment__summative_results"),
        }
        seasons = con.execute(
            "select distinct season, school_year from staging.stg_nwea_map__assessment_results order by 1"
        ).fetchall()
    assert seasons == [("Fall", 2026), ("Spring", 2026), ("Winter", 2026)]  # from TermName, not the clock


def test_daily_attendance_counts_every_enrolled_instructional_day(demo_run):
    config, _ = demo_run
    truth = duckdb.connect()
    for name in ("school_enrollments", "calendar", "attendance_events"):
        truth.register(name, pq.read_table(config.truth_dir / f"{name}.parquet"))
    expected_days, expected_absent = truth.execute(
        """select count(*),
                  sum(case a.code when 'A' then 1.0 when 'E' then 1.0 when 'H' then 0.5 else 0 end)
           from school_enrollments s
           join calendar c on c.is_instructional
             and c.calendar_date between s.entry_date and coalesce(s.exit_date, date '9999-12-31')
           left join attendance_events a on a.person_id = s.person_id
             and a.school_sourced_id = s.school_sourced_id and a.attendance_date = c.calendar_date"""
    ).fetchone()
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        days, absent, tardies = con.execute(
            "select count(*), sum(absent_fraction), sum(case when is_tardy then 1 else 0 end)"
            " from fct_student_daily_attendance"
        ).fetchone()
        instructional = con.execute(
            "select count(distinct calendar_date) from dim_school_calendar where is_instructional_day"
        ).fetchone()[0]
    assert instructional == 180
    assert days == expected_days
    assert float(absent) == pytest.approx(float(expected_absent))
    assert tardies > 0


def test_student_attributes_survive_the_trip(demo_run):
    config, _ = demo_run
    truth = pq.read_table(config.truth_dir / "students.parquet").to_pylist()
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        rows = con.execute(
            """select local_student_id, state_student_id, birth_date, grade_level, sex_code,
                      has_idea_services, is_english_learner, is_homeless, race_ethnicity_code,
                      s.sis_school_id
               from dim_student d join dim_school s on d.current_school_key = s.school_key"""
        ).fetchall()
    warehouse = {r[0]: r for r in rows}
    sex = {"female": "Female", "male": "Male", "unspecified": "NotSelected"}
    race = {
        "TwoOrMoreRaces": "MultiracialAndOrMultiethnic",
        "NativeHawaiianOrOtherPacificIslander": "NativeHawaiianOrPacificIslander",
    }
    for student in truth:
        got = warehouse[student["local_id"]]
        assert got[1:] == (
            student["state_id"],
            student["birth_date"],
            student["grade_level"],
            sex[student["sex"]],
            student["idea"],
            student["english_learner"],
            student["homeless"],
            race.get(student["race_ethnicity"], student["race_ethnicity"]),
            student["school_sourced_id"],
        )


def test_dbt_tests_ran_as_asset_checks_and_landing_is_recorded(demo_run):
    config, result = demo_run
    landed = list((config.landing_dir / "oneroster_csv" / "_batches").glob("2*.parquet"))
    assert len(landed) == 1
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        lineage = con.execute(
            "select count(*) from staging.stg_oneroster_csv__users where source_ref like '%users.csv:%'"
        ).fetchone()[0]
        users = con.execute("select count(*) from staging.stg_oneroster_csv__users").fetchone()[0]
    assert lineage == users > 0


def test_rerun_with_nothing_new_skips_the_build_and_a_rebuild_doubles_nothing(demo_run):
    config, _ = demo_run
    published = config.published_warehouse_path
    fingerprint, modified = sha256(published), published.stat().st_mtime_ns
    before = published_counts(published)
    landed = "select source_system, entity, rows_landed, batches from mart_data_quality order by all"
    with duckdb.connect(str(published), read_only=True) as con:
        landed_before = con.execute(landed).fetchall()

    # Nothing new anywhere: every source lands (and finds nothing), the rest is skipped.
    quiet = cli("run", "--simulate", config=config.config_path)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    skipped = set(re.findall(r"- (\S+)\s+skipped: nothing it reads has changed", quiet.stdout))
    publish_steps = {f"publish__{name}" for name in config.enabled_recipients()}
    after_build = {"resolve_identities", "warehouse_dbt_build_after_identity", "published_warehouse", "district_report"}
    assert skipped == after_build | publish_steps, quiet.stdout
    assert sha256(published) == fingerprint and published.stat().st_mtime_ns == modified

    # Asked to rebuild anyway, landing twice has doubled nothing. --verbose: everything stays on
    # the terminal, no log file is written and no step lines are drawn.
    logs = set((config.data_dir / "logs").glob("run-*.log"))
    result = cli("run", "--simulate", "--rebuild", "--verbose", config=config.config_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not re.search(r"skipped: nothing", result.stdout)
    assert "Full log" not in result.stdout and "✓" not in result.stdout
    assert set((config.data_dir / "logs").glob("run-*.log")) == logs
    assert (
        len(list((config.landing_dir / "oneroster_csv" / "_batches").glob("2*.parquet"))) == 1
    )  # same bundle: no new batch
    assert published_counts(config.published_warehouse_path) == before
    # The REST walks found nothing new: a full walk replaced its twin, an incremental one added
    # at most an empty batch (which the next empty one replaces). No landed row was doubled.
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        landed_after = con.execute(landed).fetchall()
    assert [row[:3] for row in landed_after] == [row[:3] for row in landed_before]
    assert all(after[3] - before[3] in (0, 1) for after, before in zip(landed_after, landed_before, strict=True))


def test_failing_blocking_check_leaves_the_published_warehouse_untouched(demo_run):
    """The SIS sends a second enrolment spell for a student at the same school and date: the
    connector accepts it (it breaks no OneRoster rule) but the fct_school_enrollment grain test
    fails, so the run fails and the analysts' warehouse stays exactly as it was."""
    config, _ = demo_run
    published = config.published_warehouse_path
    fingerprint, modified = sha256(published), published.stat().st_mtime_ns

    bundle = next((config.data_dir / "drops" / "sis").glob("*.zip"))
    members = {}
    with zipfile.ZipFile(bundle) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    roles = members["roles.csv"].decode().splitlines()
    student_role = next(line for line in roles[1:] if '"student"' in line)
    duplicate = student_role.replace('"role-', '"role-dup-', 1).replace('"primary"', '"secondary"')
    members["roles.csv"] = ("\n".join([*roles, duplicate]) + "\n").encode()
    corrected = bundle.with_name("sis_oneroster_resend.zip")
    with zipfile.ZipFile(corrected, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    os.utime(corrected, (bundle.stat().st_mtime + 60, bundle.stat().st_mtime + 60))

    result = cli("run", "--simulate", config=config.config_path)
    assert result.returncode == 1
    assert "fct_school_enrollment" in result.stdout + result.stderr
    assert "left as it was" in result.stderr
    assert sha256(published) == fingerprint and published.stat().st_mtime_ns == modified
    corrected.unlink()


def test_every_rest_system_reaches_its_staging_tables_and_the_sis_counts_once(demo_run):
    config, _ = demo_run
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        count = lambda table: con.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: E731
        staged = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'staging'"
            ).fetchall()
        }
        for system in ("oneroster_api", "edfi", "canvas", "google_classroom"):
            tables = [t for t in staged if t.startswith(f"stg_{system}__")]
            assert tables, system
            assert sum(count(f"staging.{t}") for t in tables) > 0, system
        # Both SIS channels serve the same users; the warehouse holds each student once.
        assert count("staging.stg_oneroster_api__users") == count("staging.stg_oneroster_csv__users")
        students = pq.read_table(config.truth_dir / "students.parquet").num_rows
        assert count("dim_student") == students
        assert con.execute("select count(distinct sis_channel) from main.int_sis__users").fetchone()[0] == 1


def test_identity_links_every_system_precisely_and_never_merges_twins(demo_run):
    config, _ = demo_run
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select source_system, records, precision_against_truth, recall_against_truth, twin_merges"
            " from identity_match_quality where person_type = 'students'"
        ).fetchall()
    quality = {system: (records, precision, recall, twins) for system, records, precision, recall, twins in rows}
    assert set(quality) >= {"sis", "nwea_map", "iready", "state_assessment", "edfi", "canvas", "google_classroom"}
    for system, (records, precision, recall, twins) in quality.items():
        assert records > 0, system
        assert precision >= 0.999 and recall >= 0.99 and twins == 0, (system, precision, recall, twins)


def test_every_demo_recipient_gets_its_delivery_and_every_bundle_is_valid(demo_run):
    from interop_pipeline.publish.audit import read_audit_log
    from interop_pipeline.publish.validator import validate_bundle

    config, _ = demo_run
    audit = read_audit_log(config.data_dir).to_pylist()
    delivered = {(row["recipient"], row["format"]) for row in audit if row["status"] == "delivered"}
    assert {(name, recipient.format) for name, recipient in config.enabled_recipients().items()} <= delivered
    assert {fmt for _, fmt in delivered} >= {"oneroster_1.2", "oneroster_1.1", "edfi_api", "research"}
    bundles = [Path(row["destination"]) for row in audit if row["format"].startswith("oneroster")]
    assert bundles
    for bundle in {b for b in bundles if b.suffix == ".zip"}:
        report = validate_bundle(bundle)
        assert report.ok, report.summary()
    # Every row the Ed-Fi load sent is accounted for in the audit log, file by resource.
    edfi_rows = [row for row in audit if row["format"] == "edfi_api"]
    assert sum(row["row_count"] for row in edfi_rows) > 0


def test_no_secret_or_student_detail_in_logs_events_metadata_or_results(demo_run):
    """Every console line, run log file, Dagster event (asset and check metadata, errors), compute
    log, Ed-Fi results file and audit row the demo and its reruns left is searched for the configured secrets
    and for every student's name, birth date, ids, username and email from the generated truth."""
    config, result = demo_run
    students = pq.read_table(config.truth_dir / "students.parquet").to_pylist()
    # Whole tokens only: an id inside a longer number or word is not that id.
    values = set(secrets_of(config.config_path).values())
    for s in students:
        values |= {s["birth_date"].isoformat(), s["local_id"], s["state_id"], s["username"], s["email"]}
    values.discard(None)
    names = {pair for s in students for pair in ((s["first_name"], s["last_name"]), (s["last_name"], s["first_name"]))}
    haystacks = {"console": result.stdout + result.stderr}
    assert list((config.data_dir / "logs").glob("run-*.log")), "each run writes its full log"
    for folder in (config.data_dir / "dagster_home", config.data_dir / "publish" / "results", config.data_dir / "logs"):
        for path in folder.rglob("*"):
            if path.is_file():
                haystacks[str(path.relative_to(config.data_dir))] = path.read_bytes().decode("utf-8", "ignore")
    haystacks["audit_log"] = str(read_audit_log(config.data_dir).to_pylist())
    assert len(haystacks) > 5
    found = {}
    for place, text in haystacks.items():
        tokens = [t.strip(".-'") for t in re.findall(r"[\w@.+'-]+", text)]
        hits = sum(t in values for t in tokens) + sum(pair in names for pair in zip(tokens, tokens[1:], strict=False))
        if hits:
            found[place] = hits
    # Name the place and how many, never echo the values themselves.
    assert not found, found
