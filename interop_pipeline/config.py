"""District configuration: one YAML file → validated, typed settings.

The demo district's file (data/demo/district.yaml) is the default; the environment variable
INTEROP_DISTRICT_CONFIG points at another. Relative paths in the file are resolved against the
file's own folder, so a config works from any working directory.

Validation is strict: an unknown key, a wrong type or a missing setting stops with a message that
names the file, the key path and what was expected (ConfigError).
"""

from __future__ import annotations

import importlib.util
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "data" / "demo" / "district.yaml"
CONFIG_ENV_VAR = "INTEROP_DISTRICT_CONFIG"

# Tenant codes become part of keys and folder names: keep them boring.
DistrictCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,39}$")]
# Secrets are referenced by the *name* of an environment variable, never stored in the file.
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class ConfigError(ValueError):
    """The district configuration file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistrictSettings(_Strict):
    code: DistrictCode
    name: str = Field(min_length=1)
    state: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    lea_id: str = Field(min_length=1, description="State LEA identifier (CEDS 001068)")


class SchoolYearSettings(_Strict):
    start: date = Field(description="First instructional day")
    end: date = Field(description="Last instructional day")
    rollover: str = Field(
        default="07-01",
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD a school year begins on for dating results by test date alone (July 1: state reporting)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SchoolYearSettings:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).days > 366:
            raise ValueError("a school year spans at most one year")
        return self

    @property
    def ending_year(self) -> int:
        """OneRoster/Ed-Fi schoolYear: the calendar year in which the school year ends."""
        return self.end.year


class OutputSettings(_Strict):
    data_dir: Path = Field(description="Folder for landing/, warehouse/, published/, drops/")


class _SourceSettings(_Strict):
    """What every source has, whatever its kind: whether the district uses it, whether the
    release waits for it, and how old its newest data may grow."""

    enabled: bool = True
    system_name: str = Field(min_length=1)
    required: bool = Field(
        default=False,
        description="a refused delivery or failed walk of this source holds the release back; any "
        "other source's trouble is quarantined and the warehouse is released with its last good data",
    )
    freshness_limit_hours: float | None = Field(
        default=None,
        gt=0,
        description="the source is stale when its newest landed batch is older than this; None: never stale",
    )


class OneRosterCsvSource(_SourceSettings):
    """A folder where the SIS drops OneRoster CSV bundles (zip; 1.1 or 1.2, bulk or delta)."""

    kind: Literal["oneroster_csv"]
    drop_folder: Path
    file_pattern: str = "*.zip"
    max_uncompressed_mb: int = Field(default=2048, gt=0)
    extension_columns: dict[str, list[str]] | None = Field(
        default=None,
        description="entity → metadata.* columns always landed (null when a bundle lacks them); "
        "default: the demographics program flags",
    )


class FileDropChecks(_Strict):
    max_reject_rate: float = Field(
        default=0.02, ge=0, le=1, description="share of a file's rows rejected before the check fails"
    )
    max_row_count_drop: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="snapshot files: a drop in rows vs the previous file beyond this share fails",
    )


class FileDropSource(_SourceSettings):
    """A folder where a vendor drops CSV/TSV files (or zips of them), ingested by declaration:
    built-in formats by name, and district-written declarations by path."""

    kind: Literal["file_drop"]
    drop_folder: Path
    file_pattern: str = "*"
    formats: list[str] = Field(
        default_factory=list, description="built-in declarations, e.g. nwea_map_assessment_results"
    )
    declarations: list[Path] = Field(
        default_factory=list, description="declaration YAML files, relative to this config"
    )
    max_uncompressed_mb: int = Field(default=2048, gt=0)
    checks: FileDropChecks = FileDropChecks()

    @model_validator(mode="after")
    def _declares_something(self) -> FileDropSource:
        if not self.formats and not self.declarations:
            raise ValueError("a file_drop source needs at least one of formats or declarations")
        return self


class ApiSource(_SourceSettings):
    """A system reached over its REST API. Credentials come from environment variables named
    here, never from this file; `INTEROP_<SOURCE>_BASE_URL` overrides `base_url` (the demo and
    the tests point it at the simulators)."""

    kind: Literal["oneroster_api", "edfi_api", "canvas", "google_classroom"]
    base_url: str = Field(pattern=r"^https?://", description="API root, e.g. https://lms.example.org")
    client_id_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="env var holding the client id / key")
    client_secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="env var holding the secret / token")
    page_size: int = Field(default=100, gt=0, le=1000)
    full_refresh_days: int = Field(
        default=7, gt=0, description="a full walk at least this often, catching deletions a delta feed missed"
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    backoff_seconds: float = Field(default=0.5, ge=0)
    options: dict[str, str] = Field(
        default_factory=dict, description="system-specific settings, e.g. Canvas account_id"
    )


SourceSettings = Annotated[OneRosterCsvSource | FileDropSource | ApiSource, Field(discriminator="kind")]


class ScheduleSettings(_Strict):
    cron: str = Field(pattern=r"^\S+ \S+ \S+ \S+ \S+$", description="five-field cron expression")
    timezone: str = "UTC"


class EmailAlerts(_Strict):
    """Alerts by email over SMTP (STARTTLS when asked; credentials from the environment)."""

    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)


class WebhookAlerts(_Strict):
    """Alerts posted as JSON to a chat webhook; the URL (it holds a token) from the environment."""

    url_env: EnvVarName
    format: Literal["slack", "teams"] = "slack"


class AlertSettings(_Strict):
    """Who hears about a failed run, a failed blocking check or a stale source. Every alert also
    goes to `log_file` (relative to output.data_dir)."""

    log_file: Path = Path("alerts.log")
    email: EmailAlerts | None = None
    webhooks: list[WebhookAlerts] = Field(default_factory=list)


class GeneratorRates(_Strict):
    """Rates for the synthetic district (defaults: national figures, see district-profile)."""

    idea: float = Field(default=0.15, ge=0, le=1)
    section_504: float = Field(default=0.02, ge=0, le=1)
    english_learner: float = Field(default=0.105, ge=0, le=1)
    economically_disadvantaged: float = Field(default=0.50, ge=0, le=1)
    homeless: float = Field(default=0.025, ge=0, le=1)
    mid_year_entry: float = Field(default=0.03, ge=0, le=1)
    withdrawal: float = Field(default=0.03, ge=0, le=1)
    transfer: float = Field(default=0.06, ge=0, le=1, description="change school within the district")
    retained: float = Field(default=0.03, ge=0, le=1, description="a year older than the grade's cohort")
    instructional_days: int = Field(default=180, ge=150, le=200)
    # Attendance: a minority of high-absence students drives chronic absence (~25-30 %).
    high_absence_share: float = Field(default=0.30, ge=0, le=1)
    tardy_rate: float = Field(default=0.02, ge=0, le=1, description="share of present days with a tardy")
    excused_share: float = Field(default=0.45, ge=0, le=1, description="share of absences excused")
    assessment_participation: float = Field(default=0.96, ge=0, le=1)
    # Vendor data-entry noise.
    vendor_id_leading_zero_dropped: float = Field(default=0.03, ge=0, le=1)
    vendor_roster_missing: float = Field(default=0.01, ge=0, le=1)
    # Identity noise: how each system's own record of a person departs from the SIS (rates per
    # system record; see simulators/identities.py for which systems each applies to).
    identity_name_typo: float = Field(default=0.01, ge=0, le=1, description="one-letter typo in a name")
    identity_nickname: float = Field(default=0.03, ge=0, le=1, description="given name as a nickname (Bill)")
    identity_name_order_swapped: float = Field(default=0.003, ge=0, le=1, description="given and family swapped")
    identity_middle_name_dropped: float = Field(default=0.3, ge=0, le=1, description="middle name left out")
    identity_dob_transposed: float = Field(default=0.004, ge=0, le=1, description="two birth-date digits swapped")
    identity_dob_day_month_swapped: float = Field(
        default=0.004, ge=0, le=1, description="birth date with day and month swapped (when both <= 12)"
    )
    identity_stale_id: float = Field(
        default=0.004, ge=0, le=1, description="system still holds the ID from before a leave and re-enrol"
    )
    identity_sis_id_blank: float = Field(
        default=0.02, ge=0, le=1, description="LMS account with a blank sis_user_id (Canvas)"
    )
    identity_sis_id_is_login: float = Field(
        default=0.02, ge=0, le=1, description="LMS account whose sis_user_id holds the login (Canvas)"
    )
    identity_email_only: float = Field(
        default=0.02, ge=0, le=1, description="LMS account known only by its email (Google Classroom)"
    )
    identity_state_id_blank: float = Field(
        default=0.02, ge=0, le=1, description="vendor record without the state ID (NWEA MAP)"
    )
    # Hard negatives: different children who look alike and must never be merged.
    twins: float = Field(
        default=0.01,
        ge=0,
        le=0.5,
        description="share of students who are one of a twin pair (same birth date, "
        "surname, school and grade; different given names)",
    )
    same_name_other_school: float = Field(
        default=0.005, ge=0, le=0.5, description="share of students given the full name of a student elsewhere"
    )
    siblings: float = Field(
        default=0.03, ge=0, le=0.5, description="share of students given the surname of a sibling in another grade"
    )
    section_size: int = Field(default=25, ge=10, le=40)
    pupil_teacher_ratio: float = Field(default=15.5, gt=5)
    # Shares of enrolment by federal race/ethnicity category (normalised to sum 1).
    race_ethnicity: dict[str, float] = Field(
        default={
            "White": 0.45,
            "HispanicOrLatino": 0.28,
            "BlackOrAfricanAmerican": 0.15,
            "Asian": 0.05,
            "TwoOrMoreRaces": 0.05,
            "AmericanIndianOrAlaskaNative": 0.01,
            "NativeHawaiianOrOtherPacificIslander": 0.005,
        }
    )


class DemoSettings(_Strict):
    students: int = Field(default=2000, gt=0)
    seed: int = 0
    rates: GeneratorRates = GeneratorRates()


# Business rules: what districts and states define differently, passed to dbt as vars.
AttendanceCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,20}$")]
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class AttendanceRules(_Strict):
    absent_day_fraction: dict[str, dict[AttendanceCode, float]] = Field(
        default_factory=dict,
        description="source system → attendance code → share of a day the code counts as absent (0-1); "
        "overrides the xwalk_attendance_code seed, which stays the code → CEDS/Ed-Fi mapping",
    )
    through_date: date | None = Field(
        default=None,
        description="last day counted year-to-date; default: the latest date in the attendance export",
    )

    @model_validator(mode="after")
    def _fractions(self) -> AttendanceRules:
        for system, codes in self.absent_day_fraction.items():
            for code, fraction in codes.items():
                if not 0 <= fraction <= 1:
                    raise ValueError(f"absent_day_fraction.{system}.{code} must be between 0 and 1")
        return self


class ChronicAbsenceDefinition(_Strict):
    """One definition of chronic absence; all of them are computed side by side."""

    name: RuleName
    description: str = ""
    min_absence_rate: float | None = Field(
        default=None, gt=0, le=1, description="chronic when days absent / days enrolled is at least this"
    )
    min_days_absent: float | None = Field(
        default=None, gt=0, description="absolute variant: chronic when days absent is at least this"
    )
    min_days_enrolled: int = Field(default=1, ge=1, description="students enrolled fewer days are not counted")
    count_excused: bool = Field(default=True, description="whether excused absences count as absent")

    @model_validator(mode="after")
    def _one_threshold(self) -> ChronicAbsenceDefinition:
        if (self.min_absence_rate is None) == (self.min_days_absent is None):
            raise ValueError("set exactly one of min_absence_rate or min_days_absent")
        return self


def _default_chronic_definitions() -> list[ChronicAbsenceDefinition]:
    return [
        ChronicAbsenceDefinition(
            name="federal",
            description="ED: absent 10 % or more of days enrolled, at least 10 days enrolled",
            min_absence_rate=0.10,
            min_days_enrolled=10,
        )
    ]


class EarlyWarningRules(_Strict):
    attendance_rate_at_risk: float = Field(default=0.90, gt=0, le=1, description="flag below this YTD rate")
    attendance_rate_severe: float = Field(default=0.80, gt=0, le=1, description="severe below this YTD rate")
    unexcused_days_absent: float = Field(default=10, gt=0, description="flag at this many unexcused days")
    min_days_enrolled: int = Field(default=10, ge=1, description="students enrolled fewer days are not flagged")
    failing_score_below: float = Field(
        default=60, gt=0, le=100, description="an LMS current score (percent) below this is a failing course grade"
    )
    failing_course_grades: int = Field(default=1, ge=1, description="flag at this many failing course grades")
    missing_assignment_rate: float = Field(
        default=0.15, gt=0, le=1, description="flag when this share or more of the assignments due are missing"
    )
    min_assignments_due: int = Field(default=5, ge=1, description="students with fewer assignments due are not flagged")
    assessments_below_proficient: int = Field(
        default=2, ge=1, description="flag at this many latest results (per test and subject) below proficient"
    )
    assessment_percentile_below: float = Field(
        default=20, gt=0, le=100, description="flag a latest result below this national percentile"
    )

    @model_validator(mode="after")
    def _ordered(self) -> EarlyWarningRules:
        if self.attendance_rate_severe > self.attendance_rate_at_risk:
            raise ValueError("attendance_rate_severe must not exceed attendance_rate_at_risk")
        return self


class ProficiencyCutScores(_Strict):
    """Minimum scale score of each performance level of one assessment, subject and grade."""

    assessment: str = Field(min_length=1, description="assessment name as the warehouse knows it")
    subject: str | None = Field(default=None, description="None: every subject")
    grade_level: str = Field(min_length=1, description="CEDS grade level code, e.g. 03")
    level_minimums: dict[str, float] = Field(min_length=1, description="level → minimum scale score")
    proficient_levels: list[str] = Field(min_length=1, description="the levels that count as proficient")

    @model_validator(mode="after")
    def _known_levels(self) -> ProficiencyCutScores:
        unknown = sorted(set(self.proficient_levels) - set(self.level_minimums))
        if unknown:
            raise ValueError(f"proficient_levels {unknown} are not in level_minimums")
        return self


# A OneRoster userIds type, as in {Local:863}: matched case-insensitively.
UserIdType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,40}$")]


class SisUserIdTypes(_Strict):
    """Which OneRoster userIds items ({type:identifier}) carry a user's district (local) and
    state ID, in order of preference: read when the user's own field is blank (identifier for
    the local ID, userMasterIdentifier for the state ID), as in rostering hubs' 1.1 exports."""

    local: list[UserIdType] = Field(default=["Local", "SIS", "District"])
    state: list[UserIdType] = Field(default=["State"])

    @model_validator(mode="after")
    def _each_type_once(self) -> SisUserIdTypes:
        named = [t.casefold() for t in (*self.local, *self.state)]
        repeated = sorted({t for t in named if named.count(t) > 1})
        if repeated:
            raise ValueError(f"userIds types named twice (local and state lists together): {', '.join(repeated)}")
        return self


