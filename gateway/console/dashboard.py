"""The data bureau's dashboard: friction by kind over time, the top stuck points by
burden, trips per case, the share of fields prefilled against the 92% benchmark, SLA
breaches by step, can't-get-it-done cases by cause and the citizens' ratings joined to
the friction (friction.satisfaction), for a bundle, a service centre and a period, or all
of them.

The figures are friction.dashboard's, small groups already withheld. The page carries
them twice: as tables anyone (and any screen reader) can read, and as JSON in a
<script type="application/json"> block that static/dashboard.js draws with ECharts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from friction.dashboard import Dashboard, DashboardFilter, FilterOptions
from friction.reports import DEFAULT_MIN_GROUP, PREFILL_BENCHMARK
from friction.satisfaction import Satisfaction
from friction.stuck_points import Granularity
from gateway.auth import requires
from gateway.centre_directory import centre_of
from gateway.centres import centre_policy
from gateway.console.dashboard_tables import (
    TABLE_NAMES,
    TABLE_WORDS,
    Table,
    TableName,
    csv_bytes,
    tables_of,
)
from gateway.console.pages import N_, embedded_json, names_of, page, problem_field, tr
from gateway.console.rating_panel import CHOICES
from gateway.errors import problem
from gateway.i18n import request_lang
from gateway.names import CAUSE_WORDS, KIND_WORDS
from gateway.notebook.service import Notebook, parse_instant
from gateway.ratings.service import Ratings
from workflows.definition import Catalogue

DASHBOARD_PATH = "/console/dashboard"
TOP_STUCK_POINTS = 10
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)
MAX_NAME = 64
# Any text: a filter the page cannot use comes back with its message, not a bare 400.
Query = Annotated[str, Parameter()]

GRANULARITY_WORDS = {"day": N_("By day"), "week": N_("By week")}
FIELD_WORDS = {
    "bundle": N_("Bundle"),
    "centre": N_("Service centre"),
    "since": N_("Start date"),
    "until": N_("End date (inclusive)"),
    "granularity": N_("Show friction"),
}
WORDS = {"kind": KIND_WORDS, "cause": CAUSE_WORDS, "granularity": GRANULARITY_WORDS,
         "field": FIELD_WORDS}


# -- what dashboard.js draws -----------------------------------------------------------------


class KindSeries(msgspec.Struct, kw_only=True, frozen=True):
    kind: str
    name: str
    events: list[int]


class OverTimeChart(msgspec.Struct, kw_only=True, frozen=True):
    periods: list[str]
    series: list[KindSeries]
    axis_label: str


class BarChart(msgspec.Struct, kw_only=True, frozen=True):
    """One bar a key; None where the figure is withheld."""

    keys: list[str]
    labels: list[str]
    values: list[float | None]
    axis_label: str


class PrefillChart(msgspec.Struct, kw_only=True, frozen=True):
    keys: list[str]
    labels: list[str]
    share_percent: list[float | None]
    benchmark_percent: float
    axis_label: str
    benchmark_label: str


class CauseChart(msgspec.Struct, kw_only=True, frozen=True):
    causes: list[str]
    labels: list[str]
    open: list[int]
    answered: list[int]
    open_label: str
    answered_label: str


class Charts(msgspec.Struct, kw_only=True, frozen=True):
    over_time: OverTimeChart
    stuck_points: BarChart
    trips: BarChart
    prefill: PrefillChart
    sla_breaches: BarChart
    cant_get_it_done: CauseChart
    withheld_label: str


def charts_of(request: Request[Any, Any, Any], dashboard: Dashboard,
              catalogue: Catalogue) -> Charts:
    lang = request_lang(request)

    def bundle_name(bundle: str | None) -> str:
        return str(getattr(names_of(catalogue, bundle), f"bundle_{lang}"))

    def step_name(bundle: str | None, step: str | None) -> str:
        place = names_of(catalogue, bundle, step)
        return f"{getattr(place, f'bundle_{lang}')} · {getattr(place, f'step_{lang}')}"

    rows = dashboard.friction_over_time
    periods = sorted({r.period_start for r in rows})
    kinds = list(dict.fromkeys(r.kind for r in rows))
    events = {(r.period_start, r.kind): r.events for r in rows}
    over_time = OverTimeChart(
        periods=[p.isoformat() for p in periods],
        series=[KindSeries(kind=k, name=tr(request, KIND_WORDS.get(k, k)),
                           events=[events.get((p, k), 0) for p in periods]) for k in kinds],
        axis_label=tr(request, "Events"),
    )
    points = dashboard.stuck_points
    colon = "：" if lang == "zh" else ": "
    stuck = BarChart(
        keys=[p.fingerprint for p in points],
        # Named by where it stalls: one kind's stuck points differ by bundle and step.
        labels=[f"{tr(request, KIND_WORDS.get(p.kind, p.kind))}{colon}{step_name(p.bundle, p.step)}"
                for p in points],
        values=[None if p.burden_minutes is None else round(p.burden_minutes, 1)
                for p in points],
        axis_label=tr(request, "Burden (minutes)"),
    )
    trips = BarChart(
        keys=[t.bundle for t in dashboard.trips],
        labels=[bundle_name(t.bundle) for t in dashboard.trips],
        values=[None if t.average_trips is None else round(t.average_trips, 2)
                for t in dashboard.trips],
        axis_label=tr(request, "Trips per case"),
    )
    prefill = PrefillChart(
        keys=[p.bundle for p in dashboard.prefill],
        labels=[bundle_name(p.bundle) for p in dashboard.prefill],
        share_percent=[None if p.share is None else round(p.share * 100, 1)
                       for p in dashboard.prefill],
        benchmark_percent=round(PREFILL_BENCHMARK * 100, 1),
        axis_label=tr(request, "Fields prefilled (%)"),
        benchmark_label=tr(request, "Benchmark"),
    )
    breaches = dashboard.sla_breaches
    sla = BarChart(
        keys=[f"{b.bundle or ''}|{b.step or ''}" for b in breaches],
        labels=[step_name(b.bundle, b.step) for b in breaches],
        values=[None if b.cases is None else float(b.cases) for b in breaches],
        axis_label=tr(request, "Cases that waited past the time limit"),
    )
    causes = dashboard.cant_get_it_done
    cant = CauseChart(
        causes=[c.cause for c in causes],
        labels=[tr(request, CAUSE_WORDS.get(c.cause, c.cause)) for c in causes],
        open=[c.open for c in causes],
        answered=[c.answered for c in causes],
        open_label=tr(request, "Still open"),
        answered_label=tr(request, "Answered"),
    )
    return Charts(over_time=over_time, stuck_points=stuck, trips=trips, prefill=prefill,
                  sla_breaches=sla, cant_get_it_done=cant,
                  withheld_label=tr(request, "withheld"))


# -- the filter ------------------------------------------------------------------------------


class FilterForm(msgspec.Struct, kw_only=True, frozen=True):
    """The filter as sent, to show it back in the form."""

    bundle: str = ""
    centre: str = ""
    since: str = ""
    until: str = ""
    granularity: str = "day"


def read_filter(
    request: Request[Any, Any, Any], form: FilterForm, options: FilterOptions
) -> tuple[DashboardFilter | None, dict[str, str]]:
    """The filter the form asks for, or the reader's message for each field it cannot
    be."""
    errors: dict[str, str] = {}
    if form.bundle and form.bundle not in options.bundles:
        errors["bundle"] = tr(request, "Choose a bundle from the list.")
    if form.centre and form.centre not in options.centres:
        errors["centre"] = tr(request, "Choose a service centre from the list.")
    if form.granularity not in GRANULARITIES:
        errors["granularity"] = tr(request, "Choose by day or by week.")
    bounds: dict[str, datetime | None] = {}
    for field in ("since", "until"):
        try:
            bounds[field] = parse_instant(field, getattr(form, field))
        except ProblemDetailsException as exc:
            said = tr(request, FIELD_WORDS[problem_field(exc) or field])
            errors[field] = tr(request, "“%(field)s” is not a date: enter it as YYYY-MM-DD, "
                                        "e.g. 2026-03-02.") % {"field": said}
    since, until = bounds.get("since"), bounds.get("until")
    if until is not None and len(form.until) == 10:
        until += timedelta(days=1)  # the form's last day is included: up to its end
    if since is not None and until is not None and until <= since:
        errors["until"] = tr(request, "The end of the period must not be before its start.")
    if errors:
        return None, errors
    return DashboardFilter(
        bundle=form.bundle or None, centre=form.centre or None, since=since, until=until,
        granularity="week" if form.granularity == "week" else "day",
    ), {}


def backlog_href(fingerprint: str) -> str:
    return f"/console/backlog/{quote(fingerprint, safe='')}"


class Shown(msgspec.Struct, kw_only=True, frozen=True):
    """What the filter selects, or why it selects nothing."""

    form: FilterForm
    options: FilterOptions
    errors: dict[str, str]
    dashboard: Dashboard | None = None
    satisfaction: Satisfaction | None = None


async def read_dashboard(
    request: Request[Any, Any, Any], notebook_service: Notebook, rating_service: Ratings,
    form: FilterForm,
) -> Shown:
    options = await notebook_service.filter_options()
    flt, errors = read_filter(request, form, options)
    if flt is None:
        return Shown(form=form, options=options, errors=errors)
    return Shown(form=form, options=options, errors=errors,
                 dashboard=await notebook_service.dashboard(flt, TOP_STUCK_POINTS),
                 satisfaction=await rating_service.dashboard(flt))


def form_of(bundle: str, centre: str, since: str, until: str, granularity: str) -> FilterForm:
    return FilterForm(bundle=bundle[:MAX_NAME], centre=centre[:MAX_NAME],
                      since=since[:32], until=until[:32], granularity=granularity[:8])


def export_href(table: TableName, form: FilterForm) -> str:
    """The table's CSV under the filter the page shows."""
    given = {k: v for k, v in msgspec.structs.asdict(form).items() if v}
    return f"{DASHBOARD_PATH}/export.csv?{urlencode({'table': table, **given})}"


