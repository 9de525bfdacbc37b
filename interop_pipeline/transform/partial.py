"""Which dbt nodes a build rebuilds when only some sources' landed data changed.

The first dbt step decides (transform/unchanged.py, `BuildMode.systems`) that landed data is
all that changed since the last build, which ended well, and of which source systems. Every
model, seed, snapshot and test that does not read that data, directly or through other models,
would come out as that build left it, so each dbt step leaves it alone and hands it on to the
rest of the run as it stands (so Dagster still runs what comes after it).

A system's data is read through its own dbt source and through the cross-system source that
reads every system's folder (CONFORMED_SOURCE: bookkeeping and conformed vendor results); what
is downstream of those, in dbt's own graph (the manifest's child_map), is what is rebuilt. The
cross-system source's bookkeeping (batches, rejects, refusals) counts for a system only where the
models read it for that system: a system dbt has no source of its own for (the bookkeeping
unions, macros/landed_union.sql), or a system with conformed rows (the conformed models keep
rows of committed batches, macros/declared_files.sql; batch ids are unique across systems, so
another system's new batch changes none of their rows). A new SIS attendance file thus rebuilds
no vendor's assessment results. dbt
is then told what to leave out by name, with its indirect selection of tests turned off, so a
test joining a rebuilt model to one left alone still runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from interop_pipeline.connectors.conformance import CONFORMED_SOURCE
from interop_pipeline.connectors.landing import BOOKKEEPING_DIRS

IDENTITY_SOURCE = "identity"  # landed by identity resolution, between the two dbt steps
BUILT_TYPES = {"model", "seed", "snapshot", "test"}  # a refresh runs no unit test (dbt.PRODUCTION_ARGS)


def source_tables_of(manifest: Mapping[str, Any], systems: Iterable[str], landing_dir: Path) -> set[str]:
    """The dbt source tables (unique ids) that read these systems' landed data: each system's own
    source, and the cross-system source's tables that the models read for one of them."""
    systems = set(systems)
    own_sources = {source["source_name"] for source in manifest["sources"].values()}
    cross_system = {uid: s for uid, s in manifest["sources"].items() if s["source_name"] == CONFORMED_SOURCE}
    conformed = {source["identifier"] for source in cross_system.values()} - set(BOOKKEEPING_DIRS)

    def read_for(system: str, folder: str) -> bool:
        if not (landing_dir / system / folder).exists():
            return False
        if folder not in BOOKKEEPING_DIRS:
            return True
        return system not in own_sources or any((landing_dir / system / c).exists() for c in conformed)

    tables = {uid for uid, source in manifest["sources"].items() if source["source_name"] in systems}
    tables |= {uid for uid, s in cross_system.items() if any(read_for(system, s["identifier"]) for system in systems)}
    return tables


def descendants(manifest: Mapping[str, Any], roots: Iterable[str]) -> set[str]:
    """Every node downstream of `roots` in dbt's graph (tests included)."""
    children = manifest["child_map"]
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def in_graph_order(manifest: Mapping[str, Any], nodes: Iterable[str]) -> list[str]:
    """`nodes`, each after every one of them it is downstream of."""
    nodes = set(nodes)
    parents = manifest["parent_map"]
    graph = {node: [parent for parent in parents.get(node, ()) if parent in nodes] for node in nodes}
    return list(TopologicalSorter(graph).static_order())


def _built_nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] in BUILT_TYPES}


def step_nodes(manifest: Mapping[str, Any], *, after_identity: bool) -> set[str]:
    """What a dbt step builds: everything downstream of the identity crosswalks (the second
    step, dbt's `source:identity+`), or everything else (the first)."""
    identity = [uid for uid, source in manifest["sources"].items() if source["source_name"] == IDENTITY_SOURCE]
    after = descendants(manifest, identity)
    built = set(_built_nodes(manifest))
    return built & after if after_identity else built - after


def nodes_to_rebuild(manifest: Mapping[str, Any], systems: Iterable[str], landing_dir: Path) -> set[str]:
    """Every node a refresh builds that reads, directly or not, the landed data of `systems`."""
    return descendants(manifest, source_tables_of(manifest, systems, landing_dir)) & set(_built_nodes(manifest))


def tables_of(manifest: Mapping[str, Any], nodes: Iterable[str]) -> set[str]:
    """The warehouse tables (schema.name) these nodes write: their models, seeds and snapshots."""
    built = _built_nodes(manifest)
    return {
        f"{built[uid]['schema']}.{built[uid]['alias']}"
        for uid in nodes
        if uid in built and built[uid]["resource_type"] != "test"
    }


def exclusion_args(manifest: Mapping[str, Any], left_alone: Iterable[str]) -> list[str]:
    """dbt arguments that leave these nodes out of a build and select no test indirectly."""
    nodes = _built_nodes(manifest)
    names = sorted({nodes[unique_id]["name"] for unique_id in left_alone})
    return ["--indirect-selection", "empty", "--exclude", " ".join(names)] if names else []
