"""Every real vendor sample (tests/fixtures/vendor_samples: 32 vendors' anonymized exports)
through the built-in declarations alone, as a district would take them: each file lands (every
row landed or rejected for a reason named below), its conformed results reach
fct_assessment_result and fct_assessment_score in a real dbt build, and go out as Ed-Fi
studentAssessments that satisfy Data Standard 5.1's schemas and default descriptors.

One landing zone and one dbt build serve every vendor (the module fixture); each vendor is its
own test. The samples' students are in no SIS, so the identity step links none of them: for the
Ed-Fi check each result's student is linked to a stand-in unique id in the built warehouse, as
the identity step would link them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.config import DistrictConfig, load_config
from interop_pipeline.connectors.conformance import ConformingSinks
from interop_pipeline.connectors.tabular import VendorFileError, builtin_declarations, land_vendor_file
from interop_pipeline.publish.edfi import Refusals, assessment_documents
from tests.conftest import write_config
from tests.district_build import build_warehouse
from tests.samples import VENDOR_SAMPLES

# Vendor folder → the system its built-in declarations land into.
VENDOR_SYSTEMS = {
    "ACCUPLACER": "accuplacer",
    "ASVAB": "asvab",
    "BASC3_BESS": "basc3_bess",
    "Beacon": "beacon",
    "CIRCLE": "circle",
    "CMAS": "cmas",
    "Cambridge": "cambridge",
    "Dibels_Next_Benchmark": "dibels",
    "EOCEP": "eocep",
    "FastBridgeCAT": "fastbridge",
    "FastBridge_AUTOreading": "fastbridge",
    "FastBridge_CBMmath": "fastbridge",
    "FastBridge_CBMreading": "fastbridge",
    "FastBridge_COMPefficiency": "fastbridge",
    "FastBridge_English": "fastbridge",
    "GOLD": "gold",
    "IDEL": "idel",
    "IN_ILEARN": "in_ilearn",
    "KRA": "kra",
    "Lectura": "mclass_lectura",
    "MVPA": "mvpa",
    "PALS": "pals",
    "PreACT": "preact",
    "SC_Alternate_Assessment": "sc_alt",
    "SC_Performance_Task_Assessment": "sc_performance_task_assessment",
    "SC_READY": "sc_ready",
    "STAAR_Interim": "staar_interim",
    "STAMP": "stamp",
    "TX_KEA": "tx_kea",
    "WIN": "win",
    "WI_Forward": "wi_forward",
    "myIGDIs": "myigdis",
}
# Files that hold no results: SC Alternate's column layout by year (documentation beside the data).
NOT_RESULTS = {"SC_Alternate_Assessment/columns_by_year.csv", "SC_Alternate_Assessment/columns_by_year.jsonl"}
# Rows rejected for a true reason, per vendor (file: rows, why).
EXPECTED_REJECTS = {
    # Every row writes its Quantile as a bare decimal ("270.86129945709"), not a Quantile measure.
    "FastBridgeCAT": {"fake_aMath.csv": 5},
    # A copy of the row above with Test "Ready", no ELA or math test code: no subject.
    "Beacon": {"sample_anonymized_file_25_26.csv": 1},
    # Anonymizing gave all five rows one student id: the same student, edition and period four
    # more times (duplicate_row; the first lands).
    "Lectura": {"sample_anonymized_file.csv": 4},
}


@dataclass
class VendorLanding:
    rejected: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    declarations: set[str] = field(default_factory=set)


@dataclass
class Built:
    config: DistrictConfig
    landings: dict[str, VendorLanding]
    published: dict[str, list[dict]]  # declaration → its studentAssessments
    refusals: Refusals

    def rows(self, sql: str, *params) -> list[tuple]:
        with duckdb.connect(str(self.config.build_warehouse_path), read_only=True) as con:
            return con.execute(sql, params).fetchall()


def _sample_files(folder: str) -> list[Path]:
    return [
        p
        for p in sorted((VENDOR_SAMPLES / folder).iterdir())
        if p.suffix in (".csv", ".txt") and f"{folder}/{p.name}" not in NOT_RESULTS
    ]


def _land_samples(landing_dir: Path) -> dict[str, VendorLanding]:
    builtins = builtin_declarations().values()
    landings: dict[str, VendorLanding] = {}
    for folder, system in VENDOR_SYSTEMS.items():
        declarations = [d for d in builtins if d.system == system]
        landing = landings[folder] = VendorLanding()
        for path in _sample_files(folder):
            try:
                result = land_vendor_file(
                    path,
                    declarations,
                    landing_dir,
                    district_code="D001",
                    max_uncompressed_bytes=2**30,
                    row_sinks=ConformingSinks(),
                )
            except VendorFileError as refused:
                landing.refused[path.name] = str(refused)
                continue
            landing.rejected[path.name] = result.total_rejected
            landing.declarations |= {e.declaration for e in result.entities.values()}
    return landings


def _publish(config: DistrictConfig) -> tuple[dict[str, list[dict]], Refusals]:
    """Link every result to a stand-in student, then build the Ed-Fi assessment documents."""
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        con.execute("update fct_assessment_result set student_key = md5(vendor || '|' || source_student_id)")
        keys = [k for (k,) in con.execute("select distinct student_key from fct_assessment_result").fetchall()]
        student_ids = {k: f"S{hashlib.sha256(k.encode()).hexdigest()[:12]}" for k in keys}
        declaration_of = dict(
            con.execute("select assessment_result_key, declaration from fct_assessment_result").fetchall()
        )
        refusals = Refusals()
        published: dict[str, list[dict]] = {}
        for resource, document in assessment_documents(con, student_ids, refusals=refusals):
            if resource == "studentAssessments":
                declaration = declaration_of[document["studentAssessmentIdentifier"]]
                published.setdefault(declaration, []).append(document)
    return published, refusals


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("vendor_samples")
    config = load_config(write_config(folder, students=50))
    landings = _land_samples(config.landing_dir)
    build_warehouse(config, folder / "dbt_target", identity=False)
    published, refusals = _publish(config)
    return Built(config, landings, published, refusals)


@pytest.mark.parametrize("folder", sorted(VENDOR_SYSTEMS))
def test_vendor_sample_lands_conforms_and_goes_out_as_edfi(built: Built, folder: str):
    landing = built.landings[folder]
    assert not landing.refused, landing.refused
    expected_rejects = EXPECTED_REJECTS.get(folder, {})
    assert {f: n for f, n in landing.rejected.items() if n} == expected_rejects
    assert landing.declarations, f"{folder}: no declaration landed anything"
    declarations = sorted(landing.declarations)

    # Every current conformed result is in the facts, with its scores, once.
    marks = ", ".join("?" for _ in declarations)
    staged = built.rows(
        f"select count(*) from staging.stg_declared__assessment_results where declaration in ({marks})", *declarations
    )[0][0]
    facts, assessments, scores = built.rows(
        f"""
        select count(*), count(distinct r.assessment_key),
            (select count(*) from fct_assessment_score s
             join fct_assessment_result x using (assessment_result_key) where x.declaration in ({marks}))
        from fct_assessment_result r where r.declaration in ({marks})
        """,
        *declarations,
        *declarations,
    )[0]
    assert staged > 0 and facts == staged, (folder, staged, facts)
    assert scores >= facts and assessments >= 1

    # Each result goes out as a valid studentAssessment, or is refused for having nothing Ed-Fi
    # can carry (a score-less result whose levels are the vendor's own).
    documents = [d for declaration in declarations for d in built.published.get(declaration, [])]
    assert documents, f"{folder}: no studentAssessments"
    result_keys = {
        k
        for (k,) in built.rows(
            f"select assessment_result_key from fct_assessment_result where declaration in ({marks})", *declarations
        )
    }
    refused = [r for r in built.refusals.records if r.record_key in result_keys]
    assert len(documents) + len(refused) == facts
    assert all("no scoreResults and no performanceLevels" in r.reason for r in refused), refused[:3]
    assert all(d["scoreResults"] or d.get("performanceLevels") for d in documents if "scoreResults" in d)


def test_every_vendor_folder_is_covered():
    assert set(VENDOR_SYSTEMS) == {p.name for p in VENDOR_SAMPLES.iterdir() if p.is_dir()}


def test_assessment_definitions_are_valid_edfi(built: Built):
    """The assessments and objectiveAssessments of every vendor passed the schemas: none refused."""
    refused = [r for r in built.refusals.records if r.resource in ("assessments", "objectiveAssessments")]
    assert not refused, refused[:5]
