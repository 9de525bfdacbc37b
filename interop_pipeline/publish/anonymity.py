"""k-anonymity (and ℓ-diversity) for person-level research files.

A pseudonymous key hides the name, not the person: anyone who knows a student's grade, school,
sex, race and programs may find that student's row when few others share them. So each research
agreement names its quasi-identifiers and a minimum group size k, and `anonymize` makes every
combination of quasi-identifier values in the file hold at least k students (and, where asked, at
least ℓ distinct values of one sensitive measure).

It is the Datafly algorithm (Sweeney, 1998), full-domain: while more records than the agreement
allows to suppress sit in groups that are too small, the quasi-identifier with the most distinct
values moves one level up its generalization ladder (grade -> grade band -> any grade); then the
records still in small groups are suppressed (left out). Full-domain generalization keeps a
column's values comparable across the whole file, which is what a researcher's model needs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
ANY = "*"  # the top of every ladder: the value is withheld


@dataclass(frozen=True)
class Level:
    name: str
    generalize: Callable[[Any], Any]


@dataclass
class AnonymityReport:
    min_group_size: int
    quasi_identifiers: list[str]
    generalized: dict[str, str] = field(default_factory=dict)  # column -> level used, when above its own values
    records_generalized: dict[str, int] = field(default_factory=dict)  # column -> records whose value changed
    suppressed: int = 0
    smallest_group: int = 0
    l_diversity: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_group_size": self.min_group_size,
            "quasi_identifiers": self.quasi_identifiers,
            "generalized": self.generalized,
            "records_generalized": self.records_generalized,
            "records_suppressed": self.suppressed,
            "smallest_group": self.smallest_group,
            **({"l_diversity": self.l_diversity} if self.l_diversity else {}),
        }


def failing_groups(keys: Sequence[tuple], k: int, sensitive: Sequence[Any] | None = None, l_min: int = 1) -> set[tuple]:
    """The quasi-identifier combinations held by fewer than k records (or with fewer than ℓ
    distinct sensitive values)."""
    sizes = Counter(keys)
    small = {key for key, n in sizes.items() if n < k}
    if sensitive is not None and l_min > 1:
        values: dict[tuple, set] = defaultdict(set)
        for key, value in zip(keys, sensitive, strict=True):
            values[key].add(value)
        small |= {key for key, seen in values.items() if len(seen) < l_min}
    return small


def anonymize(
    rows: list[Row],
    ladders: dict[str, list[Level]],
    k: int,
    max_suppressed_share: float,
    sensitive: str | None = None,
    l_min: int = 1,
) -> tuple[list[Row], AnonymityReport]:
    """Generalize, then suppress, until every quasi-identifier group holds k records (and ℓ
    sensitive values). `ladders` maps each quasi-identifier column to its levels above the raw
    value, lowest first; the rows are not changed, new ones are returned."""
    quasi = list(ladders)
    report = AnonymityReport(k, quasi)
    if sensitive:
        report.l_diversity = {"measure": sensitive, "l": l_min}
    levels = dict.fromkeys(quasi, 0)
    raw = [tuple(r[q] for q in quasi) for r in rows]
    measure = [r.get(sensitive) for r in rows] if sensitive else None

    def value(q: str, original: Any) -> Any:
        level = levels[q]
        return original if level == 0 else ladders[q][level - 1].generalize(original)

    while True:
        keys = [tuple(value(q, v) for q, v in zip(quasi, key, strict=True)) for key in raw]
        small = failing_groups(keys, k, measure, l_min)
        at_risk = sum(1 for key in keys if key in small)
        climbable = [q for q in quasi if levels[q] < len(ladders[q])]
        if at_risk <= max_suppressed_share * len(rows) or not climbable:
            break
        position = {q: i for i, q in enumerate(quasi)}
        widest = max(climbable, key=lambda q: (len({key[position[q]] for key in keys}), -position[q]))
        levels[widest] += 1

    kept = []
    for row, key, original in zip(rows, keys, raw, strict=True):
        if key in small:
            continue
        kept.append({**row, **dict(zip(quasi, key, strict=True))})
        for q, before, after in zip(quasi, original, key, strict=True):
            if before != after:
                report.records_generalized[q] = report.records_generalized.get(q, 0) + 1
    report.generalized = {q: ladders[q][levels[q] - 1].name for q in quasi if levels[q]}
    report.suppressed = len(rows) - len(kept)
    kept_sizes = Counter(key for key in keys if key not in small)
    report.smallest_group = min(kept_sizes.values(), default=0)
    return kept, report
