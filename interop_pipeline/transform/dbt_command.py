"""The `dbt` command the pipeline runs (the `interop-dbt` script): dbt's own command line, with
Python's cycle collector set as for the pipeline's own processes (collector.py). Every step that
builds the warehouse starts one.
"""

import sys
from pathlib import Path

from interop_pipeline import collector

# Installed beside this interpreter (pyproject.toml's scripts), so that runs work without the
# venv on PATH.
DBT_COMMAND = Path(sys.executable).parent / "interop-dbt"


def main() -> None:
    collector.pause()
    from dbt.cli.main import cli

    collector.resume()
    cli()


if __name__ == "__main__":
    main()
