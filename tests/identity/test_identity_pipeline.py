"""Identity resolution in the pipeline, on a small generated district: dbt builds the person
records, the identity asset links them and lands its crosswalk, dbt builds the identity marts and
fct_assessment_result from it. Checked against the generator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from interop_pipeline.assets.identity.landing import ENTITY_COLUMNS, EVIDENCE_LEVELS
from interop_pipeline.assets.identity.resolution import build_identity_assets
from interop_pipeline.config import DistrictConfig, load_config
from interop_pipeline.identity import resolve
from interop_pipeline.identity.decisions import Decision, append_decision
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config
from tests.district_build import land_everything, prepare_build, run_dbt

STUDENTS = 300
SEED = 5
BEFORE_IDENTITY = [
    "+int_person_records__students",
    "+int_person_records__staff",
    "+dim_student",
    "+dim_staff",
    # What the LMS facts read besides the crosswalk (the analytics marts have their own tests).
    "+dim_section",
    "+stg_landing__batch_entities",
    "path:models/staging/canvas",
    "path:models/staging/google_classroom",
    "path:models/staging/declared",
]
AFTER_IDENTITY = ["source:identity+", "--exclude", "path:models/marts/analytics"]


class District:
    def __init__(self, folder: Path):
        self.config: DistrictConfig = load_config(write_config(folder, students=STUDENTS, seed=SEED))
        self.target = folder / "dbt_target"

    def dbt(self, *selection: str, indirect: str = "eager") -> dict:
        run = run_dbt(self.config, self.target, "build", "--select", *selection, "--indirect-selection", indirect)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        return json.loads((self.target / "run_results.json").read_text())

    def resolve(self):
        with DagsterInstance.ephemeral() as instance:
            result = materialize([build_identity_assets(self.config)], instance=instance)
        assert result.success
        return result

    def rows(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.config.build_warehouse_path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def truth_sql(self, name: str) -> str:
        return f"read_parquet('{self.config.truth_dir / name}.parquet')"


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> District:
    district = District(tmp_path_factory.mktemp("identity_district"))
    write_district(district.config, students=STUDENTS, seed=SEED)
    land_everything(district.config)
    prepare_build(district.config)  # the REST sources have delivered nothing yet: placeholders
    # Only what identity and the marts after it read (other sources' models have their own tests).
    district.dbt(*BEFORE_IDENTITY, indirect="cautious")
    district.first_run = district.resolve()
    district.after = district.dbt(*AFTER_IDENTITY)
    return district


def test_landed_columns_follow_the_library():
    assert EVIDENCE_LEVELS == resolve.EVIDENCE_LEVELS
    assert {"student_xwalk", "staff_xwalk", "review_queue", "match_quality", "model_parameters"} == set(ENTITY_COLUMNS)


def test_crosswalk_is_right_against_truth(district: District):
    # The crosswalk's person key is the SIS sourcedId; truth keys people by person_id.
    (scores) = district.rows(
        f"""
        with truth as (
            select system as source_system, system_person_id as source_id, person_id
            from {district.truth_sql("system_students")}
        ),
        scored as (
            select x.source_system, x.person_key is not null as linked,
                students.person_id = truth.person_id as correct
            from student_identity_xwalk x
            join truth using (source_system, source_id)
            left join {district.truth_sql("students")} as students on students.sourced_id = x.person_key
        )
        select source_system, count(*) as records,
            count(*) filter (where correct) / nullif(count(*) filter (where linked), 0) as precision,
            count(*) filter (where correct) / count(*) as recall
        from scored group by source_system order by source_system
        """
    )
    systems = {s for s, *_ in scores}
    assert systems == {"nwea_map", "iready", "state_assessment"}
    for system, records, precision, recall in scores:
        assert records > 50, system
        assert precision == 1.0, (system, precision)
        assert recall >= 0.98, (system, recall)
    # Every person record dbt built is in the crosswalk once.
    counts = dict(district.rows("select source_system, count(*) from student_identity_xwalk group by 1"))
    built = dict(district.rows("select source_system, count(*) from int_person_records__students group by 1"))
    assert counts == built and counts["sis"] == STUDENTS
    quality = district.rows(
        "select source_system, records, linked, queued, unlinked, precision_against_truth, twin_merges"
        " from identity_match_quality where person_type = 'students'"
    )
    for system, records, linked, queued, unlinked, precision, twins in quality:
        assert records == counts[system] and linked + queued + unlinked == records
        assert precision == 1.0 and twins == 0, system


def test_staff_match_quality_is_measured_against_truth(district: District):
    quality = district.rows(
        "select source_system, records, precision_against_truth, recall_against_truth"
        " from identity_match_quality where person_type = 'staff'"
    )
    assert {system for system, *_ in quality} >= {"sis"}
    for system, records, precision, recall in quality:
        assert records > 0 and precision == 1.0 and recall >= 0.98, (system, precision, recall)


def test_identity_asset_reports_counts_and_checks(district: District):
    result = district.first_run
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks[("student_xwalk", "one_person_per_sis_record")].passed
    assert checks[("staff_xwalk", "one_person_per_sis_record")].passed
    assert ("student_xwalk", "match_rate_above_floor") in checks
    (materialization,) = [
        m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "student_xwalk"
    ]
    metadata = materialization.step_materialization_data.materialization.metadata
    assert metadata["sis_records"].value == STUDENTS
    # Counts only: no record's ID appears in the metadata.
    ids = {r[0] for r in district.rows("select source_id from student_identity_xwalk")}
    shown = json.dumps({k: str(v.value) for k, v in metadata.items()})
    assert not any(f'"{i}"' in shown or f" {i} " in shown for i in ids)


def test_assessment_results_reconcile_with_truth(district: District):
    held = f"{district.truth_sql('system_students')}"
    expected = dict(
        district.rows(
            f"""
            select vendor, count(*) from (
                select 'nwea_map' as vendor, person_id, subject, season from {district.truth_sql("map_results")}
                union all select 'iready', person_id, subject, season from {district.truth_sql("iready_results")}
                union all select 'state_assessment', person_id, subject, season
                    from {district.truth_sql("state_results")}
            ) results
            where exists (select 1 from {held} h where h.person_id = results.person_id and h.system = results.vendor)
            group by vendor
            """
        )
    )
    landed = dict(district.rows("select vendor, count(*) from fct_assessment_result group by vendor"))
    assert landed == expected
    # Resolved results belong to the right student; the rest are counted by the warning test.
    wrong, resolved, unresolved = district.rows(
        f"""
        select
            count(*) filter (where r.student_key is not null and s.sis_student_id <> t.sourced_id),
            count(*) filter (where r.student_key is not null),
            count(*) filter (where r.student_key is null)
        from fct_assessment_result r
        left join dim_student s using (student_key)
        join (select distinct system, system_person_id, person_id from {held}) h
          on h.system = r.vendor and h.system_person_id = r.source_student_id
        join {district.truth_sql("students")} t on t.person_id = h.person_id
        """
    )[0]
    assert wrong == 0
    assert resolved >= 0.98 * sum(expected.values())
    (test,) = [r for r in district.after["results"] if "fct_assessment_result_unresolved" in r["unique_id"]]
    assert test["failures"] == unresolved


def test_a_reviewed_rejection_stays_rejected_on_every_later_run(district: District):
    first = dict(
        ((s, i), (p, f))
        for s, i, p, f in district.rows(
            "select source_system, source_id, person_key, first_seen_at from student_identity_xwalk"
        )
    )
    system, source_id, person_key = district.rows(
        "select source_system, source_id, person_key from student_identity_xwalk"
        " where source_system = 'nwea_map' and method = 'sis_local_id' order by source_id limit 1"
    )[0]
    append_decision(
        district.config.identity_decisions_path, Decision(system, source_id, person_key, "reject"), reviewer="t"
    )
    for _ in range(2):  # the second run starts from a crosswalk that already honours the decision
        district.resolve()
        newest = pq.read_table(
            sorted((district.config.landing_dir / "identity" / "student_xwalk").glob("2*.parquet"))[-1]
        )
        links = {(r["source_system"], r["source_id"]): r for r in newest.to_pylist()}
        assert links[(system, source_id)]["person_key"] != person_key
    district.dbt(*AFTER_IDENTITY)
    (now,) = district.rows(
        f"select person_key, method from student_identity_xwalk where source_system = '{system}'"
        f" and source_id = '{source_id}'"
    )
    assert now[0] != person_key
    # Other records keep their link, and when they were first seen.
    again = dict(
        ((s, i), (p, f))
        for s, i, p, f in district.rows(
            "select source_system, source_id, person_key, first_seen_at from student_identity_xwalk"
        )
    )
    unchanged = [k for k in first if k != (system, source_id) and again[k] == first[k]]
    assert len(unchanged) >= 0.99 * (len(first) - 1)
