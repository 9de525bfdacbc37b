"""Identity resolution: each deterministic rule, reviewed decisions, and the targets on a
generated district at default noise."""

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from interop_pipeline.identity.decisions import Decision, append_decision, read_decisions
from interop_pipeline.identity.records import RECORD_COLUMNS
from interop_pipeline.identity.resolve import resolve
from interop_pipeline.identity.truth import records_from_truth, score_against_truth
from interop_pipeline.simulators.district import generate_district


def records(*rows: dict) -> pa.Table:
    base = {c: None for c in RECORD_COLUMNS}
    full = [{**base, **row} for row in rows]
    return pa.Table.from_pylist(
        full,
        schema=pa.schema([(c, pa.date32() if c == "birth_date" else pa.string()) for c in RECORD_COLUMNS]),
    )


ANA = {
    "source_system": "sis",
    "source_id": "u1",
    "person_key": "P1",
    "sis_id": "0012345",
    "state_id": "900001",
    "first_name": "Ana",
    "last_name": "Lopez",
    "birth_date": date(2014, 3, 9),
    "email": "ana.lopez@d.org",
    "login_id": "ana.lopez0012345",
    "grade_level": "05",
    "school_id": "org-101",
}
BEA = {
    "source_system": "sis",
    "source_id": "u2",
    "person_key": "P2",
    "sis_id": "0054321",
    "state_id": "900002",
    "first_name": "Bea",
    "last_name": "Lopez",
    "birth_date": date(2014, 3, 9),
    "email": "bea.lopez@d.org",
    "login_id": "bea.lopez0054321",
    "grade_level": "05",
    "school_id": "org-101",
}


def link_of(resolution, system: str, source_id: str) -> tuple[str | None, str]:
    rows = [r for r in resolution.crosswalk.to_pylist() if (r["source_system"], r["source_id"]) == (system, source_id)]
    return rows[0]["person_key"], rows[0]["method"]


@pytest.mark.parametrize(
    ("record", "method"),
    [
        ({"sis_id": "12345", "first_name": "Anna", "last_name": "Lopez"}, "sis_local_id"),  # lost leading zeros
        ({"state_id": "900001", "first_name": "Ana", "last_name": "Lopes"}, "state_id"),
        ({"sis_id": "ana.lopez0012345", "first_name": "Ana"}, "lms_login"),  # Canvas sis_user_id holding the login
        ({"login_id": "ANA.LOPEZ0012345"}, "lms_login"),
        ({"email": " Ana.Lopez@d.org "}, "school_email"),
    ],
)
def test_each_rule_links_its_record(record, method):
    result = resolve(records(ANA, BEA, {"source_system": "vendor", "source_id": "v1", **record}))
    assert link_of(result, "vendor", "v1") == ("P1", method)


def test_an_id_without_any_agreeing_name_or_birth_date_is_not_trusted():
    stranger = {
        "source_system": "vendor",
        "source_id": "v1",
        "sis_id": "0012345",
        "first_name": "Zed",
        "last_name": "Quinn",
        "birth_date": date(2010, 1, 1),
    }
    assert link_of(resolve(records(ANA, BEA, stranger)), "vendor", "v1")[0] is None


def test_an_id_two_sis_students_share_links_neither():
    twin = {**BEA, "sis_id": ANA["sis_id"]}
    vendor = {"source_system": "vendor", "source_id": "v1", "sis_id": "0012345", "last_name": "Lopez"}
    assert link_of(resolve(records(ANA, twin, vendor)), "vendor", "v1")[0] is None


def test_confirmed_links_of_an_earlier_run_hold_when_the_id_goes_stale():
    prior = pa.table(
        {"source_system": ["vendor"], "source_id": ["v1"], "person_key": ["P1"], "method": ["sis_local_id"]}
    )
    stale = {"source_system": "vendor", "source_id": "v1", "sis_id": "7777777", "first_name": "Ana"}
    assert link_of(resolve(records(ANA, BEA, stale), prior_links=prior), "vendor", "v1") == (
        "P1",
        "confirmed_vendor_id",
    )


def test_review_decisions_override_rules_and_a_rejection_stays_rejected(tmp_path):
    vendor = {"source_system": "vendor", "source_id": "v1", "email": "ana.lopez@d.org", "first_name": "Ana"}
    decisions_file = tmp_path / "identity_decisions.csv"
    append_decision(decisions_file, Decision("vendor", "v1", "P1", "reject"), reviewer="data team")
    first = resolve(records(ANA, BEA, vendor), decisions=read_decisions(decisions_file))
    assert link_of(first, "vendor", "v1")[0] is None
    # The next run, with the previous crosswalk as prior links, still does not link the pair.
    again = resolve(records(ANA, BEA, vendor), decisions=read_decisions(decisions_file), prior_links=first.crosswalk)
    assert link_of(again, "vendor", "v1")[0] is None
    # An acceptance (appended later) overrides the earlier rejection and any rule.
    append_decision(decisions_file, Decision("vendor", "v1", "P2", "accept"))
    append_decision(decisions_file, Decision("vendor", "v1", "P1", "reject"))
    accepted = resolve(records(ANA, BEA, vendor), decisions=read_decisions(decisions_file))
    assert link_of(accepted, "vendor", "v1") == ("P2", "review_accepted")


