"""Land vendor file drops (NWEA MAP, i-Ready, SIS attendance, district-declared files).

One multi-asset per drop folder: every file not landed yet is landed in delivery order, one
batch per file; a refused file (empty, truncated, wrong format) lands nothing, the others still
land, and the source is quarantined (source_health.py): a failed check names the file and why,
and the previous data stays what dbt reads; only a required source fails its step. Checks per
entity: schema drift against the previous file, row-count drop (snapshot files) and reject rate.
Runs outside the warehouse pool: it writes Parquet, never DuckDB.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from interop_pipeline.assets.extract.source_health import (
    REFUSALS_ENTITY,
    Refusal,
    report_source_health,
    source_health_check_specs,
)
from interop_pipeline.config import DistrictConfig, FileDropSource
from interop_pipeline.connectors.conformance import ConformingSinks, SchoolCalendar
from interop_pipeline.connectors.landing import (
    BATCHES_DIR,
    REJECTS_DIR,
    ensure_placeholders,
    pending_files,
    read_batch_records,
    sha256_file,
)
from interop_pipeline.connectors.tabular import (
    EntityLanding,
    FileDeclaration,
    VendorFileError,
    VendorFileResult,
    builtin_declarations,
    land_vendor_file,
    load_declarations,
)
from interop_pipeline.transform.dbt import DATA_TEAM

REJECTS_ENTITY = REJECTS_DIR.lstrip("_")
BATCHES_ENTITY = BATCHES_DIR.lstrip("_")


def source_declarations(config: DistrictConfig, source_name: str, source: FileDropSource) -> list[FileDeclaration]:
    """The built-in formats a source names plus its district-written declarations; every one
    must land into the source's own folder (its `system` is the source's name)."""
    builtin = builtin_declarations()
    unknown = [name for name in source.formats if name not in builtin]
    if unknown:
        raise ValueError(
            f"{config.config_path}: sources.{source_name}.formats: unknown format(s) {unknown}; "
            f"built-in formats are {sorted(builtin)}"
        )
    declarations = [builtin[name] for name in source.formats]
    declarations += list(load_declarations(config.declaration_paths(source)).values())
    for declaration in declarations:
        if declaration.system != source_name:
            raise ValueError(
                f"{config.config_path}: sources.{source_name}: declaration {declaration.name!r} lands into "
                f"system {declaration.system!r}; a source's declarations must use system: {source_name}"
            )
    return declarations


@dataclass
class _EntityTally:
    rows_landed: int = 0
    rows_rejected: int = 0
    files: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    # Real files' quirks absorbed without losing a row (trailing empty cells, a short last
    # record, vendor null sentinels), counted by kind.
    quirks: dict[str, int] = field(default_factory=dict)


def _previous(records: list[dict], entity: str, before: str) -> dict | None:
    """The newest committed batch before `before` that landed this entity."""
    earlier = [r for r in records if r["batch_id"] != before and entity in r["details"].get("entities", {})]
    return earlier[-1] if earlier else None


def _looks_like_a_value(name: str) -> bool:
    return "@" in name or re.fullmatch(r"[\d\s./:,-]+", name) is not None


def _compare_with_previous(
    tally: _EntityTally, result: VendorFileResult, entity: str, records: list[dict], max_drop: float
) -> None:
    landed = result.entities[entity]
    previous = _previous(records, entity, result.batch_id)
    if previous is None:
        return
    before = previous["details"]["entities"][entity]
    appeared = sorted(set(landed.header) - set(before["header"]))
    vanished = sorted(set(before["header"]) - set(landed.header))
    if appeared or vanished:
        # A header that lost its line break reads the first record's values (names, birth dates)
        # as column names, and a declared column vanishes into the merged cell. Then, and for any
        # name shaped like a value, columns the declaration does not know are counted, not named.
        unknown = set(landed.unknown_columns) | set(before.get("unknown_columns", []))
        merged = any(c not in unknown for c in vanished)

        def named(columns: list[str]) -> str:
            shown = [c for c in columns if c not in unknown or not (merged or _looks_like_a_value(c))]
            hidden = len(columns) - len(shown)
            return ", ".join([*shown, *([f"{hidden} undeclared"] if hidden else [])]) or "none"

        tally.drift.append(f"{landed.source}: appeared {named(appeared)}; vanished {named(vanished)}")
    previous_rows = previous["rows_landed"].get(entity, 0)
    if landed.mode == "snapshot" and previous_rows and landed.rows_landed < (1 - max_drop) * previous_rows:
        tally.drops.append(f"{landed.source}: {landed.rows_landed} rows after {previous_rows}")


def _flag_likely_typos(tally: _EntityTally, landed: EntityLanding) -> None:
    """A declared optional column the header lacks while a header name close to it is there is
    most likely misspelt in the declaration: the field would land null in every file, so the
    schema check fails naming it (first file or not)."""
    for field_name, nearest in landed.nearest_columns.items():
        hint = f"; nearest header name {nearest!r}" if not _looks_like_a_value(nearest) else ""
        tally.drift.append(
            f"{landed.source}: field {field_name} found no column in the header{hint} (a typo in the declaration?)"
        )


def land_file(
    config: DistrictConfig, source: FileDropSource, declarations: list[FileDeclaration], path: Path
) -> VendorFileResult:
    """Land one delivered file with this source's settings (also used by the benchmark)."""
    return land_vendor_file(
        path,
        declarations,
        config.landing_dir,
        district_code=config.district.code,
        max_uncompressed_bytes=source.max_uncompressed_mb * 2**20,
        row_sinks=conforming_sinks(config),
        # Files of a MiB and more (a year of attendance, an assessment export) are read
        # column-wise, smaller ones row by row; both land the same rows and rejects.
        engine="auto",
    )


