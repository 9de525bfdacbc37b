"""Named moments where a chaos test stops a run dead.

The crash tests kill a whole run (kill -9) in the middle of each kind of work. Guessing the
moment from outside (a file appearing, a log line) misses the short ones, so the run says when
it is there: with ``INTEROP_PAUSE_AT=<point>=<marker file>`` set, a run reaching that point
writes the marker and waits to be killed. Unset, as in every real run, a point costs one
environment lookup and does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_ENV_VAR = "INTEROP_PAUSE_AT"
POINTS = (
    "landing",  # a landing batch written in its work folder, not yet moved into place
    "dbt_build",  # the first dbt build has built its first node; dbt is still running
    "identity",  # identity resolution has linked the students and not yet the staff
    "release_copy",  # the warehouse copied beside the published one, not yet renamed over it
    "oneroster_write",  # a OneRoster bundle half written: manifest and first file in the zip
    "edfi_load",  # the Ed-Fi load has sent its first resource's records
)
# A point nobody kills within this time is a broken test: fail loudly rather than hang.
_WAIT_SECONDS = 900


def pause_point(point: str) -> None:
    """Wait here to be killed if the chaos test asked for this point."""
    wanted = os.environ.get(PAUSE_ENV_VAR)
    if not wanted:
        return
    name, _, marker = wanted.partition("=")
    if name != point:
        return
    Path(marker).write_text(f"{os.getpid()}\n")
    time.sleep(_WAIT_SECONDS)
    raise RuntimeError(f"{PAUSE_ENV_VAR}: nobody stopped the run paused at {point}")