@pytest.fixture(scope="module")
def district():
    return generate_district(
        3000, 21, district_code="test-usd", lea_id="0600009", year_start=date(2025, 8, 18), year_end=date(2026, 6, 5)
    )


def test_generated_district_meets_the_targets(district):
    today = ["nwea_map", "iready", "state_assessment"]
    resolution = resolve(records_from_truth(district.students, district.system_students, today))
    scores = {
        r["source_system"]: r
        for r in score_against_truth(resolution.crosswalk, district.students, district.system_students).to_pylist()
    }
    assert set(scores) == {"sis", *today}
    for system, score in scores.items():
        assert score["precision"] >= 0.999, system
        assert score["recall"] >= 0.99, system
        assert score["twin_merges"] == 0, system


def test_model_alone_never_merges_twins_when_every_id_is_gone(district):
    """With IDs, emails and logins removed, only the probabilistic pass links: it stays precise
    and sends what it cannot tell apart to review."""
    full = records_from_truth(district.students, district.system_students, ["nwea_map", "iready", "state_assessment"])
    vendor = pc.not_equal(full["source_system"], "sis")
    for column in ("sis_id", "state_id", "email", "login_id"):
        blank = pc.if_else(vendor, pa.scalar(None, pa.string()), full[column])
        full = full.set_column(full.schema.get_field_index(column), column, blank)
    resolution = resolve(full)
    scores = score_against_truth(resolution.crosswalk, district.students, district.system_students).to_pylist()
    for score in scores:
        assert score["precision"] >= 0.999 and score["twin_merges"] == 0, score["source_system"]
        assert score["recall"] >= 0.98, score["source_system"]
    assert resolution.review_queue.num_rows > 0
    assert set(resolution.model) >= {"comparisons", "probability_two_random_records_match"}


def test_a_student_twice_in_the_sis_is_queued_for_review_never_merged(district):
    """Three students enrolled a second time under new SIS ids (one with a typo in the given name,
    one with day and month swapped): each pair is queued and each record keeps its own person key;
    twins (another given name, all else equal) are not taken for duplicates; a rejection holds."""
    full = records_from_truth(district.students, district.system_students, ["nwea_map", "iready", "state_assessment"])
    sis = full.filter(pc.equal(full["source_system"], "sis"))
    firsts = sis.filter(pc.less_equal(pc.day(sis["birth_date"]), 12)).slice(0, 3).to_pylist()
    again = [
        {**r, "source_id": f"dup-{i}", "person_key": f"dup-{i}", "sis_id": f"99{i}", "email": None, "login_id": None}
        for i, r in enumerate(firsts)
    ]
    again[1]["first_name"] = again[1]["first_name"][:-1]
    born = again[2]["birth_date"]
    again[2]["birth_date"] = date(born.year, born.day, born.month)
    with_duplicates = pa.concat_tables([full, pa.Table.from_pylist(again, schema=full.schema)])
    resolution = resolve(with_duplicates)
    crosswalk = {(r["source_system"], r["source_id"]): r for r in resolution.crosswalk.to_pylist()}
    assert [crosswalk[("sis", f"dup-{i}")]["person_key"] for i in range(3)] == ["dup-0", "dup-1", "dup-2"]
    queued = [r for r in resolution.review_queue.to_pylist() if r["source_system"] == "sis"]
    assert all(r["reason"].startswith("possible duplicate") for r in queued)
    found = {frozenset((crosswalk[("sis", r["source_id"])]["person_key"], r["candidate_person_key"])) for r in queued}
    assert {frozenset((f"dup-{i}", r["person_key"])) for i, r in enumerate(firsts)} <= found
    first_name = {r["person_key"]: r["first_name"] for r in with_duplicates.to_pylist() if r["source_system"] == "sis"}
    twins = [pair for pair in found if len({first_name[key][:3] for key in pair}) > 1]
    assert not twins
    rejections = [Decision("sis", r["source_id"], r["candidate_person_key"], "reject") for r in queued]
    again_run = resolve(with_duplicates, decisions=rejections)
    assert not [r for r in again_run.review_queue.to_pylist() if r["source_system"] == "sis"]