class BusinessRules(_Strict):
    attendance: AttendanceRules = AttendanceRules()
    chronic_absence: list[ChronicAbsenceDefinition] = Field(default_factory=_default_chronic_definitions, min_length=1)
    suppression_min_n: int = Field(
        default=10, ge=1, description="aggregate cells of fewer students are suppressed (small-cell rule)"
    )
    early_warning: EarlyWarningRules = EarlyWarningRules()
    proficiency_cut_scores: list[ProficiencyCutScores] = Field(default_factory=list)
    sis_channel_precedence: list[Literal["oneroster_csv", "oneroster_api"]] = Field(
        default=["oneroster_csv", "oneroster_api"],
        min_length=1,
        description="for each SIS entity, the first of these channels that has delivered it is authoritative",
    )
    sis_user_id_types: SisUserIdTypes = SisUserIdTypes()

    @model_validator(mode="after")
    def _unique_names(self) -> BusinessRules:
        names = [d.name for d in self.chronic_absence]
        if len(names) != len(set(names)):
            raise ValueError("chronic_absence definition names must be unique")
        if len(self.sis_channel_precedence) != len(set(self.sis_channel_precedence)):
            raise ValueError("sis_channel_precedence names a channel twice")
        return self


# What a recipient's data-sharing agreement allows beyond the base roster (schools, sections,
# enrolments, sourcedIds). Enforced where the extract is built (interop_pipeline/publish/).
FieldGroup = Literal[
    "names", "emails", "identifiers", "birth_date", "demographics", "programs", "attendance", "assessments"
]
RecipientName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


