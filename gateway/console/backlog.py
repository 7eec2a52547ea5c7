"""The developers' backlog in the console: stuck points ranked by burden, one stuck
point's evidence, trend and verification, and the lifecycle moves made through forms.

The work is gateway.notebook.service's, as for the JSON API: the pages only read (the
verifier runs on the gateway's schedule and when a fix is deployed), a move goes through the
lifecycle with the status the developer saw, so a move made
meanwhile by someone else (or by the verifier) is refused rather than overwritten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template
from markupsafe import Markup

from friction.backlog import (
    VERIFIER,
    BacklogItem,
    LifecycleError,
    Status,
    TransitionRequest,
    allowed_moves,
)
from friction.stuck_points import TrendPoint, period_start, periods
from gateway.accounts import Account
from gateway.auth import current_account, requires
from gateway.centres import CASE_ACCESS_STATE, AccessLookup, centre_policy, may_act_on
from gateway.console.backlog_query import (
    SORT_WORDS,
    STATUSES,
    UNASSIGNED,
    BacklogQuery,
    chosen,
    query_errors,
    trend_window,
)
from gateway.console.pages import (
    N_,
    Refusal,
    embedded_json,
    names_of,
    page,
    problem_field,
    problem_text,
    refusal_words,
    say,
    see_other,
    tr,
)
from gateway.names import KIND_WORDS, SOURCE_KIND_WORDS, STATUS_WORDS
from gateway.notebook.schemas import Fingerprint
from gateway.notebook.service import Notebook, NotebookService, refused
from kernel.china_time import CHINA_TZ, local_date
from workflows.definition import BundleDefinition, Catalogue

BACKLOG_PATH = "/console/backlog"
BACKLOG_LIMIT = 50
BACKLOG_READ = 1000  # the stuck points a filter looks through, the costliest first
CASE_PAGE = "/console/desk/cases/{case_id}"
TRACE_URL_STATE = "trace_url"  # the trace UI's address of a trace, {trace_id} in it
MAX_TYPED = 200  # what the page reads of a typed parameter; longer is refused, not cut
# Any text: a parameter the page cannot use comes back with its message, not a bare 400.
Query = Annotated[str, Parameter()]


STATUS_BADGE: dict[Status, str] = {
    "new": "bad", "reopened": "bad", "triaged": "warn", "in_progress": "warn",
    "fix_deployed": "muted", "verified": "ok",
}
# What the form that moves an item to a status says on its button.
MOVE_WORDS: dict[Status, str] = {
    "triaged": N_("Triage: assign an owner"),
    "in_progress": N_("Start the fix"),
    "fix_deployed": N_("Mark the fix deployed"),
    "reopened": N_("Reopen"),
}
VERDICT_WORDS = {
    "not_yet": N_("Waiting for enough cases"),
    "verified": N_("The data shows the fix works"),
    "not_effective": N_("The data shows no effect"),
}
VERDICT_BADGE = {"not_yet": "muted", "verified": "ok", "not_effective": "bad"}
# Evidence keys are "<what>:<name>"; the page says what in words.
DETAIL_WORDS = {
    "field": N_("Field typed"),
    "reason": N_("Reason for the return"),
    "material": N_("Paper material"),
    "category": N_("Note category"),
}
WORDS = {"kind": KIND_WORDS, "status": STATUS_WORDS, "status_badge": STATUS_BADGE,
         "move": MOVE_WORDS, "verdict": VERDICT_WORDS, "verdict_badge": VERDICT_BADGE,
         "source": SOURCE_KIND_WORDS, "detail": DETAIL_WORDS}


class TransitionForm(msgspec.Struct, kw_only=True, frozen=True):
    to_status: Status
    expected_status: Status  # the status the developer saw; a move meanwhile is a conflict
    reason: str = ""
    owner: str = ""
    fix_description: str = ""
    fix_deployed_at: str = ""  # <input type="datetime-local">: China time, no offset

    def request(self) -> TransitionRequest:
        return TransitionRequest(
            to_status=self.to_status,
            reason=self.reason,
            owner=self.owner.strip() or None,
            fix_description=self.fix_description.strip() or None,
            fix_deployed_at=china_time(self.fix_deployed_at),
        )


def china_time(value: str) -> datetime | None:
    """A form's local date and time as China time; empty means now (the lifecycle's
    default)."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise LifecycleError("fix_deployed_at: not a date and time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)


# The fields whose refusal the backlog's page says in words of its own.
REFUSAL_FIELDS = ("reason", "owner", "fix_description", "fix_deployed_at", "to_status")


