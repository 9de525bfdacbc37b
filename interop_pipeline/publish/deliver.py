"""Deliver one recipient's extract: build it from the warehouse, check it, and only then put it
in place.

`stage_extract` reads the warehouse once (read-only), builds the extract under temporary names
in the delivery folder and runs its checks; `StagedExtract.commit` renames the files into place
(or, for an Ed-Fi API recipient, sends the records), records the delivery state and writes the
audit log; `discard` removes the temporary files and logs the refusal. `publish_recipient` does
all of it, refusing with a report that names file, row and rule when a check fails.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from interop_pipeline.config import DistrictConfig, RecipientSettings
from interop_pipeline.publish import oneroster
from interop_pipeline.publish.audit import (
    AuditEntry,
    mark_in_progress,
    record_interrupted,
    sha256_of,
    sha256_stream,
    write_audit,
)
from interop_pipeline.publish.delta import current_state, delta_files
from interop_pipeline.publish.ids import sourced_id
from interop_pipeline.publish.roster import load_roster, open_warehouse
from interop_pipeline.publish.state import (
    StateKey,
    load_state,
    publish_dir,
    restrict_to_owner,
    save_state,
    state_path,
)
from interop_pipeline.publish.validator import validate_bundle


class DeliveryRefused(RuntimeError):
    """A check failed: nothing was delivered. The message names the failing checks' findings."""


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    detail: str = ""  # file, row and rule; never a personal value
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StagedExtract:
    recipient: str
    settings: RecipientSettings
    data_dir: Path
    mode: str
    moment: datetime
    destination: str
    staged: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    scratch: list[Path] = field(default_factory=list)  # working files, removed however it ends
    entries: list[AuditEntry] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    new_state: dict[StateKey, str] | None = None
    state_kind: str = "records"
    refused: int = 0  # records left out, each with its reason (Ed-Fi: edfi.Refusals)
    unchanged: bool = False  # the content delivered last time: nothing is delivered or audited
    results_file: Path | None = None  # API recipients: each record's outcome, written as the load goes
    # API recipients: the load itself, run on commit; returns (state, entries, checks, metadata).
    send: Callable[[], tuple[dict[StateKey, str], list[AuditEntry], list[CheckOutcome], dict[str, Any]]] | None = None

    @property
    def delivery_id(self) -> str:
        return f"{self.moment:%Y%m%dT%H%M%S%f}Z-{self.recipient}"

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def commit(self) -> StagedExtract:
        if not self.ok:
            raise DeliveryRefused(self.refusal())
        if self.unchanged:
            for temporary, _ in self.staged:
                temporary.unlink(missing_ok=True)
            return self
        status = "delivered"
        if self.send is not None:
            # Until the load ends, a marker says it is under way: if this process dies, the next
            # start records it as interrupted with what the other side had answered.
            marker = mark_in_progress(
                self.data_dir,
                results_file=self.results_file,
                delivery_id=self.delivery_id,
                recipient=self.recipient,
                format=self.settings.format,
                mode=self.mode,
                destination=self.destination,
                delivered_at=self.moment.isoformat(),
            )
            try:
                self.new_state, entries, checks, metadata = self.send()
            except BaseException:
                record_interrupted(self.data_dir, marker)
                raise
            finally:
                self._remove_scratch()
            marker.unlink()
            self.entries += entries
            self.checks += checks
            self.metadata.update(metadata)
            status = "delivered" if all(c.passed for c in checks) else "partial"
        if self.refused:
            status = "partial"
        for temporary, final in self.staged:
            restrict_to_owner(temporary)
            move_into_place(temporary, final)
            restrict_to_owner(final)  # and the delivery folder
        if self.new_state is not None:
            save_state(state_path(self.data_dir, self.recipient, self.state_kind), self.new_state)
        self._audit(status)
        return self

    def discard(self) -> None:
        for temporary, _ in self.staged:
            temporary.unlink(missing_ok=True)
        self._remove_scratch()
        self._audit("refused")

    def _remove_scratch(self) -> None:
        for path in self.scratch:
            path.unlink(missing_ok=True)

    def refusal(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        return f"{self.recipient}: nothing delivered; failed checks:\n" + "\n".join(
            f"- {c.name}: {c.detail}" for c in failed
        )

    def _audit(self, status: str) -> None:
        write_audit(
            self.data_dir,
            delivery_id=self.delivery_id,
            recipient=self.recipient,
            format=self.settings.format,
            mode=self.mode,
            status=status,
            delivered_at=self.moment,
            destination=self.destination,
            entries=self.entries,
        )


def work_file(data_dir: Path, recipient: str, final: Path) -> Path:
    """Where a delivery is written before it is checked: the publish work folder, never the
    delivery folder a vendor's pickup job reads (the start-up sweep removes what a dead run left)."""
    folder = publish_dir(data_dir) / "work" / recipient
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f".{final.name}.partial"


def move_into_place(temporary: Path, final: Path) -> None:
    """Atomically, so the delivery folder only ever holds complete files. A delivery folder on
    another file system gets a hidden copy first, renamed there."""
    try:
        os.replace(temporary, final)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        landing = final.with_name(f".{final.name}.partial")
        shutil.copyfile(temporary, landing)
        restrict_to_owner(landing)
        os.replace(landing, final)
        temporary.unlink()


# --------------------------------------------------------------------------------------------
# OneRoster
# --------------------------------------------------------------------------------------------


VALIDATOR_CHECK = "The bundle passes the built-in OneRoster validator (every rule of the CSV binding)."
AGREEMENT_CHECK = "Only the schools, grades, files and fields the data-sharing agreement allows."


def _allowed_school_ids(con: duckdb.DuckDBPyConnection, settings: RecipientSettings) -> set[str]:
    """The agreement's schools, worked out apart from the extract's own SQL, to check it."""
    rows = con.execute("select school_key, sis_school_id, state_school_id from main.dim_school").fetchall()
    wanted = settings.schools
    return {
        sourced_id("school", key) for key, sis, state in rows if wanted == "all" or sis in wanted or state in wanted
    }


def _stage_oneroster(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
) -> StagedExtract:
    version = oneroster.FORMATS[settings.format]
    allowed_schools = _allowed_school_ids(con, settings)
    # The warehouse's rows are let go as soon as the bundle's are made: at a million students
    # each is several GB of Python rows.
    files = oneroster.bundle_files(load_roster(con, settings), version)
    state_kind = f"oneroster_{version.replace('.', '')}"
    previous = load_state(state_path(config.data_dir, name, state_kind))
    mode = "delta" if settings.mode == "delta" and previous is not None else "bulk"
    state = current_state(files)
    sent, changes = delta_files(files, state, previous or {}, moment) if mode == "delta" else (files, {})
    # The same roster as delivered last time goes out again in neither mode.
    if state == previous or (mode == "delta" and not any(sent.values())):
        return _nothing_changed(config, name, settings, mode, moment, changes)
    folder = config.delivery_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}_oneroster{version.replace('.', '')}_{mode}_{moment:%Y%m%dT%H%M%S}Z.zip"
    temporary = work_file(config.data_dir, name, final)
    counts = oneroster.write_bundle(
        temporary, version, sent, {f: mode for f in sent}, with_programs="programs" in settings.fields
    )
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode=mode,
        moment=moment,
        destination=str(final),
        staged=[(temporary, final)],
        new_state=state,
        state_kind=state_kind,
        metadata={"rows": counts, "changes": changes} if changes else {"rows": counts},
    )
    digest = sha256_of(temporary)
    staged.entries = [AuditEntry(f, n, digest) for f, n in counts.items()]
    staged.checks = [_validator_check(temporary), _oneroster_agreement_check(temporary, settings, allowed_schools)]
    return staged


