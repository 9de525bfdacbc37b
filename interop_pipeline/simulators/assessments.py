"""Assessment truth: NWEA MAP Growth, i-Ready Diagnostic and the state summative test.

Every score derives from one latent ability per student (standard normal), so scores agree
across vendors and with attendance as they do in real data, plus each test's own noise. Scales
follow the district profile: MAP RIT roughly 140-260 rising with grade, i-Ready 100-800.
A student is tested only on days they are enrolled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from math import erf, sqrt

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class TestWindow:
    season: str
    first: date
    last: date
    growth_share: float  # share of a year's growth reached by this window


def windows(start_year: int) -> tuple[TestWindow, ...]:
    y, n = start_year, start_year + 1
    return (
        TestWindow("Fall", date(y, 9, 2), date(y, 9, 26), 0.0),
        TestWindow("Winter", date(n, 1, 12), date(n, 2, 6), 0.5),
        TestWindow("Spring", date(n, 5, 4), date(n, 5, 22), 1.0),
    )


_phi = np.vectorize(lambda z: 0.5 * (1 + erf(z / sqrt(2))))


def _enrolled_on(spells: dict[str, np.ndarray], student: np.ndarray, day: np.ndarray) -> np.ndarray:
    """School spell index of each (student, day), or -1 when not enrolled that day."""
    order = np.argsort(spells["student"], kind="stable")
    result = np.full(len(student), -1)
    exit_ = np.where(np.isnat(spells["exit"]), np.datetime64("9999-12-31"), spells["exit"])
    for pick in (0, 1):  # a student has at most two spells (one transfer)
        position = np.searchsorted(spells["student"][order], student) + pick
        position = np.minimum(position, len(order) - 1)
        spell = order[position]
        hit = (spells["student"][spell] == student) & (spells["entry"][spell] <= day) & (exit_[spell] >= day)
        result = np.where((result < 0) & hit, spell, result)
    return result


def _test_days(rng: np.random.Generator, n: int, window: TestWindow, days: np.ndarray) -> np.ndarray:
    in_window = days[(days >= np.datetime64(window.first)) & (days <= np.datetime64(window.last))]
    return in_window[rng.integers(0, len(in_window), n)]


def generate_results(
    rng: np.random.Generator,
    *,
    grade: np.ndarray,
    spells: dict[str, np.ndarray],
    instructional_days: np.ndarray,
    start_year: int,
    subjects: tuple[str, ...],
    grades: set[int],
    seasons: tuple[str, ...],
    participation: float,
) -> dict[str, np.ndarray]:
    """Which student took which subject in which window, on which day, at which school spell."""
    eligible = np.flatnonzero(np.isin(grade, list(grades)))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("student", "subject", "season", "day", "spell", "growth")}
    for window in windows(start_year):
        if window.season not in seasons:
            continue
        for subject in subjects:
            takers = eligible[rng.random(len(eligible)) < participation]
            day = _test_days(rng, len(takers), window, instructional_days)
            spell = _enrolled_on(spells, takers, day)
            keep = spell >= 0
            parts["student"].append(takers[keep])
            parts["subject"].append(np.full(keep.sum(), subject))
            parts["season"].append(np.full(keep.sum(), window.season))
            parts["day"].append(day[keep])
            parts["spell"].append(spell[keep])
            parts["growth"].append(np.full(keep.sum(), window.growth_share))
    return {k: np.concatenate(v) for k, v in parts.items()}


def map_scores(
    rng: np.random.Generator, results: dict[str, np.ndarray], grade: np.ndarray, ability: np.ndarray
) -> dict[str, np.ndarray]:
    """RIT score, standard error and percentile; Lexile (reading) or Quantile (math)."""
    g = grade[results["student"]]
    fall_mean = 158 + 9.5 * g - 0.35 * g**2
    annual_growth = np.maximum(14 - g, 4)
    true_score = fall_mean + annual_growth * results["growth"] + 12.5 * ability[results["student"]]
    rit = np.round(true_score + rng.normal(0, 3.2, len(g))).astype(int)
    z = (rit - fall_mean - annual_growth * results["growth"]) / 13.0
    percentile = np.clip(np.round(_phi(z) * 100), 1, 99).astype(int)
    scale = np.where(results["subject"] == "Reading", 10 * rit - 1300, 10 * rit - 1450)
    return {
        "rit": rit,
        "standard_error": np.round(rng.uniform(2.8, 3.6, len(g)), 1),
        "percentile": percentile,
        "lexile_or_quantile": np.round(scale / 5).astype(int) * 5,
        "duration_minutes": rng.integers(25, 75, len(g)),
    }


IREADY_LEVELS = ("Early", "Mid", "Late")


def iready_scores(
    rng: np.random.Generator, results: dict[str, np.ndarray], grade: np.ndarray, ability: np.ndarray
) -> dict[str, np.ndarray]:
    """Overall scale score, placement and relative placement."""
    g = grade[results["student"]]
    grade_mean = 380 + 38 * g + 30 * results["growth"]
    score = np.clip(
        np.round(grade_mean + 32 * ability[results["student"]] + rng.normal(0, 9, len(g))), 100, 800
    ).astype(int)
    # Placement: the grade (and third of a grade) whose typical score the student's score reaches.
    equivalent = (score - 380) / 38.0
    placed_grade = np.clip(np.floor(equivalent).astype(int), 0, 12)
    third = np.clip(((equivalent - np.floor(equivalent)) * 3).astype(int), 0, 2)
    grade_label = np.where(placed_grade == 0, "K", placed_grade.astype(str))
    placement = np.char.add(np.char.add(np.array(IREADY_LEVELS)[third], " "), grade_label)
    behind = g - placed_grade
    relative = np.select(
        [behind >= 3, behind == 2, behind == 1, (behind <= 0) & (third == 0)],
        ["3 or More Grade Levels Below", "2 Grade Levels Below", "1 Grade Level Below", "Early On Grade Level"],
        "Mid or Above Grade Level",
    )
    percentile = np.clip(np.round(_phi((score - grade_mean) / 34.0) * 100), 1, 99).astype(int)
    return {"scale_score": score, "placement": placement, "relative_placement": relative, "percentile": percentile}


STATE_LEVELS = ("1", "2", "3", "4")  # the state file's codes; the declaration maps them


def state_scores(
    rng: np.random.Generator, results: dict[str, np.ndarray], grade: np.ndarray, ability: np.ndarray
) -> dict[str, np.ndarray]:
    g = grade[results["student"]]
    score = np.round(2400 + 40 * g + 85 * ability[results["student"]] + rng.normal(0, 25, len(g))).astype(int)
    cuts = 2400 + 40 * g
    level = np.select([score < cuts - 60, score < cuts, score < cuts + 70], ["1", "2", "3"], "4")
    return {"scale_score": score, "achievement_level": level}


def results_table(
    results: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    person_ids: pa.ChunkedArray,
    school_ids: np.ndarray,
    school_of_spell: np.ndarray,
    vendor: str,
    school_year: int,
    district_code: str,
) -> pa.Table:
    n = len(results["student"])
    return pa.table(
        {
            "district_code": pa.array([district_code] * n),
            "vendor": pa.array([vendor] * n),
            "person_id": person_ids.take(pa.array(results["student"])),
            "school_sourced_id": pa.array(school_ids[school_of_spell[results["spell"]]]),
            "school_year": pa.array([school_year] * n),
            "season": pa.array(results["season"]),
            "subject": pa.array(results["subject"]),
            "test_date": pa.array(results["day"]),
            **{name: pa.array(values) for name, values in scores.items()},
        }
    )