# The research file's columns someone may know of a student (a classmate's parent does).
QuasiIdentifier = Literal[
    "age_band",
    "birth_year",
    "grade_level",
    "school_id",
    "sex_code",
    "race_ethnicity_code",
    "is_english_learner",
    "has_idea_services",
    "has_section_504_plan",
    "is_economically_disadvantaged",
    "is_homeless",
]


class ResearchPrivacy(_Strict):
    """How a research file keeps anyone from being singled out (k-anonymity, ℓ-diversity)."""

    quasi_identifiers: list[QuasiIdentifier] | None = Field(
        default=None, description="None: every one of them the file carries"
    )
    min_group_size: int = Field(default=5, ge=2, description="k: students sharing each combination")
    max_suppressed_share: float = Field(
        default=0.05, ge=0, le=1, description="records that may be left out before a column is generalized"
    )
    sensitive_measure: Literal["is_chronically_absent", "days_absent", "attendance_rate"] | None = None
    l_diversity: int = Field(default=1, ge=1, description="ℓ: distinct sensitive values in each group")

    @model_validator(mode="after")
    def _diversity_needs_a_measure(self) -> ResearchPrivacy:
        if self.l_diversity > 1 and not self.sensitive_measure:
            raise ValueError("l_diversity above 1 needs sensitive_measure")
        return self