NOTHING_CHANGED = "nothing changed since the last delivery: not delivered again"
FILES_STATE = "files"  # a file extract's delivery state: each member's content hash


def unless_unchanged(staged: StagedExtract, bundle: Path, *, made_at_member: str | None = None) -> StagedExtract:
    """`staged` marked unchanged when `bundle` holds what the last delivery held, member by
    member (leaving out `made_at_member`, which says when it was made): a run whose extract
    would repeat the last one delivers nothing. Its checks still run and must pass."""
    with zipfile.ZipFile(bundle) as zf:
        state = {
            (info.filename, "content"): sha256_stream(zf.open(info))
            for info in zf.infolist()
            if info.filename != made_at_member
        }
    staged.new_state, staged.state_kind = state, FILES_STATE
    if state == load_state(state_path(staged.data_dir, staged.recipient, FILES_STATE)):
        staged.unchanged = True
        staged.metadata["delivered"] = NOTHING_CHANGED
    return staged


def _nothing_changed(
    config: DistrictConfig,
    name: str,
    settings: RecipientSettings,
    mode: str,
    moment: datetime,
    changes: dict[str, dict[str, int]],
) -> StagedExtract:
    """A run whose roster is the one delivered last time: no bundle (a delta's files would all be
    header-only, which strict consumers refuse; a bulk would repeat the last), nothing in the
    delivery folder, the delivery state as it was."""
    note = NOTHING_CHANGED
    return StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode=mode,
        moment=moment,
        destination="",
        unchanged=True,
        metadata={"rows": {}, "changes": changes, "delivered": note},
        checks=[
            CheckOutcome(check, True, description, note)
            for check, description in (("oneroster_valid", VALIDATOR_CHECK), ("within_agreement", AGREEMENT_CHECK))
        ],
    )


