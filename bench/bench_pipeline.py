"""Time every stage of the whole pipeline on generated districts: wall time, rows, rows/s, peak memory.

    python bench/bench_pipeline.py --students 10000 100000 [--seed 1] [--workdir data/bench]
        [--skip STAGE ...] [--json out.json]

The stages are a full school year's refresh, in the order a run takes them: generate the district;
land the file drops; land each REST source (`land_api:<source>`: one walk of every entity from
its simulator on 127.0.0.1); dbt build up to identity resolution; identity resolution; dbt build
after it; release (the published copy); then each enabled recipient's extract
(`publish:<recipient>`), built from the published copy, checked and delivered (an Ed-Fi API
recipient loads a simulated ODS/API record by record). Each stage calls the pipeline's own
functions in a fresh process, so its peak resident memory is its own (dbt's own process is counted
with its stage). Simulators run in a process of their own, only beside the stage they serve, as
`interop-pipeline simulate` runs beside the UI, and hand the stage its base URLs and credentials
by environment; their start-up and memory are reported apart, but they share the machine with
that stage. The stages run one at a time, where a scheduled run overlaps the landing steps and
the extracts: the total is the serial sum. `--skip` leaves stages out (say an Ed-Fi API load too
long to wait for); the total and growth then cover the stages run.

With several sizes it prints, between consecutive sizes, the growth exponent of each stage's wall
time, log(t2/t1) / log(n2/n1), and of the total, and checks the scale targets (1,000,000 students
end to end in 30 minutes on 2 cores, peak memory within 6 GB, growth no faster than N^1.1), by
projection from the largest size when 1,000,000 was not measured. Figures vary between machines
and runs: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop_pipeline.config import (  # noqa: E402
    DEFAULT_CONFIG_PATH,
    ApiSource,
    DistrictConfig,
    FileDropSource,
    OneRosterCsvSource,
    load_config,
)
from interop_pipeline.simulators.apis import RECIPIENTS_ONLY, simulators_in_own_process  # noqa: E402

LAND_API = "land_api:"  # then a REST source's name: one stage per enabled REST source
PUBLISH = "publish:"  # then a recipient's name: one stage per enabled recipient
WAREHOUSE_STAGES = ("dbt_build", "identity", "dbt_after_identity", "release")

TARGET_STUDENTS = 1_000_000
TARGET_SECONDS = 30 * 60
TARGET_PEAK_MB = 6 * 1024
TARGET_EXPONENT = 1.1


def _peak_mb() -> float:
    """This process's peak resident memory, or its children's (dbt's) if higher, in MB. VmHWM is
    this process's own: ru_maxrss would carry the launching process's peak across exec."""
    status = Path("/proc/self/status").read_text().splitlines()
    own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))  # KiB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return max(own, children) / 1024


# --- the stages: each runs in its own process and returns the rows it handled ---------------------


def _stage_generate(config: DistrictConfig, students: int, seed: int) -> int:
    """Rows of the generated truth (every drop is written from it)."""
    from interop_pipeline.simulators.generate import write_district

    return sum(write_district(config, students=students, seed=seed).truth_rows.values())


def _stage_land_files(config: DistrictConfig, students: int, seed: int) -> int:
    """Rows landed or rejected from every file drop, in delivery order, as the landing assets land them."""
    from interop_pipeline.assets.extract.file_drops import land_file, source_declarations
    from interop_pipeline.assets.extract.sis_roster import land_bundle
    from interop_pipeline.connectors.landing import pending_files

    rows = 0
    for name, source in config.enabled_sources().items():
        if isinstance(source, FileDropSource):
            declarations = source_declarations(config, name, source)
            land = lambda path, source=source, declarations=declarations: land_file(config, source, declarations, path)  # noqa: E731
        elif isinstance(source, OneRosterCsvSource):
            land = lambda path, name=name, source=source: land_bundle(config, name, source, path)  # noqa: E731
        else:
            continue  # REST sources: the next stage
        for path in pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, name):
            result = land(path)
            rows += sum(result.rows_landed.values()) + sum(result.rows_rejected.values())
    return rows


def _land_api(config: DistrictConfig, name: str) -> int:
    """Records of one walk of every entity of a REST source, as its landing asset walks them."""
    from interop_pipeline.assets.extract.api_sources import walk_all
    from interop_pipeline.connectors.api_sources import api_connector

    source = config.sources[name]
    results, failures = walk_all(config, name, source, list(api_connector(source.kind).entity_walks(source)))
    if failures:
        raise RuntimeError(f"{name}: walks failed: {failures}")
    return sum(result.records for result in results.values())


def _dbt_build(config: DistrictConfig, *selection: str) -> int:
    """One of the two dbt steps (transform/dbt.py); returns the rows of the tables it built."""
    from interop_pipeline.transform.dbt import (
        DBT_PROJECT_DIR,
        PRODUCTION_ARGS,
        dbt_environment,
        dbt_vars,
        prepare_dbt_build,
    )
    from interop_pipeline.transform.dbt_command import DBT_COMMAND

    prepare_dbt_build(config)
    target = config.data_dir / "dbt_target"  # kept between steps and sizes: dbt's partial parse
    subprocess.run(
        [
            str(DBT_COMMAND),
            "build",
            "--quiet",
            *PRODUCTION_ARGS,
            *selection,
            "--vars",
            json.dumps(dbt_vars(config)),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env={**os.environ, **dbt_environment(config)},
        cwd=DBT_PROJECT_DIR,
    )
    return _rows_built(config, target)


def _rows_built(config: DistrictConfig, target: Path) -> int:
    import duckdb

    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    built = {
        nodes[r["unique_id"]]["alias"]
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].split(".")[0] in ("model", "seed", "snapshot") and r["status"] == "success"
    }
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        sizes = con.execute("select table_name, estimated_size from duckdb_tables()").fetchall()
    return sum(size for table, size in sizes if table in built)


def _stage_dbt_build(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.transform.dbt import AFTER_IDENTITY

    config.build_warehouse_path.unlink(missing_ok=True)
    return _dbt_build(config, "--exclude", AFTER_IDENTITY)


def _stage_identity(config: DistrictConfig, students: int, seed: int) -> int:
    """Records linked (every crosswalk row), landed for the second dbt step."""
    from interop_pipeline.assets.identity.resolution import resolve_and_land

    outputs, _ = resolve_and_land(config, log=lambda _: None)
    return sum(crosswalk.num_rows for crosswalk in outputs.crosswalks.values())


def _stage_dbt_after_identity(config: DistrictConfig, students: int, seed: int) -> int:
    from interop_pipeline.transform.dbt import AFTER_IDENTITY

    return _dbt_build(config, "--select", AFTER_IDENTITY)


def _stage_release(config: DistrictConfig, students: int, seed: int) -> int:
    """Rows of the released tables in the published copy."""
    from interop_pipeline.assets.release import publish_warehouse

    return sum(publish_warehouse(config.build_warehouse_path, config.published_warehouse_path, "bench").values())


def _publish(config: DistrictConfig, recipient: str) -> int:
    """Rows (or records) of one recipient's delivered extract, built from the published copy."""
    from interop_pipeline.publish.deliver import publish_recipient

    staged = publish_recipient(config, recipient, warehouse=config.published_warehouse_path)
    return sum(entry.row_count for entry in staged.entries)


def run_stage(stage: str, config_path: Path, students: int, seed: int) -> None:
    config = load_config(config_path)
    started = time.perf_counter()
    if stage.startswith(LAND_API):
        rows = _land_api(config, stage.removeprefix(LAND_API))
    elif stage.startswith(PUBLISH):
        rows = _publish(config, stage.removeprefix(PUBLISH))
    else:
        rows = globals()[f"_stage_{stage}"](config, students, seed)
    seconds = time.perf_counter() - started
    print(json.dumps({"stage": stage, "seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}))


def stages_of(config: DistrictConfig) -> list[tuple[str, str | None]]:
    """Every stage in order, with the simulators it needs (None: none)."""
    apis = [name for name, source in config.enabled_sources().items() if isinstance(source, ApiSource)]
    return [
        ("generate", None),
        ("land_files", None),
        *((LAND_API + name, LAND_API + name) for name in apis),
        *((stage, None) for stage in WAREHOUSE_STAGES),
        *((PUBLISH + name, RECIPIENTS_ONLY) for name in config.enabled_recipients()),
    ]


# --- one size: every stage in order, in its own process --------------------------------------------


def write_bench_config(workdir: Path) -> Path:
    """A copy of the demo config whose data lives in `workdir`."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["output"]["data_dir"] = "."
    for source in raw["sources"].values():  # declarations stay where the demo keeps them
        if "declarations" in source:
            source["declarations"] = [str(DEFAULT_CONFIG_PATH.parent / p) for p in source["declarations"]]
    config_path = workdir / "district.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config_path


def _run_in_child(stage: str, config_path: Path, students: int, seed: int, env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--config", str(config_path)]
    arguments = ["--students", str(students), "--seed", str(seed)]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_row(stage: str, seconds: float, rows: int | None, peak_mb: float) -> None:
    rows_text = f"{rows:>12,}" if rows is not None else f"{'':>12}"
    rate = f"{rows / seconds:>12,.0f}" if rows is not None and seconds else f"{'':>12}"
    print(f"{stage:<28} {seconds:>8.1f} {rows_text} {rate} {peak_mb:>9.0f}", flush=True)


def bench_size(students: int, seed: int, workdir: Path, skip: frozenset[str] = frozenset()) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    config_path = write_bench_config(workdir)
    stages = stages_of(load_config(config_path))

    print(f"\n{students:,} students, seed {seed}, in {workdir}")
    print(f"{'stage':<28} {'wall s':>8} {'rows':>12} {'rows/s':>12} {'peak MB':>9}", flush=True)
    results: list[dict] = []
    served: dict[str, dict] = {}
    current = None
    with ExitStack() as running:
        for stage, kind in stages:
            if stage in skip:
                print(f"{stage:<28} {'skipped':>8}", flush=True)
                continue
            if kind != current:  # only the simulators this stage needs run beside it
                running.close()
                current = kind
                if kind:
                    only = kind.removeprefix(LAND_API)  # a source's name, or RECIPIENTS_ONLY
                    served[kind] = running.enter_context(simulators_in_own_process(config_path, only))
            figures = _run_in_child(stage, config_path, students, seed, served[kind]["env"] if kind else {})
            _print_row(stage, figures["seconds"], figures["rows"], figures["peak_mb"])
            results.append(figures)

    total = sum(r["seconds"] for r in results)
    peak = max(r["peak_mb"] for r in results)
    _print_row("total (stages in series)", total, None, peak)
    for what, figures in served.items():
        print(
            f"simulators for {what}: their own process, started in {figures['start_seconds']:.1f} s, "
            f"peak {figures['peak_mb']:.0f} MB (in no stage's figures)"
        )
    simulated = {what: {k: v for k, v in figures.items() if k != "env"} for what, figures in served.items()}
    return {
        "students": students,
        "seed": seed,
        "stages": results,
        "total_seconds": total,
        "peak_mb": peak,
        "skipped": sorted(skip),
        "simulators": simulated,
    }


# --- growth and targets ---------------------------------------------------------------------------


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    """The power of N that takes t1 at n1 to t2 at n2."""
    return math.log(t2 / t1) / math.log(n2 / n1) if t1 > 0 and t2 > 0 and n1 != n2 else float("nan")


def growth(runs: list[dict]) -> list[dict]:
    """Per pair of consecutive sizes: each stage's exponent, the total's and the peak memory's."""
    pairs = []
    for small, large in zip(runs, runs[1:], strict=False):
        n1, n2 = small["students"], large["students"]
        seconds = {r["stage"]: r["seconds"] for r in small["stages"]}
        common = [r for r in large["stages"] if r["stage"] in seconds]  # the total: stages timed at both
        stages = {r["stage"]: exponent(n1, seconds[r["stage"]], n2, r["seconds"]) for r in common}
        t1, t2 = sum(seconds[r["stage"]] for r in common), sum(r["seconds"] for r in common)
        pairs.append(
            {
                "from": n1,
                "to": n2,
                "stages": stages,
                "total": exponent(n1, t1, n2, t2),
                "peak_mb": exponent(n1, small["peak_mb"], n2, large["peak_mb"]),
            }
        )
    return pairs


def print_growth(pairs: list[dict]) -> None:
    for pair in pairs:
        print(
            f"\ngrowth {pair['from']:,} -> {pair['to']:,} students: exponent of wall time, "
            "log(t2/t1) / log(n2/n1) (1.0 is linear)"
        )
        for stage, value in pair["stages"].items():
            print(f"  {stage:<28} {value:>6.2f}")
        print(f"  {'total':<28} {pair['total']:>6.2f}")
        print(f"  {'peak memory':<28} {pair['peak_mb']:>6.2f}")


def targets(runs: list[dict], pairs: list[dict]) -> list[dict]:
    """The scale targets, met or not: measured at 1,000,000 students, else projected from the
    largest size measured with the last pair's exponents (unknown with one size)."""
    largest = max(runs, key=lambda r: r["students"])
    n = largest["students"]
    measured = n >= TARGET_STUDENTS
    last = pairs[-1] if pairs else None
    scale = TARGET_STUDENTS / n

    def at_target(value: float, power: float | None) -> float | None:
        if measured:
            return value
        return value * scale**power if power is not None and not math.isnan(power) else None

    how = "measured" if measured else f"projected from {n:,} students (1,000,000 not measured)"
    if largest.get("skipped"):
        how += f"; without {', '.join(largest['skipped'])}, not run"
    seconds = at_target(largest["total_seconds"], last["total"] if last else None)
    peak = at_target(largest["peak_mb"], last["peak_mb"] if last else None)
    found = [
        {
            "target": "1,000,000 students end to end <= 30 min on 2 cores",
            "met": None if seconds is None else seconds <= TARGET_SECONDS,
            "detail": f"{seconds / 60:.1f} min, {how}{_without_generating(largest) if measured else ''}"
            if seconds is not None
            else "needs two sizes to project",
        },
        {
            "target": "peak RSS <= 6 GB",
            "met": None if peak is None else peak <= TARGET_PEAK_MB,
            "detail": (f"{peak / 1024:.1f} GB, {how}; " if peak is not None else "not projected (one size); ")
            + f"{largest['peak_mb'] / 1024:.1f} GB measured at {n:,}",
        },
    ]
    if last:
        steep = {stage: e for stage, e in last["stages"].items() if e > TARGET_EXPONENT}
        found.append(
            {
                "target": f"growth no faster than N^{TARGET_EXPONENT}",
                "met": last["total"] <= TARGET_EXPONENT and not steep,
                "detail": f"total {last['total']:.2f} from {last['from']:,} to {last['to']:,}; "
                + (
                    "stages above it: " + ", ".join(f"{s} {e:.2f}" for s, e in steep.items())
                    if steep
                    else "no stage above it"
                ),
            }
        )
    else:
        found.append({"target": f"growth no faster than N^{TARGET_EXPONENT}", "met": None, "detail": "needs two sizes"})
    return found


def _without_generating(run: dict) -> str:
    """The district's own refresh does not generate its district: the total without that stage."""
    own = sum(stage["seconds"] for stage in run["stages"] if stage["stage"] != "generate")
    return f"; {own / 60:.1f} min without generating the district"


def print_targets(found: list[dict]) -> None:
    print("\ntargets (figures from this machine)")
    for target in found:
        verdict = {True: "target met", False: "target not met", None: "target not known"}[target["met"]]
        print(f"  {target['target']}: {verdict} ({target['detail']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[100_000], help="one or more sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--skip", nargs="+", default=[], metavar="STAGE", help="stages not to run (e.g. publish:state_ods)"
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args.config, args.students[0], args.seed)
        return

    sizes = sorted(set(args.students))
    skip = frozenset(args.skip)
    runs = [bench_size(n, args.seed, args.workdir.resolve() / f"students_{n}", skip) for n in sizes]
    pairs = growth(runs)
    print_growth(pairs)
    found = targets(runs, pairs)
    print_targets(found)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "growth": pairs, "targets": found}, indent=2) + "\n")


if __name__ == "__main__":
    main()
