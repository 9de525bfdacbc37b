"""A district adds an assessment vendor with one YAML file, and nothing else but the source in
its config: `interop-pipeline run` lands the vendor's wide file, its results reach the warehouse
facts linked to the district's students, the proficiency mart and the state ODS as Ed-Fi
assessments and studentAssessments. No SQL or Python knows the vendor.

The vendor here ("Star"-like benchmark screener) sends one row per student with a column group
per subject (scale score, percentile rank, benchmark category), the state id, names, birth
date, home phone, ZIP and guardian, dates as MM/DD/YYYY and "--" for a subject not taken."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from interop_pipeline.config import load_config
from tests.conftest import write_config
from tests.test_pipeline_e2e import cli

pytestmark = pytest.mark.e2e

DECLARATION = """
name: screener_benchmark
system: screener
entity: benchmark_results
description: Benchmark screener results, one row per student with a column group per subject.
file_pattern: "screener_*.csv"
mode: append
key: [state_id, test_date]
null_values: ["--"]
fields:
  - {name: state_id, columns: State ID, required: true, not_null: true, personal: true}
  - {name: last_name, columns: Last Name, personal: true}
  - {name: first_name, columns: First Name, personal: true}
  - {name: birth_date, columns: Birth Date, type: date, formats: ["%m/%d/%Y"], personal: true}
  - {name: grade, columns: Grade}
  - {name: test_date, columns: Test Date, type: date, formats: ["%m/%d/%Y"], required: true, not_null: true}
  - {name: home_phone, columns: Home Phone, personal: true}
  - {name: zip, columns: ZIP, personal: true}
  - {name: guardian, columns: Guardian, personal: true}
groups:
  - name: subjects
    columns: '^(?P<subject>Reading|Math) (?P<measure>SS|PR|Category)$'
    fields:
      - {name: scale_score, columns: SS, type: integer}
      - {name: percentile_rank, columns: PR, type: integer}
      - {name: category, columns: Category, null_sentinels: true}
unpivot: subjects
conformance:
  student: {id: state_id, state_id: state_id, first_name: first_name, last_name: last_name,
            birth_date: birth_date, grade: grade, phone: home_phone, postal_code: zip,
            guardian_name: guardian}
  assessment:
    identifier: {template: "Screener-{subject}"}
    title: {template: "Benchmark Screener {subject}"}
    family: {value: Benchmark Screener}
    namespace: uri://screener.example.com/Assessment
    vendor_name: Screener Inc.
    subject: {field: subject, map: {Reading: Reading, Math: Mathematics}}
    grade: grade
    date: test_date
    school_year: {from_date: test_date}
    season: {from_date: test_date}
  scores:
    - {field: scale_score, method: Scale score, datatype: Integer}
    - {field: percentile_rank, method: Percentile rank, datatype: Integer}
  performance_levels:
    - field: category
      method: Achievement/proficiency level
      levels: {At/Above Benchmark: Proficient, On Watch: Basic, Intervention: Below Basic}
      proficient: [At/Above Benchmark]
