"""`interop-pipeline`: generate a district, run the pipeline, check a config.

interop-pipeline generate --students 2000 --seed 7 --out data/
interop-pipeline demo                 # generate the demo district and run the whole job
interop-pipeline run                  # run the daily refresh job once
interop-pipeline state --config FILE  # run a state's districts, then the state warehouse
interop-pipeline simulate             # serve the demo district's simulated APIs (for `make ui`)
interop-pipeline validate-config FILE
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from interop_pipeline.config import CONFIG_ENV_VAR, PROJECT_ROOT, ConfigError, DistrictConfig, load_config

DAGSTER_YAML_TEMPLATE = PROJECT_ROOT / "data" / "dagster_home" / "dagster.yaml"


def dagster_home(config: DistrictConfig) -> Path:
    """The Dagster instance folder under the data dir, so run history survives restarts."""
    home = config.data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(DAGSTER_YAML_TEMPLATE, home / "dagster.yaml")
    return home


EXECUTORS = ("in_process", "multiprocess")


@contextlib.contextmanager
def one_command_line_run(home: Path, say) -> Iterator[None]:
    """Held for a whole `run`: a second one started meanwhile waits here, before it looks for
    runs in progress (so two never both find none and start together)."""
    import fcntl

    with (home / ".command_line_run.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("Waiting for another `interop-pipeline run` of this district to end: one run at a time")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_refresh(
    config: DistrictConfig, executor: str = "in_process", verbose: bool = False, rebuild: bool = False
) -> bool:
    """Run the refresh job once in this district's Dagster instance.

    By default the steps run one after another in this process (the in-process executor):
    starting a process per step costs seconds each, more than most steps' work. `multiprocess`
    runs them as the UI and the daemon do (the definitions' forkserver executor). Either way the
    warehouse pool admits one writer. The terminal shows a line per step (console.py) and the
    rest goes to a log file, unless `verbose`. A run that finds nothing changed since the last
    one skips the build and everything after it (transform/unchanged.py), unless `rebuild`."""
    # Loading the definitions reads the config named here; the instance lives under the data dir.
    os.environ[CONFIG_ENV_VAR] = str(config.config_path)
    os.environ["DAGSTER_HOME"] = str(dagster_home(config))
    from dagster import DagsterInstance, execute_job, reconstructable

    from interop_pipeline import definitions

    print(
        f"Running {definitions.REFRESH_JOB_NAME}: land sources → dbt build and tests → release "
        f"(run history in {os.environ['DAGSTER_HOME']}; `make ui` shows it)",
        flush=True,
    )
    # The steps' own messages (what was rebuilt and why, an extract not built again) go with
    # dbt's output to the run's log file, or to the terminal with --verbose; Dagster's per-event
    # DEBUG lines stay in the UI's run page.
    quiet_console = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    from interop_pipeline.recovery import owner_tags, recover_at_start, wait_for_live_runs
    from interop_pipeline.transform.unchanged import REBUILD_TAG

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with DagsterInstance.get() as instance, one_command_line_run(dagster_home(config), say):
        wait_for_live_runs(instance, say)
        recover_at_start(config, instance, say)
        followed = ("interop/console", uuid.uuid4().hex)  # finds this run's events for the step lines
        tags = {**owner_tags(), followed[0]: followed[1], **({REBUILD_TAG: "true"} if rebuild else {})}
        options = {"instance": instance, "run_config": quiet_console, "raise_on_error": False, "tags": tags}

        def execute():
            from interop_pipeline.transform.dbt import parse_ahead

            with parse_ahead(config):  # a new district's dbt parse, while the sources land
                if executor == "multiprocess":
                    return execute_job(reconstructable(definitions.refresh_job), **options)
                return definitions.refresh_job().execute_in_process(**options)

        if verbose:
            result = execute()
        else:
            from interop_pipeline.console import StepLines, output_to, run_log_path

            log_path = run_log_path(config.data_dir)
            print(f"Full log (dbt, Dagster events): {log_path}", flush=True)
            with output_to(log_path) as terminal, StepLines(instance, terminal, followed) as steps:
                result = execute()
            warned = steps.warning_line()
            if warned:
                print(warned)
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed and evaluation.severity.value == "ERROR":
                # A quarantined source or a non-blocking check: the run went on, the UI has it too.
                details = evaluation.metadata.get("refusals") or evaluation.metadata.get("reject_rate")
                print(
                    f"CHECK FAILED {evaluation.asset_key.to_user_string()} {evaluation.check_name}"
                    + (f": {details.value}" if details is not None else ""),
                    file=sys.stderr,
                )
        if not result.success:
            for event in result.get_step_failure_events():
                error = event.step_failure_data.error
                print(
                    f"FAILED {event.step_key}: {error.message.strip() if error else 'see the run logs'}",
                    file=sys.stderr,
                )
            print(f"Run {result.run_id} failed; the published warehouse was left as it was.", file=sys.stderr)
        from interop_pipeline.alerts import alerts_for_run, send_alerts

        send_alerts(config, alerts_for_run(config, instance, result.run_id), lambda line: print(line, file=sys.stderr))
        return result.success


SUMMARY_ROWS = {
    "schools": "select count(*) from dim_school",
    "students": "select count(*) from dim_student",
    "staff": "select count(*) from dim_staff",
    "courses": "select count(*) from dim_course",
    "sections": "select count(*) from dim_section",
    "school enrollments": "select count(*) from fct_school_enrollment",
    "section enrollments": "select count(*) from fct_section_enrollment",
    "attendance events": "select count(*) from staging.stg_sis_attendance__daily_attendance",
    "student-days": "select count(*) from fct_student_daily_attendance",
    "chronically absent": "select students_chronically_absent from mart_chronic_absenteeism where school_key is null "
    "and grade_level = 'all' and subgroup = 'all_students' "
    "order by definition_name = 'federal' desc, definition_name limit 1",
    "assessment results": "select count(*) from fct_assessment_result",
    "assessments": "select count(*) from dim_assessment",
    "students tested": "select count(distinct student_key) from fct_assessment_result",
    "rejected rows": "select count(*) from staging.stg_landing__rejects",
}


def summary(config: DistrictConfig) -> str:
    """What the published warehouse holds, for the end of `demo` and `run`."""
    import duckdb

    path = config.published_warehouse_path
    lines = [f"Published warehouse: {path} (open it read-only)"]
    with duckdb.connect(str(path), read_only=True) as con:
        for label, sql in SUMMARY_ROWS.items():
            row = con.execute(sql).fetchone()  # no row: a mart with nothing to aggregate (no attendance source)
            lines.append(f"  {label:<19} {(row[0] if row else 0) or 0:>9,}")
    lines[-1] += "  (every delivery; see staging.stg_landing__rejects)"
    lines += source_lines(path)
    lines += delivery_lines(config)
    return "\n".join(lines)


def source_lines(published: Path) -> list[str]:
    """Each configured source's status as of the release (mart_data_quality)."""
    import duckdb

    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute(
            """select distinct source_system, source_status, source_newest_batch_age_hours, last_refusal_subject
               from mart_data_quality where is_enabled order by source_system"""
        ).fetchall()
    lines = ["Sources (mart_data_quality):"]
    for name, status, age, refused in rows:
        line = f"  {name:<19} {status:<24}"
        if age is not None:
            line += f" newest batch {age:.1f} h old"
        if status == "quarantined":
            line += f"; refused: {refused} (its last good data was released)"
        lines.append(line)
    return lines


def delivery_lines(config: DistrictConfig) -> list[str]:
    """Each recipient's latest delivery from the publish audit log."""
    from interop_pipeline.publish.audit import read_audit_log

    latest: dict[str, dict] = {}
    for row in read_audit_log(config.data_dir).to_pylist():
        if row["recipient"] not in latest or row["delivered_at"] > latest[row["recipient"]]["delivered_at"]:
            latest[row["recipient"]] = row
    if not latest:
        return []
    lines = ["Deliveries (publish audit log):"]
    for name, row in sorted(latest.items()):
        lines.append(f"  {name:<19} {row['format']:<14} {row['mode']:<6} {row['status']:<10} {row['destination']}")
    return lines


def _cmd_generate(args: argparse.Namespace) -> int:
    from interop_pipeline.simulators.generate import write_district

    config = load_config(args.config)
    students = args.students or config.demo.students
    seed = config.demo.seed if args.seed is None else args.seed
    started = time.perf_counter()
    generated = write_district(config, students=students, seed=seed, out_dir=Path(args.out) if args.out else None)
    print(f"Generated {students:,} students (seed {seed}) in {time.perf_counter() - started:.1f}s")
    print(f"  truth: {generated.truth_dir}")
    for name, path in generated.drops.items():
        print(f"  {name} drop: {path}")
    return 0


@contextlib.contextmanager
def _simulators_beside(config: DistrictConfig) -> Iterator[dict[str, str]]:
    """The config's simulated APIs in a process of their own while the block runs (answering
    from the other core), their base URLs and credentials in this process's environment. Yields
    each simulator's URL by name."""
    from interop_pipeline.simulators.apis import api_sources, simulators_in_own_process

    if not api_sources(config) and not config.enabled_recipients():
        yield {}
        return
    with simulators_in_own_process(config.config_path) as ready:
        os.environ.update(ready["env"])
        yield ready["urls"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from interop_pipeline.simulators.generate import write_district

    config = load_config(args.config)
    students = args.students or config.demo.students
    generated = write_district(config, students=students, seed=config.demo.seed)
    print(
        f"Demo district {config.district.name}: {students:,} students generated; drops: "
        + ", ".join(str(p) for p in generated.drops.values())
    )
    # The demo's REST sources are simulators on free ports, serving the generated district.
    with _simulators_beside(config) as simulators:
        if simulators:
            print("Simulated APIs: " + ", ".join(f"{name} at {url}" for name, url in simulators.items()))
        return _refresh_and_summarize(config, args.executor, args.verbose)


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if not args.simulate:
        return _refresh_and_summarize(config, args.executor, args.verbose, args.rebuild)
    with _simulators_beside(config):
        return _refresh_and_summarize(config, args.executor, args.verbose, args.rebuild)


def _cmd_simulate(args: argparse.Namespace) -> int:
    """Serve every API source's simulator on its configured port until interrupted."""
    import threading

    from interop_pipeline.simulators.apis import api_sources, recipient_secrets, running_simulators

    config = load_config(args.config)
    sources = api_sources(config)
    with running_simulators(config, fixed_ports=True) as simulators:
        lines = []
        for name in simulators:
            source = sources[name]
            print(f"{name}: {source.system_name} simulator at {source.base_url}", flush=True)
            lines += [f"{var}={os.environ[var]}" for var in (source.client_id_env, source.client_secret_env)]
        for recipient in config.enabled_recipients().values():  # the simulated ODS's client, research secrets
            lines += [f"{var}={value}" for var, value in recipient_secrets(recipient).items()]
        if args.env_file:
            # Credentials for the runs the UI launches; the file lives under data/ (not in git).
            env_file = Path(args.env_file)
            env_file.parent.mkdir(parents=True, exist_ok=True)
            env_file.write_text("\n".join(lines) + "\n")
            env_file.chmod(0o600)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    """The Dagster UI (`dagster dev`: webserver, daemon, code server) for this district, with its
    REST sources' simulators beside it, until Ctrl-C or SIGTERM; then every process it started
    stops and nothing is left behind."""
    import signal
    import subprocess

    from interop_pipeline.simulators.apis import recipient_secrets, running_simulators

    config = load_config(args.config)
    _cmd_recover(args)  # a UI stopped uncleanly earlier left runs "in progress"
    os.environ[CONFIG_ENV_VAR] = str(config.config_path)
    os.environ["DAGSTER_HOME"] = str(dagster_home(config))

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Set here, not inherited: started in the background of a script, this process would have
    # SIGINT ignored, and so would `dagster dev` (a handled signal is reset to the default in the
    # programs it starts; an ignored one stays ignored).
    signal.signal(signal.SIGINT, stop)
    with running_simulators(config, fixed_ports=True) as simulators:
        for name, api in simulators.items():
            print(f"{name}: simulator at {api.base_url}", flush=True)
        for recipient in config.enabled_recipients().values():
            recipient_secrets(recipient)  # the simulated ODS's client and research keys, for the runs
        # Its own session: a Ctrl-C reaches this process alone, which then stops dagster's.
        dagster = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")]
            + ["-h", args.host, "-p", str(args.port)],
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        try:
            return dagster.wait()
        except KeyboardInterrupt:
            print("Stopping the UI (webserver, daemon, code server) and the simulators", flush=True)
            return 0
        finally:
            _stop_group(dagster)


def _stop_group(process) -> None:
    """SIGINT to the process group (dagster dev stops its webserver, daemon and code server on
    it), then SIGKILL to whatever of the group is still there after 30 s."""
    import signal
    import subprocess

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _refresh_and_summarize(config: DistrictConfig, executor: str, verbose: bool, rebuild: bool = False) -> int:
    if not run_refresh(config, executor, verbose, rebuild):
        return 1
    print(summary(config))
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    os.environ["DAGSTER_HOME"] = str(dagster_home(config))
    from dagster import DagsterInstance

    from interop_pipeline.recovery import record_interrupted_deliveries, recover_dead_runs, sweep_leftovers

    with DagsterInstance.get() as instance:
        # Explicit: runs that do not say who executes them count as dead too.
        recover_dead_runs(instance, print, unknown_are_dead=True)
        record_interrupted_deliveries(config, instance, print)
        sweep_leftovers(config, instance, print)
    return 0


def _cmd_scaffold_staging(args: argparse.Namespace) -> int:
    from interop_pipeline.assets.extract.file_drops import source_declarations
    from interop_pipeline.config import FileDropSource
    from interop_pipeline.transform.dbt import DBT_PROJECT_DIR
    from interop_pipeline.transform.scaffold import scaffold_staging

    config = load_config(args.config)
    source = config.sources.get(args.source)
    if not isinstance(source, FileDropSource):
        print(f"error: {config.config_path}: sources.{args.source} is not a file_drop source", file=sys.stderr)
        return 2
    declarations = source_declarations(config, args.source, source)
    written = scaffold_staging(
        args.source, source.system_name, declarations, DBT_PROJECT_DIR / "models", args.overwrite
    )
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("nothing written: the staging files exist (use --overwrite to replace them)")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve OneRoster 1.2 REST from the published warehouse until interrupted."""
    import logging

    from interop_pipeline.rostering.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = load_config(args.config)
    print(f"OneRoster 1.2 REST for {config.district.name} on http://{args.host}:{args.port} (Ctrl-C stops it)")
    serve(config, host=args.host, port=args.port, token_ttl_seconds=args.token_ttl, public_url=args.public_url)
    return 0


def _cmd_draft_declaration(args: argparse.Namespace) -> int:
    """Draft a declaration YAML from sample files of one vendor format (connectors/draft.py)."""
    from interop_pipeline.connectors.draft import write_draft

    text = write_draft(args.files, Path(args.out) if args.out else None, name=args.name, system=args.system)
    if args.out:
        print(f"wrote {args.out}: review the comments and every '# guessed' role before using it")
    else:
        print(text, end="")
    return 0


def _cmd_validate_config(args: argparse.Namespace) -> int:
    config = load_config(args.path)
    print(f"{config.config_path}: valid ({config.district.name}, {len(config.enabled_sources())} enabled sources)")
    return 0


def _cmd_state(args: argparse.Namespace) -> int:
    from interop_pipeline.config import load_state_config
    from interop_pipeline.state import build_state_warehouse, run_districts, write_district_copies

    state = load_state_config(args.config)
    if args.generate:
        from interop_pipeline.simulators.generate import write_district

        for district in state.district_configs:
            write_district(district, students=district.demo.students, seed=district.demo.seed)
    results = run_districts(state, simulate=args.simulate, executor=args.executor)
    build = build_state_warehouse(state)
    write_district_copies(state, build)
    print(
        f"{state.state.name}: {len(build.tables)} tables from {len(build.districts)} districts "
        f"in {state.warehouse_path}"
    )
    for code, ok in results.items():
        released = "its last release" if code in build.districts else "nothing released yet"
        print(
            f"  {code:<16} {'run succeeded' if ok else 'run FAILED'}; combined: {released}; "
            f"its own rows only: {state.district_copy_path(code)}"
        )
    return 0 if all(results.values()) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interop-pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = f"district config YAML (default: ${CONFIG_ENV_VAR} or the demo district)"
    verbose_help = "show dbt's log and Dagster's events on the terminal instead of only a line per step"
    executor_help = "in_process (default): steps one after another in this process; multiprocess: as the UI runs them"

    generate = sub.add_parser("generate", help="write a synthetic district: truth and each system's drop")
    generate.add_argument("--students", type=int, help="default: the config's demo.students")
    generate.add_argument("--seed", type=int, help="default: the config's demo.seed")
    generate.add_argument("--out", help="data folder to write truth/ and drops/ into (default: the config's)")
    generate.add_argument("--config", help=config_help)
    generate.set_defaults(func=_cmd_generate)

    demo = sub.add_parser("demo", help="generate the demo district and run the whole pipeline on it")
    demo.add_argument("--config", help=config_help)
    demo.add_argument("--students", type=int, help="override the config's demo.students")
    demo.add_argument("--executor", choices=EXECUTORS, default="in_process", help=executor_help)
    demo.add_argument("--verbose", action="store_true", help=verbose_help)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run the district refresh job once")
    run.add_argument("--config", help=config_help)
    run.add_argument(
        "--simulate", action="store_true", help="serve the REST sources from their simulators (the demo district)"
    )
    run.add_argument("--executor", choices=EXECUTORS, default="in_process", help=executor_help)
    run.add_argument("--verbose", action="store_true", help=verbose_help)
    run.add_argument(
        "--rebuild",
        action="store_true",
        help="build, release and publish even when nothing has changed since the last run",
    )
    run.set_defaults(func=_cmd_run)

    state = sub.add_parser("state", help="run each district of a state config, then build the state warehouse")
    state.add_argument("--config", required=True, help="state config YAML (lists the district configs)")
    state.add_argument("--generate", action="store_true", help="first generate each district's demo data")
    state.add_argument("--simulate", action="store_true", help="serve each district's REST sources from simulators")
    state.add_argument("--executor", choices=EXECUTORS, default="in_process", help=executor_help)
    state.set_defaults(func=_cmd_state)

    ui = sub.add_parser("ui", help="the Dagster UI for the district, with its simulated APIs, until Ctrl-C")
    ui.add_argument("--config", help=config_help)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    simulate = sub.add_parser("simulate", help="serve the simulated vendor APIs of the config's REST sources")
    simulate.add_argument("--config", help=config_help)
    simulate.add_argument("--env-file", help="write the simulators' credentials (VAR=value lines) to this file")
    simulate.set_defaults(func=_cmd_simulate)

    recover = sub.add_parser(
        "recover",
        help="fail runs left in progress, free their pool slots, remove what dead runs left (make ui runs it first)",
    )
    recover.add_argument("--config", help=config_help)
    recover.set_defaults(func=_cmd_recover)

    scaffold = sub.add_parser("scaffold-staging", help="write the dbt staging models of a declared file source")
    scaffold.add_argument("source", help="a file_drop source in the config, e.g. state_assessment")
    scaffold.add_argument("--config", help=config_help)
    scaffold.add_argument("--overwrite", action="store_true", help="replace existing staging files")
    scaffold.set_defaults(func=_cmd_scaffold_staging)

    serve = sub.add_parser(
        "serve", help="serve each OneRoster 1.2 recipient its roster over REST from the published warehouse"
    )
    serve.add_argument("--config", help=config_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8090, help="port to listen on (default: 8090)")
    serve.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime in seconds")
    serve.add_argument("--public-url", help="the URL clients reach the server at, for hrefs and paging links")
    serve.set_defaults(func=_cmd_serve)

    draft = sub.add_parser(
        "draft-declaration", help="draft a file declaration (YAML) from sample files of one vendor format"
    )
    draft.add_argument("files", nargs="+", help="sample files of the same vendor format")
    draft.add_argument("--name", help="declaration name (default: the samples' folder name)")
    draft.add_argument("--system", help="landing system name (default: the name)")
    draft.add_argument("--out", help="write the YAML here (default: print it)")
    draft.set_defaults(func=_cmd_draft_declaration)

    validate = sub.add_parser("validate-config", help="check a district config file")
    validate.add_argument("path", nargs="?")
    validate.set_defaults(func=_cmd_validate_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