def conforming_sinks(config: DistrictConfig) -> ConformingSinks:
    """What lands beside a declared file's rows: their conformed meaning, dated by the
    district's school-year rollover."""
    month, day = (int(part) for part in config.school_year.rollover.split("-"))
    return ConformingSinks(SchoolCalendar(rollover_month=month, rollover_day=day))


def _batch_record(result: VendorFileResult) -> dict:
    """The parts of a batch record the checks compare against (as read_batch_records gives them)."""
    return {
        "batch_id": result.batch_id,
        "rows_landed": dict(result.rows_landed),
        "details": {"entities": {e: {"header": landed.header} for e, landed in result.entities.items()}},
    }


def build_file_drop_assets(config: DistrictConfig, source_name: str, source: FileDropSource):
    declarations = source_declarations(config, source_name, source)
    entities = sorted({d.entity for d in declarations})
    keys = {
        e: AssetKey(["landing", source_name, e]) for e in [*entities, REJECTS_ENTITY, BATCHES_ENTITY, REFUSALS_ENTITY]
    }
    checks = {
        (entity, name): AssetCheckSpec(name, asset=keys[entity], description=text)
        for entity in entities
        for name, text in (
            ("no_schema_drift", "Columns that appeared or vanished since the previous file of this kind."),
            (
                "no_row_count_drop",
                f"Snapshot files: fewer than {1 - source.checks.max_row_count_drop:.0%} of the previous file's rows.",
            ),
            ("reject_rate_within_limit", f"At most {source.checks.max_reject_rate:.1%} of a file's rows rejected."),
        )
    }
    described = {d.entity: d.description for d in declarations}

    @multi_asset(
        name=f"land_{source_name}_files",
        specs=[
            AssetSpec(
                key,
                group_name=source_name,
                kinds={"python", "parquet"},
                owners=[DATA_TEAM],
                description=described.get(entity, f"{entity} of every {source.system_name} file landed")
                + f" Landed from {source.system_name}'s drop folder, one Parquet file per delivered file.",
            )
            for entity, key in keys.items()
        ],
        check_specs=[*checks.values(), *source_health_check_specs(source_name, source, keys[BATCHES_ENTITY])],
        description=f"Land every new file in {source.system_name}'s drop folder by declaration.",
    )
    def land_files(context: AssetExecutionContext) -> Iterator:
        started = time.perf_counter()
        ensure_placeholders(config.landing_dir, source_name, {d.entity: d.output_columns for d in declarations})
        files = pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, source_name)
        tallies = {entity: _EntityTally() for entity in entities}
        refused: list[Refusal] = []
        batches: list[str] = []
        records = read_batch_records(config.landing_dir, source_name)  # once: new batches are appended below
        for path in files:
            try:
                result = land_file(config, source, declarations, path)
            except VendorFileError as exc:
                refused.append(Refusal(subject=path.name, reason=str(exc), fingerprint=sha256_file(path)))
                context.log.error(f"Refused, nothing landed: {exc}")
                continue
            except Exception as exc:  # a defect must not stop the other files or sources either
                context.log.exception(f"{path.name}: unexpected {type(exc).__name__}; nothing of it landed")
                reason = f"{path.name}: unexpected {type(exc).__name__} while landing; nothing landed (see the run log)"
                refused.append(Refusal(subject=path.name, reason=reason, fingerprint=sha256_file(path)))
                continue
            batches.append(result.batch_id)
            for entity in result.entities:
                tally = tallies[entity]
                tally.rows_landed += result.rows_landed.get(entity, 0)
                tally.rows_rejected += result.rows_rejected.get(entity, 0)
                tally.files.append(path.name)
                for quirk, count in result.entities[entity].warnings.items():
                    tally.quirks[quirk] = tally.quirks.get(quirk, 0) + count
                _compare_with_previous(tally, result, entity, records, source.checks.max_row_count_drop)
                _flag_likely_typos(tally, result.entities[entity])
            if result.warnings_by_entity:
                context.log.warning(f"{path.name}: landed with quirks absorbed: {result.warnings_by_entity}")
            records.append(_batch_record(result))
            context.log.info(f"{path.name}: batch {result.batch_id}, {sum(result.rows_landed.values())} rows")

        common = {"files_landed": len(batches), "duration_s": round(time.perf_counter() - started, 3)}
        for entity in entities:
            tally = tallies[entity]
            yield MaterializeResult(
                asset_key=keys[entity],
                metadata={
                    **common,
                    "dagster/row_count": tally.rows_landed,
                    "rows_rejected": tally.rows_rejected,
                    "files": ", ".join(tally.files) or "no new files",
                    "quirks_absorbed": MetadataValue.json(tally.quirks),
                },
            )
            yield from _entity_checks(keys[entity], tally, source)
        yield MaterializeResult(
            asset_key=keys[REJECTS_ENTITY],
            metadata={**common, "dagster/row_count": sum(t.rows_rejected for t in tallies.values())},
        )
        yield MaterializeResult(
            asset_key=keys[BATCHES_ENTITY],
            metadata={**common, "batches": ", ".join(batches) or "none", "files_refused": len(refused)},
        )
        yield from report_source_health(
            config, source_name, source, refused, batches_key=keys[BATCHES_ENTITY], refusals_key=keys[REFUSALS_ENTITY]
        )

    return land_files


def _entity_checks(key: AssetKey, tally: _EntityTally, source: FileDropSource) -> Iterator[AssetCheckResult]:
    total = tally.rows_landed + tally.rows_rejected
    rate = tally.rows_rejected / total if total else 0.0
    outcomes = {  # check name: (passed, severity, metadata)
        "no_schema_drift": (not tally.drift, AssetCheckSeverity.WARN, {"changes": "; ".join(tally.drift) or "none"}),
        "no_row_count_drop": (not tally.drops, AssetCheckSeverity.WARN, {"drops": "; ".join(tally.drops) or "none"}),
        "reject_rate_within_limit": (
            rate <= source.checks.max_reject_rate,
            AssetCheckSeverity.ERROR,
            {"reject_rate": MetadataValue.float(round(rate, 4)), "rows_rejected": tally.rows_rejected},
        ),
    }
    for name, (passed, severity, metadata) in outcomes.items():
        yield AssetCheckResult(asset_key=key, check_name=name, passed=passed, severity=severity, metadata=metadata)
