"""Research files that single no one out: k-anonymity over the agreement's quasi-identifiers,
ℓ-diversity where asked, a blocking check that reads the written file back."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interop_pipeline.config import DistrictConfig, ResearchPrivacy
from interop_pipeline.publish.anonymity import ANY, Level, anonymize
from interop_pipeline.publish.audit import read_audit_log
from interop_pipeline.publish.deliver import publish_recipient
from interop_pipeline.publish.research import (
    AnonymityReport,
    k_anonymity_check,
    quasi_identifiers_of,
    research_students,
)
from interop_pipeline.publish.roster import open_warehouse

GRADES = ["KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"]


def synthetic(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "person_key": f"p{i}",
            "grade_level": rng.choice(GRADES),
            "sex_code": rng.choice(["Female", "Male"]),
            "race_ethnicity_code": rng.choices(
                ["White", "HispanicOrLatino", "Asian", "NativeHawaiian"], [6, 3, 1, 0.2]
            )[0],
            "is_homeless": rng.random() < 0.03,
            "days_absent": rng.randint(0, 30),
        }
        for i in range(n)
    ]


def ladders() -> dict[str, list[Level]]:
    withheld = Level("withheld", lambda _: ANY)
    band = Level("band", lambda g: "KG-05" if g in GRADES[:6] else "06-12")
    return {
        "grade_level": [band, withheld],
        "sex_code": [withheld],
        "race_ethnicity_code": [withheld],
        "is_homeless": [withheld],
    }


def groups(rows: list[dict], quasi: list[str]) -> Counter:
    return Counter(tuple(r[q] for q in quasi) for r in rows)


def test_every_group_holds_k_and_few_records_are_left_out() -> None:
    rows = synthetic(2000)
    quasi = list(ladders())
    assert min(groups(rows, quasi).values()) < 5  # the raw file singles students out
    kept, report = anonymize(rows, ladders(), k=5, max_suppressed_share=0.02)
    assert min(groups(kept, quasi).values()) >= 5
    assert report.suppressed == len(rows) - len(kept) <= 0.02 * len(rows)
    assert report.smallest_group == min(groups(kept, quasi).values())
    assert report.generalized  # something had to give
    assert {r["person_key"] for r in kept} <= {r["person_key"] for r in rows}
    assert all(
        r["days_absent"] == next(o for o in rows if o["person_key"] == r["person_key"])["days_absent"]
        for r in kept[:50]
    )
    # The most varied column climbs first: grade (13 values) before sex (2).
    assert "grade_level" in report.generalized


def test_no_generalization_when_the_file_is_already_safe() -> None:
    rows = [{"grade_level": g, "sex_code": "Female"} for g in ("01", "02") for _ in range(6)]
    kept, report = anonymize(rows, {"grade_level": [Level("withheld", lambda _: ANY)], "sex_code": []}, 5, 0.0)
    assert kept == rows and report.generalized == {} and report.suppressed == 0 and report.smallest_group == 6


def test_l_diversity_suppresses_groups_whose_measure_everyone_shares() -> None:
    rows = [{"grade_level": "01", "chronic": True} for _ in range(6)] + [
        {"grade_level": "02", "chronic": c} for c in (True, False) * 3
    ]
    kept, report = anonymize(rows, {"grade_level": []}, 5, 1.0, sensitive="chronic", l_min=2)
    assert {r["grade_level"] for r in kept} == {"02"} and report.suppressed == 6
    with pytest.raises(ValueError, match="sensitive_measure"):
        ResearchPrivacy(l_diversity=2)


def test_the_check_reads_the_written_file_and_refuses_a_small_group(tmp_path: Path) -> None:
    bundle = tmp_path / "study.zip"
    rows = [{"person_key": f"p{i}", "grade_level": "03" if i < 5 else "04"} for i in range(7)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["person_key", "grade_level"])
    writer.writeheader()
    writer.writerows(rows)
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("students.csv", out.getvalue())
    outcome = k_anonymity_check(bundle, AnonymityReport(5, ["grade_level"]))
    assert not outcome.passed and outcome.metadata["smallest_group"] == 2
    assert "students.csv: 1 quasi-identifier groups break k=5" in outcome.detail
    assert "p5" not in outcome.detail  # the finding never names a record
    assert k_anonymity_check(bundle, AnonymityReport(2, ["grade_level"])).passed


def read_bundle(config: DistrictConfig, name: str) -> tuple[list[dict[str, str]], dict]:
    [bundle] = sorted(config.delivery_folder(config.recipients[name]).glob("*.zip"))[-1:]
    with zipfile.ZipFile(bundle) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("students.csv").decode("utf-8"))))
        return rows, json.loads(zf.read("about.json"))


def test_the_demo_research_file_is_k_anonymous_and_says_what_it_did(publish_config: DistrictConfig) -> None:
    settings = publish_config.recipients["university_study"]
    with open_warehouse(str(publish_config.build_warehouse_path)) as con:
        raw = research_students(con, publish_config, "university_study", settings)
    quasi = quasi_identifiers_of(raw, settings)
    assert {"age_band", "grade_level", "school_id", "sex_code", "race_ethnicity_code", "is_homeless"} <= set(quasi)
    assert min(groups(raw, quasi).values()) < 5  # what the file would have singled out

    staged = publish_recipient(publish_config, "university_study", now=datetime(2025, 9, 1, tzinfo=UTC))
    assert all(c.passed for c in staged.checks), staged.refusal()
    rows, about = read_bundle(publish_config, "university_study")
    assert min(groups(rows, quasi).values()) >= 5
    done = about["k_anonymity"]
    assert done["min_group_size"] == 5 and done["records_suppressed"] == len(raw) - len(rows)
    assert done["records_suppressed"] <= 0.05 * len(raw)
    assert done["generalized"] and set(done["generalized"]) <= set(quasi)
    audit = {a["file_name"]: a["row_count"] for a in read_audit_log(publish_config.data_dir).to_pylist()}
    assert audit["students.csv:suppressed"] == done["records_suppressed"]
    for column, level in done["generalized"].items():
        assert audit[f"students.csv:generalized:{column}:{level}"] == done["records_generalized"].get(column, 0)
