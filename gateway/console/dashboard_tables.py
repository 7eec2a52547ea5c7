"""The dashboard's tables as cells of text, made once: the page renders them and the CSV
export writes them, so a download says what the table on the screen says.

Every cell is a count, a share, a name or an id of a bundle, step, kind or cause: the
dashboard's figures hold no personal value, and neither do these.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any, Literal, get_args

import msgspec
from litestar import Request
from markupsafe import Markup, escape

from friction.dashboard import Dashboard, StuckPointBurden
from friction.reports import PREFILL_BENCHMARK
from friction.satisfaction import Satisfaction
from gateway.console.pages import N_, Place, names_of, tr
from gateway.i18n import percent_in, request_lang
from gateway.names import CAUSE_WORDS, KIND_WORDS, Names
from workflows.definition import Catalogue

TableName = Literal["over_time", "stuck_points", "trips", "prefill", "sla", "cant",
                    "satisfaction", "friction_split"]
TABLE_NAMES: tuple[TableName, ...] = get_args(TableName)

# The file a table downloads as, before its date: said in the reader's language.
TABLE_WORDS: dict[TableName, str] = {
    "over_time": N_("Friction by kind over time"),
    "stuck_points": N_("Top stuck points by burden"),
    "trips": N_("Trips per case"),
    "prefill": N_("Fields prefilled, against the benchmark"),
    "sla": N_("Waits past the time limit, by step"),
    "cant": N_("Can't-get-it-done cases by cause"),
    "satisfaction": N_("Satisfaction by bundle and service centre"),
    "friction_split": N_("Bad reviews on cases with and without friction"),
}


class Cell(msgspec.Struct, kw_only=True, frozen=True):
    text: str
    href: str | None = None  # a link on the page; the CSV keeps the text
    badge: str | None = None  # "ok" or "bad": a badge on the page
    code: bool = False  # an id, set in <code>
    muted: bool = False  # "withheld" and the like


class Table(msgspec.Struct, kw_only=True, frozen=True):
    name: TableName
    headers: list[str]
    rows: list[list[Cell]]
    row_headers: bool = True  # each row's first cell names it (<th scope="row">)


def _cell_html(cell: Cell, tag: str) -> str:
    text = escape(cell.text)
    if cell.badge:
        inner = f'<span class="badge {escape(cell.badge)}">{text}</span>'
    elif cell.muted:
        inner = f'<span class="muted">{text}</span>'
    elif cell.code:
        inner = f"<code>{text}</code>"
    else:
        inner = text
    if cell.href:
        inner = f'<a href="{escape(cell.href)}">{inner}</a>'
    scope = ' scope="row"' if tag == "th" else ""
    return f"<{tag}{scope}>{inner}</{tag}>"


def table_rows(table: Table) -> Markup:
    """The table's body rows as HTML, escaped here in one pass: the day-by-kind table
    of a year has thousands of cells, which a Jinja macro per cell made the dashboard
    page's largest cost (several times its queries')."""
    head = "th" if table.row_headers else "td"
    done: dict[Cell, str] = {}  # a repeated cell (a count, "withheld") is escaped once

    def td(cell: Cell) -> str:
        html = done.get(cell)
        if html is None:
            html = done[cell] = _cell_html(cell, "td")
        return html

    return Markup("\n".join(
        "<tr>" + (_cell_html(row[0], head) if row else "")
        + "".join(td(cell) for cell in row[1:]) + "</tr>"
        for row in table.rows
    ))


def csv_bytes(table: Table) -> bytes:
    """The table as CSV in UTF-8 with a byte order mark, so Excel reads the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.headers)
    writer.writerows([cell.text for cell in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class Words:
    """The reader's words for the tables: names, counts and shares."""

    def __init__(self, request: Request[Any, Any, Any], catalogue: Catalogue) -> None:
        self._request = request
        self.lang = request_lang(request)
        self._catalogue = catalogue
        self._names = Names(self.lang, catalogue)

    def _(self, message: str) -> str:  # "_": extracted into the catalogue
        return tr(self._request, message)

    def place(self, bundle: str | None, step: str | None = None) -> Place:
        return names_of(self._catalogue, bundle, step)

    def bundle(self, bundle: str | None) -> str:
        return str(getattr(self.place(bundle), f"bundle_{self.lang}"))

    def step(self, bundle: str | None, step: str | None) -> str:
        return str(getattr(self.place(bundle, step), f"step_{self.lang}"))

    def centre(self, centre: str | None) -> str:
        return self._names.name("centre", centre)

    def subject(self, p: StuckPointBurden) -> str:
        """What a stuck point is about, by name (a field, a material, an agency...)."""
        return self._names.name("subject", p.subject, p.bundle, p.step, p.kind)

    def kind(self, kind: str) -> str:
        return self._(KIND_WORDS.get(kind, kind))

    def cause(self, cause: str) -> str:
        return self._(CAUSE_WORDS.get(cause, cause))

    def percent(self, value: float | None) -> str:
        return percent_in(self.lang, value)

    def withheld(self, n: int) -> list[Cell]:
        return [Cell(text=self._("withheld"), muted=True)] * n

    def met(self, met: bool | None) -> Cell:
        if met is None:
            return Cell(text="—")
        return Cell(text=self._("Met"), badge="ok") if met else Cell(text=self._("Not met"),
                                                                   badge="bad")


def _n(value: int | float | None, digits: int = 0) -> Cell:
    return Cell(text="—" if value is None else f"{value:.{digits}f}")


def over_time(w: Words, d: Dashboard, weekly: bool) -> Table:
    rows = d.friction_over_time
    periods = list(dict.fromkeys(r.period_start for r in rows))
    kinds = list(dict.fromkeys(r.kind for r in rows))
    events = {(r.period_start, r.kind): r.events for r in rows}
    # A year of days by kind is thousands of cells, most counts repeated: one Cell each.
    counts: dict[int, Cell] = {}

    def count(n: int) -> Cell:
        cell = counts.get(n)
        if cell is None:
            cell = counts[n] = Cell(text=str(n))
        return cell

    return Table(
        name="over_time",
        headers=[w._("Week of") if weekly else w._("Day"), *(w.kind(k) for k in kinds)],
        rows=[[Cell(text=p.isoformat()), *(count(events.get((p, k), 0)) for k in kinds)]
              for p in periods],
    )


def stuck_points(w: Words, d: Dashboard, href: Callable[[str], str]) -> Table:
    return Table(
        name="stuck_points", row_headers=False,
        headers=[w._("Rank"), w._("Kind"), w._("Bundle"), w._("Step"), w._("About"), w._("Events"),
                 w._("Cases"), w._("Burden (minutes)")],
        rows=[[_n(rank), Cell(text=w.kind(p.kind), href=href(p.fingerprint)),
               Cell(text=w.bundle(p.bundle)), Cell(text=w.step(p.bundle, p.step)),
               Cell(text=w.subject(p)),
               *(w.withheld(3) if p.suppressed else
                 [_n(p.events), _n(p.cases), _n(p.burden_minutes)])]
              for rank, p in enumerate(d.stuck_points, 1)],
    )


def trips(w: Words, d: Dashboard) -> Table:
    return Table(
        name="trips",
        headers=[w._("Bundle"), w._("Cases"), w._("Trips per case"), w._("Done in one trip")],
        rows=[[Cell(text=w.bundle(t.bundle)),
               *(w.withheld(3) if t.suppressed else
                 [_n(t.cases), _n(t.average_trips, 2), Cell(text=w.percent(t.one_trip_share))])]
              for t in d.trips],
    )


def prefill(w: Words, d: Dashboard) -> Table:
    benchmark = w._("Benchmark %(benchmark)s") % {"benchmark": w.percent(PREFILL_BENCHMARK)}
    return Table(
        name="prefill",
        headers=[w._("Bundle"), w._("Fields"), w._("Prefilled"), w._("Share"), benchmark],
        rows=[[Cell(text=w.bundle(p.bundle)),
               *(w.withheld(4) if p.suppressed else
                 [_n(p.fields_total), _n(p.fields_prefilled), Cell(text=w.percent(p.share)),
                  w.met(p.benchmark_met)])]
              for p in d.prefill],
    )


def sla(w: Words, d: Dashboard) -> Table:
    return Table(
        name="sla",
        headers=[w._("Bundle"), w._("Step"), w._("Cases"), w._("Events"), w._("Burden (minutes)")],
        rows=[[Cell(text=w.bundle(b.bundle)), Cell(text=w.step(b.bundle, b.step)),
               *(w.withheld(3) if b.suppressed else
                 [_n(b.cases), _n(b.events), _n(b.burden_minutes)])]
              for b in d.sla_breaches],
    )


def cant(w: Words, d: Dashboard) -> Table:
    return Table(
        name="cant",
        headers=[w._("Cause"), w._("Still open"), w._("Answered"), w._("Of these, walk-ins")],
        rows=[[Cell(text=w.cause(c.cause)), _n(c.open), _n(c.answered), _n(c.walk_ins)]
              for c in d.cant_get_it_done],
    )


def satisfaction(w: Words, s: Satisfaction) -> Table:
    benchmark = w._("Benchmark %(benchmark)s") % {"benchmark": w.percent(s.benchmark)}
    return Table(
        name="satisfaction",
        headers=[w._("Bundle"), w._("Service centre"), w._("Ratings"), w._("Satisfied"),
                 w._("Bad reviews"), benchmark],
        rows=[[Cell(text=w.bundle(g.bundle)), Cell(text=w.centre(g.centre)),
               *(w.withheld(4) if g.suppressed else
                 [_n(g.ratings), Cell(text=w.percent(g.satisfied_share)),
                  Cell(text=w.percent(g.bad_share)), w.met(g.benchmark_met)])]
              for g in s.groups],
    )


def friction_split(w: Words, s: Satisfaction) -> Table:
    return Table(
        name="friction_split",
        headers=[w._("Which cases"), w._("Ratings"), w._("Bad reviews"),
                 w._("Share of bad reviews")],
        rows=[[Cell(text=w._("With friction recorded") if f.with_friction
                    else w._("Without any friction recorded")),
               *(w.withheld(3) if f.suppressed else
                 [_n(f.ratings), _n(f.bad), Cell(text=w.percent(f.bad_share))])]
              for f in s.by_friction],
    )


def tables_of(
    request: Request[Any, Any, Any], catalogue: Catalogue, dashboard: Dashboard,
    sat: Satisfaction, *, weekly: bool, href: Callable[[str], str],
) -> dict[TableName, Table]:
    w = Words(request, catalogue)
    made = (over_time(w, dashboard, weekly), stuck_points(w, dashboard, href),
            trips(w, dashboard), prefill(w, dashboard), sla(w, dashboard),
            cant(w, dashboard), satisfaction(w, sat), friction_split(w, sat))
    tables = {t.name: t for t in made}
    if set(tables) != set(TABLE_NAMES):  # every name a table, no other
        raise RuntimeError(f"tables differ: {set(tables) ^ set(TABLE_NAMES)}")
    return tables
