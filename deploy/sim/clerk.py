"""A simulated window clerk, used by the demo, the benchmarks and the tests.

It serves a case the way a clerk at a window does: hands in paper for what no
e-certificate holds, types what the form does not fill (reading it off the citizen's
documents), and resubmits after a rejection. When a task step waits on the field worker
(a grid worker, a repair officer, a mediator) it records each of the step's milestones as
that worker would: who, and a photo or minutes reference where the milestone wants one.
It reaches the case through a Desk: the gateway over HTTP, or a Temporal handle directly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
import msgspec
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from kernel.china_time import local_date
from workflows.bundle import BundleWorkflow
from workflows.case import (
    CaseProgress,
    FieldEntry,
    FieldView,
    MaterialEntry,
    MilestoneEntry,
    MilestoneView,
    NotEligibleEntry,
    StepView,
    TripEntry,
)
from workflows.material_rules import RULES


class Desk(Protocol):
    async def progress(self) -> CaseProgress: ...
    async def submit_fields(self, entry: FieldEntry) -> CaseProgress: ...
    async def record_material(self, entry: MaterialEntry) -> CaseProgress: ...
    async def record_trip(self, entry: TripEntry) -> CaseProgress: ...
    async def record_milestone(self, entry: MilestoneEntry) -> CaseProgress: ...
    async def close_not_eligible(self, entry: NotEligibleEntry) -> CaseProgress: ...


class TemporalDesk:
    """The case's workflow reached directly; each call is typed by the workflow's own
    update method, so the entry's type and the update cannot drift apart."""

    def __init__(self, handle: WorkflowHandle[BundleWorkflow, Any]) -> None:
        self._handle = handle

    async def progress(self) -> CaseProgress:
        return await self._handle.query(BundleWorkflow.progress)

    async def submit_fields(self, entry: FieldEntry) -> CaseProgress:
        return await self._handle.execute_update(BundleWorkflow.submit_fields, entry)

    async def record_material(self, entry: MaterialEntry) -> CaseProgress:
        return await self._handle.execute_update(BundleWorkflow.record_material, entry)

    async def record_trip(self, entry: TripEntry) -> CaseProgress:
        return await self._handle.execute_update(BundleWorkflow.record_trip, entry)

    async def record_milestone(self, entry: MilestoneEntry) -> CaseProgress:
        return await self._handle.execute_update(BundleWorkflow.record_milestone, entry)

    async def close_not_eligible(self, entry: NotEligibleEntry) -> CaseProgress:
        return await self._handle.execute_update(BundleWorkflow.close_not_eligible, entry)


