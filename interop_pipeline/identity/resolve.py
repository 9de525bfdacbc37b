"""Resolve every person record to one district person key.

1. Reviewed acceptances, then the deterministic rules in their order of trust (rules.py), then
   links an earlier run confirmed.
2. The probabilistic model (model.py) scores what is left against the spine (the SIS).
3. A record's best candidate is linked when its probability reaches the accept threshold, it
   leads the runner-up by the margin, and no other record of the same system already holds that
   person; a record whose best candidate falls between the review and accept thresholds, or is
   too close to another, goes to the review queue with its evidence; the rest stay unlinked.
4. The same model looks for duplicates inside the spine (one student under two SIS ids, common
   after a transfer): a pair reaching the review threshold goes to the review queue, both records
   keeping their own person key. Nothing is merged; the SIS merges, a reviewer may reject.

Nothing is guessed: an unlinked or queued record keeps a null person key in the crosswalk, and
facts joined through it are counted, not dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from interop_pipeline.identity import rules
from interop_pipeline.identity.decisions import Decision, decisions_table
from interop_pipeline.identity.model import (
    DUCKDB,
    LinkageEngine,
    fit_model,
    score_spine_duplicates,
    score_unlinked,
)
from interop_pipeline.identity.records import load_normalised

PROBABILISTIC = "probabilistic"
EVIDENCE_LEVELS = ("first_name", "last_name", "birth_date", "grade", "school", "email_norm")


@dataclass(frozen=True)
class Thresholds:
    accept: float = 0.99  # match probability at or above which a link is made
    review: float = 0.5  # at or above this (and below accept) a record goes to review
    margin: float = 4.0  # match weight (log2 odds) by which the best must lead the runner-up


@dataclass
class Resolution:
    crosswalk: pa.Table  # one row per record: source_system, source_id, person_key, method, score
    review_queue: pa.Table  # one row per queued record and candidate
    quality: pa.Table  # one row per source system
    model: dict  # the fitted splink settings
    timings: dict[str, float] = field(default_factory=dict)


def resolve(
    records: pa.Table,
    *,
    spine_system: str = "sis",
    thresholds: Thresholds = Thresholds(),
    decisions: list[Decision] | None = None,
    prior_links: pa.Table | None = None,
    resolved_at: datetime | None = None,
    engine: LinkageEngine = DUCKDB,
) -> Resolution:
    """Link `records` (records.RECORD_COLUMNS) to the spine's person keys; the probabilistic
    pass runs on `engine` (model.DUCKDB, or identity/spark.py's)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect()
    load_normalised(con, records, spine_system)
    con.register("decisions_in", decisions_table(decisions or []))
    con.execute("create table decisions as select * from decisions_in").fetchall()
    prior = prior_links if prior_links is not None else _empty_prior()
    con.register("prior_in", prior.select(["source_system", "source_id", "person_key", "method"]))
    con.execute("create table prior_links as select * from prior_in where person_key is not null").fetchall()
    rules.setup_links(con)
    # The spine links to itself.
    con.execute("insert into links select record_id, person_key, 'spine', 1.0 from records where is_spine").fetchall()
    rules.apply_accepted_decisions(con)
    for rule in rules.RULES:
        rules.apply_rule(con, rule)
    rules.apply_confirmed(con)
    timings["deterministic_s"] = time.perf_counter() - started

    model = fit_model(con, engine)
    _load_pairs(con, "pairs", score_unlinked(con, model, thresholds.review / 2, engine))
    _load_pairs(con, "duplicate_pairs", score_spine_duplicates(con, model, thresholds.review, engine))
    timings["probabilistic_s"] = time.perf_counter() - started - timings["deterministic_s"]
    _decide(con, thresholds)
    crosswalk = _crosswalk(con, resolved_at or datetime.now())
    queue = _review_queue(con, thresholds)
    quality = _quality(con)
    timings["total_s"] = time.perf_counter() - started
    return Resolution(crosswalk, queue, quality, model, timings)


def _empty_prior() -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in ("source_system", "source_id", "person_key", "method")})


