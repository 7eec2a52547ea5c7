"""BundleWorkflow: one case of one bundle, from the first look-up to the last approval.

Deterministic code only. Everything the case learns from outside arrives through the
activities named in workflows.ports; everything a clerk says arrives through updates
whose validators refuse bad values before they touch history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from friction.events import (
        CantGetItDone,
        CaseRecord,
        ExtraWait,
        FrictionEvent,
        ManualReentry,
        PhysicalMaterialRequested,
        PiecemealRejection,
        Provenance,
        RepeatTrip,
        StepRecord,
        subject_of,
    )
    from workflows import material_rules, ports
    from workflows.calendar import WorkingCalendar, end_of_day, local_date
    from workflows.cant_get_it_done import register_from_bundle
    from workflows.case import (
        CALENDAR_PUBLISHED,
        CLOSE_NOT_ELIGIBLE,
        PROGRESS,
        RECORD_MATERIAL,
        RECORD_MILESTONE,
        RECORD_TRIP,
        SA_AWAITING,
        SA_BUNDLE,
        SA_CENTRE,
        SA_STEP,
        SUBMIT_FIELDS,
        WITHDRAW,
        Awaiting,
        CaseProgress,
        CaseStart,
        Closure,
        DossierEntry,
        FieldEntry,
        FieldView,
        FrictionNote,
        MaterialEntry,
        MaterialView,
        MilestoneEntry,
        MilestoneView,
        NotEligibleEntry,
        Notification,
        Rejection,
        StepStatus,
        StepView,
        TripEntry,
        WithdrawalEntry,
    )
    from workflows.definition import (
        LOOKUP_SOURCES,
        Condition,
        LookupSpec,
        MilestoneSpec,
        StepSpec,
    )
    from workflows.fields import check_value
    from workflows.opening_hours import cut_off, next_opening, session_at, takes_submissions

MAX_REJECTIONS = 3  # after this many, the case goes to the can't-get-it-done register
FIRST_POLL = timedelta(seconds=5)
LONGEST_POLL = timedelta(hours=1)
# A submission this soon after the clerk's last input is made with the citizen at the
# window: the clerk presses submit with the citizen in front of them.
ATTENDED_SITTING = timedelta(minutes=10)

# What the citizen is told, by event; {name} is the step's or the bundle's name.
_NOTICE_TEXT = {
    "step_started": ("您的办件{case}：“{name}”已开始办理。", "Case {case}: {name} has started."),
    "step_approved": ("您的办件{case}：“{name}”已办结。", "Case {case}: {name} is done."),
    "step_rejected": ("您的办件{case}：“{name}”需补正，请查看一次性告知。",
                      "Case {case}: {name} needs corrections; see the one-time notice."),
    "case_completed": ("您的办件{case}（{name}）已全部办结。", "Case {case} ({name}) is complete."),
    "case_failed": ("您的办件{case}（{name}）未能办成，工作人员将联系您。",
                    "Case {case} ({name}) could not be done; staff will contact you."),
    "case_not_eligible": ("您的办件{case}（{name}）不符合办理条件：{rules}。"
                          "办件已终止，符合条件后可重新申请。",
                          "Case {case} ({name}) is closed as not eligible: {rules}. You may "
                          "apply again once you meet them."),
    "case_withdrawn": ("您的办件{case}（{name}）已撤回。", "Case {case} ({name}) is withdrawn."),
}
MAX_CLOSING_REASON = 200  # characters: a short reason, never a person's particulars

_KEY_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_KEY_STEP = SearchAttributeKey.for_keyword(SA_STEP)
_KEY_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_KEY_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)


class _EventBase(TypedDict):
    event_id: str
    occurred_at: datetime
    case_id: str
    bundle: str
    bundle_version: int
    step: str | None
    centre: str
    channel: str


def _invalid(field: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{field}: {problem}", {"field": field}, type="InvalidField")


class _Step:
    """The mutable state of one step within a case."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.status: StepStatus = "pending"
        self.round = 0
        self.values: dict[str, str] = {}
        self.sources: dict[str, Provenance] = {}  # prefilled fields and where from
        self.prefilled: set[str] = set()  # fields the form filled itself, for the share
        self.reentered: set[str] = set()
        self.materials: dict[str, str] = {m.name: "missing" for m in spec.materials}
        self.rejections: tuple[Rejection, ...] = ()
        self.earlier_rejection_codes: set[str] = set()
        self.submitted_form: dict[str, str] = {}
        self.awaiting_resubmit = False
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.due_on: date | None = None
        self.due_at: datetime | None = None
        self.milestones_done: dict[str, tuple[datetime, str, str | None]] = {}  # at, who, ref
        # Material rules: what the last review found, the facts each round was submitted
        # on (to tell a piecemeal rejection), and a request to look again (a return visit).
        self.findings: tuple[material_rules.Finding, ...] = ()
        self.submitted_facts: list[tuple[date, dict[str, str]]] = []
        self.recheck = False
        self.held_until: datetime | None = None  # the window opening a submission waits for
        self.due_provisional = False  # due_on lies in a year with no official schedule

    def milestones_complete(self) -> bool:
        return len(self.milestones_done) == len(self.spec.milestones)

    def missing_fields(self) -> list[str]:
        return [f.name for f in self.spec.fields if f.name not in self.values]

    def missing_materials(self) -> list[str]:
        return [name for name, status in self.materials.items() if status == "missing"]

    def ready(self) -> bool:
        return not (self.missing_fields() or self.missing_materials() or self.awaiting_resubmit
                    or self.findings)

    def rules(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((r, m.name) for m in self.spec.materials for r in m.rules)


@workflow.defn(name="BundleWorkflow")
class BundleWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._start = start
        self._bundle = start.bundle
        self._dossier: dict[str, DossierEntry] = {}
        self._certificates: dict[str, Provenance] = {}  # e-certificate type -> who issued it
        self._steps = [_Step(s) for s in start.bundle.steps]
        self._current: _Step | None = None
        self._status = "open"
        self._awaiting: Awaiting = "lookup"
        self._trips = 1
        self._outstanding_at_first_trip: tuple[str, ...] = ()
        self._friction: list[FrictionNote] = []
        self._outbox: list[FrictionEvent] = []
        self._notifications: list[Notification] = []
        self._to_deliver: list[Notification] = []
        self._sequence = 0
        self._closing = False
        self._closure: Closure | None = None  # closed as not eligible, or withdrawn
        self._typing_seconds = 0.0  # measured by the console, summed for the reports
        self._looked_up_on: dict[str, date] = {}  # lookup source -> processing date read on
        self._served_at: datetime | None = None  # the clerk's last input, or a step's start
        # The working days the case counts by: the calendar it started with, until an
        # operator publishes a newer schedule (calendar_published).
        self._calendar = start.calendar

    # -- the case ---------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseProgress:
        workflow.upsert_search_attributes(
            [
                _KEY_BUNDLE.value_set(start.bundle.id),
                _KEY_CENTRE.value_set(start.centre),
                _KEY_AWAITING.value_set("lookup"),
            ]
        )
        flusher = asyncio.create_task(self._flush_friction())
        deliverer = asyncio.create_task(self._deliver_notifications())
        await self._record_case()
        await self._look_up()
        for s in self._steps:
            self._review(s)  # the first notice names what the materials' rules find, too
        self._outstanding_at_first_trip = self._outstanding()
        for step in self._steps:
            if not await self._run_step(step):
                self._status = "failed" if self._closure is None else self._closure.outcome
                break
        else:
            self._status = "completed"
        self._set_awaiting("nobody", None)
        if self._closure is not None:
            # Only a case closed through the updates below gets here: no earlier history
            # holds them, so none replays differently.
            self._notify_closure(self._closure)
        elif any(s.spec.notify for s in self._steps):
            self._notify("case_completed" if self._status == "completed" else "case_failed", None)
        await self._record_case()
        self._closing = True
        await flusher
        await deliverer
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    async def _look_up(self, lookups: tuple[LookupSpec, ...] | None = None) -> None:
        requests = [
            ports.LookupRequest(
                case_id=self._start.case_id,
                citizen_id_number=self._start.citizen_id_number,
                source=lookup.source,
                agency=lookup.agency,
            )
            for lookup in (self._bundle.lookups if lookups is None else lookups)
        ]
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ports.LOOK_UP,
                    r,
                    result_type=ports.LookupResult,
                    start_to_close_timeout=ports.AGENCY_CALL_TIMEOUT,
                    retry_policy=ports.AGENCY_RETRY,
                )
                for r in requests
            )
        )
        now = workflow.now()
        for request, result in zip(requests, results, strict=True):
            self._looked_up_on[request.source] = local_date(now)
            source = Provenance(kind="agency", source=request.agency)
            for concept, value in result.values.items():
                self._dossier[concept] = DossierEntry(value=value, source=source, at=now)
            for cert in result.certificates:
                self._certificates[cert] = Provenance(kind="ecert", source=cert)

    async def _run_step(self, step: _Step) -> bool:
        """Run one step to approval; False when it cannot be done."""
        spec = step.spec
        if spec.when is not None and not self._holds(spec.when):
            step.status = "skipped"  # the case's answers chose another path
            return True
        self._current = step
        step.started_at = workflow.now()
        self._set_due(step)
        watches = [asyncio.create_task(self._watch_sla(step))]
        watches += [asyncio.create_task(self._watch_milestone(step, m)) for m in spec.milestones]
        self._served_at = step.started_at
        if self._bundle.window is not None:
            watches.append(asyncio.create_task(self._watch_closing(step)))
        self._prefill(step)
        self._review(step)
        if spec.notify:
            self._notify("step_started", step)
        try:
            while True:
                if not step.ready():
                    step.status = "awaiting_clerk"
                    self._set_awaiting("clerk", spec.id)
                    if step.rules():
                        await self._await_clerk_review(step)
                    else:
                        await workflow.wait_condition(lambda: step.ready() or self._closed())
                    if self._closed():
                        return self._close_step(step)
                if spec.kind == "task":
                    step.status = "awaiting_worker"
                    self._set_awaiting("worker", spec.id)
                    await workflow.wait_condition(
                        lambda: step.milestones_complete() or self._closed()
                    )
                    if self._closed():
                        return self._close_step(step)
                    self._take_outputs(step, {})
                    step.status = "approved"
                    if spec.notify:
                        self._notify("step_approved", step)
                    return True
                reviewed = bool(step.rules()) or self._bundle.window is not None
                if reviewed and not await self._review_before_submit(step):
                    continue  # back to the clerk with every finding at once
                decision = await self._submit(step)
                if decision.status == "approved":
                    self._take_outputs(step, decision.outputs)
                    step.status = "approved"
                    if spec.notify:
                        self._notify("step_approved", step)
                    return True
                if spec.notify:
                    self._notify("step_rejected", step)
                self._take_rejection(step, decision.reasons)
                if step.round >= MAX_REJECTIONS:
                    step.status = "rejected"
                    if workflow.patched("register-cant-get-it-done"):
                        # The register's own workflow records this friction (cgid/<case>).
                        await register_from_bundle(
                            self._start, step=spec.id, department=spec.agency
                        )
                    else:
                        self._emit(
                            CantGetItDone(
                                **self._event_base(spec.id),
                                cause="approval_procedure",
                                department=spec.agency,
                            )
                        )
                    return False
        finally:
            step.finished_at = workflow.now()
            await asyncio.gather(*watches)

    def _set_due(self, step: _Step) -> None:
        spec = step.spec
        assert step.started_at is not None
        step.due_at = self._deadline(step.started_at, spec.sla_minutes, spec.sla_working_days)
        # The last day of the SLA: due_at is the first instant after it for working days.
        step.due_on = (
            self._calendar.add_working_days(local_date(step.started_at), spec.sla_working_days)
            if spec.sla_working_days
            else local_date(step.due_at)
        )
        step.due_provisional = bool(spec.sla_working_days) and self._calendar.provisional(
            local_date(step.started_at), step.due_on
        )

    @workflow.signal(name=CALENDAR_PUBLISHED)
    def calendar_published(self, calendar: WorkingCalendar) -> None:
        """A newer schedule (a year's notice published or corrected): the SLAs not yet
        passed count by it from now on; a breach already recorded stays recorded."""
        self._calendar = calendar
        for step in self._steps:
            if step.started_at is not None and step.finished_at is None:
                self._set_due(step)

    def _attended(self) -> bool:
        """Whether a call now keeps people waiting: a case at a window (not an online or QR
        channel) whose clerk served it within the sitting, so the citizen is still there."""
        served = self._served_at
        return (
            self._start.channel == "window"
            and served is not None
            and workflow.now() - served <= ATTENDED_SITTING
        )

    def _holds(self, condition: Condition) -> bool:
        entry = self._dossier.get(condition.concept)
        return entry is not None and entry.value == condition.equals

    def _deadline(self, start: datetime, minutes: int, working_days: int) -> datetime:
        """The end of an SLA: on the clock, or the end of its last working day."""
        if minutes:
            return start + timedelta(minutes=minutes)
        return end_of_day(self._calendar.add_working_days(local_date(start), working_days))

    def _prefill(self, step: _Step) -> None:
        for f in step.spec.fields:
            if f.prefill and f.concept and f.concept in self._dossier:
                entry = self._dossier[f.concept]
                step.values[f.name] = entry.value
                step.sources[f.name] = entry.source
                step.prefilled.add(f.name)
        for m in step.spec.materials:
            if m.ecert and m.ecert in self._certificates:
                step.materials[m.name] = "held_ecert"

    async def _submit(self, step: _Step) -> ports.AgencyDecision:
        spec = step.spec
        step.status = "awaiting_agency"
        self._set_awaiting("agency", spec.id)
        step.submitted_form = dict(step.values)
        step.submitted_facts.append((local_date(workflow.now()), self._facts(step)))
        submission = ports.Submission(
            case_id=self._start.case_id,
            step=spec.id,
            agency=spec.agency,
            round=step.round,
            form=step.submitted_form,
            materials={
                name: ("ecert" if status == "held_ecert" else "paper")
                for name, status in step.materials.items()
            },
            outputs=tuple(o.concept for o in spec.outputs),
        )
        decision: ports.AgencyDecision = await workflow.execute_activity(
            ports.SUBMIT_STEP,
            submission,
            result_type=ports.AgencyDecision,
            start_to_close_timeout=ports.AGENCY_CALL_TIMEOUT,
            retry_policy=ports.AGENCY_RETRY,
        )
        if decision.elapsed_seconds > spec.agency_call_sla_seconds:
            self._emit(
                ExtraWait(
                    **self._event_base(spec.id),
                    scope="agency_call",
                    agency=spec.agency,
                    sla_seconds=spec.agency_call_sla_seconds,
                    actual_seconds=decision.elapsed_seconds,
                    attended=self._attended(),
                )
            )
        interval = FIRST_POLL
        while decision.status == "pending":
            await workflow.sleep(interval)
            interval = min(interval * 2, LONGEST_POLL)
            decision = await workflow.execute_activity(
                ports.POLL_DECISION,
                ports.PollRequest(agency=spec.agency, receipt=decision.receipt),
                result_type=ports.AgencyDecision,
                start_to_close_timeout=ports.AGENCY_CALL_TIMEOUT,
                retry_policy=ports.AGENCY_RETRY,
            )
        return decision

    def _take_outputs(self, step: _Step, outputs: dict[str, str]) -> None:
        now = workflow.now()
        spec = step.spec
        # What the clerk typed is now known to the case, so no later form asks again.
        typed = Provenance(kind="step", source=spec.id, step=spec.id)
        for f in spec.fields:
            if f.concept and f.concept not in self._dossier and f.name in step.values:
                self._dossier[f.concept] = DossierEntry(
                    value=step.values[f.name], source=typed, at=now
                )
        issued = Provenance(kind="step", source=spec.agency, step=spec.id)
        for concept, value in outputs.items():
            self._dossier[concept] = DossierEntry(value=value, source=issued, at=now)
        for output in spec.outputs:
            if output.ecert:
                self._certificates[output.ecert] = Provenance(
                    kind="ecert", source=output.ecert, step=spec.id
                )

    def _take_rejection(self, step: _Step, reasons: tuple[Rejection, ...]) -> None:
        spec = step.spec
        # A deficiency on a value that had not changed since the earlier rejection was
        # detectable then: the earlier review should have named it too.
        if step.round > 0:
            for r in reasons:
                if r.code in material_rules.RULES:
                    # A rule's deficiency was detectable at an earlier rejection when the
                    # facts submitted then already failed it as of that day.
                    first = self._rule_failed_at(step, r.code)
                    if r.code not in step.earlier_rejection_codes and first is not None:
                        self._emit(
                            PiecemealRejection(
                                **self._event_base(spec.id),
                                rule=r.code,
                                first_rejection_round=first,
                                later_rejection_round=step.round,
                            )
                        )
                    continue
                unchanged = r.field is not None and r.field in step.submitted_form
                if r.code not in step.earlier_rejection_codes and unchanged:
                    self._emit(
                        PiecemealRejection(
                            **self._event_base(spec.id),
                            rule=r.code,
                            first_rejection_round=step.round - 1,
                            later_rejection_round=step.round,
                        )
                    )
        step.earlier_rejection_codes.update(r.code for r in reasons)
        step.rejections = reasons
        step.round += 1
        step.status = "rejected"
        fixable = False
        for r in reasons:
            if r.field and r.field in step.values:
                del step.values[r.field]
                step.sources.pop(r.field, None)
                fixable = True
            if r.material and r.material in step.materials:
                step.materials[r.material] = "missing"
                fixable = True
        # Nothing the clerk can retype: wait for the clerk to resubmit after dealing with it.
        step.awaiting_resubmit = not fixable

    # -- material rules and the service window's hours --------------------------------------
    # Only definitions that name rules or a window reach the activities and timers below,
    # so the histories of bundles without them replay command for command.

    def _facts(self, step: _Step) -> dict[str, str]:
        """What the rules judge: the dossier, overlaid by what the clerk read off a paper."""
        facts = {concept: entry.value for concept, entry in self._dossier.items()}
        for f in step.spec.fields:
            if f.concept and f.name in step.values:
                facts[f.concept] = step.values[f.name]
        return facts

    def _review(self, step: _Step) -> None:
        """Every rule of the step's materials at once, as of today's processing date."""
        if step.rules():
            step.findings = material_rules.review(
                step.rules(), self._facts(step), local_date(workflow.now())
            )

    def _rule_failed_at(self, step: _Step, rule: str) -> int | None:
        """The first earlier round whose submitted facts failed `rule` as of its day."""
        for round_, (day, facts) in enumerate(step.submitted_facts[: step.round]):
            if material_rules.check(rule, facts, day) is not None:
                return round_
        return None

    async def _refresh_records(self, step: _Step) -> None:
        """Read again the records the step's rules judge when they were read on an earlier
        day: a record is judged as of the processing date, so the case reads it afresh
        instead of asking the citizen for a new printout."""
        today = local_date(workflow.now())
        reads = {c for rule, _ in step.rules() for c in material_rules.RULES[rule].reads}
        stale = tuple(
            lk
            for lk in self._bundle.lookups
            if reads & set(LOOKUP_SOURCES.get(lk.source, ()))
            and self._looked_up_on.get(lk.source, today) < today
        )
        if not stale:
            return
        await self._look_up(stale)
        for f in step.spec.fields:  # prefilled values the clerk has not corrected
            if f.name in step.sources and f.concept in self._dossier:
                entry = self._dossier[f.concept]
                step.values[f.name] = entry.value
                step.sources[f.name] = entry.source

    async def _await_clerk_review(self, step: _Step) -> None:
        """Wait for the clerk; a return visit reads stale records again and reviews."""
        while True:
            step.recheck = False
            await workflow.wait_condition(lambda: step.ready() or step.recheck or self._closed())
            if step.ready() or self._closed():
                return
            await self._refresh_records(step)
            self._review(step)

    async def _review_before_submit(self, step: _Step) -> bool:
        """The pre-submission review: every rule as of this moment's processing date, then
        the window's hours. A submission attempted within the closing margin waits for the
        next opening and is recorded as friction, never a silent stop; the rules are judged
        again as of the day the window takes it. False: back to the clerk."""
        window = self._bundle.window
        calendar = self._calendar
        while True:
            if step.rules():
                await self._refresh_records(step)
                self._review(step)
                if step.findings:
                    return False
            now = workflow.now()
            if window is None or takes_submissions(window, calendar, now):
                step.held_until = None
                return True
            opening = next_opening(window, calendar, now)
            session = session_at(window, calendar, now)
            if session is not None and cut_off(window, calendar, now):
                self._emit(
                    ExtraWait(
                        **self._event_base(step.spec.id),
                        scope="queue",
                        agency=window.run_by,
                        actual_seconds=(opening - now).total_seconds(),
                        due_at=session.closes,
                        calendar=calendar.id,
                    )
                )
            step.status = "awaiting_agency"
            self._set_awaiting("agency", step.spec.id)
            step.held_until = opening
            await workflow.sleep(opening - now)
            step.held_until = None

    async def _watch_closing(self, step: _Step) -> None:
        """The window closing on a case the clerk served within the closing margin and that
        still waits on the clerk: friction instead of sending the citizen away silently.
        The case simply continues at the next opening."""
        window = self._bundle.window
        assert window is not None
        calendar = self._calendar
        watched: datetime | None = None
        while step.finished_at is None:
            served = self._served_at
            session = session_at(window, calendar, served) if served else None
            if (
                served is not None
                and session is not None
                and session.closes != watched
                and cut_off(window, calendar, served)
            ):
                watched = session.closes
                try:
                    await workflow.wait_condition(
                        lambda: step.finished_at is not None,
                        timeout=max(session.closes - workflow.now(), timedelta(seconds=1)),
                    )
                    return
                except TimeoutError:
                    if step.status in ("awaiting_clerk", "rejected"):
                        reopens = next_opening(window, calendar, session.closes)
                        self._emit(
                            ExtraWait(
                                **self._event_base(step.spec.id),
                                scope="queue",
                                agency=window.run_by,
                                actual_seconds=(reopens - session.closes).total_seconds(),
                                due_at=session.closes,
                                calendar=calendar.id,
                            )
                        )
                continue
            await workflow.wait_condition(self._served_again(step, served))

    def _served_again(self, step: _Step, served: datetime | None) -> Callable[[], bool]:
        return lambda: step.finished_at is not None or self._served_at != served

    def _sla_moved(self, step: _Step, breach_at: datetime) -> Callable[[], bool]:
        return lambda: step.finished_at is not None or step.due_at != breach_at

    async def _watch_sla(self, step: _Step) -> None:
        while True:
            assert step.due_at is not None
            breach_at = step.due_at
            try:
                # A published calendar moves due_at: the timer is set again for the new end.
                await workflow.wait_condition(
                    self._sla_moved(step, breach_at),
                    timeout=max(breach_at - workflow.now(), timedelta(seconds=1)),
                )
                if step.finished_at is not None:
                    return
                continue
            except TimeoutError:
                break
        assert step.started_at is not None
        self._emit(
            ExtraWait(
                **self._event_base(step.spec.id),
                scope="step",
                agency=step.spec.agency,
                sla_working_days=step.spec.sla_working_days or None,
                sla_seconds=step.spec.sla_minutes * 60 or None,
                actual_seconds=(workflow.now() - step.started_at).total_seconds(),
                due_at=breach_at,
                calendar=self._calendar.id,
            )
        )

    async def _watch_milestone(self, step: _Step, milestone: MilestoneSpec) -> None:
        assert step.started_at is not None
        due = self._deadline(step.started_at, milestone.sla_minutes, milestone.sla_working_days)
        try:
            await workflow.wait_condition(
                lambda: milestone.id in step.milestones_done or step.finished_at is not None,
                timeout=max(due - workflow.now(), timedelta(seconds=1)),
            )
        except TimeoutError:
            self._emit(
                ExtraWait(
                    **self._event_base(step.spec.id),
                    scope="step",
                    agency=step.spec.agency,
                    milestone=milestone.id,
                    sla_working_days=milestone.sla_working_days or None,
                    sla_seconds=milestone.sla_minutes * 60 or None,
                    actual_seconds=(workflow.now() - step.started_at).total_seconds(),
                    due_at=due,
                    calendar=self._calendar.id,
                )
            )

    # -- the citizen hears of progress through the worker's notifier -----------------------

    def _notify(
        self, event: str, step: _Step | None, rules_zh: str = "", rules_en: str = ""
    ) -> None:
        self._sequence += 1
        name_zh, name_en = (step.spec.name_zh, step.spec.name_en) if step else (
            self._bundle.name_zh, self._bundle.name_en)
        zh, en = _NOTICE_TEXT[event]
        notification = Notification(
            notification_id=f"{self._start.case_id}/n{self._sequence}",
            case_id=self._start.case_id,
            at=workflow.now(),
            event=event,  # type: ignore[arg-type]
            step=step.spec.id if step else None,
            text_zh=zh.format(case=self._start.case_id, name=name_zh, rules=rules_zh),
            text_en=en.format(case=self._start.case_id, name=name_en, rules=rules_en),
        )
        self._notifications.append(notification)
        self._to_deliver.append(notification)

    async def _deliver_notifications(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._to_deliver) or self._closing)
            if not self._to_deliver:
                return
            batch, self._to_deliver = tuple(self._to_deliver), []
            try:
                await workflow.execute_activity(
                    ports.NOTIFY_CITIZEN,
                    ports.NotificationBatch(notifications=batch),
                    start_to_close_timeout=ports.STORE_TIMEOUT,
                    retry_policy=ports.NOTIFY_RETRY,
                )
            except ActivityError:
                # Undelivered messages stay in the case's progress for the console and
                # the tracking page; the case goes on.
                workflow.logger.warning("notifications of case %s undelivered",
                                        self._start.case_id)

    # -- friction leaves through an activity, in order, exactly once ----------------------

    def _event_base(self, step: str | None) -> _EventBase:
        self._sequence += 1
        return {
            "event_id": f"{self._start.case_id}/{self._sequence}",
            "occurred_at": workflow.now(),
            "case_id": self._start.case_id,
            "bundle": self._bundle.id,
            "bundle_version": self._bundle.version,
            "step": step,
            "centre": self._start.centre,
            "channel": self._start.channel,
        }

    def _emit(self, event: FrictionEvent) -> None:
        self._outbox.append(event)
        self._friction.append(
            FrictionNote(
                event_id=event.event_id,
                kind=str(type(event).__struct_config__.tag),
                step=event.step,
                subject=subject_of(event),
            )
        )

    async def _flush_friction(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox) or self._closing)
            if not self._outbox:
                return
            batch, self._outbox = tuple(self._outbox), []
            await workflow.execute_activity(
                ports.RECORD_FRICTION,
                ports.FrictionBatch(events=batch),
                start_to_close_timeout=ports.STORE_TIMEOUT,
                retry_policy=ports.STORE_RETRY,
            )

    async def _record_case(self) -> None:
        now = workflow.now()
        calendar = self._calendar
        opened = workflow.info().start_time
        closed = None if self._status == "open" else now
        steps = tuple(
            StepRecord(
                step=s.spec.id,
                status=s.status,
                started_at=s.started_at,
                finished_at=s.finished_at,
                working_days=calendar.working_days_between(
                    local_date(s.started_at), local_date(s.finished_at)
                )
                if s.started_at and s.finished_at
                else None,
                rounds=s.round + (1 if s.status == "approved" else 0),
                fields_total=len(s.spec.fields),
                fields_prefilled=len(s.prefilled),
            )
            for s in self._steps
            if s.started_at is not None
        )
        done = [s for s in self._steps if s.status == "approved"]
        await workflow.execute_activity(
            ports.RECORD_CASE,
            CaseRecord(
                case_id=self._start.case_id,
                bundle=self._bundle.id,
                bundle_version=self._bundle.version,
                centre=self._start.centre,
                channel=self._start.channel,
                status=self._status,  # type: ignore[arg-type]
                opened_at=opened,
                closed_at=closed,
                trips=self._trips,
                fields_total=sum(len(s.spec.fields) for s in done),
                fields_prefilled=sum(len(s.prefilled) for s in done),
                working_days=calendar.working_days_between(local_date(opened), local_date(now))
                if closed
                else None,
                clerk_minutes=sum(s.spec.clerk_minutes for s in done) + self._typing_seconds / 60,
                steps=steps,
            ),
            result_type=type(None),
            start_to_close_timeout=ports.STORE_TIMEOUT,
            retry_policy=ports.STORE_RETRY,
        )

    def _set_awaiting(self, awaiting: Awaiting, step: str | None) -> None:
        self._awaiting = awaiting
        workflow.upsert_search_attributes(
            [
                _KEY_AWAITING.value_set(awaiting),
                _KEY_STEP.value_set(step or "-"),
            ]
        )

    # -- the clerk's inputs -----------------------------------------------------------------

    def _step_awaiting_input(self, step_id: str) -> _Step:
        step = self._current
        if self._status != "open" or step is None or step.spec.id != step_id:
            current = step.spec.id if step else "none"
            raise ApplicationError(
                f"step {step_id!r} is not the current step (current: {current})",
                {"field": "step"},
                type="NotCurrentStep",
            )
        if step.status not in ("awaiting_clerk", "rejected"):
            raise ApplicationError(
                f"step {step_id!r} is with the agency; input is taken again if it is rejected",
                {"field": "step"},
                type="NotCurrentStep",
            )
        return step

    @workflow.update(name=SUBMIT_FIELDS)
    def submit_fields(self, entry: FieldEntry) -> CaseProgress:
        step = self._step_awaiting_input(entry.step)
        fields = {f.name: f for f in step.spec.fields}
        for name, value in entry.values.items():
            spec = fields[name]
            typed = value.upper() if spec.type == "id_number" else value
            if name in step.prefilled and name in step.values:
                known = step.sources.get(name)
                if (
                    known is not None
                    and typed == step.values[name]
                    and name not in step.reentered
                    and workflow.patched("reentry-over-prefill")
                ):
                    # Typed again although the form showed it: a re-entry, not a correction.
                    first_of_form = not step.reentered
                    step.reentered.add(name)
                    self._emit(
                        ManualReentry(
                            **self._event_base(step.spec.id),
                            field=name,
                            known_from=known,
                            typed_seconds=entry.typed_seconds.get(name),
                            first_of_form=first_of_form,
                        )
                    )
                elif typed != step.values[name]:
                    step.sources.pop(name, None)  # a correction of a prefilled value
            elif spec.concept in self._dossier and name not in step.reentered:
                first_of_form = not step.reentered
                step.reentered.add(name)
                self._emit(
                    ManualReentry(
                        **self._event_base(step.spec.id),
                        field=name,
                        known_from=self._dossier[spec.concept].source,
                        typed_seconds=entry.typed_seconds.get(name),
                        first_of_form=first_of_form,
                    )
                )
            step.values[name] = typed
        self._typing_seconds += sum(entry.typed_seconds.values())
        step.awaiting_resubmit = False
        self._served_at = workflow.now()
        self._review(step)
        return self.progress()

    @submit_fields.validator
    def _check_fields(self, entry: FieldEntry) -> None:
        step = self._step_awaiting_input(entry.step)
        fields = {f.name: f for f in step.spec.fields}
        today = local_date(workflow.now())
        for name, value in entry.values.items():
            if name not in fields:
                raise _invalid(name, f"no such field in step {entry.step!r}")
            problem = check_value(fields[name], value, today)
            if problem:
                raise _invalid(name, problem)
        for name, seconds in entry.typed_seconds.items():
            if name not in entry.values or not 0 <= seconds < 3600:
                raise _invalid(f"typed_seconds.{name}", "must time a submitted field, 0-3600 s")

    @workflow.update(name=RECORD_MATERIAL)
    def record_material(self, entry: MaterialEntry) -> CaseProgress:
        step = self._step_awaiting_input(entry.step)
        spec = next(m for m in step.spec.materials if m.name == entry.material)
        if entry.form == "paper":
            held = self._certificates.get(spec.ecert) if spec.ecert else None
            if held is not None:
                self._emit(
                    PhysicalMaterialRequested(
                        **self._event_base(step.spec.id), material=spec.name, held_by=held
                    )
                )
            step.materials[spec.name] = "received_paper"
        else:
            step.materials[spec.name] = "held_ecert"
        self._served_at = workflow.now()
        self._review(step)
        return self.progress()

    @record_material.validator
    def _check_material(self, entry: MaterialEntry) -> None:
        step = self._step_awaiting_input(entry.step)
        spec = next((m for m in step.spec.materials if m.name == entry.material), None)
        if spec is None:
            raise _invalid("material", f"no material {entry.material!r} in step {entry.step!r}")
        if entry.form == "ecert" and (spec.ecert is None or spec.ecert not in self._certificates):
            raise _invalid("form", f"no e-certificate on file holds {entry.material!r}")

    @workflow.update(name=RECORD_TRIP)
    def record_trip(self, entry: TripEntry) -> CaseProgress:
        self._trips += 1
        self._served_at = workflow.now()
        if self._current is not None and self._current.rules():
            self._current.recheck = True  # judged again as of the day of the return
        known_then = set(self._outstanding_at_first_trip)
        self._emit(
            RepeatTrip(
                **self._event_base(self._current.spec.id if self._current else None),
                trip_number=self._trips,
                reasons=entry.reasons,
                could_have_been_told=tuple(r for r in entry.reasons if r in known_then),
            )
        )
        return self.progress()

    @record_trip.validator
    def _check_trip(self, entry: TripEntry) -> None:
        if self._status != "open":
            raise ApplicationError("the case is closed", {"field": "case"}, type="CaseClosed")
        for reason in entry.reasons:
            if len(reason) > 120:
                raise _invalid("reasons", "each reason is a short code of at most 120 chars")

    @workflow.update(name=RECORD_MILESTONE)
    def record_milestone(self, entry: MilestoneEntry) -> CaseProgress:
        step = self._current
        assert step is not None
        step.milestones_done[entry.milestone] = (workflow.now(), entry.actor, entry.evidence_ref)
        return self.progress()

    @record_milestone.validator
    def _check_milestone(self, entry: MilestoneEntry) -> None:
        step = self._current
        if self._status != "open" or step is None or step.spec.id != entry.step:
            raise ApplicationError(
                f"step {entry.step!r} is not the current step", {"field": "step"},
                type="NotCurrentStep",
            )
        if step.status != "awaiting_worker":
            raise ApplicationError(
                f"step {entry.step!r} takes no milestone now (it is {step.status})",
                {"field": "step"}, type="NotCurrentStep",
            )
        spec = next((m for m in step.spec.milestones if m.id == entry.milestone), None)
        if spec is None:
            raise _invalid("milestone", f"no milestone {entry.milestone!r} in {entry.step!r}")
        if entry.milestone in step.milestones_done:
            raise _invalid("milestone", f"{entry.milestone!r} is recorded already")
        if not entry.actor.strip() or len(entry.actor) > 64:
            raise _invalid("actor", "name who did it in 1-64 characters")
        if spec.evidence != "none" and not (entry.evidence_ref or "").strip():
            raise _invalid("evidence_ref", f"a {spec.evidence} reference is required")
        if entry.evidence_ref is not None and len(entry.evidence_ref) > 200:
            raise _invalid("evidence_ref", "at most 200 characters")

    # -- a case that cannot be completed today ends cleanly -----------------------------------

    def _closed(self) -> bool:
        return self._closure is not None

    def _close_step(self, step: _Step) -> bool:
        assert self._closure is not None
        step.status = self._closure.outcome
        return False

    def _step_awaiting_closure(self, outcome: str) -> _Step:
        """The current step when the case may close now: waiting on the clerk (or, for a
        withdrawal, on the field worker too), not while an agency or a look-up is at work."""
        if self._status != "open" or self._closure is not None:
            raise ApplicationError("the case is closed", {"field": "case"}, type="CaseClosed")
        step = self._current
        waiting = ("awaiting_clerk", "rejected", "awaiting_worker")
        if step is None or step.status not in waiting or (
            outcome == "not_eligible" and step.status == "awaiting_worker"
        ):
            raise ApplicationError(
                f"the case cannot close as {outcome} now: "
                + ("it is being looked up" if step is None else f"the step is {step.status}")
                + "; try again when it waits on the clerk",
                {"field": "step"},
                type="NotCurrentStep",
            )
        return step

    def _failed_rules(self, step: _Step) -> tuple[material_rules.Finding, ...]:
        """What makes the case not eligible: the rules failing at the last review, or the
        rules an agency named when it returned the application."""
        if step.findings:
            return step.findings
        return tuple(
            material_rules.Finding(
                rule=r.code, message_zh=r.message_zh, message_en=r.message_en,
                material=r.material,
            )
            for r in step.rejections
            if r.code in material_rules.RULES
        )

    @staticmethod
    def _check_closing_words(actor: str, reason: str | None, required: bool) -> None:
        if not actor.strip() or len(actor) > 64:
            raise _invalid("actor", "name who closes the case in 1-64 characters")
        if required and not (reason or "").strip():
            raise _invalid("reason", "say briefly why the case is not eligible")
        if reason is not None and len(reason) > MAX_CLOSING_REASON:
            raise _invalid("reason", f"at most {MAX_CLOSING_REASON} characters")

    @workflow.update(name=CLOSE_NOT_ELIGIBLE)
    def close_not_eligible(self, entry: NotEligibleEntry) -> CaseProgress:
        step = self._step_awaiting_closure("not_eligible")
        self._closure = Closure(
            outcome="not_eligible", actor=entry.actor.strip(), at=workflow.now(),
            step=step.spec.id, reason=entry.reason.strip(), findings=self._failed_rules(step),
        )
        return self.progress()

    @close_not_eligible.validator
    def _check_not_eligible(self, entry: NotEligibleEntry) -> None:
        step = self._step_awaiting_closure("not_eligible")
        if not self._failed_rules(step):
            raise ApplicationError(
                f"step {step.spec.id!r} fails no material rule: it is not a case of "
                "not eligible (withdraw it, or register it as can't get it done)",
                {"field": "step"},
                type="NotCurrentStep",
            )
        self._check_closing_words(entry.actor, entry.reason, required=True)

    @workflow.update(name=WITHDRAW)
    def withdraw(self, entry: WithdrawalEntry) -> CaseProgress:
        step = self._step_awaiting_closure("withdrawn")
        reason = (entry.reason or "").strip() or None
        self._closure = Closure(
            outcome="withdrawn", actor=entry.actor.strip(), at=workflow.now(),
            step=step.spec.id, reason=reason,
        )
        return self.progress()

    @withdraw.validator
    def _check_withdrawal(self, entry: WithdrawalEntry) -> None:
        self._step_awaiting_closure("withdrawn")
        self._check_closing_words(entry.actor, entry.reason, required=False)

    def _notify_closure(self, closure: Closure) -> None:
        """Tell the citizen how the case ended; the failed rules in their general wording,
        never a finding's particulars (dates, an employer)."""
        if closure.outcome == "withdrawn":
            self._notify("case_withdrawn", None)
            return
        rules = [material_rules.RULES[f.rule] for f in closure.findings
                 if f.rule in material_rules.RULES]
        self._notify(
            "case_not_eligible", None,
            rules_zh="；".join(r.wording_zh.rstrip("。") for r in rules) or "材料不符合要求",
            rules_en="; ".join(r.wording_en.rstrip(".") for r in rules)
            or "a material does not meet the requirements",
        )

    # -- what the case shows -----------------------------------------------------------------

    def _outstanding(self) -> tuple[str, ...]:
        """The one-time notice: everything still lacking across the unfinished steps."""
        items: list[str] = []
        for step in self._steps:
            if step.status in ("approved", "skipped"):
                continue
            if step.spec.when is not None and not self._holds(step.spec.when):
                continue  # a path the case may not take: nothing to tell yet
            sid = step.spec.id
            if step is self._current:
                items += [f"field:{sid}.{name}" for name in step.missing_fields()]
                items += [f"rejection:{sid}.{r.code}" for r in step.rejections]
            items += [
                f"material:{sid}.{m.name}"
                for m in step.spec.materials
                if step.materials[m.name] == "missing"
                and not (m.ecert and m.ecert in self._certificates)
            ]
            items += [f"rule:{sid}.{f.rule}" for f in step.findings]
        return tuple(items)

    @workflow.query(name=PROGRESS)
    def progress(self) -> CaseProgress:
        steps = tuple(self._step_view(s) for s in self._steps)
        approved = [s for s in self._steps if s.status == "approved"]
        return CaseProgress(
            case_id=self._start.case_id,
            bundle=self._bundle.id,
            bundle_version=self._bundle.version,
            status=self._status,  # type: ignore[arg-type]
            current_step=self._current.spec.id if self._current else None,
            awaiting=self._awaiting,
            trips=self._trips,
            steps=steps,
            outstanding=self._outstanding(),
            friction=tuple(self._friction),
            dossier=dict(self._dossier),
            fields_total=sum(len(s.spec.fields) for s in approved),
            fields_prefilled=sum(len(s.prefilled) for s in approved),
            notifications=tuple(self._notifications),
            closure=self._closure,
        )

    def _step_view(self, step: _Step) -> StepView:
        spec = step.spec
        return StepView(
            id=spec.id,
            name_zh=spec.name_zh,
            name_en=spec.name_en,
            agency=spec.agency,
            status=step.status,
            awaiting=self._awaiting if step is self._current else "nobody",
            round=step.round,
            fields=tuple(
                FieldView(
                    name=f.name,
                    label_zh=f.label_zh,
                    label_en=f.label_en,
                    type=f.type,
                    options=f.options,
                    concept=f.concept,
                    value=step.values.get(f.name),
                    prefilled=f.name in step.sources,
                    source=step.sources.get(f.name),
                )
                for f in spec.fields
            ),
            materials=tuple(
                MaterialView(
                    name=m.name,
                    label_zh=m.label_zh,
                    label_en=m.label_en,
                    status=step.materials[m.name],  # type: ignore[arg-type]
                    ecert=m.ecert if m.ecert in self._certificates else None,
                )
                for m in spec.materials
            ),
            missing_fields=tuple(step.missing_fields()),
            missing_materials=tuple(step.missing_materials()),
            rejections=step.rejections,
            started_at=step.started_at,
            due_on=step.due_on,
            finished_at=step.finished_at,
            kind=spec.kind,
            due_at=step.due_at,
            milestones=tuple(
                MilestoneView(
                    id=m.id,
                    name_zh=m.name_zh,
                    name_en=m.name_en,
                    evidence=m.evidence,
                    due_at=self._deadline(step.started_at, m.sla_minutes, m.sla_working_days)
                    if step.started_at
                    else None,
                    done_at=step.milestones_done[m.id][0] if m.id in step.milestones_done else None,
                    actor=step.milestones_done[m.id][1] if m.id in step.milestones_done else None,
                    evidence_ref=step.milestones_done[m.id][2]
                    if m.id in step.milestones_done
                    else None,
                )
                for m in spec.milestones
            ),
            findings=step.findings,
            held_until=step.held_until,
            due_provisional=step.due_provisional,
        )