def bad_parameter(field: str, detail: str) -> ProblemDetailsException:
    return problem(400, "Invalid parameter", f"{field}: {detail}", field=field)


class DashboardController(Controller):
    path = DASHBOARD_PATH
    opt = centre_policy("none")  # counts by bundle, centre and period: no case's personal data
    guards = [requires("analyst")]

    @get("/")
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        notebook_service: Notebook,
        rating_service: Ratings,
        catalogue: NamedDependency[Catalogue],
        bundle: Query = "",
        centre: Query = "",
        since: Query = "",
        until: Query = "",
        granularity: Query = "day",
    ) -> Template:
        form = form_of(bundle, centre, since, until, granularity)
        shown = await read_dashboard(request, notebook_service, rating_service, form)
        dashboard, satisfaction = shown.dashboard, shown.satisfaction
        chart: Charts | None = None
        tables: dict[TableName, Table] = {}
        if dashboard is not None and satisfaction is not None:
            chart = charts_of(request, dashboard, catalogue)
            tables = tables_of(request, catalogue, dashboard, satisfaction,
                               weekly=form.granularity == "week", href=backlog_href)
        return page(
            request, "dashboard.html", status_code=422 if shown.errors else 200, form=form,
            errors=shown.errors, options=shown.options, dashboard=dashboard, chart=chart,
            charts=embedded_json(chart) if chart is not None else None, tables=tables,
            table_words=TABLE_WORDS,
            export_href=lambda table: export_href(table, form),
            names={b: names_of(catalogue, b) for b in shown.options.bundles},
            centre_of=centre_of,
            names_of=lambda b, s=None: names_of(catalogue, b, s), backlog_href=backlog_href,
            words=WORDS, min_group=DEFAULT_MIN_GROUP, benchmark=PREFILL_BENCHMARK,
            satisfaction=satisfaction, rating_choices=CHOICES,
        )

    @get("/export.csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        notebook_service: Notebook,
        rating_service: Ratings,
        catalogue: NamedDependency[Catalogue],
        table: Query = "",
        bundle: Query = "",
        centre: Query = "",
        since: Query = "",
        until: Query = "",
        granularity: Query = "day",
    ) -> Response[bytes]:
        """One of the dashboard's tables as CSV, under the same filter and words."""
        if table not in TABLE_NAMES:
            raise bad_parameter("table", tr(request, "Choose a table: %(tables)s.")
                                % {"tables": ", ".join(TABLE_NAMES)})
        name = next(t for t in TABLE_NAMES if t == table)
        form = form_of(bundle, centre, since, until, granularity)
        shown = await read_dashboard(request, notebook_service, rating_service, form)
        if shown.dashboard is None or shown.satisfaction is None:
            field, message = next(iter(shown.errors.items()))
            raise bad_parameter(field, message)
        made = tables_of(request, catalogue, shown.dashboard, shown.satisfaction,
                         weekly=form.granularity == "week", href=backlog_href)[name]
        title = tr(request, TABLE_WORDS[name])
        return Response(
            content=csv_bytes(made), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename=\"dashboard-{name}.csv\"; "
                                            f"filename*=UTF-8''{quote(title)}.csv"},
        )