def _validator_check(bundle: Path) -> CheckOutcome:
    report = validate_bundle(bundle)
    return CheckOutcome(
        "oneroster_valid",
        report.ok,
        VALIDATOR_CHECK,
        report.summary(),
        {"rows_checked": report.rows_checked, "issues": len(report.issues) + report.more},
    )


def _oneroster_agreement_check(bundle: Path, settings: RecipientSettings, allowed_schools: set[str]) -> CheckOutcome:
    """Reads the bundle back and finds anything the agreement does not allow."""
    problems: list[str] = []
    allowed = set(settings.fields)
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        if "demographics.csv" in names and "demographics" not in allowed:
            problems.append("demographics.csv: the agreement does not allow demographics")
        tables = {n: _csv_rows(zf, n) for n in ("orgs.csv", "users.csv", "demographics.csv") if n in names}
    restricted = {"email": "emails", "identifier": "identifiers", "userIds": "identifiers", "birthDate": "birth_date"}
    for member, (header, rows) in tables.items():
        if any(c.startswith("metadata.") for c in header) and "programs" not in allowed:
            problems.append(f"{member}: program columns without the programs permission")
        # A person's identifier, not an org's (orgs.csv `identifier` is the school's state id).
        for column, group in restricted.items() if member != "orgs.csv" else ():
            if column in header and group not in allowed:
                at = header.index(column)
                line = next((i for i, r in enumerate(rows, start=2) if r[at]), None)
                if line is not None:
                    problems.append(f"{member} row {line}: {column} without the {group} permission")
    if "orgs.csv" in tables:
        header, rows = tables["orgs.csv"]
        for line, row in enumerate(rows, start=2):
            if row[header.index("type")] == "school" and row[0] not in allowed_schools:
                problems.append(f"orgs.csv row {line}: a school outside the agreement")
    if settings.grades is not None and "users.csv" in tables:
        header, rows = tables["users.csv"]
        grades = header.index("grades")
        for line, row in enumerate(rows, start=2):
            if row[0].startswith("stu-") and row[grades] and row[grades] not in settings.grades:
                problems.append(f"users.csv row {line}: a student outside the agreement's grades")
    return CheckOutcome(
        "within_agreement",
        not problems,
        AGREEMENT_CHECK,
        "\n".join(problems[:20]),
        {"problems": len(problems)},
    )


def _csv_rows(zf: zipfile.ZipFile, member: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(zf.read(member).decode("utf-8"), newline="")))
    return rows[0], rows[1:]


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------

StageFunction = Callable[[DistrictConfig, str, RecipientSettings, duckdb.DuckDBPyConnection, datetime], StagedExtract]


def _stagers() -> dict[str, StageFunction]:
    from interop_pipeline.publish.edfi_publish import stage_edfi_api, stage_edfi_json
    from interop_pipeline.publish.research import stage_research

    return {
        "oneroster_1.2": _stage_oneroster,
        "oneroster_1.1": _stage_oneroster,
        "edfi_json": stage_edfi_json,
        "edfi_api": stage_edfi_api,
        "research": stage_research,
    }


def stage_extract(
    config: DistrictConfig, name: str, *, warehouse: Path | None = None, now: datetime | None = None
) -> StagedExtract:
    settings = config.recipients[name]
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with open_warehouse(str(warehouse or config.build_warehouse_path)) as con:
        return _stagers()[settings.format](config, name, settings, con, moment)


def publish_recipient(
    config: DistrictConfig, name: str, *, warehouse: Path | None = None, now: datetime | None = None
) -> StagedExtract:
    """Build, check and deliver; DeliveryRefused (nothing delivered) when a check fails."""
    staged = stage_extract(config, name, warehouse=warehouse, now=now)
    if not staged.ok:
        staged.discard()
        raise DeliveryRefused(staged.refusal())
    return staged.commit()
