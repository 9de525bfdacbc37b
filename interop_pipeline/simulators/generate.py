"""Write a generated district to disk: ground truth apart from each system's view of it.

A district larger than PART_STUDENTS is drawn and written in parts, so that memory is that of
one part plus the SIS's roster (a whole million-student district would need over 30 GB). Each
part is a slice of the district with its own schools, staff and classes; ids carry on from part
to part (district.Numbering), so they are unique district-wide. The truth tables and the SIS's
OneRoster bundle are written whole; each vendor's files come once per part (the first part's
under their usual names, the others' with a `_part<n>` suffix), as a vendor exporting a large
district school group by school group does: every vendor format lands by key, in append mode."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interop_pipeline.config import ConfigError, DistrictConfig, FileDropSource, OneRosterCsvSource
from interop_pipeline.connectors.landing import BATCHES_DIR
from interop_pipeline.simulators.district import DistrictTruth, Numbering, generate_district
from interop_pipeline.simulators.lms import lms_truth
from interop_pipeline.simulators.sis_oneroster import serial_ids, sis_roster_tables, write_bundle
from interop_pipeline.simulators.vendor_files import VENDOR_WRITERS, write_vendor_drops

GENERATED_STAMP = "generated.json"  # in truth/: the size and seed this folder's district came from
PART_STUDENTS = 100_000  # students per part of a larger district (about 3.5 GB at its peak)


def _refuse_a_second_district(config: DistrictConfig, data_dir: Path, generation: dict) -> None:
    """A different district generated over one already landed would mix the two: the landing
    keeps the first's batches, whose people and keys the second reuses. Refused, with the fix."""
    stamp = data_dir / "truth" / GENERATED_STAMP
    if data_dir != config.data_dir.resolve() or not stamp.exists():
        return
    earlier = json.loads(stamp.read_text())
    landed = (p for p in config.landing_dir.glob(f"*/{BATCHES_DIR}/*.parquet") if not p.name.startswith("_"))
    if earlier == generation or not any(landed):
        return
    raise ConfigError(
        f"{data_dir} already holds a district generated with {earlier['students']:,} students (seed "
        f"{earlier['seed']}), landed and built; generating {generation['students']:,} students (seed "
        f"{generation['seed']}) over it would mix the two. Remove its generated data first (`make clean` for "
        "the demo's folder), or give the config another output.data_dir."
    )


@dataclass
class GeneratedDistrict:
    truth: DistrictTruth | None  # None for a district drawn in parts: read it from truth_dir
    truth_dir: Path
    drops: dict[str, Path]  # OneRoster source name → bundle dropped
    vendor_drops: dict[str, list[Path]]  # file-drop source name → files dropped
    truth_rows: dict[str, int] = field(default_factory=dict)  # rows written per truth table


