"""Write a generated district to disk: ground truth apart from each system's view of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from interop_pipeline.config import ConfigError, DistrictConfig, FileDropSource, OneRosterCsvSource
from interop_pipeline.connectors.landing import BATCHES_DIR
from interop_pipeline.simulators.district import DistrictTruth, generate_district
from interop_pipeline.simulators.lms import lms_truth
from interop_pipeline.simulators.sis_oneroster import write_sis_oneroster_bundle
from interop_pipeline.simulators.vendor_files import VENDOR_WRITERS, write_vendor_drops

GENERATED_STAMP = "generated.json"  # in truth/: the size and seed this folder's district came from


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
    truth: DistrictTruth
    truth_dir: Path
    drops: dict[str, Path]  # OneRoster source name → bundle dropped
    vendor_drops: dict[str, list[Path]]  # file-drop source name → files dropped


def write_district(
    config: DistrictConfig, *, students: int, seed: int, out_dir: Path | None = None
) -> GeneratedDistrict:
    """Generate a district for `config` and write it under out_dir (default: the config's data dir):
    truth/<table>.parquet, and each enabled source's drop in its drop folder."""
    data_dir = (out_dir or config.data_dir).resolve()
    generation = {"students": students, "seed": seed, "district_code": config.district.code}
    _refuse_a_second_district(config, data_dir, generation)
    truth = generate_district(
        students,
        seed,
        district_code=config.district.code,
        lea_id=config.district.lea_id,
        year_start=config.school_year.start,
        year_end=config.school_year.end,
        rates=config.demo.rates,
    )
    truth_dir = data_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    tables = truth.tables()
    tables.update(lms_truth(tables, seed))  # LMS courses, coursework and grades (simulators/lms.py)
    for name, table in tables.items():
        pq.write_table(table, truth_dir / f"{name}.parquet")
    (truth_dir / GENERATED_STAMP).write_text(json.dumps(generation))

    drops: dict[str, Path] = {}
    for name, source in config.enabled_sources().items():
        if isinstance(source, OneRosterCsvSource):
            drops[name] = write_sis_oneroster_bundle(
                truth,
                data_dir / source.drop_folder,
                district_name=config.district.name,
                lea_id=config.district.lea_id,
                system_name=source.system_name,
                as_of=config.school_year.end,
            )
    vendor_folders = {
        name: data_dir / source.drop_folder
        for name, source in config.enabled_sources().items()
        if isinstance(source, FileDropSource) and name in VENDOR_WRITERS
    }
    vendor_drops = write_vendor_drops(truth, config, seed, vendor_folders)
    return GeneratedDistrict(truth=truth, truth_dir=truth_dir, drops=drops, vendor_drops=vendor_drops)