def refusal_text(request: Request[Any, Any, Any], field: str, said: str) -> str:
    """The lifecycle's refusal in the reader's words; its own where there are none."""
    words = {
        "reason": tr(request, "Say why, in a few words."),
        "owner": tr(request, "Triage assigns an owner: name the team or person."),
        "fix_description": tr(request, "Say what was deployed."),
        "fix_deployed_at": tr(request,
                              "Give the date and time the fix went live (China time), "
                              "not in the future."),
        "to_status": tr(request, "This move is not allowed from the item's status."),
    }
    return words.get(field, said)


def weekly(trend: list[TrendPoint], today: date) -> list[TrendPoint]:
    """The stuck point's weeks up to this one, quiet weeks after its last event included:
    a fix that works shows as bars that stop, not as a chart that ends."""
    if not trend:
        return []
    counted = {p.period_start: p for p in trend}
    return [
        counted.get(start)
        or TrendPoint(period_start=start, count=0, citizen_minutes=0.0, clerk_minutes=0.0)
        for start in periods(trend[0].period_start, max(today, trend[-1].period_start), "week")
    ]


class TrendChart(msgspec.Struct, kw_only=True, frozen=True):
    weeks: list[str]
    events: list[int]
    burden_minutes: list[float]
    fix_week: str | None  # the week the fix went live, marked on the chart
    events_label: str
    burden_label: str
    fix_label: str


class RateChart(msgspec.Struct, kw_only=True, frozen=True):
    labels: list[str]  # before the fix, since the fix
    per_100_cases: list[float | None]
    axis_label: str


class Charts(msgspec.Struct, kw_only=True, frozen=True):
    trend: TrendChart | None
    rates: RateChart | None


def charts_json(
    request: Request[Any, Any, Any], weeks: list[TrendPoint], item: BacklogItem
) -> Markup:
    """The charts' data for backlog.js, safe inside <script type="application/json">."""
    fix_week = None
    if item.fix_deployed_at is not None:
        fix_week = period_start(local_date(item.fix_deployed_at), "week").isoformat()
    trend = TrendChart(
        weeks=[w.period_start.isoformat() for w in weeks],
        events=[w.count for w in weeks],
        burden_minutes=[round(w.citizen_minutes + w.clerk_minutes, 1) for w in weeks],
        fix_week=fix_week,
        events_label=tr(request, "Events"),
        burden_label=tr(request, "Burden (minutes)"),
        fix_label=tr(request, "Fix deployed"),
    ) if weeks else None
    rates = None
    if item.verdict is not None:
        rates = RateChart(
            labels=[tr(request, "Before the fix"), tr(request, "Since the fix")],
            per_100_cases=[item.verdict.before.per_100_cases, item.verdict.after.per_100_cases],
            axis_label=tr(request, "Events per 100 closed cases"),
        )
    return embedded_json(Charts(trend=trend, rates=rates))


async def case_links(
    request: Request[Any, Any, Any], account: Account, case_ids: tuple[str, ...]
) -> dict[str, str]:
    """The case page of each sample case this account may open: a clerk of the case's
    centre, or serving it from elsewhere. Others see the case number as text, and no case
    is asked about for an account that is no clerk."""
    if not account.has_any("clerk"):
        return {}
    lookup: AccessLookup = request.app.state[CASE_ACCESS_STATE]
    found = await asyncio.gather(*(lookup(case_id) for case_id in case_ids),
                                 return_exceptions=True)
    links: dict[str, str] = {}
    for case_id, access in zip(case_ids, found, strict=True):
        if isinstance(access, ProblemDetailsException):
            continue  # no such case in Temporal any more, or it cannot say now: no link
        if isinstance(access, BaseException):
            raise access
        if may_act_on(account, access):
            links[case_id] = CASE_PAGE.format(case_id=quote(case_id, safe=""))
    return links


def moves_from(status: Status) -> list[Status]:
    """The moves a person may make from `status`, in the lifecycle's order."""
    return [s for s in STATUSES if s in allowed_moves(status)]


