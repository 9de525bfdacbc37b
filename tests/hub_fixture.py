"""The hub district (tests/fixtures/hub_district/): a small district's own deliveries, written by
hand in the shapes real systems export (see its README.md for every quirk it reproduces); and the
command that runs the pipeline on it.

The fixture keeps each delivery's files unzipped, so they can be read and diffed; these helpers
pack them as they arrive: the OneRoster bundle and the MAP Comprehensive Data File as zips (files
at the root, fixed timestamps, so the same bytes on every run), the i-Ready exports as they are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from interop_pipeline.chaos import PAUSE_ENV_VAR

HUB_DISTRICT = Path(__file__).resolve().parent / "fixtures" / "hub_district"
ONEROSTER_DIR = HUB_DISTRICT / "oneroster"
NWEA_MAP_DIR = HUB_DISTRICT / "nwea_map"
IREADY_DIR = HUB_DISTRICT / "iready"

ONEROSTER_BUNDLE = "oneroster_bulk_2025-10-01.zip"
NWEA_MAP_CDF = "MAP_CDF_Fall_2025-2026.zip"
REFUSED_CDF = "MAP_CDF_Winter_2025-2026.zip"  # next term's, cut short: see write_hub_district
_ZIP_TIME = (2025, 10, 1, 5, 0, 0)


@dataclass(frozen=True)
class HubDrops:
    """Where each delivery was written."""

    oneroster: Path
    nwea_map: Path
    iready: list[Path]


def zip_folder(folder: Path, zip_path: Path, *, replace: Mapping[str, str | bytes] | None = None) -> Path:
    """Zip every file of ``folder`` (not its subfolders) at the archive root, in name order, with
    fixed timestamps. ``replace`` gives members other content (name -> text or bytes), or adds
    members; the bytes of the rest are copied exactly (line endings, a missing final newline)."""
    members: dict[str, bytes] = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}
    for name, content in (replace or {}).items():
        members[name] = content.encode("utf-8") if isinstance(content, str) else content
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])
    return zip_path


def build_oneroster_bundle(
    folder: Path, *, name: str = ONEROSTER_BUNDLE, extra_rows: Mapping[str, list[str]] | None = None
) -> Path:
    """The hub's OneRoster 1.1 bulk bundle in ``folder``; ``extra_rows`` appends CSV lines to
    members (``{"users.csv": ["stu-x,,,true,..."]}``)."""
    replace = {}
    for member, lines in (extra_rows or {}).items():
        text = (ONEROSTER_DIR / member).read_text(encoding="utf-8")
        replace[member] = text + "".join(f"{line}\n" for line in lines)
    return zip_folder(ONEROSTER_DIR, Path(folder) / name, replace=replace)


def build_nwea_map_cdf(folder: Path, *, name: str = NWEA_MAP_CDF) -> Path:
    """The district's MAP Growth Comprehensive Data File for Fall 2025-2026, in ``folder``."""
    return zip_folder(NWEA_MAP_DIR, Path(folder) / name)


def copy_iready_exports(folder: Path) -> list[Path]:
    """The i-Ready Diagnostic ELA and Math exports, copied byte for byte into ``folder``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(path, Path(folder) / path.name)) for path in sorted(IREADY_DIR.glob("*.csv"))]


def write_hub_drops(drops_dir: Path) -> HubDrops:
    """Every delivery into the district's drop folders as the demo config names them:
    ``drops_dir/sis`` (OneRoster), ``drops_dir/nwea_map`` and ``drops_dir/iready``."""
    drops_dir = Path(drops_dir)
    return HubDrops(
        oneroster=build_oneroster_bundle(drops_dir / "sis"),
        nwea_map=build_nwea_map_cdf(drops_dir / "nwea_map"),
        iready=copy_iready_exports(drops_dir / "iready"),
    )


def write_truncated_cdf(path: Path, *, after: Path) -> None:
    """Next term's CDF, cut inside a quoted field (refused as truncated), delivered after `after`."""
    results = (NWEA_MAP_DIR / "AssessmentResults.csv").read_bytes()
    cut = results[: results.rindex(b'"', 0, len(results) // 2)] + b'"Mathem'
    zip_folder(NWEA_MAP_DIR, path, replace={"AssessmentResults.csv": cut})  # the same bytes every time
    later = after.stat().st_mtime + 60
    os.utime(path, (later, later))


def write_hub_district(folder: Path) -> Path:
    """The hub district in ``folder``: its config, and every delivery in its drop folders, with
    next to the good MAP file a later one that is refused (it quarantines its source). Returns
    the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(HUB_DISTRICT / "district.yaml", folder / "district.yaml")
    drops = write_hub_drops(folder / "drops")
    write_truncated_cdf(drops.nwea_map.parent / REFUSED_CDF, after=drops.nwea_map)
    return folder / "district.yaml"


def run_command(config_path: Path) -> list[str]:
    """`interop-pipeline run --simulate` on the district."""
    return [sys.executable, "-m", "interop_pipeline.cli", "run", "--simulate", "--config", str(config_path)]


def run_env(config_path: Path, **extra: str) -> dict[str, str]:
    """The command's environment: this one, paused at no chaos point unless `extra` says so."""
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV_VAR}
    return {**env, "INTEROP_DISTRICT_CONFIG": str(config_path), **extra}


def run_hub(config_path: Path) -> subprocess.CompletedProcess:
    """One run of the district to its end, its output kept."""
    return subprocess.run(
        run_command(config_path), capture_output=True, text=True, env=run_env(config_path), timeout=900
    )
