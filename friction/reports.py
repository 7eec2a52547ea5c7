"""Reports for the data bureau: per bundle, step or service centre over a period.

The store sums its rollups per group (friction.store.reports.ReportSums, its answer);
this module turns sums into the numbers the reforms promise (one trip, one working day,
fields prefilled) and withholds every number of a group smaller than k, so no figure
points at a few identifiable people.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime

import msgspec

from friction.store.reports import GroupBy, ReportSums

__all__ = [
    "DEFAULT_MIN_GROUP", "PREFILL_BENCHMARK", "GroupBy", "Report", "ReportRow", "ReportSums",
    "build", "ratio", "render", "to_row",
]

PREFILL_BENCHMARK = 0.92  # EU once-only benchmark: full marks at 92% of fields prefilled
DEFAULT_MIN_GROUP = 5


class ReportRow(msgspec.Struct, kw_only=True, frozen=True):
    group: str
    cases: int | None  # None when suppressed
    suppressed: bool
    completion_rate: float | None = None
    one_trip_rate: float | None = None
    working_days_to_done: float | None = None
    clerk_minutes_per_case: float | None = None
    friction_minutes_per_case: float | None = None
    prefilled_share: float | None = None
    prefill_benchmark_met: bool | None = None
    closed_rate: float | None = None  # of the cases, those closed however they ended
    not_eligible: int | None = None
    withdrawn: int | None = None


class Report(msgspec.Struct, kw_only=True, frozen=True):
    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    min_group: int
    rows: tuple[ReportRow, ...]


def ratio(part: float, whole: float) -> float | None:
    """part / whole to four places, None when there is no whole."""
    return None if whole == 0 else round(part / whole, 4)


def to_row(sums: ReportSums, min_group: int = DEFAULT_MIN_GROUP) -> ReportRow:
    if sums.cases < min_group:
        return ReportRow(group=sums.group, cases=None, suppressed=True)
    share = ratio(sums.fields_prefilled, sums.fields_total)
    # Judged on the exact share: a rounded 0.91996 would pass as 92%.
    met = None if not sums.fields_total else (
        sums.fields_prefilled / sums.fields_total >= PREFILL_BENCHMARK
    )
    friction = sums.friction_citizen_minutes + sums.friction_clerk_minutes
    return ReportRow(
        group=sums.group,
        cases=sums.cases,
        suppressed=False,
        completion_rate=ratio(sums.completed, sums.cases),
        # A case closed as not eligible or withdrawn ended for good too: one trip or not.
        one_trip_rate=ratio(sums.one_trip,
                            sums.completed + sums.not_eligible + sums.withdrawn),
        working_days_to_done=ratio(sums.working_days_sum, sums.working_days_count),
        clerk_minutes_per_case=(
            None if sums.clerk_minutes is None else ratio(sums.clerk_minutes, sums.cases)
        ),
        friction_minutes_per_case=ratio(friction, sums.cases),
        prefilled_share=share,
        prefill_benchmark_met=met,
        closed_rate=ratio(sums.closed, sums.cases),
        not_eligible=sums.not_eligible,
        withdrawn=sums.withdrawn,
    )


def build(
    group_by: GroupBy,
    sums: list[ReportSums],
    since: datetime | None,
    until: datetime | None,
    min_group: int = DEFAULT_MIN_GROUP,
) -> Report:
    return Report(
        group_by=group_by,
        since=since,
        until=until,
        min_group=min_group,
        rows=tuple(to_row(s, min_group) for s in sorted(sums, key=lambda s: s.group)),
    )


def N_(message: str) -> str:
    """Marks a message for the gettext catalogues; the CLI's `say` translates it."""
    return message


REPORT_HEADERS = (N_("group"), N_("cases"), N_("done"), N_("1-trip"), N_("wdays"),
                  N_("clerk min"), N_("friction min"), N_("prefilled"), N_("not elig."),
                  N_("withdrawn"))


def _same(text: str) -> str:
    return text


def render(report: Report, say: Callable[[str], str] = _same,
           group_name: Callable[[str], str] = _same) -> str:
    """A plain-text table for the CLI: its headings through `say`, each group by
    `group_name` (both as they are by default)."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    header = tuple(say(h) for h in REPORT_HEADERS)
    lines = [header]
    for r in report.rows:
        if r.suppressed:
            lines.append((group_name(r.group), f"<{report.min_group}", *[""] * 8))
            continue
        mark = "" if r.prefill_benchmark_met is None else (" ✓" if r.prefill_benchmark_met else "")
        lines.append((group_name(r.group), str(r.cases), pct(r.completion_rate),
                      pct(r.one_trip_rate), num(r.working_days_to_done),
                      num(r.clerk_minutes_per_case),
                      num(r.friction_minutes_per_case), pct(r.prefilled_share) + mark,
                      str(r.not_eligible or 0), str(r.withdrawn or 0)))
    widths = [max(display_width(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell + " " * (w - display_width(cell))
                  for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
