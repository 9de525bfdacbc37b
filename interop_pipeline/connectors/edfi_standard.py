"""The Ed-Fi Data Standard as the project holds it: each resource's JSON schema (the subset of the
Data Standard 5.1 API schema for the resources we send or serve, `edfi_api_schemas.json` beside
this file) and Ed-Fi's default descriptor sets (the dbt seed `edfi_descriptor`, only the
descriptors the project uses). The publisher, the simulated ODS/API and the crosswalk tests all
read these two files, so none of them can accept a document or a code a stock ODS/API refuses.

Both files are generated from Ed-Fi's own published files (Apache-2.0):

    python -m interop_pipeline.connectors.edfi_standard /path/to/reference/edfi

reads `ds-5.1-api-schema-authoritative.json` and `descriptors/*.xml` there, and rewrites the
schema subset (for SCHEMA_RESOURCES) and the seed (for the descriptors the seed already lists,
plus any named with `--add`).

A problem found in a document names the resource, the caller's record key, the JSON path and the
rule broken, never the value at that path (it may be a name or a birth date).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from interop_pipeline.config import PROJECT_ROOT

SCHEMA_FILE = Path(__file__).with_name("edfi_api_schemas.json")
DESCRIPTOR_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "edfi_descriptor.csv"
SEED_COLUMNS = ("descriptor_name", "namespace", "code_value", "short_description")
DEFAULT_NAMESPACE = "uri://ed-fi.org"
# The resources the publisher sends and the simulated ODS/API serves.
SCHEMA_RESOURCES = (
    "localEducationAgencies",
    "schools",
    "sessions",
    "courses",
    "courseOfferings",
    "sections",
    "staffs",
    "students",
    "programs",
    "studentEducationOrganizationAssociations",
    "studentSchoolAssociations",
    "studentSectionAssociations",
    "staffSectionAssociations",
    "studentProgramAssociations",
    "studentSchoolAttendanceEvents",
    "assessments",
    "objectiveAssessments",
    "studentAssessments",
)
MAX_PROBLEMS_PER_DOCUMENT = 5


# --------------------------------------------------------------------------------------------
# Runtime: schemas, validators, default descriptors
# --------------------------------------------------------------------------------------------


@functools.cache
def _schema_file() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def data_standard_version() -> str:
    return _schema_file()["dataStandardVersion"]


def schema_resources() -> tuple[str, ...]:
    return tuple(_schema_file()["resources"])


@functools.cache
def validator(resource: str) -> Draft202012Validator:
    """The compiled validator of a resource's insert schema, formats (date, date-time) checked;
    built once per resource and process."""
    schema = _schema_file()["resources"][resource]["jsonSchemaForInsert"]
    return Draft202012Validator(schema, format_checker=FormatChecker())


# The formats the schemas use, checked by jsonschema's own functions in both validators.
SCHEMA_FORMATS = ("date", "date-time", "time")
DRAFT_7 = "http://json-schema.org/draft-07/schema#"


@functools.cache
def is_valid(resource: str) -> Callable[[Any], bool]:
    """The same insert schema compiled to Python code by fastjsonschema: it only says whether a
    document is valid, much sooner than `validator` on the valid documents that are nearly all of
    them (each Ed-Fi load, and every record the simulated ODS stores: its start at 10,000 students
    took half the CPU with this check first). The schemas use no keyword whose meaning changed
    after draft 7 (which fastjsonschema knows), and the formats are jsonschema's own checks, so
    the two agree; tests/publish/test_edfi_standard.py holds them to it."""
    schema = {**_schema_file()["resources"][resource]["jsonSchemaForInsert"], "$schema": DRAFT_7}
    checker = FormatChecker()
    formats = {name: functools.partial(checker.conforms, format=name) for name in SCHEMA_FORMATS}
    check = fastjsonschema.compile(schema, formats=formats, use_default=False)

    def valid(document: Any) -> bool:
        try:
            check(document)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return valid


def descriptor_paths(resource: str) -> dict[str, str]:
    """JSON path (`$.races[*].raceDescriptor`) → descriptor name (`RaceDescriptor`)."""
    return _schema_file()["resources"][resource]["descriptorPaths"]


@functools.cache
def _path_steps(path: str) -> tuple[tuple[str, bool], ...]:
    parts = path.removeprefix("$.").split(".")
    return tuple((part.removesuffix("[*]"), part.endswith("[*]")) for part in parts)


def values_at(document: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(concrete JSON path, value) of every value at a `$.a[*].b` path."""
    found: list[tuple[str, Any]] = [("$", document)]
    for name, many in _path_steps(path):
        step: list[tuple[str, Any]] = []
        for at, value in found:
            item = value.get(name) if isinstance(value, dict) else None
            if item is None:
                continue
            if many:
                if isinstance(item, list):
                    step.extend((f"{at}.{name}[{i}]", v) for i, v in enumerate(item))
            else:
                step.append((f"{at}.{name}", item))
        found = step
    return iter(found)


@functools.cache
def default_descriptors() -> frozenset[str]:
    """Every descriptor URI (`uri://ed-fi.org/RaceDescriptor#Asian`) in the seed."""
    return frozenset(f"{row['namespace']}#{row['code_value']}" for row in descriptor_rows())


