"""What `interop-pipeline run` and `demo` show on the terminal while the refresh job runs.

One line per step as it ends (its assets, rows and seconds, and any failed check), a count of
warnings at the end, then the summary. Everything else the run prints (dbt's own log, Dagster's
events, the step processes' output) goes to a log file under the data dir, whose path is
printed first; `--verbose` shows it all on the terminal instead, as before.

The lines come from the run's event log in the Dagster instance, read while the run goes, so
they are the same whichever executor runs the steps.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from interop_pipeline.publish.state import restrict_to_owner

# Metadata entries that count rows, by the names the project's assets give them.
ROW_ENTRIES = ("dagster/row_count", "rows_landed", "rows", "records", "row_count")
POLL_SECONDS = 0.5


def run_log_path(data_dir: Path) -> Path:
    folder = data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"


@contextmanager
def output_to(log_path: Path) -> Iterator[Console]:
    """Send this process's stdout and stderr, and those of every process it starts (dbt, the
    step processes), to `log_path`; yield a console that still writes to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    with log_path.open("ab") as log:
        restrict_to_owner(log_path)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield Console(file=terminal, highlight=False, soft_wrap=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()


@dataclass
class _Step:
    started: float | None = None
    assets: int = 0
    rows: int = 0
    failed_checks: list[str] = field(default_factory=list)


class StepLines:
    """Prints each step of the run tagged `tag` as it ends, from the instance's event log."""

    def __init__(self, instance, console: Console, tag: tuple[str, str]) -> None:
        self.instance, self.console, self.tag = instance, console, tag
        self.steps: dict[str, _Step] = {}
        self.warnings: Counter[str] = Counter()
        self._cursor: str | None = None
        self._run_id: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="step-lines", daemon=True)

    def __enter__(self) -> StepLines:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self._read()  # whatever the last poll missed

    def _follow(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            self._read()

    def _read(self) -> None:
        from dagster import RunsFilter

        if self._run_id is None:
            runs = self.instance.get_runs(RunsFilter(tags={self.tag[0]: self.tag[1]}), limit=1)
            if not runs:
                return
            self._run_id = runs[0].run_id
        while True:
            connection = self.instance.get_records_for_run(self._run_id, cursor=self._cursor, limit=500)
            for record in connection.records:
                self._take(record.event_log_entry)
            self._cursor = connection.cursor
            if not connection.has_more:
                return

    def _take(self, entry) -> None:
        step_key = entry.step_key
        event = entry.dagster_event
        if event is None:  # a log message
            if entry.level >= logging.WARNING and step_key:
                self.warnings[step_key] += 1
            return
        if step_key is None:
            return
        step = self.steps.setdefault(step_key, _Step())
        kind = event.event_type_value
        if kind == "STEP_START":
            step.started = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            step.assets += 1
            metadata = event.event_specific_data.materialization.metadata
            step.rows += next((int(v.value) for k, v in metadata.items() if k in ROW_ENTRIES and _whole(v.value)), 0)
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                step.failed_checks.append(f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            self._print(step_key, step, ok=kind == "STEP_SUCCESS", ended=entry.timestamp)
        elif kind == "STEP_SKIPPED":
            self.console.print(f"  [dim]- {step_key:<44} skipped: nothing it reads has changed[/]")

    def _print(self, step_key: str, step: _Step, *, ok: bool, ended: float) -> None:
        seconds = ended - step.started if step.started else 0.0
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        figures = f"{step.assets:>3} assets {step.rows:>10,} rows {seconds:>7.1f} s"
        line = f"  {mark} {step_key:<44} {figures}"
        if ok and not step.assets:  # a dbt step or an extract that found nothing it reads rebuilt
            line += "  [dim]materialized nothing: what it reads is unchanged[/]"
        if step.failed_checks:
            line += f"  [yellow]{len(step.failed_checks)} check(s) failed: {', '.join(step.failed_checks[:3])}[/]"
        self.console.print(line)

    def warning_line(self) -> str | None:
        if not self.warnings:
            return None
        by_step = ", ".join(f"{step} {n}" for step, n in self.warnings.most_common())
        return f"{sum(self.warnings.values())} warnings ({by_step}); they are in the log"


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
