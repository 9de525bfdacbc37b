"""Probabilistic linkage (splink 5) for the records no rule linked, on splink's DuckDB backend
or, for a state's worth of records, its Spark backend (identity/spark.py; the same model, the
same SQL in each engine's dialect).

The model compares names (exact, nickname, swapped order, hyphenated part, typo-close), birth
date as month-day-year text (exact, digits transposed, day and month swapped, same year; a date
that is not a calendar date compares the same way), grade, school and email, and street, city,
postal code, phone and guardian name where both sides carry them; exact names and places are
weighted by how common the value is (splink's term-frequency adjustment). A comparison whose
columns no record on one side has is left out.

Its parameters are estimated on the district's own data each run: u from random pairs of
records; m from the pairs the deterministic passes linked (an ID match is independent of how a
name was typed) when there are enough of them, else by expectation maximisation over the unlinked
records and the spine (no labels needed), else, on a handful of records, from priors; and the
prior from the spine's size, as every record has one person at most. The fitted model is
returned as JSON and stored with the run's outputs. The same model, as a deduplication, looks
for the spine's own duplicates.

splink 5 registers input tables through `<engine>API.register(table, dataset_display_name=...)`
and takes the registered frames in `Linker([...], settings)`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

logger = logging.getLogger(__name__)

MODEL_COLUMNS = (
    "record_id",
    "first_norm",
    "first_raw",
    "last_norm",
    "last_parts",
    "birth_text",
    "grade",
    "school",
    "email_norm",
    "street_norm",
    "city_norm",
    "postal_norm",
    "phone_norm",
    "guardian_norm",
)
UNOBSERVED_M = 0.001  # m of a level no labelled pair reached (a disagreement among true matches)
TRAINING_LABELS = 20_000  # deterministic links used to estimate m; more adds time, not accuracy
MIN_LABELS = 200  # fewer deterministic links than this: m by expectation maximisation
MIN_EM_RECORDS = 200  # fewer records on either side than this: m from priors (too few pairs to learn from)
DUPLICATE_SHARE = 0.01  # the spine's own duplicates expected: about one record in a hundred
EM_MAX_PAIRS = 2_000_000  # blocked pairs one EM session reads at most
# Blocking rules of the EM sessions: each estimates every comparison but the ones it blocks on,
# so together they estimate them all.
EM_BLOCKS = (("first_norm", "last_norm"), ("birth_text",))


class LinkageEngine(Protocol):
    """Where splink runs: a database API for each linker, input tables registered, SQL queried."""

    dialect: str

    def database(self) -> Any: ...

    def register(self, db_api: Any, table: pa.Table, name: str) -> Any: ...

    def query(self, db_api: Any, sql: str) -> pa.Table: ...


class DuckDBEngine:
    """splink on DuckDB, in this process: the default."""

    dialect = "duckdb"

    def database(self) -> DuckDBAPI:
        return DuckDBAPI(duckdb.connect())

    def register(self, db_api: DuckDBAPI, table: pa.Table, name: str):
        return db_api.register(table, dataset_display_name=name)

    def query(self, db_api: DuckDBAPI, sql: str) -> pa.Table:
        return db_api._con.sql(sql).to_arrow_table()


DUCKDB = DuckDBEngine()


@contextlib.contextmanager
def linkage_engine(name: str) -> Iterator[LinkageEngine]:
    """The engine the district config names (`identity.engine`), for one identity resolution."""
    if name != "spark":
        yield DUCKDB
        return
    from interop_pipeline.identity.spark import spark_engine

    with spark_engine() as engine:
        yield engine


# SQL that differs between the engines' dialects.
SHARES_A_PART = {
    "duckdb": "len(list_intersect(last_parts_l, last_parts_r)) > 0",
    "spark": "arrays_overlap(last_parts_l, last_parts_r)",
}


def _name_comparison(column: str, other: str, label: str, dialect: str) -> cl.CustomComparison:
    levels = [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column, term_frequency_adjustments=True),
        cll.CustomLevel(f"{column}_l = {other}_r and {other}_l = {column}_r", "order swapped"),
        cll.JaroWinklerLevel(column, 0.92),
        cll.JaroWinklerLevel(column, 0.8),
        cll.ElseLevel(),
    ]
    if column == "last_norm":  # a hyphenated or double surname shares one part
        levels.insert(3, cll.CustomLevel(SHARES_A_PART[dialect], "shares a surname part"))
    return cl.CustomComparison(levels, output_column_name=label)


def _birth_comparison(dialect: str) -> cl.CustomComparison:
    """Birth dates as month-day-year digits: a valid date and text that is not one alike (the
    same SQL in every dialect)."""

    def part(side: str, start: int, length: int) -> str:
        return f"substr(birth_text_{side}, {start}, {length})"

    return cl.CustomComparison(
        [
            cll.NullLevel("birth_text"),
            cll.ExactMatchLevel("birth_text"),
            cll.DamerauLevenshteinLevel("birth_text", 1),
            cll.CustomLevel(
                f"{part('l', 1, 2)} = {part('r', 3, 2)} and {part('l', 3, 2)} = {part('r', 1, 2)}"
                f" and {part('l', 5, 4)} = {part('r', 5, 4)}",
                "day and month swapped",
            ),
            cll.CustomLevel(f"{part('l', 5, 4)} = {part('r', 5, 4)}", "same year"),
            cll.ElseLevel(),
        ],
        output_column_name="birth_date",
    )


def _text_comparison(column: str, label: str, similar: cll.ComparisonLevelCreator) -> cl.CustomComparison:
    """Exact (weighted by how common the value is), close, or different."""
    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            similar,
            cll.ElseLevel(),
        ],
        output_column_name=label,
    )


# Each comparison: its output name, the record columns it needs, and how it is built.
COMPARISONS: dict[str, tuple[tuple[str, ...], object]] = {
    "first_name": (("first_norm",), lambda d: _name_comparison("first_norm", "last_norm", "first_name", d)),
    "last_name": (("last_norm",), lambda d: _name_comparison("last_norm", "first_norm", "last_name", d)),
    "birth_date": (("birth_text",), _birth_comparison),
    "grade": (("grade",), lambda d: cl.ExactMatch("grade")),
    "school": (("school",), lambda d: cl.ExactMatch("school")),
    "email_norm": (("email_norm",), lambda d: cl.ExactMatch("email_norm")),
    "street": (
        ("street_norm",),
        lambda d: _text_comparison("street_norm", "street", cll.JaroWinklerLevel("street_norm", 0.88)),
    ),
    "city": (("city_norm",), lambda d: _text_comparison("city_norm", "city", cll.JaroWinklerLevel("city_norm", 0.9))),
    "postal_code": (
        ("postal_norm",),
        lambda d: _text_comparison("postal_norm", "postal_code", cll.DamerauLevenshteinLevel("postal_norm", 1)),
    ),
    "phone": (
        ("phone_norm",),
        lambda d: _text_comparison("phone_norm", "phone", cll.DamerauLevenshteinLevel("phone_norm", 1)),
    ),
    "guardian": (
        ("guardian_norm",),
        lambda d: _text_comparison("guardian_norm", "guardian", cll.JaroWinklerLevel("guardian_norm", 0.9)),
    ),
}
# Duplicates inside one system: the spine carries birth dates and full names, so the rules on
# grade or school alone (for vendors without a birth date) would only add pairs, quadratically.
DUPLICATE_BLOCKING_RULES = (
    block_on("birth_text"),
    block_on("first_norm", "last_norm"),
    "l.first_norm = r.last_norm and l.last_norm = r.first_norm",
    block_on("email_norm"),
    block_on("last_norm", "postal_norm"),
    block_on("first_norm", "postal_norm"),
    block_on("street_norm"),
    block_on("phone_norm"),
)
# Linking another system to the spine: those, and a name with the grade or the school.
BLOCKING_RULES = (
    *DUPLICATE_BLOCKING_RULES,
    block_on("last_norm", "grade"),
    block_on("first_norm", "grade"),
    block_on("last_norm", "school"),
    block_on("first_norm", "school"),
)


def present_comparisons(con: duckdb.DuckDBPyConnection, left: str, right: str) -> list[str]:
    """The comparisons whose columns have a value on both sides (`left`, `right`: SQL conditions
    on `records`); a field no source on one side carries would only ever compare null."""
    columns = sorted({c for needs, _ in COMPARISONS.values() for c in needs})
    counts = ", ".join(f"count({c}) filter (where {{side}}) as {c}" for c in columns)
    (on_left,) = con.execute(f"select {counts.format(side=left)} from records").fetchall()
    (on_right,) = con.execute(f"select {counts.format(side=right)} from records").fetchall()
    filled = {c for c, a, b in zip(columns, on_left, on_right, strict=True) if a and b}
    return [name for name, (needs, _) in COMPARISONS.items() if set(needs) <= filled]


def _settings(prior: float, comparisons: list[str], dialect: str, link_type: str = "link_only") -> SettingsCreator:
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="record_id",
        probability_two_random_records_match=prior,
        comparisons=[COMPARISONS[name][1](dialect) for name in comparisons],
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


def _floor_unobserved(model: dict, prior: bool) -> dict:
    """A level no labelled match reached gets a small m rather than none: rare among matches,
    strong evidence against, but not impossible. With `prior`, and for a comparison training
    estimated nothing for (no EM session could reach it), every m is a prior: most true matches
    agree exactly, a few reach the fuzzy levels, hardly any disagree."""
    for comparison in model["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        untrained = all(level.get("m_probability") is None for level in levels)
        for position, level in enumerate(levels):
            if prior or untrained:
                fuzzy = max(len(levels) - 2, 1)
                level["m_probability"] = (
                    0.9 if position == 0 else UNOBSERVED_M if position == len(levels) - 1 else 0.09 / fuzzy
                )
            elif level.get("m_probability") is None:
                level["m_probability"] = UNOBSERVED_M
    return model


def _frame(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
    return con.sql(f"select {', '.join(MODEL_COLUMNS)} from records where {where}").to_arrow_table()


def fit_model(con: duckdb.DuckDBPyConnection, engine: LinkageEngine = DUCKDB) -> dict:
    """The model (splink settings JSON, trained) for this run's records, or {} when there is
    nothing to compare. u from random pairs; m from the deterministic links when there are
    enough of them, else by expectation maximisation on the unlinked records against the spine,
    else (too few records to learn from) from priors. A run of the spine alone (looking for
    duplicates inside it) is fitted on the spine against itself."""
    spine = _frame(con, "is_spine")
    others = con.execute("select count(*) from records where not is_spine").fetchall()[0][0]
    comparisons = present_comparisons(con, "is_spine", "not is_spine" if others else "is_spine")
    if not comparisons or spine.num_rows == 0:
        return {}
    labelled = con.sql(
        f"""select r.record_id as record_id_l, s.record_id as record_id_r
            from links l join records r using (record_id) join records s on s.is_spine and s.person_key = l.person_key
            where not r.is_spine
            order by hash(l.record_id) limit {TRAINING_LABELS}"""
    ).to_arrow_table()
    prior = 1 / max(spine.num_rows, 2)
    learn_from_labels = labelled.num_rows >= MIN_LABELS
    db_api = engine.database()
    if not others:
        trainer = Linker(
            engine.register(db_api, spine, "spine"),
            _settings(prior, comparisons, engine.dialect, "dedupe_only"),
            log_level=logging.ERROR,
        )
        training_rows = spine.num_rows
    else:
        if learn_from_labels:
            ids = ",".join(map(str, labelled["record_id_l"].to_pylist()))
            training_records = _frame(con, f"record_id in ({ids})")
        else:
            training_records = _frame(con, "not is_spine and record_id not in (select record_id from links)")
            if training_records.num_rows == 0:
                training_records = _frame(con, "not is_spine")
        trainer = Linker(
            [
                engine.register(db_api, training_records, "records"),
                engine.register(db_api, spine, "spine"),
            ],
            _settings(prior, comparisons, engine.dialect),
            log_level=logging.ERROR,
        )
        training_rows = training_records.num_rows
    trainer.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=1)
    if learn_from_labels:
        labels = pa.table(
            {
                "source_dataset_l": pa.array(["records"] * labelled.num_rows),
                "record_id_l": labelled["record_id_l"],
                "source_dataset_r": pa.array(["spine"] * labelled.num_rows),
                "record_id_r": labelled["record_id_r"],
            }
        )
        trainer.training.estimate_m_from_pairwise_labels(engine.register(db_api, labels, "labels"))
        return _floor_unobserved(trainer.misc.save_model_to_json(), prior=False)
    learned = min(training_rows, spine.num_rows) >= MIN_EM_RECORDS and _em(trainer, comparisons)
    # Too few records to learn from (a first run on a handful of people): priors.
    return _floor_unobserved(trainer.misc.save_model_to_json(), prior=not learned)


def _em(trainer: Linker, comparisons: list[str]) -> bool:
    """m by expectation maximisation, one session per blocking rule whose columns the model
    compares; True when at least one session ran."""
    compared = {c for name in comparisons for c in COMPARISONS[name][0]}
    learned = False
    for columns in EM_BLOCKS:
        if not set(columns) <= compared:
            continue
        try:
            trainer.training.estimate_parameters_using_expectation_maximisation(
                block_on(*columns), estimate_without_term_frequencies=True, max_pairs=EM_MAX_PAIRS
            )
        except Exception as error:  # splink refuses a session with no pairs or no convergence
            logger.warning("EM session blocked on %s not used: %s", ", ".join(columns), error)
            continue
        learned = True
    return learned


def score_unlinked(
    con: duckdb.DuckDBPyConnection, model: dict, threshold: float, engine: LinkageEngine = DUCKDB
) -> pa.Table:
    """Candidate (record, spine record) pairs for unlinked records, with match probability and
    each comparison's weight, scored by the run's fitted model."""
    unlinked = _frame(con, "not is_spine and record_id not in (select record_id from links)")
    if unlinked.num_rows == 0 or not model:
        return _empty_pairs()
    db_api = engine.database()
    linker = Linker(
        [
            engine.register(db_api, unlinked, "unlinked"),
            engine.register(db_api, _frame(con, "is_spine"), "spine"),
        ],
        model,
        log_level=logging.ERROR,
    )
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    return _pairs(engine, db_api, predictions.physical_name, model, "source_dataset_l = 'unlinked'")


def score_spine_duplicates(
    con: duckdb.DuckDBPyConnection, model: dict, threshold: float, engine: LinkageEngine = DUCKDB
) -> pa.Table:
    """Pairs of spine records (one system) that may be one person, by the run's model with
    `link_type` dedupe_only: (record, earlier spine record), never merged, only queued."""
    spine = _frame(con, "is_spine")
    if spine.num_rows < 2 or not model:
        return _empty_pairs()
    db_api = engine.database()
    # Among the n(n-1)/2 pairs of one system a duplicate is far rarer than a match across systems
    # (each record has its match there): the prior says so, or twins would read as duplicates.
    prior = DUPLICATE_SHARE * spine.num_rows / (spine.num_rows * (spine.num_rows - 1) / 2)
    settings = {
        **model,
        "link_type": "dedupe_only",
        "probability_two_random_records_match": prior,
        "blocking_rules_to_generate_predictions": [
            rule if isinstance(rule, str) else rule.get_blocking_rule(engine.dialect).blocking_rule_sql
            for rule in DUPLICATE_BLOCKING_RULES
        ],
    }
    linker = Linker(engine.register(db_api, spine, "spine"), settings, log_level=logging.ERROR)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    return _pairs(engine, db_api, predictions.physical_name, model, "record_id_l > record_id_r")


def _pairs(engine: LinkageEngine, db_api: Any, predictions: str, model: dict, left_is_record: str) -> pa.Table:
    present = {c["output_column_name"] for c in model["comparisons"]}
    weights = ", ".join(
        f"mw_{name}" if name in present else f"cast(null as double) as mw_{name}" for name in COMPARISONS
    )
    pairs = engine.query(
        db_api,
        f"""select
              case when {left_is_record} then record_id_l else record_id_r end as record_id,
              case when {left_is_record} then record_id_r else record_id_l end as spine_record_id,
              match_probability, match_weight, {weights}
            from {predictions}""",
    )
    return pairs.cast(_empty_pairs().schema)


def _empty_pairs() -> pa.Table:
    return pa.table(
        {
            "record_id": pa.array([], pa.int64()),
            "spine_record_id": pa.array([], pa.int64()),
            "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()),
            **{f"mw_{c}": pa.array([], pa.float64()) for c in COMPARISONS},
        }
    )
