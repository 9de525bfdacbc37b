"""The district report: one static HTML page beside the published warehouse, rebuilt every run.

It shows what the analytics marts say, read from the published copy (read-only): chronic
absenteeism by school and subgroup under each definition, proficiency by school and grade for
each assessment administration, each source's rows, rejects and freshness, and identity match
rates per system. Only the marts are read, so the page holds aggregates only and keeps their
small-cell suppression: a suppressed cell reads "suppressed", never a number or zero. A mart with
no rows (a district without attendance, say) reads "no data".

Charts are Vega-Lite specifications (altair) rendered to SVG here by vl-convert and inlined in
the page: the page runs no script and fetches nothing (its Content-Security-Policy forbids it),
so it opens from disk, offline, in any browser.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from interop_pipeline.publish.state import restrict_to_owner

if TYPE_CHECKING:  # altair and vl-convert load when a report is built, not with the definitions
    import altair as alt

REPORT_NAME = "district_report.html"
SUPPRESSED = "suppressed"
NO_DATA = "no data"
DISTRICT_ROW = "All schools"  # the marts' school_name of the district row
# CEDS grade levels in school order; 'all' (every grade) last.
GRADE_ORDER = ("IT", "PR", "PK", "TK", "KG", *(f"{g:02d}" for g in range(1, 14)), "PS", "UG", "Other", "all")


def report_path(published_warehouse: Path) -> Path:
    """Where the report of a published warehouse is written: beside it."""
    return published_warehouse.with_name(REPORT_NAME)


# --------------------------------------------------------------------------- reading the marts

Row = dict[str, Any]

CHRONIC_SQL = """
    select definition_name, school_name, subgroup_type, subgroup, through_date, is_suppressed,
           suppression_reason, students_measured, students_chronically_absent, chronic_absenteeism_rate
    from main.mart_chronic_absenteeism
    where grade_level = 'all'
    order by definition_name, school_key is not null, school_name, subgroup_type, subgroup
"""
PROFICIENCY_SQL = """
    select vendor, assessment_name, subject, school_year, coalesce(season, '') as season, school_name,
           grade_level, is_suppressed, suppression_reason, students_tested, students_proficient, proficiency_rate
    from main.mart_assessment_proficiency
    where subgroup = 'all_students'
    order by subject, assessment_name, school_year, season, school_key is not null, school_name, grade_level
"""
# Per source: its status is the same on each of its rows; rows and rejects add up over entities.
DATA_QUALITY_SQL = """
    select source_system,
           any_value(source_status) as source_status,
           bool_or(is_enabled) as is_enabled,
           count(*) filter (where entity not in ('(nothing landed)', 'student_identities', 'staff_identities'))
               as entities,
           cast(sum(rows_landed) as bigint) as rows_landed,
           cast(sum(rows_rejected) as bigint) as rows_rejected,
           sum(rows_rejected) / nullif(sum(rows_landed) + sum(rows_rejected), 0) as reject_rate,
           max(source_newest_batch_at) as newest_batch_at,
           max(source_newest_batch_age_hours) as newest_batch_age_hours,
           max(freshness_limit_hours) as freshness_limit_hours,
           max(last_refusal_subject) as last_refusal_subject,
           max(last_refusal_reason) as last_refusal_reason
    from main.mart_data_quality
    group by source_system
    order by not bool_or(is_enabled), source_system
"""
IDENTITY_SQL = """
    select person_type, source_system, records, linked, queued, unlinked, match_rate,
           precision_against_truth, recall_against_truth
    from main.identity_match_quality
    order by person_type = 'staff', source_system
"""
DISTRICT_SQL = "select district_name, district_code from main.dim_district limit 1"


def _rows(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> list[Row]:
    """The query's rows as dicts; none when the warehouse has no such table."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [table]
    ).fetchone()[0]
    if not exists:
        return []
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


@dataclass
class ReportData:
    district: Row
    chronic: list[Row]
    proficiency: list[Row]
    data_quality: list[Row]
    identity: list[Row]


def read_report_data(warehouse: Path) -> ReportData:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        district = _rows(con, "dim_district", DISTRICT_SQL)
        return ReportData(
            district=district[0] if district else {"district_name": "District", "district_code": ""},
            chronic=_rows(con, "mart_chronic_absenteeism", CHRONIC_SQL),
            proficiency=_rows(con, "mart_assessment_proficiency", PROFICIENCY_SQL),
            data_quality=_rows(con, "mart_data_quality", DATA_QUALITY_SQL),
            identity=_rows(con, "identity_match_quality", IDENTITY_SQL),
        )