class RecipientSettings(_Strict):
    """One party the district sends data to, under one data-sharing agreement."""

    format: Literal["oneroster_1.2", "oneroster_1.1", "edfi_api", "edfi_json", "research"]
    enabled: bool = True
    description: str = ""
    schools: list[str] | Literal["all"] = Field(default="all", description="SIS or state school ids in scope, or all")
    grades: list[str] | None = Field(default=None, description="CEDS grade codes in scope; None: every grade")
    fields: list[FieldGroup] = Field(default_factory=list, description="field groups the agreement allows")
    delivery_folder: Path = Field(description="where files are delivered, relative to output.data_dir")
    mode: Literal["bulk", "delta"] = Field(default="bulk", description="delta: changes since the last delivery")
    # edfi_api: where and as whom to write (INTEROP_RECIPIENT_<NAME>_BASE_URL overrides base_url).
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    client_id_env: EnvVarName | None = None
    client_secret_env: EnvVarName | None = None
    max_parallel_requests: int = Field(default=4, ge=1, le=64)
    max_retries: int = Field(default=6, ge=0)
    backoff_seconds: float = Field(default=0.5, ge=0)
    # oneroster_1.2: the recipient may also read its roster over OneRoster REST from
    # `interop-pipeline serve`, as the OAuth client whose id and secret these variables hold.
    serve_client_id_env: EnvVarName | None = None
    serve_client_secret_env: EnvVarName | None = None
    # research: pseudonymous keys are HMACs under a secret held in this environment variable.
    hmac_secret_env: EnvVarName | None = None
    birth_date_precision: Literal["year", "age_band"] = "year"
    privacy: ResearchPrivacy = Field(default_factory=ResearchPrivacy)

    @model_validator(mode="after")
    def _format_settings(self) -> RecipientSettings:
        if self.format == "edfi_api" and not (self.base_url and self.client_id_env and self.client_secret_env):
            raise ValueError("an edfi_api recipient needs base_url, client_id_env and client_secret_env")
        if self.format == "research":
            if not self.hmac_secret_env:
                raise ValueError("a research recipient needs hmac_secret_env")
            direct = sorted({"names", "emails", "identifiers"} & set(self.fields))
            if direct:
                raise ValueError(f"a research extract carries no direct identifiers: remove {direct} from fields")
        if (self.serve_client_id_env is None) != (self.serve_client_secret_env is None):
            raise ValueError("serving OneRoster REST needs both serve_client_id_env and serve_client_secret_env")
        if self.serve_client_id_env and self.format != "oneroster_1.2":
            raise ValueError("only a oneroster_1.2 recipient can read its roster over OneRoster REST")
        if self.format.startswith("oneroster") and "names" not in self.fields:
            raise ValueError("OneRoster users.csv requires givenName and familyName: fields must include names")
        if self.format.startswith("edfi") and not {"names", "birth_date"} <= set(self.fields):
            raise ValueError("Ed-Fi students require names and birthDate: fields must include names and birth_date")
        return self


