"""The `dbt` command the pipeline runs (the `interop-dbt` script): dbt's own command line,
started with Python's cycle collector paused while dbt imports.

dbt makes a few hundred thousand long-lived objects as it imports, and the collector would walk
them again and again as they are made; a dbt command then walks them on every full collection
while it runs. Paused during the import and frozen out of later collections, `dbt ls` on this
project takes about a quarter less CPU. Every step that builds the warehouse starts one.
"""

import gc
import sys
from pathlib import Path

# Installed beside this interpreter (pyproject.toml's scripts), so that runs work without the
# venv on PATH.
DBT_COMMAND = Path(sys.executable).parent / "interop-dbt"


def main() -> None:
    gc.disable()
    from dbt.cli.main import cli

    gc.freeze()
    gc.enable()
    cli()


if __name__ == "__main__":
    main()
