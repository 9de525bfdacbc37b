"""Deterministic passes, in a declared order of trust.

Each pass proposes (record, spine person) pairs for records no earlier pass linked; a record is
linked only when the pass finds exactly one person for it (an ID two SIS students share links
neither). A reviewed rejection removes its pair before that count, in every pass. Rules on IDs a
person keys by hand (local and state IDs) also need the name or birth date to agree a little, so
a mistyped or recycled ID does not link a different child.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# Names or birth date agree enough that an ID match is not a different child with that ID.
CORROBORATED = """(
    jaro_winkler_similarity(r.first_norm, s.first_norm) >= 0.8
    or jaro_winkler_similarity(r.last_norm, s.last_norm) >= 0.8
    or (r.first_norm = s.last_norm and r.last_norm = s.first_norm)
    or r.birth_date = s.birth_date
)"""


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    conditions: tuple[str, ...]  # SQL over r (the record) and s (a spine record), any may hold


# The order of trust: earlier rules win.
RULES: tuple[Rule, ...] = (
    Rule(
        "sis_local_id",
        "the SIS local ID as the system holds it (leading zeros aside), names or birth date agreeing",
        (f"r.sis_id_norm = s.sis_id_norm and {CORROBORATED}",),
    ),
    Rule(
        "state_id",
        "the state student ID, names or birth date agreeing",
        (f"r.state_id_norm = s.state_id_norm and {CORROBORATED}",),
    ),
    Rule(
        "lms_login",
        "an LMS account whose login or sis_user_id is the SIS login",
        ("r.login_norm = s.login_norm", "r.sis_id_text = s.login_norm"),
    ),
    Rule("school_email", "the school email address", ("r.email_norm = s.email_norm",)),
)
CONFIRMED_RULE = "confirmed_vendor_id"  # the (system, ID) pair a rule or a reviewer linked in an earlier run
REVIEW_ACCEPTED = "review_accepted"


def setup_links(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "create or replace table links (record_id bigint, person_key varchar, method varchar, score double)"
    ).fetchall()


def apply_accepted_decisions(con: duckdb.DuckDBPyConnection) -> int:
    """Reviewed acceptances first: they override every rule and the model."""
    return _insert(
        con,
        REVIEW_ACCEPTED,
        """select r.record_id, d.person_key from records r
           join decisions d on d.decision = 'accept'
             and d.source_system = r.source_system and d.source_id = r.source_id
           where d.person_key in (select person_key from records where is_spine)""",
    )


def apply_rule(con: duckdb.DuckDBPyConnection, rule: Rule) -> int:
    # One equi-join per condition: an OR inside a join would compare every pair.
    selects = [
        f"select r.record_id, s.person_key from records r join records s on {condition} and s.is_spine"
        " where not r.is_spine"
        for condition in rule.conditions
    ]
    return _insert(con, rule.name, " union all ".join(selects))


def apply_confirmed(con: duckdb.DuckDBPyConnection) -> int:
    """Links an earlier run made by a rule or a reviewer, for the same (system, ID)."""
    return _insert(
        con,
        CONFIRMED_RULE,
        """select r.record_id, p.person_key from records r
            join prior_links p on p.source_system = r.source_system and p.source_id = r.source_id
            where not r.is_spine and p.method <> 'probabilistic'
              and p.person_key in (select person_key from records where is_spine)""",
    )


def _insert(con: duckdb.DuckDBPyConnection, method: str, candidates_sql: str) -> int:
    before = con.execute("select count(*) from links").fetchall()[0][0]
    con.execute(
        f"""
        insert into links
        with candidates as ({candidates_sql}),
        allowed as (
            select distinct c.record_id, c.person_key from candidates c
            join records r using (record_id)
            where c.record_id not in (select record_id from links)
              and not exists (
                select 1 from decisions d where d.decision = 'reject' and d.source_system = r.source_system
                  and d.source_id = r.source_id and d.person_key = c.person_key)
        )
        select record_id, any_value(person_key), '{method}', 1.0 from allowed
        group by record_id having count(*) = 1
        """
    ).fetchall()
    return con.execute("select count(*) from links").fetchall()[0][0] - before