"""
CATEGORIES = ["Intervention", "On Watch", "At/Above Benchmark"]


def write_vendor_file(truth_dir: Path, path: Path) -> int:
    """The screener's export for the generated district's students; Math "--" for every third."""
    students = pq.read_table(truth_dir / "students.parquet").to_pylist()
    header = ["State ID", "Last Name", "First Name", "Birth Date", "Grade", "Test Date"]
    header += ["Home Phone", "ZIP", "Guardian"]
    header += [f"{s} {m}" for s in ("Reading", "Math") for m in ("SS", "PR", "Category")]
    results = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, s in enumerate(students):
            birth = s["birth_date"]
            row = [s["state_id"], s["last_name"], s["first_name"], f"{birth:%m/%d/%Y}", s["grade_level"]]
            row += ["09/15/2025", f"(555) 010-{i:04d}", f"{10001 + i}", f"Guardian {s['last_name']}"]
            row += [str(400 + i % 300), str(1 + i % 99), CATEGORIES[i % 3]]
            math = [str(500 + i % 250), str(1 + i % 97), CATEGORIES[(i + 1) % 3]]
            row += ["--", "--", "--"] if i % 3 == 0 else math
            writer.writerow(row)
            results += 1 if i % 3 == 0 else 2
    return results


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    folder = tmp_path_factory.mktemp("new_vendor")
    config_path = write_config(folder, students=120, seed=5)
    generated = cli("generate", config=config_path)
    assert generated.returncode == 0, generated.stderr[-3000:]
    # The district's one new file and one config entry.
    (folder / "screener.yaml").write_text(DECLARATION)
    raw = yaml.safe_load(config_path.read_text())
    raw["sources"]["screener"] = {
        "kind": "file_drop",
        "system_name": "Benchmark screener",
        "drop_folder": "drops/screener",
        "declarations": ["screener.yaml"],
    }
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(config_path)
    drop = config.drop_folder(config.sources["screener"])
    drop.mkdir(parents=True, exist_ok=True)
    results = write_vendor_file(config.truth_dir, drop / "screener_fall_2025.csv")
    run = cli("run", "--simulate", config=config_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    return config, results


def rows(config, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_its_results_are_facts_linked_to_the_districts_students(district):
    config, results = district
    ((landed, linked, scored),) = rows(
        config,
        "select count(*), count(student_key), count(scale_score) from fct_assessment_result where vendor = 'screener'",
    )
    assert landed == results and scored == results
    assert linked >= 0.98 * results  # the identity step linked them by state id, names and birth date
    subjects = dict(
        rows(config, "select subject, count(*) from fct_assessment_result where vendor = 'screener' group by 1")
    )
    assert set(subjects) == {"Reading", "Mathematics"} and subjects["Reading"] == 120
    ((year, season),) = rows(
        config, "select distinct school_year, season from fct_assessment_result where vendor = 'screener'"
    )
    assert (year, season) == (2026, "Fall")  # from the test date and the district's July rollover
    long_scores = rows(
        config,
        "select reporting_method, count(*) from fct_assessment_score where vendor = 'screener' group by 1 order by 1",
    )
    assert dict(long_scores) == {
        "Achievement/proficiency level": results,
        "Percentile rank": results,
        "Scale score": results,
    }


def test_its_proficiency_reaches_the_mart(district):
    config, _ = district
    measured = rows(
        config,
        "select assessment_name, sum(students_tested), sum(students_proficient) from mart_assessment_proficiency"
        " where vendor = 'screener' and reporting_level = 'district' and subgroup = 'all_students'"
        " and grade_level = 'all' group by 1",
    )
    assert {name for name, *_ in measured} == {"Screener-Reading", "Screener-Math"}
    for _, tested, proficient in measured:
        assert tested and 0 < proficient < tested
    ((vendor_name, namespace),) = rows(
        config, "select distinct vendor_name, namespace from dim_assessment where vendor = 'screener'"
    )
    assert (vendor_name, namespace) == ("Screener Inc.", "uri://screener.example.com/Assessment")


def test_its_results_went_to_the_state_ods_as_edfi(district):
    config, _ = district
    linked = {
        k
        for (k,) in rows(
            config,
            "select assessment_result_key from fct_assessment_result"
            " where vendor = 'screener' and student_key is not null",
        )
    }
    outcomes: dict[tuple[str, str], str] = {}
    for path in (config.data_dir / "publish" / "results" / "state_ods").rglob("*.csv"):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                outcomes[(row["resource"], row["record_key"])] = row["outcome"]
    sent = {key for (resource, key), outcome in outcomes.items() if resource == "studentAssessments" and key in linked}
    assert sent == linked
    assert all(outcomes[("studentAssessments", k)] in ("created", "updated") for k in linked)


def test_its_students_reach_identity_with_what_they_share(district):
    """The declaration's phone, postal code and guardian roles reach the person records identity
    compares (the SIS side: its OneRoster users.phone, blank in the generated district)."""
    config, _ = district
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        ((records, phones, postal, guardians),) = con.execute(
            "select count(*), count(phone), count(postal_code), count(guardian_name)"
            " from int_person_records__students where source_system = 'screener'"
        ).fetchall()
        ((sis_phones,),) = con.execute(
            "select count(phone) from int_person_records__students where source_system = 'sis'"
        ).fetchall()
    assert records == 120 and phones == postal == guardians == 120
    assert sis_phones == 0
