"""Time each pipeline stage on a generated district and report wall time, rows/s and peak memory.

    python bench/bench_pipeline.py --students 100000 [--seed 1] [--workdir data/bench]

Each stage runs in a fresh process so its peak resident memory is its own (dbt's own process is
counted with the dbt stage). Figures vary between machines and runs: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop_pipeline.config import DEFAULT_CONFIG_PATH, DistrictConfig, load_config  # noqa: E402

STAGES = ("generate", "extract", "dbt_build", "release")


def _peak_mb() -> float:
    # ru_maxrss is in KiB on Linux; children covers dbt's subprocess.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _stage_generate(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.simulators.generate import write_district

    truth = write_district(config, students=students, seed=seed).truth
    return sum(t.num_rows for t in truth.tables().values())


def _stage_extract(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.assets.extract.file_drops import land_file, source_declarations
    from interop_pipeline.assets.extract.sis_roster import land_bundle
    from interop_pipeline.config import FileDropSource
    from interop_pipeline.connectors.landing import pending_files

    shutil.rmtree(config.landing_dir, ignore_errors=True)
    rows = 0
    for name, source in config.enabled_sources().items():
        declarations = source_declarations(config, name, source) if isinstance(source, FileDropSource) else None
        for path in pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, name):
            if declarations is not None:
                result = land_file(config, source, declarations, path)
            else:
                result = land_bundle(config, name, source, path)
            rows += sum(result.rows_landed.values()) + sum(result.rows_rejected.values())
    return rows


def _stage_dbt_build(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.assets.release import table_counts
    from interop_pipeline.transform.dbt import DBT_PROJECT_DIR, dbt_environment, dbt_vars

    config.build_warehouse_path.unlink(missing_ok=True)
    config.build_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [
            str(dbt),
            "build",
            "--quiet",
            "--vars",
            json.dumps(dbt_vars(config)),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env={**os.environ, **dbt_environment(config)},
        cwd=DBT_PROJECT_DIR,
    )
    return sum(table_counts(config.build_warehouse_path).values())


def _stage_release(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.assets.release import publish_warehouse

    return sum(publish_warehouse(config.build_warehouse_path, config.published_warehouse_path, "bench").values())


def run_stage(stage: str, config_path: Path, students: int, seed: int) -> None:
    config = load_config(config_path)
    started = time.perf_counter()
    rows = globals()[f"_stage_{stage}"](config, students, seed)
    seconds = time.perf_counter() - started
    print(json.dumps({"stage": stage, "seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # internal: one stage
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args.config, args.students, args.seed)
        return

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["output"]["data_dir"] = "."
    for source in raw["sources"].values():  # declarations stay where the demo keeps them
        if "declarations" in source:
            source["declarations"] = [str(DEFAULT_CONFIG_PATH.parent / p) for p in source["declarations"]]
    config_path = workdir / "district.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))

    print(f"{args.students:,} students, seed {args.seed}, in {workdir}")
    print(f"{'stage':<10} {'wall s':>8} {'rows':>12} {'rows/s':>12} {'peak MB':>9}")
    for stage in STAGES:
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--stage",
                    stage,
                    "--config",
                    str(config_path),
                    "--students",
                    str(args.students),
                    "--seed",
                    str(args.seed),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        figures = json.loads(out)
        rate = figures["rows"] / figures["seconds"] if figures["seconds"] else float("nan")
        print(
            f"{stage:<10} {figures['seconds']:>8.1f} {figures['rows']:>12,} {rate:>12,.0f} {figures['peak_mb']:>9.0f}"
        )


if __name__ == "__main__":
    main()