class IdentitySettings(_Strict):
    """Identity resolution: thresholds of the probabilistic pass and the reviewed-decisions file."""

    accept_threshold: float = Field(default=0.99, gt=0, le=1, description="match probability to link")
    review_threshold: float = Field(
        default=0.5, gt=0, le=1, description="match probability from which a record is queued for review"
    )
    ambiguity_margin: float = Field(
        default=4.0, ge=0, description="match weight (log2 odds) the best candidate must lead the next by"
    )
    decisions_file: Path = Field(
        default=Path("identity_decisions.csv"), description="reviewed pairs, relative to this config's folder"
    )
    min_match_rate: float = Field(
        default=0.95, ge=0, le=1, description="share of a source's records linked below which a check warns"
    )
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb", description="where the probabilistic pass runs: splink on DuckDB, or on Spark"
    )

    @model_validator(mode="after")
    def _ordered(self) -> IdentitySettings:
        if self.review_threshold > self.accept_threshold:
            raise ValueError("review_threshold must not exceed accept_threshold")
        if self.engine == "spark" and importlib.util.find_spec("pyspark") is None:
            raise ValueError("engine spark needs pyspark (the project's dev dependencies: `uv sync`) and Java 17")
        return self


class _SettingsFile(_Strict):
    """Settings read from a YAML file, whose folder relative paths resolve against."""

    output: OutputSettings
    # Set by the loader: the file this came from.
    _config_path: Path = PrivateAttr(default=DEFAULT_CONFIG_PATH)

    @property
    def config_path(self) -> Path:
        return self._config_path

    @property
    def data_dir(self) -> Path:
        return (self._config_path.parent / self.output.data_dir).resolve()