# --------------------------------------------------------------------------- formatting


def count(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def rate_cell(row: Row, numerator: str, denominator: str, rate: str) -> str:
    """A suppressed cell's text is the word, whatever its (NULL) counts."""
    if row["is_suppressed"]:
        return SUPPRESSED
    return f"{percent(row[rate])} ({count(row[numerator])} of {count(row[denominator])})"


def subgroup_label(code: str) -> str:
    """all_students → All students; BlackOrAfricanAmerican → Black or African American."""
    if "_" in code or code.islower():
        return code.replace("_", " ").capitalize()
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", code).replace("And Or", "and/or")
    return re.sub(r"\b(Or|And)\b", lambda m: m.group(1).lower(), words)


def subgroup_order(rows: Iterable[Row]) -> list[str]:
    """All students, then the programs, then the race/ethnicity categories."""
    kinds = {r["subgroup"]: r["subgroup_type"] for r in rows}
    rank = {"all": 0, "program": 1, "race_ethnicity": 2}
    return sorted(kinds, key=lambda s: (rank.get(kinds[s], 3), s))


def grade_sort_key(grade: str) -> tuple[int, str]:
    return (GRADE_ORDER.index(grade) if grade in GRADE_ORDER else len(GRADE_ORDER) - 1, grade)


def administration_title(row: Row) -> str:
    season = f" {row['season']}" if row["season"] else ""
    return f"{row['assessment_name']} ({row['subject']}), {row['school_year']}{season}"


# --------------------------------------------------------------------------- charts


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as inline SVG, rendered here (no browser, no network)."""
    import vl_convert

    # Room on the left for a browser font wider than the one the labels were measured with.
    padded = chart.properties(padding={"left": 60, "top": 5, "right": 5, "bottom": 5})
    return vl_convert.vegalite_to_svg(padded.to_json(validate=False))


@dataclass
class Section:
    """One part of the page; `charts` counts its rendered figures, `empty` says what "no data"
    means when its mart has no rows."""

    key: str
    title: str
    intro: str
    empty: str
    body: list[str] = field(default_factory=list)
    charts: int = 0
    has_data: bool = True

    def figure(self, name: str, caption: str, chart: alt.TopLevelMixin) -> None:
        self.body.append(
            f'<figure class="chart" data-chart="{html.escape(name)}">{svg(chart)}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        self.charts += 1

    def draw(self, rows: list[Row], drawing: Callable[[Section, list[Row]], None]) -> Section:
        """The section drawn from `rows`, or saying "no data" when there are none."""
        if rows:
            drawing(self, rows)
        else:
            self.has_data = False
            self.body.append(f'<p class="no-data">{NO_DATA.capitalize()}: {html.escape(self.empty)}</p>')
        return self

    def html(self) -> str:
        return (
            f'<section id="{self.key}" data-has-data="{str(self.has_data).lower()}"><h2>{html.escape(self.title)}</h2>'
            f"<p>{html.escape(self.intro)}</p>{''.join(self.body)}</section>"
        )


def rate_heatmap(cells: list[Row], *, rows: Sequence[str], columns: Sequence[str], legend: str):
    """Schools across, `rows` down; a cell's colour is its rate and its text the rate, or grey and
    "suppressed" (a suppressed cell has no value to draw)."""
    import altair as alt

    base = alt.Chart(alt.Data(values=cells)).encode(
        x=alt.X(
            "column:N", sort=list(columns), title=None, axis=alt.Axis(labelAngle=-25, labelLimit=180, orient="top")
        ),
        y=alt.Y("row:N", sort=list(rows), title=None, axis=alt.Axis(labelLimit=260)),
    )
    shown = base.transform_filter("!datum.suppressed").mark_rect(stroke="white", strokeWidth=1)
    shown = shown.encode(
        color=alt.Color(
            "rate:Q",
            scale=alt.Scale(domain=[0, 1], scheme="oranges"),
            legend=alt.Legend(title=legend, format="%", titleLimit=300),
        )
    )
    suppressed = base.transform_filter("datum.suppressed").mark_rect(stroke="white", strokeWidth=1, color="#d4d4d4")
    labels = base.mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition("datum.rate > 0.6", alt.value("white"), alt.value("#222")),
    )
    return (shown + suppressed + labels).properties(width=alt.Step(104), height=alt.Step(20))


def bar_chart(values: list[Row], *, x: str, x_title: str, y: str, colour: str, share: bool = False):
    """Horizontal grouped bars: one bar per `colour` value within each `y` (`share`: x is 0 to 100%)."""
    import altair as alt

    axis, scale = (alt.Axis(format="%"), alt.Scale(domain=[0, 1])) if share else (alt.Axis(), alt.Scale())
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, axis=axis, scale=scale),
            y=alt.Y(f"{y}:N", title=None, sort=None, axis=alt.Axis(labelLimit=200)),
            yOffset=alt.YOffset(f"{colour}:N", sort=None),
            color=alt.Color(
                f"{colour}:N",
                title=None,
                sort=None,
                legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=300),
            ),
        )
        .properties(width=420, height=alt.Step(12))
    )


# --------------------------------------------------------------------------- tables


def _table(name: str, headings: Iterable[str], rows: Iterable[tuple[str, Iterable[str]]]) -> str:
    """A table named `name` (data-table); each row carries its key (data-row) before its cells."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "".join(f'<tr data-row="{html.escape(key)}">{"".join(cells)}</tr>' for key, cells in rows)
    return (
        f'<div class="scroll"><table data-table="{html.escape(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _cell(column: str, text: str) -> str:
    css = ' class="suppressed"' if text == SUPPRESSED else ""
    return f'<td data-col="{html.escape(column)}"{css}>{html.escape(text)}</td>'


def pivot_table(name: str, corner: str, columns: Sequence[str], rows: Sequence[tuple[str, str]], cells: dict) -> str:
    """A table of `rows` (key, label) by `columns`; each cell carries its column (data-col) and
    reads cells[(row key, column)], or "—" where the mart has no cell."""
    return _table(
        name,
        [corner, *columns],
        (
            (key, [f"<th>{html.escape(label)}</th>", *(_cell(c, cells.get((key, c), "—")) for c in columns)])
            for key, label in rows
        ),
    )


def record_table(name: str, key: str, columns: Sequence[tuple[str, str]], records: Iterable[Row]) -> str:
    """One row per record (data-row: its `key`), one column per (field, heading) already formatted."""
    rows = ((str(r[key]), [_cell(c, str(r[c])) for c, _ in columns]) for r in records)
    return _table(name, [title for _, title in columns], rows)


def _schools(rows: list[Row]) -> list[str]:
    """Every school of the rows, the district row first."""
    names = dict.fromkeys(r["school_name"] for r in rows)
    return [DISTRICT_ROW, *sorted(n for n in names if n != DISTRICT_ROW)] if DISTRICT_ROW in names else sorted(names)


@dataclass(frozen=True)
class RateView:
    """How a mart of suppressed rates is shown: one heatmap and one table per group (a definition,
    an administration), schools across and `row_field` down."""

    key: str
    title: str
    intro: str
    empty: str  # what "no data" means for this mart
    group: Callable[[Row], str]
    row_field: str
    row_order: Callable[[list[Row]], list[str]]  # the row keys of a group's rows, in order
    row_label: Callable[[str], str]
    row_title: str
    counts: tuple[str, str, str]  # numerator, denominator, rate columns


def rate_section(view: RateView, rows: list[Row]) -> Section:
    return Section(view.key, view.title, view.intro, view.empty).draw(rows, partial(_draw_rates, view))


def _draw_rates(view: RateView, section: Section, rows: list[Row]) -> None:
    numerator, denominator, rate = view.counts
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(view.group(row), []).append(row)
    for index, (group, members) in enumerate(groups.items()):
        schools = _schools(members)
        keys = view.row_order(members)
        cells = [
            {
                "column": r["school_name"],
                "row": view.row_label(r[view.row_field]),
                "rate": None if r["is_suppressed"] else r[rate],
                "suppressed": bool(r["is_suppressed"]),
                "label": SUPPRESSED if r["is_suppressed"] else percent(r[rate]),
            }
            for r in members
        ]
        chart = rate_heatmap(cells, rows=[view.row_label(k) for k in keys], columns=schools, legend="rate")
        section.body.append(f"<h3>{html.escape(group)}</h3>")
        caption = f"{view.title} rate by school and {view.row_title.lower()}; grey cells are suppressed."
        section.figure(f"{view.key}-{index + 1}", caption, chart)
        table = {(r[view.row_field], r["school_name"]): rate_cell(r, numerator, denominator, rate) for r in members}
        rows_shown = [(k, view.row_label(k)) for k in keys]
        section.body.append(pivot_table(f"{view.key}:{group}", view.row_title, schools, rows_shown, table))


CHRONIC_ABSENTEEISM = RateView(
    key="chronic-absenteeism",
    title="Chronic absenteeism",
    intro="Share of students measured who were chronically absent, year to date, by school and subgroup "
    "(every grade), under each definition the district reports (mart_chronic_absenteeism).",
    empty="the warehouse has no attendance to measure (mart_chronic_absenteeism is empty).",
    group=lambda r: r["definition_name"],
    row_field="subgroup",
    row_order=subgroup_order,
    row_label=subgroup_label,
    row_title="Subgroup",
    counts=("students_chronically_absent", "students_measured", "chronic_absenteeism_rate"),
)
PROFICIENCY = RateView(
    key="proficiency",
    title="Proficiency",
    intro="Share of students tested who were proficient, by school and grade assessed (all students), "
    "for each assessment administration (mart_assessment_proficiency).",
    empty="the warehouse has no assessment results (mart_assessment_proficiency is empty).",
    group=administration_title,
    row_field="grade_level",
    row_order=lambda rows: sorted({r["grade_level"] for r in rows}, key=grade_sort_key),
    row_label=lambda g: "All grades" if g == "all" else f"Grade {g}",
    row_title="Grade",
    counts=("students_proficient", "students_tested", "proficiency_rate"),
)


def chronic_section(rows: list[Row]) -> Section:
    section = rate_section(CHRONIC_ABSENTEEISM, rows)
    through = max((r["through_date"] for r in rows if r["through_date"] is not None), default=None)
    if through is not None:
        section.intro += f" Days counted through {through}."
    return section


def _source_bars(section: Section, measure: str, caption: str, rows: list[Row], pairs: tuple) -> None:
    """A bar per source and (label, column) pair, where the column has a value."""
    values = [
        {"source": r["source_system"], "kind": label, measure: r[column]}
        for r in rows
        for label, column in pairs
        if r[column] is not None
    ]
    if values:
        chart = bar_chart(values, x=measure, x_title=measure, y="source", colour="kind")
        section.figure(f"{section.key}-{measure}", caption, chart)


def data_quality_section(rows: list[Row]) -> Section:
    return Section(
        "data-quality",
        "Sources: rows, rejects and freshness",
        "Each source's rows landed and rows rejected over every delivery, and its newest batch against its "
        "freshness limit, as of this build (mart_data_quality).",
        "mart_data_quality is empty.",
    ).draw(rows, _draw_data_quality)


def _draw_data_quality(section: Section, rows: list[Row]) -> None:
    enabled = [r for r in rows if r["is_enabled"]]
    landed = (("rows landed", "rows_landed"), ("rows rejected", "rows_rejected"))
    _source_bars(section, "rows", "Rows landed and rejected per source", enabled, landed)
    delivered = [r for r in enabled if r["newest_batch_age_hours"] is not None]
    freshness = (("hours since newest batch", "newest_batch_age_hours"), ("freshness limit", "freshness_limit_hours"))
    caption = "Hours since each source's newest batch, beside its freshness limit"
    _source_bars(section, "hours", caption, delivered, freshness)
    table = [
        {
            **r,
            "rows_landed": count(r["rows_landed"]),
            "rows_rejected": count(r["rows_rejected"]),
            "reject_rate": percent(r["reject_rate"]),
            "newest_batch_at": "—" if r["newest_batch_at"] is None else f"{r['newest_batch_at']:%Y-%m-%d %H:%M %Z}",
            "newest_batch_age_hours": "—"
            if r["newest_batch_age_hours"] is None
            else f"{r['newest_batch_age_hours']:.1f}",
            "freshness_limit_hours": "none"
            if r["freshness_limit_hours"] is None
            else f"{r['freshness_limit_hours']:g}",
            "last_refusal": " — ".join(x for x in (r["last_refusal_subject"], r["last_refusal_reason"]) if x) or "—",
        }
        for r in rows
    ]
    columns = (
        ("source_system", "Source"),
        ("source_status", "Status"),
        ("entities", "Entities"),
        ("rows_landed", "Rows landed"),
        ("rows_rejected", "Rows rejected"),
        ("reject_rate", "Reject rate"),
        ("newest_batch_at", "Newest batch"),
        ("newest_batch_age_hours", "Age (hours)"),
        ("freshness_limit_hours", "Freshness limit (hours)"),
        ("last_refusal", "Latest refusal"),
    )
    section.body.append(record_table(section.key, "source_system", columns, table))


def identity_section(rows: list[Row]) -> Section:
    return Section(
        "identity",
        "Identity match rates",
        "Share of each system's person records linked to a district student or staff member by the newest "
        "identity run (identity_match_quality); queued records wait for review.",
        "no identity run has been recorded (identity_match_quality is empty).",
    ).draw(rows, _draw_identity)


def _draw_identity(section: Section, rows: list[Row]) -> None:
    section.figure(
        f"{section.key}-match-rate",
        "Match rate per system",
        bar_chart(
            [
                {"system": r["source_system"], "people": r["person_type"], "match_rate": r["match_rate"] or 0}
                for r in rows
            ],
            x="match_rate",
            x_title="records linked",
            y="system",
            colour="people",
            share=True,
        ),
    )
    table = [
        {
            "key": f"{r['person_type']}:{r['source_system']}",
            "person_type": r["person_type"],
            "source_system": r["source_system"],
            **{c: count(r[c]) for c in ("records", "linked", "queued", "unlinked")},
            **{c: percent(r[c]) for c in ("match_rate", "precision_against_truth", "recall_against_truth")},
        }
        for r in rows
    ]
    columns = (
        ("person_type", "People"),
        ("source_system", "System"),
        ("records", "Records"),
        ("linked", "Linked"),
        ("queued", "Queued for review"),
        ("unlinked", "Unlinked"),
        ("match_rate", "Match rate"),
        ("precision_against_truth", "Precision (test truth)"),
        ("recall_against_truth", "Recall (test truth)"),
    )
    section.body.append(record_table(section.key, "key", columns, table))


# --------------------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
.meta { color: #555; } .scroll { overflow-x: auto; }
figure.chart { margin: 1rem 0; overflow-x: auto; } figcaption { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, thead th { text-align: left; } thead th { background: #f4f4f4; }
td.suppressed { color: #777; font-style: italic; }
.no-data { background: #f8f8f8; border-left: 4px solid #bbb; padding: 0.6rem 1rem; }
"""
# The page fetches nothing and runs nothing: inline styles and inline SVG only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    charts: int
    sections_without_data: tuple[str, ...]
    size_bytes: int


def render_report(data: ReportData, *, generated_at: datetime) -> tuple[str, list[Section]]:
    sections = [
        chronic_section(data.chronic),
        rate_section(PROFICIENCY, data.proficiency),
        data_quality_section(data.data_quality),
        identity_section(data.identity),
    ]
    name = html.escape(str(data.district["district_name"]))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}: district report</title><style>{STYLE}</style></head>
<body><header><h1>{name}</h1>
<p class="meta">District report ({html.escape(str(data.district["district_code"]))}), built
{generated_at:%Y-%m-%d %H:%M UTC} from the published warehouse. Aggregates only: a cell of too few students,
and any cell that would reveal it, reads "{SUPPRESSED}".</p></header>
<nav><ul>{"".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)}</ul></nav>
<main>{"".join(s.html() for s in sections)}</main></body></html>
"""
    return page, sections


def write_report(warehouse: Path, out: Path | None = None, *, generated_at: datetime | None = None) -> ReportSummary:
    """Build the report of `warehouse` (opened read-only) into `out` (default: beside it), written
    whole and renamed into place so a reader never sees half a page."""
    out = out or report_path(warehouse)
    page, sections = render_report(read_report_data(warehouse), generated_at=generated_at or datetime.now(UTC))
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.name}.partial")
    try:
        staged.write_text(page, encoding="utf-8")
        restrict_to_owner(staged)
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    return ReportSummary(
        path=out,
        charts=sum(s.charts for s in sections),
        sections_without_data=tuple(s.key for s in sections if not s.has_data),
        size_bytes=out.stat().st_size,
    )