def part_sizes(students: int, part: int) -> list[int]:
    """Students of each part: as even as possible, none above `part`."""
    count = max(1, -(-students // part))
    return [students // count + (1 if i < students % count else 0) for i in range(count)]


class _TruthFiles:
    """truth/<table>.parquet, one file per table written part after part (each part's columns
    cast to the first part's types: a column all null in one part is typed by the first)."""

    def __init__(self, folder: Path, stack: ExitStack):
        self.folder, self.stack = folder, stack
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            if name not in self.writers:
                writer = pq.ParquetWriter(self.folder / f"{name}.parquet", table.schema)
                self.writers[name] = self.stack.enter_context(writer)
            writer = self.writers[name]
            writer.write_table(table.cast(writer.schema))
            self.rows[name] = self.rows.get(name, 0) + table.num_rows


def _joined_roster(parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The parts' roster tables as the SIS exports the whole district (and its REST API serves it,
    simulators/oneroster_api.py): roles and enrollments of every student first, then of the
    staff, numbered in that order."""
    joined = {}
    for name in parts[0]:
        table = pa.concat_tables(part[name] for part in parts)
        if name in ("roles", "enrollments"):
            staff = pc.not_equal(table["role"], "student")
            table = pa.concat_tables([table.filter(pc.invert(staff)), table.filter(staff)])
            prefix = "role-" if name == "roles" else "enr-"
            table = table.set_column(0, "sourcedId", pa.array(serial_ids(prefix, table.num_rows)))
        joined[name] = table
    return joined


def _move_part_files(staging: Path, folder: Path, part: int) -> list[Path]:
    """A later part's vendor files into the drop folder as `<name>_part<n><suffix>`, keeping
    the delivery time each was stamped with."""
    moved = []
    for path in sorted(p for p in staging.iterdir() if p.is_file()):
        target = folder / f"{path.stem}_part{part + 1}{path.suffix}"
        os.replace(path, target)
        moved.append(target)
    shutil.rmtree(staging)
    return moved


def write_district(
    config: DistrictConfig,
    *,
    students: int,
    seed: int,
    out_dir: Path | None = None,
    part_students: int = PART_STUDENTS,
) -> GeneratedDistrict:
    """Generate a district for `config` and write it under out_dir (default: the config's data dir):
    truth/<table>.parquet, and each enabled source's drop in its drop folder; in parts of at most
    `part_students` students."""
    data_dir = (out_dir or config.data_dir).resolve()
    generation = {"students": students, "seed": seed, "district_code": config.district.code}
    _refuse_a_second_district(config, data_dir, generation)
    truth_dir = data_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    rosters = {n: s for n, s in config.enabled_sources().items() if isinstance(s, OneRosterCsvSource)}
    roster_parts: dict[str, list[dict[str, pa.Table]]] = {name: [] for name in rosters}
    vendor_folders = {
        name: data_dir / source.drop_folder
        for name, source in config.enabled_sources().items()
        if isinstance(source, FileDropSource) and name in VENDOR_WRITERS
    }
    vendor_drops: dict[str, list[Path]] = {name: [] for name in vendor_folders}
    numbering = Numbering(students=students)
    sizes = part_sizes(students, part_students)
    with ExitStack() as stack:
        truth_files = _TruthFiles(truth_dir, stack)
        for part, size in enumerate(sizes):
            # The first part draws from the seed itself: a district of one part is the one it always was.
            part_seed = seed if part == 0 else int(np.random.SeedSequence([seed, part]).generate_state(1)[0])
            truth = generate_district(
                size,
                part_seed,
                district_code=config.district.code,
                lea_id=config.district.lea_id,
                year_start=config.school_year.start,
                year_end=config.school_year.end,
                rates=config.demo.rates,
                numbering=numbering,
            )
            tables = truth.tables()
            # LMS courses, coursework and grades (simulators/lms.py)
            tables.update(lms_truth(tables, part_seed, numbering))
            if part > 0:  # the calendar and its sessions are the district's: written once
                tables = {n: t for n, t in tables.items() if n not in ("calendar", "sessions")}
            truth_files.write(tables)
            for name in rosters:
                roster_parts[name].append(
                    sis_roster_tables(
                        truth, district_name=config.district.name, lea_id=config.district.lea_id, first_part=part == 0
                    )
                )
            folders = vendor_folders if part == 0 else {n: f / f".part{part + 1}" for n, f in vendor_folders.items()}
            for name, paths in write_vendor_drops(truth, config, part_seed, folders).items():
                written = paths if part == 0 else _move_part_files(folders[name], vendor_folders[name], part)
                vendor_drops[name] += written
    (truth_dir / GENERATED_STAMP).write_text(json.dumps(generation))
    whole = truth if len(sizes) == 1 else None
    del truth, tables  # the last part's: only the SIS bundle is held from here on

    drops = {
        name: write_bundle(
            _joined_roster(roster_parts.pop(name)),
            data_dir / source.drop_folder,
            system_name=source.system_name,
            as_of=config.school_year.end,
        )
        for name, source in rosters.items()
    }
    return GeneratedDistrict(
        truth=whole,
        truth_dir=truth_dir,
        drops=drops,
        vendor_drops=vendor_drops,
        truth_rows=truth_files.rows,
    )