class BacklogPages(Controller):
    path = BACKLOG_PATH
    opt = centre_policy("none")  # stuck points and their evidence: no case's personal data
    guards = [requires("developer", "analyst")]  # analysts read; developers also move items

    @get("/")
    async def backlog(
        self,
        request: Request[Any, Any, Any],
        notebook_service: Notebook,
        catalogue: NamedDependency[Catalogue],
        clock: NamedDependency[Callable[[], datetime]],
        status: Query = "",
        owner: Query = "",
        bundle: Query = "",
        kind: Query = "",
        sort: Query = "burden",
    ) -> Template:
        query = BacklogQuery(status=status[:32], owner=owner[:MAX_TYPED].strip(),
                             bundle=bundle[:MAX_TYPED], kind=kind[:32], sort=sort[:32])
        ids = tuple(catalogue.ids())
        errors = query_errors(request, query, ids)
        if "owner" in errors:
            query = msgspec.structs.replace(query, owner="")
        # The costliest fifty in burden order need no more; any other choice looks
        # through every stuck point (up to BACKLOG_READ) before it keeps fifty.
        narrowed = bool(query.status or query.owner or query.kind) or query.sort != "burden"
        everything = [] if errors else await notebook_service.backlog(
            query.bundle or None, BACKLOG_READ if narrowed else BACKLOG_LIMIT)
        trends: dict[str, int] = {}
        if not errors:  # beside each point, and the order "trend" sorts by
            trends = await notebook_service.trends(*trend_window(local_date(clock())))
        entries = chosen(everything, query, trends)[:BACKLOG_LIMIT]
        bundles: list[BundleDefinition] = [catalogue.default(b) for b in ids]
        owners = await notebook_service.owners()
        return page(
            request, "backlog.html", status_code=400 if errors else 200, entries=entries,
            query=query, errors=errors, bundles=bundles, owners=owners, unassigned=UNASSIGNED,
            statuses=STATUSES, kinds=list(KIND_WORDS), sorts=SORT_WORDS, trends=trends,
            places={
                e.point.fingerprint: names_of(catalogue, e.point.bundle, e.point.step)
                for e in entries
            },
            policy=notebook_service.policy, limit=BACKLOG_LIMIT, words=WORDS,
        )

    @get("/{fingerprint:str}")
    async def stuck_point(
        self,
        request: Request[Any, Any, Any],
        fingerprint: Fingerprint,
        notebook_service: Notebook,
        catalogue: NamedDependency[Catalogue],
    ) -> Template:
        return await self._item_page(request, fingerprint, notebook_service, catalogue)

    @post("/{fingerprint:str}/transitions", guards=[requires("developer")])
    async def move(
        self,
        request: Request[Any, Any, Any],
        fingerprint: Fingerprint,
        data: Annotated[TransitionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
        notebook_service: Notebook,
        catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        actor = current_account(request).username
        try:
            try:
                move = data.request()
            except LifecycleError as exc:  # the form's own date and time
                raise refused(exc) from exc
            await notebook_service.transition(fingerprint, move, actor, data.expected_status)
        except ProblemDetailsException as exc:
            if exc.status_code == 409:
                say(request, "Someone else moved this item while you were looking at it. "
                             "Nothing was changed: here it is as it stands now.", "error")
                return await self._item_page(request, fingerprint, notebook_service,
                                             catalogue, status_code=409)
            if exc.status_code == 404:
                raise NotFoundException(problem_text(exc)) from exc
            if exc.status_code != 422:
                raise
            field = problem_field(exc) or "to_status"
            said = problem_text(exc).partition(":")[2].strip()
            refusal = Refusal(form=data.to_status, field=field,
                              message=refusal_text(request, field, said)
                              if field in REFUSAL_FIELDS else refusal_words(request, exc),
                              typed=msgspec.structs.asdict(data))
            return await self._item_page(request, fingerprint, notebook_service, catalogue,
                                         status_code=422, refusal=refusal)
        say(request, "Saved.", "ok")
        return see_other(f"{BACKLOG_PATH}/{quote(fingerprint, safe='')}")

    async def _item_page(
        self,
        request: Request[Any, Any, Any],
        fingerprint: str,
        notebook_service: NotebookService,
        catalogue: Catalogue,
        status_code: int = 200,
        refusal: Refusal | None = None,
    ) -> Template:
        now = datetime.now(UTC)
        try:
            view = await notebook_service.stuck_point(fingerprint)
        except ProblemDetailsException as exc:
            if exc.status_code != 404:
                raise
            # A page, not problem details: the reader is a person at a browser.
            raise NotFoundException(problem_text(exc)) from exc
        weeks = weekly(list(view.trend_by_week), local_date(now))
        account = current_account(request)
        may_move = account.has_any("developer")
        trace_url: str | None = request.app.state.get(TRACE_URL_STATE)
        return page(
            request, "backlog_item.html", status_code=status_code, view=view, weeks=weeks,
            place=names_of(catalogue, view.point.bundle, view.point.step),
            policy=notebook_service.policy, words=WORDS,
            moves=moves_from(view.item.status) if may_move else [], refusal=refusal,
            charts=charts_json(request, weeks, view.item),
            now_local=now.astimezone(CHINA_TZ).strftime("%Y-%m-%dT%H:%M"), verifier=VERIFIER,
            trace_url=trace_url,
            case_links=await case_links(request, account, view.point.sample_cases),
        )
