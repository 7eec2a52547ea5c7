"""The state of one bundle case and of each of its steps, shared by the workflow's
handlers and the step mechanisms; with what every mechanism needs of the case: the
dossier, the calendar, the clerk's sitting, and the friction outbox.

Deterministic code only (the workflow's time, its activities and search attributes).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import end_of_day, local_date
    from kernel.events import FrictionEvent, Provenance, subject_of
    from workflows import material_rules, ports
    from workflows.case import (
        AWAITING_FAILED,
        SA_AWAITING,
        SA_DUE_DATE,
        SA_STEP,
        SA_WAITING_SINCE,
        Awaiting,
        CaseStart,
        Closure,
        CrossCentreService,
        DossierEntry,
        Failure,
        FrictionNote,
        Notification,
        Outage,
        Rejection,
        StepStatus,
        TripRecord,
    )
    from workflows.definition import Condition, LookupSpec, StepSpec
    from workflows.detectors import EventBase

# A submission this soon after the clerk's last input is made with the citizen at the
# window: the clerk presses submit with the citizen in front of them.
ATTENDED_SITTING = timedelta(minutes=10)
# While the notebook's store is down for longer than an activity's bounded retries, the
# case waits this long and tries again: no friction and no case record is lost.
STORE_OUTAGE_PAUSE = timedelta(minutes=10)

KEY_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
KEY_STEP = SearchAttributeKey.for_keyword(SA_STEP)
KEY_DUE_DATE = SearchAttributeKey.for_datetime(SA_DUE_DATE)
DUE_DATE_PATCH = "due-date-search-attribute"
KEY_WAITING_SINCE = SearchAttributeKey.for_datetime(SA_WAITING_SINCE)
WAITING_SINCE_PATCH = "waiting-since-search-attribute"


def invalid(field: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{field}: {problem}", {"field": field}, type="InvalidField")


class StepState:
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


class CaseState:
    """One case: what it knows, where it stands, what it owes the notebook and the
    citizen."""

    def __init__(self, start: CaseStart) -> None:
        self.start = start
        self.bundle = start.bundle
        self.dossier: dict[str, DossierEntry] = {}
        self.certificates: dict[str, Provenance] = {}  # e-certificate type -> who issued it
        self.steps = [StepState(s) for s in start.bundle.steps]
        self.current: StepState | None = None
        self.status = "open"
        self.awaiting: Awaiting = "lookup"
        self.trips = 1
        self.outstanding_at_first_trip: tuple[str, ...] = ()
        self.trip_day: date | None = None  # China-local day of the last return trip
        self.trips_that_day = 0
        self.friction: list[FrictionNote] = []
        self.outbox: list[FrictionEvent] = []
        self.notifications: list[Notification] = []
        self.to_deliver: list[Notification] = []
        self.sequence = 0  # numbers friction events and notifications alike
        self.closing = False
        self.closure: Closure | None = None  # closed as not eligible, or withdrawn
        self.served_elsewhere: list[CrossCentreService] = []  # 通办, in the order served
        self.trip_records: list[TripRecord] = []
        self.typing_seconds = 0.0  # measured by the console, summed for the reports
        self.looked_up_on: dict[str, date] = {}  # lookup source -> processing date read on
        self.served_at: datetime | None = None  # the clerk's last input, or a step's start
        # The working days the case counts by: the calendar it started with, until an
        # operator publishes a newer schedule (calendar_published).
        self.calendar = start.calendar
        # Agency outages (workflows.bundle.outage): whether this case waits them out (a
        # patch marker, read once), the outages escalated, and how a failed case failed.
        self.waits_out_outages: bool | None = None
        self.outages: list[Outage] = []
        self.failure: Failure | None = None

    # -- where the case stands ------------------------------------------------------------

    def set_awaiting(self, awaiting: Awaiting, step: str | None) -> None:
        """Whom the case waits on, its current step and the next promised date, in its
        search attributes; a case that ends ("nobody") has neither step nor due date.
        (Histories recorded before OtDueDate upserted "-" for no step: the command is the
        same, only its values differ.)"""
        self.awaiting = awaiting
        current = self.current if step is not None else None
        due = current.due_at if current is not None else None
        since = current.started_at if current is not None else None
        updates: list[SearchAttributeUpdate[Any]] = [
            KEY_AWAITING.value_set(awaiting),
            KEY_STEP.value_set(step) if step is not None else KEY_STEP.value_unset(),
            KEY_DUE_DATE.value_set(due) if due is not None else KEY_DUE_DATE.value_unset(),
        ]
        # OtWaitingSince came later: a case whose history upserted without it keeps doing
        # so (its replay compares the commands it recorded).
        if workflow.patched(WAITING_SINCE_PATCH):
            updates.append(KEY_WAITING_SINCE.value_set(since) if since is not None
                           else KEY_WAITING_SINCE.value_unset())
        workflow.upsert_search_attributes(updates)

    def due_moved(self, step: StepState) -> None:
        """A published calendar moved the current step's SLA: the due date follows
        (cases started before OtDueDate existed keep their history's commands)."""
        if (step is self.current and self.status == "open" and step.due_at is not None
                and workflow.patched(DUE_DATE_PATCH)):
            workflow.upsert_search_attributes([KEY_DUE_DATE.value_set(step.due_at)])

    def mark_failed(self) -> None:
        """A failed case ends waiting on the clerk's worklist as failed (the clerk
        contacts the citizen), naming the step it failed at; its progress says failed and
        why."""
        self.awaiting = "nobody"
        step = self.failure.step if self.failure else None
        workflow.upsert_search_attributes([
            KEY_AWAITING.value_set(AWAITING_FAILED),
            KEY_STEP.value_set(step) if step is not None else KEY_STEP.value_unset(),
            KEY_DUE_DATE.value_unset(),
            *([KEY_WAITING_SINCE.value_unset()] if workflow.patched(WAITING_SINCE_PATCH)
              else []),
        ])

    def closed(self) -> bool:
        return self.closure is not None

    def close_step(self, step: StepState) -> bool:
        assert self.closure is not None
        step.status = self.closure.outcome
        return False

    def holds(self, condition: Condition) -> bool:
        entry = self.dossier.get(condition.concept)
        return entry is not None and entry.value == condition.equals

    def attended(self) -> bool:
        """Whether a call now keeps people waiting: a case at a window (not an online or QR
        channel) whose clerk served it within the sitting, so the citizen is still there."""
        served = self.served_at
        return (
            self.start.channel == "window"
            and served is not None
            and workflow.now() - served <= ATTENDED_SITTING
        )

    def deadline(self, start: datetime, minutes: int, working_days: int) -> datetime:
        """The end of an SLA: on the clock, or the end of its last working day."""
        if minutes:
            return start + timedelta(minutes=minutes)
        return end_of_day(self.calendar.add_working_days(local_date(start), working_days))

    def set_due(self, step: StepState) -> None:
        spec = step.spec
        assert step.started_at is not None
        step.due_at = self.deadline(step.started_at, spec.sla_minutes, spec.sla_working_days)
        # The last day of the SLA: due_at is the first instant after it for working days.
        step.due_on = (
            self.calendar.add_working_days(local_date(step.started_at), spec.sla_working_days)
            if spec.sla_working_days
            else local_date(step.due_at)
        )
        step.due_provisional = bool(spec.sla_working_days) and self.calendar.provisional(
            local_date(step.started_at), step.due_on
        )

    def outstanding(self) -> tuple[str, ...]:
        """The one-time notice: everything still lacking across the unfinished steps."""
        items: list[str] = []
        for step in self.steps:
            if step.status in ("approved", "skipped"):
                continue
            if step.spec.when is not None and not self.holds(step.spec.when):
                continue  # a path the case may not take: nothing to tell yet
            sid = step.spec.id
            if step is self.current:
                items += [f"field:{sid}.{name}" for name in step.missing_fields()]
                items += [f"rejection:{sid}.{r.code}" for r in step.rejections]
            items += [
                f"material:{sid}.{m.name}"
                for m in step.spec.materials
                if step.materials[m.name] == "missing"
                and not (m.ecert and m.ecert in self.certificates)
            ]
            items += [f"rule:{sid}.{f.rule}" for f in step.findings]
        return tuple(items)

    # -- what the case knows --------------------------------------------------------------

    def lookup_requests(
        self, lookups: tuple[LookupSpec, ...] | None = None
    ) -> list[ports.LookupRequest]:
        return [
            ports.LookupRequest(
                case_id=self.start.case_id,
                citizen_id_number=self.start.citizen_id_number,
                source=lookup.source,
                agency=lookup.agency,
            )
            for lookup in (self.bundle.lookups if lookups is None else lookups)
        ]

    def take_lookups(
        self, requests: list[ports.LookupRequest], results: list[ports.LookupResult]
    ) -> None:
        now = workflow.now()
        for request, result in zip(requests, results, strict=True):
            self.looked_up_on[request.source] = local_date(now)
            source = Provenance(kind="agency", source=request.agency)
            for concept, value in result.values.items():
                self.dossier[concept] = DossierEntry(value=value, source=source, at=now)
            for cert in result.certificates:
                self.certificates[cert] = Provenance(kind="ecert", source=cert)

    def prefill(self, step: StepState) -> None:
        for f in step.spec.fields:
            if f.prefill and f.concept and f.concept in self.dossier:
                entry = self.dossier[f.concept]
                step.values[f.name] = entry.value
                step.sources[f.name] = entry.source
                step.prefilled.add(f.name)
        for m in step.spec.materials:
            if m.ecert and m.ecert in self.certificates:
                step.materials[m.name] = "held_ecert"

    def facts(self, step: StepState) -> dict[str, str]:
        """What the rules judge: the dossier, overlaid by what the clerk read off a paper."""
        facts = {concept: entry.value for concept, entry in self.dossier.items()}
        for f in step.spec.fields:
            if f.concept and f.name in step.values:
                facts[f.concept] = step.values[f.name]
        return facts

    def take_outputs(self, step: StepState, outputs: dict[str, str]) -> None:
        now = workflow.now()
        spec = step.spec
        # What the clerk typed is now known to the case, so no later form asks again.
        typed = Provenance(kind="step", source=spec.id, step=spec.id)
        for f in spec.fields:
            if f.concept and f.concept not in self.dossier and f.name in step.values:
                self.dossier[f.concept] = DossierEntry(
                    value=step.values[f.name], source=typed, at=now
                )
        issued = Provenance(kind="step", source=spec.agency, step=spec.id)
        for concept, value in outputs.items():
            self.dossier[concept] = DossierEntry(value=value, source=issued, at=now)
        for output in spec.outputs:
            if output.ecert:
                self.certificates[output.ecert] = Provenance(
                    kind="ecert", source=output.ecert, step=spec.id
                )

    # -- friction leaves through an activity, in order, exactly once ----------------------

    def event_base(self, step: str | None) -> EventBase:
        """The common fields of the case's next friction event (a detectors.Stamp)."""
        self.sequence += 1
        return {
            "event_id": f"{self.start.case_id}/{self.sequence}",
            "occurred_at": workflow.now(),
            "case_id": self.start.case_id,
            "bundle": self.bundle.id,
            "bundle_version": self.bundle.version,
            "step": step,
            "centre": self.start.centre,
            "channel": self.start.channel,
        }

    def emit(self, event: FrictionEvent | None) -> None:
        """Send a detector's event (nothing when it found none)."""
        if event is None:
            return
        self.outbox.append(event)
        self.friction.append(
            FrictionNote(
                event_id=event.event_id,
                kind=str(type(event).__struct_config__.tag),
                step=event.step,
                subject=subject_of(event),
            )
        )

    async def flush_friction(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.outbox) or self.closing)
            if not self.outbox:
                return
            batch, self.outbox = tuple(self.outbox), []
            await store_call(ports.RECORD_FRICTION, ports.FrictionBatch(events=batch),
                             f"notebook: record {len(batch)} friction events")


async def store_call(name: str, arg: object, summary: str) -> None:
    """An activity on the notebook's store with bounded retries; through a longer outage
    the case waits and tries again, so nothing it owes the notebook is lost. (A history
    recorded before the retries were bounded never saw a failure here: it replays the
    same.)"""
    while True:
        try:
            await workflow.execute_activity(
                name,
                arg,
                result_type=type(None),
                start_to_close_timeout=ports.STORE_TIMEOUT,
                retry_policy=ports.STORE_RETRY,
                summary=summary,
            )
            return
        except ActivityError as exc:
            workflow.logger.warning("%s failed, trying again later: %s", name, exc)
            await workflow.sleep(STORE_OUTAGE_PAUSE,
                                 summary="notebook store unavailable: try again")
