"""Probabilistic linkage (splink 5, DuckDB backend) for the records no rule linked.

The model compares names (exact, nickname, swapped order, hyphenated part, typo-close), birth
date (exact, digits transposed or day and month swapped, same year), grade, school and email.
Its parameters are estimated on the district's own data each run: u from random pairs of
records, m from the pairs the deterministic passes linked (an ID match is independent of how a
name was typed), and the prior from the spine's size, as every record has one person at most.
The fitted model is returned as JSON and stored with the run's outputs.

splink 5 registers input tables through `DuckDBAPI.register(table, dataset_display_name=...)`
and takes the registered frames in `Linker([...], settings)`.
"""

from __future__ import annotations

import logging

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

MODEL_COLUMNS = (
    "record_id",
    "first_norm",
    "first_raw",
    "last_norm",
    "last_parts",
    "birth_date",
    "birth_text",
    "grade",
    "school",
    "email_norm",
)
UNOBSERVED_M = 0.001  # m of a level no labelled pair reached (a disagreement among true matches)
TRAINING_LABELS = 20_000  # deterministic links used to estimate m; more adds time, not accuracy
MIN_LABELS = 200  # fewer deterministic links than this: m from priors


def _name_comparison(column: str, other: str, label: str) -> cl.CustomComparison:
    levels = [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column),
        cll.CustomLevel(f'"{column}_l" = "{other}_r" and "{other}_l" = "{column}_r"', "order swapped"),
        cll.JaroWinklerLevel(column, 0.92),
        cll.JaroWinklerLevel(column, 0.8),
        cll.ElseLevel(),
    ]
    if column == "last_norm":  # a hyphenated or double surname shares one part
        levels.insert(
            3, cll.CustomLevel("len(list_intersect(last_parts_l, last_parts_r)) > 0", "shares a surname part")
        )
    return cl.CustomComparison(levels, output_column_name=label)


def _settings(prior: float) -> SettingsCreator:
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=prior,
        comparisons=[
            _name_comparison("first_norm", "last_norm", "first_name"),
            _name_comparison("last_norm", "first_norm", "last_name"),
            cl.CustomComparison(
                [
                    cll.NullLevel("birth_date"),
                    cll.ExactMatchLevel("birth_date"),
                    cll.DamerauLevenshteinLevel("birth_text", 1),
                    cll.CustomLevel(
                        "month(birth_date_l) = day(birth_date_r) and day(birth_date_l) = month(birth_date_r)"
                        " and year(birth_date_l) = year(birth_date_r)",
                        "day and month swapped",
                    ),
                    cll.CustomLevel("year(birth_date_l) = year(birth_date_r)", "same year"),
                    cll.ElseLevel(),
                ],
                output_column_name="birth_date",
            ),
            cl.ExactMatch("grade"),
            cl.ExactMatch("school"),
            cl.ExactMatch("email_norm"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"),
            block_on("first_norm", "last_norm"),
            block_on("last_norm", "grade"),
            block_on("first_norm", "grade"),
            block_on("last_norm", "school"),
            block_on("first_norm", "school"),
            "l.first_norm = r.last_norm and l.last_norm = r.first_norm",
            block_on("email_norm"),
        ],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


def _floor_unobserved(model: dict, prior: bool) -> dict:
    """A level no labelled match reached gets a small m rather than none: rare among matches,
    strong evidence against, but not impossible. With `prior`, every m is a prior: most true
    matches agree exactly, a few reach the fuzzy levels, hardly any disagree."""
    for comparison in model["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        for position, level in enumerate(levels):
            if prior:
                fuzzy = max(len(levels) - 2, 1)
                level["m_probability"] = (
                    0.9 if position == 0 else UNOBSERVED_M if position == len(levels) - 1 else 0.09 / fuzzy
                )
            elif level.get("m_probability") is None:
                level["m_probability"] = UNOBSERVED_M
    return model


def _frame(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
    return con.sql(f"select {', '.join(MODEL_COLUMNS)} from records where {where}").to_arrow_table()


def score_unlinked(con: duckdb.DuckDBPyConnection, threshold: float) -> tuple[pa.Table, dict]:
    """Candidate (record, spine record) pairs for unlinked records, with match probability and
    each comparison's level, scored by a model fitted on this run's records. Returns the pairs
    and the fitted model (splink settings JSON)."""
    spine = _frame(con, "is_spine")
    unlinked = _frame(con, "not is_spine and record_id not in (select record_id from links)")
    labelled = con.sql(
        f"""select r.record_id as record_id_l, s.record_id as record_id_r
            from links l join records r using (record_id) join records s on s.is_spine and s.person_key = l.person_key
            where not r.is_spine
            order by hash(l.record_id) limit {TRAINING_LABELS}"""
    ).to_arrow_table()
    prior = 1 / max(spine.num_rows, 2)
    settings = _settings(prior)

    if unlinked.num_rows == 0:
        return _empty_pairs(), {}
    db_api = DuckDBAPI(duckdb.connect())
    learn_m = labelled.num_rows >= MIN_LABELS
    training_records = (
        _frame(con, f"record_id in ({','.join(map(str, labelled['record_id_l'].to_pylist()))})")
        if learn_m
        else unlinked
    )
    trainer = Linker(
        [
            db_api.register(training_records, dataset_display_name="records"),
            db_api.register(spine, dataset_display_name="spine"),
        ],
        settings,
        log_level=logging.ERROR,
    )
    trainer.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=1)
    if learn_m:
        labels = pa.table(
            {
                "source_dataset_l": pa.array(["records"] * labelled.num_rows),
                "record_id_l": labelled["record_id_l"],
                "source_dataset_r": pa.array(["spine"] * labelled.num_rows),
                "record_id_r": labelled["record_id_r"],
            }
        )
        trainer.training.estimate_m_from_pairwise_labels(db_api.register(labels, dataset_display_name="labels"))
    # Too few links to learn m from yet (a first run with no IDs in common): priors.
    model = _floor_unobserved(trainer.misc.save_model_to_json(), prior=not learn_m)
    linker = Linker(
        [
            db_api.register(unlinked, dataset_display_name="unlinked"),
            db_api.register(spine, dataset_display_name="spine_predict"),
        ],
        model,
        log_level=logging.ERROR,
    )
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    pairs = db_api._con.sql(
        f"""select
              case when source_dataset_l = 'unlinked' then record_id_l else record_id_r end as record_id,
              case when source_dataset_l = 'unlinked' then record_id_r else record_id_l end as spine_record_id,
              match_probability, match_weight,
              mw_first_name, mw_last_name, mw_birth_date, mw_grade, mw_school, mw_email_norm
            from {predictions.physical_name}"""
    ).to_arrow_table()
    return pairs, model


def _empty_pairs() -> pa.Table:
    return pa.table(
        {
            "record_id": pa.array([], pa.int64()),
            "spine_record_id": pa.array([], pa.int64()),
            "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()),
            **{
                f"mw_{c}": pa.array([], pa.float64())
                for c in ("first_name", "last_name", "birth_date", "grade", "school", "email_norm")
            },
        }
    )
