"""District configuration: one YAML file → validated, typed settings.

The demo district's file (data/demo/district.yaml) is the default; the environment variable
INTEROP_DISTRICT_CONFIG points at another. Relative paths in the file are resolved against the
file's own folder, so a config works from any working directory.

Validation is strict: an unknown key, a wrong type or a missing setting stops with a message that
names the file, the key path and what was expected (ConfigError).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

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


class OneRosterCsvSource(_Strict):
    """A folder where the SIS drops OneRoster CSV bundles (zip; 1.1 or 1.2, bulk or delta)."""

    kind: Literal["oneroster_csv"]
    enabled: bool = True
    system_name: str = Field(min_length=1)
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


class FileDropSource(_Strict):
    """A folder where a vendor drops CSV/TSV files (or zips of them), ingested by declaration:
    built-in formats by name, and district-written declarations by path."""

    kind: Literal["file_drop"]
    enabled: bool = True
    system_name: str = Field(min_length=1)
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


SourceSettings = Annotated[OneRosterCsvSource | FileDropSource, Field(discriminator="kind")]


class ScheduleSettings(_Strict):
    cron: str = Field(pattern=r"^\S+ \S+ \S+ \S+ \S+$", description="five-field cron expression")
    timezone: str = "UTC"


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


class DistrictConfig(_Strict):
    district: DistrictSettings
    school_year: SchoolYearSettings
    output: OutputSettings
    sources: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], SourceSettings]
    schedule: ScheduleSettings
    demo: DemoSettings = DemoSettings()

    # Set by load_config: the file this came from, so relative paths resolve against it.
    _config_path: Path = PrivateAttr(default=DEFAULT_CONFIG_PATH)

    @property
    def config_path(self) -> Path:
        return self._config_path

    @property
    def data_dir(self) -> Path:
        return (self._config_path.parent / self.output.data_dir).resolve()

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

    def drop_folder(self, source: OneRosterCsvSource | FileDropSource) -> Path:
        return (self.data_dir / source.drop_folder).resolve()

    def declaration_paths(self, source: FileDropSource) -> list[Path]:
        return [(self._config_path.parent / path).resolve() for path in source.declarations]

    def enabled_sources(self) -> dict[str, SourceSettings]:
        return {name: s for name, s in self.sources.items() if s.enabled}


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
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: district config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of settings at the top level")
    try:
        config = DistrictConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe_error(e) for e in exc.errors())
        raise ConfigError(f"{config_path}: invalid district config:\n  {problems}") from None
    config._config_path = config_path
    return config