class GatewayError(RuntimeError):
    """The gateway refused a request; the message carries its problem details, `status`
    and `field` what the clerk may act on."""

    def __init__(self, message: str, status: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class HttpDesk:
    def __init__(self, http: httpx.AsyncClient, case_id: str) -> None:
        self._http = http
        self._case = f"/api/cases/{case_id}"

    @staticmethod
    def _progress_of(response: httpx.Response) -> CaseProgress:
        if response.status_code >= 400:
            try:
                field = response.json().get("field")
            except ValueError:
                field = None
            raise GatewayError(f"{response.request.method} {response.request.url.path}: "
                               f"{response.status_code} {response.text}",
                               status=response.status_code,
                               field=field if isinstance(field, str) else None)
        return msgspec.json.decode(response.content, type=CaseProgress)

    async def progress(self) -> CaseProgress:
        return self._progress_of(await self._http.get(self._case))

    async def _post(self, path: str, entry: object) -> CaseProgress:
        response = await self._http.post(
            f"{self._case}/{path}",
            content=msgspec.json.encode(entry),
            headers={"content-type": "application/json"},
        )
        return self._progress_of(response)

    async def submit_fields(self, entry: FieldEntry) -> CaseProgress:
        return await self._post("fields", entry)

    async def record_material(self, entry: MaterialEntry) -> CaseProgress:
        return await self._post("materials", entry)

    async def record_trip(self, entry: TripEntry) -> CaseProgress:
        return await self._post("trips", entry)

    async def record_milestone(self, entry: MilestoneEntry) -> CaseProgress:
        # The gateway records its logged-in account; the simulator's service account
        # says which field worker it acts for.
        return await self._post("milestones", {
            "step": entry.step, "milestone": entry.milestone,
            "evidence_ref": entry.evidence_ref, "on_behalf_of": entry.actor or None})

    async def close_not_eligible(self, entry: NotEligibleEntry) -> CaseProgress:
        # Who closes it is the gateway's logged-in account, not the body's.
        return await self._post("not-eligible", {"reason": entry.reason})


def clerk_answer(field: FieldView, known: dict[str, str], today: date) -> str:
    """What a clerk types for a missing field: the citizen's own value where the
    citizen's documents show one, otherwise a plausible choice."""
    if field.concept and field.concept in known:
        return known[field.concept]
    match field.type:
        case "enum":
            return field.options[0]
        case "date":
            return (today - timedelta(days=60)).isoformat()
        case "term_date":
            # A document's term, read off a current one: it began today or runs a year.
            begins = field.name.endswith("start")
            return (today if begins else today + timedelta(days=365)).isoformat()
        case "bank_account":
            return "6222020200112233445"
        case "phone":
            return "13900001111"
    return "无"


def waiting_on_clerk(progress: CaseProgress) -> bool:
    return progress.awaiting == "clerk" or progress.status != "open"


def pending_milestones(progress: CaseProgress) -> list[MilestoneView]:
    """The current task step's milestones nobody has recorded yet, while it waits on the
    field worker."""
    if progress.status != "open" or progress.awaiting != "worker":
        return []
    step = next((s for s in progress.steps if s.id == progress.current_step), None)
    return [m for m in step.milestones if m.done_at is None] if step else []


def waiting_on_people(progress: CaseProgress) -> bool:
    """The case waits on the clerk, or on a field worker with a milestone to record."""
    return waiting_on_clerk(progress) or bool(pending_milestones(progress))


def evidence_ref(case_id: str, milestone: MilestoneView) -> str | None:
    """The reference a field worker files with a milestone: the photo taken on site or
    the minutes of the meeting, as the file store names them."""
    if milestone.evidence == "photo":
        return f"photo://{case_id}/{milestone.id}.jpg"
    if milestone.evidence == "minutes":
        return f"minutes://{case_id}/{milestone.id}"
    return None


def held_until(progress: CaseProgress) -> datetime | None:
    """The window opening the case's current step waits for, while its window is closed."""
    step = next((s for s in progress.steps if s.id == progress.current_step), None)
    return step.held_until if step is not None and progress.status == "open" else None


async def wait_for(
    desk: Desk,
    ready: Callable[[CaseProgress], bool],
    timeout: float = 60.0,
    every: float = 0.1,
) -> CaseProgress:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        progress = await desk.progress()
        if ready(progress):
            return progress
        if loop.time() > deadline:
            raise TimeoutError(f"case {progress.case_id} stayed {progress.awaiting}")
        await asyncio.sleep(every)


class ClerkHabits(msgspec.Struct, kw_only=True, frozen=True):
    """How this clerk works: what the articles say clerks do, as switches."""

    paper_for_held: bool = False  # asks for paper at every step although e-certificates hold it
    paper_once_for: tuple[str, ...] = ()  # asks for these on paper once per case, held or not
    citizen_comes_back: bool = False  # a citizen lacking a material leaves and returns once
    seconds_per_field: tuple[float, float] | None = None  # typing time, measured by a console
    worker: str = "网格员"  # who records a task step's milestones, as the record names them


def next_option(field: FieldView, known: dict[str, str]) -> None:
    """The agency refused an enum value: the clerk checks with the citizen and takes the
    next option instead of typing the same one again."""
    if field.concept is None or not field.options:
        return
    current = known.get(field.concept, field.options[0])
    at = field.options.index(current) if current in field.options else -1
    known[field.concept] = field.options[(at + 1) % len(field.options)]


CLERK = "窗口人员"  # who closes a case at the desk, where no account names them
NOT_ELIGIBLE_REASON = "办理当日不符合材料规定，已一次性告知"


def renewable(step: StepView) -> bool:
    """Whether the citizen can mend a finding by bringing a current document: a rule that
    reads a document's term (a lease's start and end), not a fact of their past (a year
    of work, a month the employer has not declared)."""
    terms = {f.concept for f in step.fields if f.type == "term_date" and f.concept}
    return any(terms & set(RULES[f.rule].reads) for f in step.findings if f.rule in RULES)


def _trip_refused_today(exc: Exception) -> bool:
    """Whether a trip was refused because the day's trips are recorded already."""
    if isinstance(exc, GatewayError):
        return exc.status == 409 and exc.field == "again_today"
    cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else None
    return isinstance(cause, ApplicationError) and cause.type == "TripRecordedToday"


async def come_back(desk: Desk, entry: TripEntry) -> CaseProgress:
    """Record the citizen's return. When the day's trips are recorded already (another
    desk was quicker, or someone flooded the case with trips) the visit is on record:
    the clerk serves the citizen rather than give up the case."""
    try:
        return await desk.record_trip(entry)
    except (GatewayError, WorkflowUpdateFailedError) as exc:
        if not _trip_refused_today(exc):
            raise
    return await desk.progress()


AGAIN_TODAY = "came back the same day with current documents"


async def renew(
    desk: Desk, step: StepView, progress: CaseProgress, today: date
) -> CaseProgress:
    """The one-time notice named documents that fail their rules (an expired lease): the
    citizen comes back once with current ones, and the clerk types their new terms. A
    simulated case runs in minutes, so a return before this one was the same day."""
    rules = tuple(o for o in progress.outstanding if o.startswith("rule:"))
    again = progress.trips > 1
    await come_back(desk, TripEntry(reasons=rules, again_today=again,
                                    again_today_reason=AGAIN_TODAY if again else None))
    for material in dict.fromkeys(f.material for f in step.findings if f.material):
        await desk.record_material(MaterialEntry(step=step.id, material=material, form="paper"))
    terms = {f.name: clerk_answer(f, {}, today) for f in step.fields if f.type == "term_date"}
    if not terms:
        return await desk.progress()
    return await desk.submit_fields(FieldEntry(step=step.id, values=terms))


async def serve_case(
    desk: Desk,
    known: dict[str, str],
    habits: ClerkHabits | None = None,
    rng: random.Random | None = None,
    timeout: float = 60.0,
    every: float = 0.1,
) -> CaseProgress:
    """Drive a case to its end; returns the final progress."""
    rng = rng or random.Random(0)
    habits = habits or ClerkHabits()
    known = dict(known)  # rejections change what the clerk types next
    asked_on_paper: set[str] = set()
    came_back = False
    renewed = False
    for _ in range(40):
        progress = await wait_for(
            desk, lambda p: waiting_on_people(p) or held_until(p) is not None,
            timeout=timeout, every=every,
        )
        if progress.status != "open" or held_until(progress) is not None:
            # Ended, or held for the window to open: nothing for the clerk to do now.
            return progress
        if progress.awaiting == "worker":
            for milestone in pending_milestones(progress):
                await desk.record_milestone(MilestoneEntry(
                    step=progress.current_step or "", milestone=milestone.id,
                    actor=habits.worker, evidence_ref=evidence_ref(progress.case_id, milestone),
                ))
            continue
        step = next(s for s in progress.steps if s.id == progress.current_step)
        for material in step.materials:
            habitual = material.name in habits.paper_once_for and material.status == "held_ecert"
            if (habitual and material.name not in asked_on_paper) or (
                habits.paper_for_held and material.ecert
            ):
                await desk.record_material(
                    MaterialEntry(step=step.id, material=material.name, form="paper")
                )
                asked_on_paper.add(material.name)
        if step.missing_materials and habits.citizen_comes_back and not came_back:
            lacking = [o for o in progress.outstanding if o.startswith("material:")]
            reasons = (lacking or list(progress.outstanding))[: rng.choice((1, 2))]
            await come_back(desk, TripEntry(reasons=tuple(reasons)))
            came_back = True
        for name in step.missing_materials:
            await desk.record_material(MaterialEntry(step=step.id, material=name, form="paper"))
        refused = {r.field for r in step.rejections if r.field}
        for field in step.fields:
            if field.name in refused and field.name in step.missing_fields:
                next_option(field, known)
        today = local_date(step.started_at or datetime.now(UTC))
        values = {
            f.name: clerk_answer(f, known, today)
            for f in step.fields
            if f.name in step.missing_fields
        }
        typed = (
            {name: round(rng.uniform(*habits.seconds_per_field), 1) for name in values}
            if habits.seconds_per_field
            else {}
        )
        if step.findings and not (values or step.missing_materials):
            if renewed or not renewable(step):
                # The notice told everything at once, and what is left the citizen cannot
                # change today (a contract too short, a gap in contributions): the clerk
                # closes the case as not eligible (the case records the failed rules).
                await desk.close_not_eligible(
                    NotEligibleEntry(actor=CLERK, reason=NOT_ELIGIBLE_REASON))
                # The case ends once the update is in: its last progress says so.
                return await wait_for(desk, lambda p: p.status != "open",
                                      timeout=timeout, every=every)
            progress = await renew(desk, step, progress, today)
            renewed = True
            continue
        # After the last material a step may already be with the agency; type only
        # when there is something to type, or a rejection to answer.
        if values or not (step.missing_fields or step.missing_materials):
            await desk.submit_fields(FieldEntry(step=step.id, values=values, typed_seconds=typed))
    raise RuntimeError(f"case {progress.case_id} still wants input after 40 rounds")