class DistrictConfig(_SettingsFile):
    district: DistrictSettings
    school_year: SchoolYearSettings
    output: OutputSettings
    sources: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], SourceSettings]
    schedule: ScheduleSettings
    demo: DemoSettings = DemoSettings()
    identity: IdentitySettings = IdentitySettings()
    business_rules: BusinessRules = BusinessRules()
    recipients: dict[RecipientName, RecipientSettings] = Field(default_factory=dict)
    alerts: AlertSettings = AlertSettings()

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def build_warehouse_path(self) -> Path:
        """The one DuckDB file dbt writes; nothing else writes it."""
        return self.data_dir / "warehouse" / "build.duckdb"

    @property
    def published_warehouse_path(self) -> Path:
        """The released copy analysts open read-only."""
        return self.data_dir / "published" / "warehouse.duckdb"

    @property
    def truth_dir(self) -> Path:
        """Generator ground truth: read only by tests and quality measurements."""
        return self.data_dir / "truth"

    def api_base_url(self, name: str, source: ApiSource) -> str:
        return os.environ.get(api_base_url_env(name), source.base_url).rstrip("/")

    def recipient_base_url(self, name: str, recipient: RecipientSettings) -> str:
        return os.environ.get(recipient_base_url_env(name), recipient.base_url or "").rstrip("/")

    def delivery_folder(self, recipient: RecipientSettings) -> Path:
        return (self.data_dir / recipient.delivery_folder).resolve()

    def enabled_recipients(self) -> dict[str, RecipientSettings]:
        return {name: r for name, r in self.recipients.items() if r.enabled}

    def drop_folder(self, source: OneRosterCsvSource | FileDropSource) -> Path:
        return (self.data_dir / source.drop_folder).resolve()

    @property
    def identity_decisions_path(self) -> Path:
        """The reviewed identity decisions, kept beside this config."""
        return (self._config_path.parent / self.identity.decisions_file).resolve()

    def declaration_paths(self, source: FileDropSource) -> list[Path]:
        return [(self._config_path.parent / path).resolve() for path in source.declarations]

    def enabled_sources(self) -> dict[str, SourceSettings]:
        return {name: s for name, s in self.sources.items() if s.enabled}


