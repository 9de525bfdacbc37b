"""What the browser tests share: the system's Chromium driven headless by node's playwright-core
(tests/browser/), found or installed the way `make test` installs it, and a skip with the reason
(a failure on CI) where it cannot be."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def browser_ready() -> str | None:
    """Why the browser tests cannot run here, or None. `make test` installs what they need (the
    Makefile's browser-test-deps); a missing piece is installed the same way first."""

    def missing() -> list[str]:
        return [
            what
            for what, ok in (
                ("node", shutil.which("node") is not None),
                (str(CHROMIUM), CHROMIUM.exists()),
                (f"{BROWSER_DIR}/node_modules", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
            )
            if not ok
        ]

    if not missing():
        return None
    make = subprocess.run(
        ["make", "-C", str(BROWSER_DIR.parents[1]), "browser-test-deps"], capture_output=True, text=True
    )
    if not missing():
        return None
    return f"cannot install {', '.join(missing())} (make browser-test-deps: {(make.stdout + make.stderr)[-500:]})"


def require_browser() -> None:
    """Skip the calling test, with the reason, where Chromium or playwright-core is missing and
    cannot be installed; on CI, fail it instead."""
    reason = browser_ready()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def run_browser_script(script: str, *args: str, timeout: float) -> dict:
    """Run tests/browser/<script> with node against the system's Chromium and return the one JSON
    object it prints; a script that fails fails the test with its error output."""
    run = subprocess.run(
        ["node", str(BROWSER_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CHROMIUM": str(CHROMIUM)},
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    return json.loads(run.stdout)
