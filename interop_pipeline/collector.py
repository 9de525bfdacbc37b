"""Python's cycle collector, set for processes that load a large graph of long-lived objects
first and then work: the pipeline's processes (definitions.py) and dbt's (the `interop-dbt`
script, transform/dbt_command.py).

Loading makes hundreds of thousands of objects that live as long as the process (Dagster's and
dbt's classes, the parsed dbt manifest), and the collector would walk them again and again as
they are made: a third of the definitions' load, a quarter of `dbt ls`. So it is paused while
loading, and what loading made is then frozen out of every later collection (and stays shared
with processes forked afterwards). Collections then come every 50,000 allocations instead of
700: the work that follows makes and drops many short-lived objects (a record, a request, a dbt
node), and this took about 5% off the CPU of the demo district's first dbt build and of its
first Ed-Fi load.
"""

import gc

COLLECT_EVERY = 50_000  # allocations less deallocations between young-generation collections


def pause() -> None:
    """Before loading."""
    gc.disable()


def resume(*, loaded: bool = True) -> None:
    """After loading: what it made frozen out of later collections (unless it failed)."""
    if loaded:
        gc.freeze()
        gc.set_threshold(COLLECT_EVERY, 20, 20)
    gc.enable()