def api_base_url_env(source_name: str) -> str:
    """The environment variable that overrides an API source's base URL."""
    return f"INTEROP_{source_name.upper()}_BASE_URL"


def recipient_base_url_env(recipient_name: str) -> str:
    """The environment variable that overrides an API recipient's base URL."""
    return f"INTEROP_RECIPIENT_{recipient_name.upper()}_BASE_URL"


def _describe_error(error: dict) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required setting is missing"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    return f"{path}: {error['msg']}{shown}"


def load_config(path: str | os.PathLike[str] | None = None) -> DistrictConfig:
    """Read and validate a district config; `path` defaults to $INTEROP_DISTRICT_CONFIG or the demo."""
    config_path = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH).resolve()
    config = _read_settings(config_path, DistrictConfig, "district config")
    config._config_path = config_path
    return config


_Settings = TypeVar("_Settings", bound=BaseModel)


def _read_settings(config_path: Path, model: type[_Settings], kind: str) -> _Settings:
    """A YAML file validated as `model`; every problem raises ConfigError naming the file and key."""
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: {kind} file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe_error(e) for e in exc.errors())
        raise ConfigError(f"{config_path}: invalid {kind}:\n  {problems}") from None


class StateSettings(_Strict):
    code: DistrictCode
    name: str = Field(min_length=1)


class StateConfig(_SettingsFile):
    """A state agency's (or a network's) districts: each a district config of its own, run on
    its own; their released warehouses are combined into one, with a copy per district."""

    state: StateSettings
    districts: list[Path] = Field(min_length=1, description="District config files, relative to this file")
    output: OutputSettings
    # Linking one person across districts needs its own review queue, which is not built: every
    # district's identities are resolved within the district only.
    cross_district_matching: Literal[False] = False

    _districts: list[DistrictConfig] = PrivateAttr(default_factory=list)

    @property
    def district_configs(self) -> list[DistrictConfig]:
        return self._districts

    @property
    def warehouse_path(self) -> Path:
        """Every district's released rows, for the state's own analysts."""
        return self.data_dir / "published" / "state_warehouse.duckdb"

    def district_copy_path(self, district_code: str) -> Path:
        """One district's rows only: what that district's analysts are given."""
        return self.data_dir / "published" / "districts" / f"{district_code}.duckdb"


def load_state_config(path: str | os.PathLike[str]) -> StateConfig:
    """Read a state config and every district config it lists; district codes and data folders
    must be distinct (one district's landing is never another's)."""
    config_path = Path(path).resolve()
    state = _read_settings(config_path, StateConfig, "state config")
    state._config_path = config_path
    districts = [load_config(config_path.parent / district) for district in state.districts]
    for kind, values in (
        ("district code", [d.district.code for d in districts]),
        ("data_dir", [str(d.data_dir) for d in districts]),
    ):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"{config_path}: two districts share the {kind} {', '.join(repeated)}")
    state._districts = districts
    return state