def descriptor_rows() -> list[dict[str, str]]:
    with DESCRIPTOR_SEED.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def descriptor_codes(name: str) -> tuple[str, ...]:
    """The default code values of one descriptor (`RaceDescriptor`), in the seed's order."""
    return tuple(row["code_value"] for row in descriptor_rows() if row["descriptor_name"] == name)


def descriptor_uri(name: str, code: str) -> str:
    """The URI of a default descriptor value; a code Ed-Fi does not ship is an error here, so a
    typo in code fails where it is written instead of at the ODS."""
    uri = f"{DEFAULT_NAMESPACE}/{name}#{code}"
    if uri not in default_descriptors():
        raise KeyError(f"{uri} is not among Ed-Fi's default descriptors ({DESCRIPTOR_SEED.name})")
    return uri


def _error_path(error: ValidationError) -> str:
    """Where the error is: for a missing property, the property's own path (as the ODS names it)."""
    if error.validator == "required":
        missing = _REQUIRED_MESSAGE.match(error.message)
        if missing:
            return f"{error.json_path}.{missing.group(1)}"
    return error.json_path


_REQUIRED_MESSAGE = re.compile(r"^'([^']+)' is a required property$")


def _describe(error: ValidationError) -> str:
    """The rule an error breaks, without the document's value (which may be personal)."""
    if error.validator in ("required", "additionalProperties", "dependentRequired"):
        return error.message  # names properties only
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    if error.validator == "type":
        return f"is not of type {error.validator_value}"
    return f"fails {error.validator} {json.dumps(error.validator_value)}"


def document_problems(
    resource: str, document: dict[str, Any], *, namespaces: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(JSON path, problem) for what the resource's schema refuses and every descriptor that is
    neither an Ed-Fi default nor in one of the district's own `namespaces` (prefixes)."""
    problems = (
        []
        if is_valid(resource)(document)
        else [
            (_error_path(error), _describe(error))
            for error in sorted(validator(resource).iter_errors(document), key=lambda e: e.json_path)
        ]
    )
    defaults = default_descriptors()
    allowed = tuple(namespaces)
    for path, name in descriptor_paths(resource).items():
        for at, value in values_at(document, path):
            if isinstance(value, str) and value not in defaults and not (allowed and value.startswith(allowed)):
                problems.append((at, f"is not a default {name} value (Ed-Fi Data Standard {data_standard_version()})"))
    return problems


def problem_text(resource: str, record_key: str, problems: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{path} {text}" for path, text in problems[:MAX_PROBLEMS_PER_DOCUMENT])
    more = len(problems) - MAX_PROBLEMS_PER_DOCUMENT
    return f"{resource} {record_key}: {shown}" + (f"; and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------------------------
# Regeneration from Ed-Fi's published files
# --------------------------------------------------------------------------------------------


def build_schema_subset(reference: dict[str, Any], resources: Iterable[str] = SCHEMA_RESOURCES) -> dict[str, Any]:
    project = reference["projectSchemas"]["ed-fi"]
    subset: dict[str, Any] = {
        "dataStandardVersion": project["projectVersion"],
        "source": "Ed-Fi MetaEd ds-5.1-api-schema-authoritative.json (Apache-2.0): jsonSchemaForInsert and "
        "descriptor paths of the resources this project sends or serves; regenerate with "
        "python -m interop_pipeline.connectors.edfi_standard",
        "resources": {},
    }
    for name in resources:
        schema = project["resourceSchemas"][name]
        paths = {
            entry["path"]: entry["resourceName"]
            for entry in schema["documentPathsMapping"].values()
            if entry.get("isDescriptor")
        }
        subset["resources"][name] = {"jsonSchemaForInsert": schema["jsonSchemaForInsert"], "descriptorPaths": paths}
    return subset


def read_descriptor_xml(path: Path) -> list[dict[str, str]]:
    rows = []
    for element in ET.parse(path).getroot():
        ns = element.tag.partition("}")[0] + "}" if element.tag.startswith("{") else ""
        rows.append(
            {
                "descriptor_name": element.tag.removeprefix(ns),
                "namespace": element.findtext(f"{ns}Namespace") or "",
                "code_value": element.findtext(f"{ns}CodeValue") or "",
                "short_description": element.findtext(f"{ns}ShortDescription") or "",
            }
        )
    return rows


def write_descriptor_seed(descriptors_dir: Path, names: Iterable[str], out: Path = DESCRIPTOR_SEED) -> int:
    rows = [row for name in sorted(set(names)) for row in read_descriptor_xml(descriptors_dir / f"{name}.xml")]
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, SEED_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="folder with ds-5.1-api-schema-authoritative.json, descriptors/")
    parser.add_argument("--add", nargs="*", default=[], help="descriptor names to add to the seed (RaceDescriptor)")
    args = parser.parse_args(argv)
    reference = json.loads((args.reference / "ds-5.1-api-schema-authoritative.json").read_text(encoding="utf-8"))
    SCHEMA_FILE.write_text(json.dumps(build_schema_subset(reference), indent=1, sort_keys=True) + "\n")
    names = {row["descriptor_name"] for row in descriptor_rows()} if DESCRIPTOR_SEED.exists() else set()
    count = write_descriptor_seed(args.reference / "descriptors", names | set(args.add))
    print(f"{SCHEMA_FILE}: {len(SCHEMA_RESOURCES)} resources; {DESCRIPTOR_SEED}: {count} descriptor values")


if __name__ == "__main__":
    main()