def _load_pairs(con: duckdb.DuckDBPyConnection, name: str, pairs: pa.Table) -> None:
    """Scored pairs with the candidate's person key, less the pairs a reviewer rejected."""
    con.register(f"{name}_in", pairs)
    con.sql(
        f"""create table {name} as
            select p.*, s.person_key from {name}_in p join records s on s.record_id = p.spine_record_id
            where not exists (select 1 from decisions d join records r on r.record_id = p.record_id
                              where d.decision = 'reject' and d.source_system = r.source_system
                                and d.source_id = r.source_id and d.person_key = s.person_key)"""
    )


def _decide(con: duckdb.DuckDBPyConnection, t: Thresholds) -> None:
    con.execute(
        """
        create table ranked as
        select *,
            row_number() over (partition by record_id order by match_weight desc, person_key) as rank,
            lead(match_weight) over (partition by record_id order by match_weight desc, person_key) as runner_up_weight
        from pairs
        """
    ).fetchall()
    # A person a record of the same system already holds cannot be claimed again by the model.
    con.execute(
        f"""
        create table best as
        select b.*,
            b.match_probability >= {t.accept}
              and (b.runner_up_weight is null or b.match_weight - b.runner_up_weight >= {t.margin}) as clear,
            exists (select 1 from links l join records o using (record_id) join records r on r.record_id = b.record_id
                    where l.person_key = b.person_key and o.source_system = r.source_system
                      and not o.is_spine) as held
        from ranked b where rank = 1 and match_probability >= {t.review}
        """
    ).fetchall()
    # Two clear records of one system claiming one person: neither is linked, both reviewed.
    con.execute(
        """
        create table accepted as
        select b.record_id, b.person_key, b.match_probability from best b join records r using (record_id)
        where clear and not held
        qualify count(*) over (partition by r.source_system, b.person_key) = 1
        """
    ).fetchall()
    con.execute(
        f"insert into links select record_id, person_key, '{PROBABILISTIC}', match_probability from accepted"
    ).fetchall()
    con.execute(
        """create table queued as select record_id from best
           where record_id not in (select record_id from accepted)"""
    ).fetchall()


def _crosswalk(con: duckdb.DuckDBPyConnection, resolved_at: datetime) -> pa.Table:
    crosswalk = con.sql(
        """
        select r.source_system, r.source_id, l.person_key,
            coalesce(l.method, case when q.record_id is not null then 'review' else 'unlinked' end) as method,
            l.score
        from records r
        left join links l using (record_id)
        left join queued q using (record_id)
        order by r.source_system, r.source_id
        """
    ).to_arrow_table()
    return crosswalk.append_column("resolved_at", pa.array([resolved_at] * crosswalk.num_rows, pa.timestamp("us")))


def _review_queue(con: duckdb.DuckDBPyConnection, t: Thresholds) -> pa.Table:
    """Each queued record with up to three candidates and the weight of evidence of each
    comparison; then each spine record with every possible duplicate in its own system."""
    evidence = ", ".join(f"round(p.mw_{c}, 2) as {c}_weight" for c in EVIDENCE_LEVELS)
    return con.sql(
        f"""
        with duplicates as (
            select *, row_number() over (partition by record_id order by match_weight desc, person_key) as rank
            from duplicate_pairs where match_probability >= {t.review}
        )
        select r.source_system, r.source_id, p.person_key as candidate_person_key, p.rank as candidate_rank,
            round(p.match_probability, 6) as match_probability, round(p.match_weight, 3) as match_weight,
            {evidence},
            case when b.held then 'person already linked to another record of this system'
                 when b.match_probability < {t.accept} then 'score between the review and accept thresholds'
                 else 'candidates too close together or claimed twice' end as reason
        from queued q
        join records r using (record_id)
        join best b using (record_id)
        join ranked p on p.record_id = q.record_id and p.rank <= 3
        union all
        select r.source_system, r.source_id, p.person_key, p.rank, round(p.match_probability, 6),
            round(p.match_weight, 3), {evidence}, 'possible duplicate: another record of the same system'
        from duplicates p join records r using (record_id)
        order by source_system, source_id, candidate_rank
        """
    ).to_arrow_table()


def _quality(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql(
        """
        select r.source_system, count(*) as records,
            count(l.record_id) as linked,
            count(q.record_id) as queued,
            count(*) - count(l.record_id) - count(q.record_id) as unlinked,
            count(l.record_id) filter (where l.method = 'probabilistic') as linked_probabilistic
        from records r left join links l using (record_id) left join queued q using (record_id)
        group by r.source_system order by r.source_system
        """
    ).to_arrow_table()
