"""What we publish to Ed-Fi is checked against the Data Standard's own rules, not only our
simulator: every document satisfies its resource's DS 5.1 JSON schema and uses only Ed-Fi's
default descriptors (the edfi_descriptor seed). A document that would not is refused on its own,
with the resource, the record's key and the JSON path, and never sent."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from interop_pipeline.config import DistrictConfig
from interop_pipeline.connectors import edfi_standard
from interop_pipeline.publish import edfi
from interop_pipeline.publish.deliver import publish_recipient
from interop_pipeline.simulators.apis import running_recipient_apis
from tests.publish.test_edfi_refusals import FIRST, assert_no_personal_value, edfi_json, execute, jsonl, refusals_in


def descriptor_values(value: Any, key: str = "") -> Iterator[str]:
    """Every string under a property whose name ends in Descriptor, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from descriptor_values(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from descriptor_values(item, key)
    elif isinstance(value, str) and key.endswith("Descriptor"):
        yield value


def test_every_published_document_satisfies_its_schema_and_uses_default_descriptors(
    publish_config: DistrictConfig,
) -> None:
    staged = publish_recipient(edfi_json(publish_config), "state_ods", now=FIRST)
    documents = jsonl(staged.staged[0][1])
    assert refusals_in(staged.staged[0][1]) == []
    assert {"studentEducationOrganizationAssociations", "studentAssessments"} <= set(documents)
    defaults = edfi_standard.default_descriptors()
    seen: set[str] = set()
    for resource, docs in documents.items():
        validator = edfi_standard.validator(resource)
        for document in docs:
            assert not list(validator.iter_errors(document)), (resource, edfi.natural_key(resource, document))
            seen |= set(descriptor_values(document))
    assert seen and seen <= defaults, sorted(seen - defaults)
    races = {r["raceDescriptor"] for d in documents["studentEducationOrganizationAssociations"] for r in d["races"]}
    assert "uri://ed-fi.org/RaceDescriptor#Black - African American" in races
    dates = {d["administrationDate"] for d in documents["studentAssessments"]}
    assert all(len(d) == 20 and d.endswith("T00:00:00Z") for d in dates)


def test_the_seed_is_ed_fis_default_set_for_every_descriptor_the_crosswalks_name() -> None:
    """The crosswalks map to seed values (dbt's relationships tests check it in every build; this
    says so without a build), and the seed's rows are those of the reference files."""
    defaults = edfi_standard.default_descriptors()
    seeds = edfi_standard.DESCRIPTOR_SEED.parent
    for path in seeds.glob("xwalk_*.csv"):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for value in row.values():
                    if value.startswith("uri://ed-fi.org/"):
                        assert value in defaults, (path.name, value)
    assert "uri://ed-fi.org/RaceDescriptor#Black or African American" not in defaults
    assert edfi_standard.data_standard_version() == "5.1.0"


def test_a_non_default_race_and_a_date_only_administration_date_are_refused_and_not_sent(
    publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crosswalk gone wrong (the codes the demo once sent) and a date where the schema wants a
    date-time: each such record is a `refused` row naming resource, key and JSON path, the ODS
    never sees it, and everything else loads."""
    execute(
        publish_config,
        "update reference.xwalk_race_ethnicity set edfi_race_descriptor = "
        "'uri://ed-fi.org/RaceDescriptor#Black or African American' where federal_category = 'BlackOrAfricanAmerican'",
    )
    monkeypatch.setattr(edfi, "_date_time", lambda value: date.isoformat(value))
    black = {
        f"stu-{key}"
        for (key,) in execute(
            publish_config, "select student_key from dim_student where race_black_or_african_american"
        )
    }
    assert black
    with running_recipient_apis(publish_config) as apis:
        store = apis["state_ods"].store
        staged = publish_recipient(publish_config, "state_ods", now=FIRST)
        results = list(csv.DictReader(open(staged.metadata["results_file"], encoding="utf-8")))
        refused = [r for r in results if r["outcome"] == "refused"]
        edorg = {
            r["record_key"]: r["message"]
            for r in refused
            if r["resource"] == "studentEducationOrganizationAssociations"
        }
        assert set(edorg) == black
        key, message = next(iter(edorg.items()))
        assert message.startswith(f"studentEducationOrganizationAssociations {key}: $.races[")
        assert "raceDescriptor is not a default RaceDescriptor value" in message
        assessments = [r for r in refused if r["resource"] == "studentAssessments"]
        assert assessments and all("$.administrationDate is not a valid date-time" in r["message"] for r in assessments)
        assert staged.metadata["failed"] == 0  # nothing the ODS refused: the refused were never sent
        assert store.documents("studentAssessments") == []
        held = store.documents("studentEducationOrganizationAssociations")
        assert held  # the other students' demographics went in
        sent_races = {r["raceDescriptor"] for d in held for r in d.get("races", [])}
        assert "uri://ed-fi.org/RaceDescriptor#Black or African American" not in sent_races
        # (the keys are warehouse hashes, whose hex digits may by chance spell a local id)
        reasons = "\n".join(r["message"].replace(r["record_key"], "") for r in refused)
        assert_no_personal_value(publish_config, reasons)


# What the mutations put in place of a value: wrong types, a string past every maxLength, dates
# that look right but are not (February 30th, month 13, a time where a date goes), empties.
BAD_VALUES = (None, 7, 7.5, True, "", "x" * 300, "2026-02-30", "2026-13-01", "2026-01-01T25:00:00Z", [], {}, ["a"])


def _mutations(value: Any) -> Iterator[Any]:
    """Every document one change away from `value`: each value anywhere replaced by each bad one,
    each property dropped, an unknown property added, each list emptied or its first item twice."""
    yield from BAD_VALUES
    if isinstance(value, dict):
        yield {**value, "notInTheStandard": 1}
        for key, inner in value.items():
            yield {k: v for k, v in value.items() if k != key}
            for changed in _mutations(inner):
                yield {**value, key: changed}
    elif isinstance(value, list) and value:
        yield [value[0], *value]
        for changed in _mutations(value[0]):
            yield [changed, *value[1:]]


def test_the_fast_check_and_jsonschema_agree_on_every_document_and_every_broken_one(
    publish_config: DistrictConfig,
) -> None:
    """`is_valid` (fastjsonschema) decides alone for valid documents, so it must never accept what
    jsonschema, the reference, refuses, nor refuse what it accepts: held to it over each
    resource's published documents and every one-change mutation of them."""
    staged = publish_recipient(edfi_json(publish_config), "state_ods", now=FIRST)
    compared = refused = 0
    for resource, docs in jsonl(staged.staged[0][1]).items():
        fast, reference = edfi_standard.is_valid(resource), edfi_standard.validator(resource)
        for document in docs[:3]:
            for variant in [document, *_mutations(document)]:
                assert fast(variant) == reference.is_valid(variant), (resource, variant)
                compared += 1
                refused += not fast(variant)
    assert compared > 5_000 and refused > compared // 2  # mostly broken ones, as meant
