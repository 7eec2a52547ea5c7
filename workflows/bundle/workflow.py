"""BundleWorkflow: one case of one bundle, from the first look-up to the last approval.

The run loop, the clerk's and the operators' inputs (updates with validators that refuse
bad values before they touch history, a signal) and the progress query. How each step
runs is the step engine's (engine.py) and its mechanisms'; where each friction is found,
workflows.detectors.

Deterministic code only. Everything the case learns from outside arrives through the
activities named in workflows.ports.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from workflows.bundle import rules, trips
from workflows.bundle.case_state import CaseState, StepState, invalid, store_call
from workflows.bundle.engine import run_step
from workflows.bundle.notify import deliver_notifications, notify_end
from workflows.bundle.outage import AgencyGaveUp, look_up
from workflows.bundle.views import case_record
from workflows.bundle.views import progress as progress_of

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from workflows import detectors, ports
    from workflows.calendar import WorkingCalendar
    from workflows.case import (
        ACCESS,
        CALENDAR_PUBLISHED,
        CLOSE_NOT_ELIGIBLE,
        PROGRESS,
        RECORD_MATERIAL,
        RECORD_MILESTONE,
        RECORD_TRIP,
        SA_AWAITING,
        SA_BUNDLE,
        SA_CENTRE,
        SERVE_ELSEWHERE,
        SUBMIT_FIELDS,
        WITHDRAW,
        CaseAccess,
        CaseProgress,
        CaseStart,
        Closure,
        CrossCentreEntry,
        CrossCentreService,
        Failure,
        FieldEntry,
        MaterialEntry,
        MilestoneEntry,
        NotEligibleEntry,
        TripEntry,
        TripRecord,
        WithdrawalEntry,
    )
    from workflows.fields import check_value

MAX_CLOSING_REASON = 200  # characters: a short reason, never a person's particulars
MAX_NAME = 64  # an account's username or a centre's id

_KEY_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_KEY_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_KEY_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)


def _not_current(problem: str) -> ApplicationError:
    return ApplicationError(problem, {"field": "step"}, type="NotCurrentStep")


def _case_closed() -> ApplicationError:
    return ApplicationError("the case is closed", {"field": "case"}, type="CaseClosed")


def failure_of(case: CaseState, exc: FailureError) -> Failure:
    step = case.current
    cause = exc.cause if isinstance(exc, ActivityError) else None
    refused = isinstance(cause, ApplicationError) and cause.type in ports.NON_RETRYABLE
    return Failure(
        cause="agency_refused" if refused else "workflow_error",
        step=step.spec.id if step else None,
        agency=step.spec.agency if step and refused else None,
        at=workflow.now(),
    )


@workflow.defn(name="BundleWorkflow")
class BundleWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._case = CaseState(start)

    # -- the case ---------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseProgress:
        case = self._case
        workflow.upsert_search_attributes(
            [
                _KEY_BUNDLE.value_set(start.bundle.id),
                _KEY_CENTRE.value_set(start.centre),
                _KEY_AWAITING.value_set("lookup"),
            ]
        )
        flusher = asyncio.create_task(case.flush_friction())
        deliverer = asyncio.create_task(deliver_notifications(case))
        await self._record_case()
        try:
            await self._run_steps()
        except AgencyGaveUp as gave_up:
            self._failed(Failure(cause="agency_outage", step=gave_up.step,
                                 agency=gave_up.agency, at=workflow.now()))
        except FailureError as exc:
            # An activity or child that failed for good (an agency refusing the request,
            # a bug): the case ends as failed and says why, never open with its workflow
            # ended.
            workflow.logger.error("case %s failed: %s", start.case_id, exc)
            self._failed(failure_of(case, exc))
        if case.failure is not None and case.status == "failed" and case.waits_out_outages:
            case.mark_failed()
        else:
            case.set_awaiting("nobody", None)
        notify_end(case)
        await self._record_case()
        case.closing = True
        await flusher
        await deliverer
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    async def _run_steps(self) -> None:
        case = self._case
        await look_up(case)
        for s in case.steps:
            rules.review(case, s)  # the first notice names what the rules find, too
        case.outstanding_at_first_trip = case.outstanding()
        for step in case.steps:
            if not await run_step(case, step):
                case.status = "failed" if case.closure is None else case.closure.outcome
                return
        case.status = "completed"

    def _failed(self, failure: Failure) -> None:
        case = self._case
        case.failure = failure
        case.status = "failed"
        step = case.current
        if step is not None and step.status not in ("approved", "skipped"):
            step.status = "failed"

    async def _record_case(self) -> None:
        record = case_record(self._case, workflow.info().start_time, workflow.now())
        await store_call(ports.RECORD_CASE, record, f"notebook: record the case ({record.status})")

    @workflow.signal(name=CALENDAR_PUBLISHED)
    def calendar_published(self, calendar: WorkingCalendar) -> None:
        """A newer schedule (a year's notice published or corrected): the SLAs not yet
        passed count by it from now on; a breach already recorded stays recorded."""
        self._case.calendar = calendar
        for step in self._case.steps:
            if step.started_at is not None and step.finished_at is None:
                self._case.set_due(step)
                self._case.due_moved(step)

    @workflow.query(name=PROGRESS)
    def progress(self) -> CaseProgress:
        return progress_of(self._case)

    @workflow.query(name=ACCESS)
    def access(self) -> CaseAccess:
        """Who may see the case: its home centre and the clerks serving it from another."""
        case = self._case
        return CaseAccess(case_id=case.start.case_id, centre=case.start.centre,
                          served_elsewhere=tuple(case.served_elsewhere))

    # -- serving a case at another centre (通办) -------------------------------------------

    @workflow.update(name=SERVE_ELSEWHERE)
    def serve_elsewhere(self, entry: CrossCentreEntry) -> CaseAccess:
        """A clerk of another centre serves the case from now on; kept with workflow time
        so its home centre sees who, from where, when and why."""
        self._case.served_elsewhere.append(CrossCentreService(
            actor=entry.actor.strip(), centre=entry.centre.strip(),
            reason=entry.reason.strip(), at=workflow.now()))
        return self.access()

    @serve_elsewhere.validator
    def _check_serve_elsewhere(self, entry: CrossCentreEntry) -> None:
        if not entry.actor.strip() or len(entry.actor) > MAX_NAME:
            raise invalid("actor", f"name who serves the case in 1-{MAX_NAME} characters")
        if not entry.centre.strip() or len(entry.centre) > MAX_NAME:
            raise invalid("centre", f"name the serving centre in 1-{MAX_NAME} characters")
        if entry.centre.strip() == self._case.start.centre:
            raise invalid("centre", "the case is this centre's own")
        if not entry.reason.strip():
            raise invalid("reason", "say briefly why the case is served at another centre")
        if len(entry.reason) > MAX_CLOSING_REASON:
            raise invalid("reason", f"at most {MAX_CLOSING_REASON} characters")

    # -- the clerk's inputs -----------------------------------------------------------------

    def _step_awaiting_input(self, step_id: str) -> StepState:
        case = self._case
        step = case.current
        if case.status != "open" or step is None or step.spec.id != step_id:
            current = step.spec.id if step else "none"
            raise _not_current(f"step {step_id!r} is not the current step (current: {current})")
        if step.status not in ("awaiting_clerk", "rejected"):
            raise _not_current(
                f"step {step_id!r} is with the agency; input is taken again if it is rejected"
            )
        return step

    @workflow.update(name=SUBMIT_FIELDS)
    def submit_fields(self, entry: FieldEntry) -> CaseProgress:
        case = self._case
        step = self._step_awaiting_input(entry.step)
        fields = {f.name: f for f in step.spec.fields}
        for name, value in entry.values.items():
            spec = fields[name]
            typed = value.upper() if spec.type == "id_number" else value
            known = None
            if name in step.prefilled and name in step.values:
                shown = step.sources.get(name)
                if (
                    shown is not None
                    and typed == step.values[name]
                    and name not in step.reentered
                    and workflow.patched("reentry-over-prefill")
                ):
                    known = shown  # typed again although the form showed it
                elif typed != step.values[name]:
                    step.sources.pop(name, None)  # a correction of a prefilled value
            elif spec.concept in case.dossier and name not in step.reentered:
                known = case.dossier[spec.concept].source
            if known is not None:
                first_of_form = not step.reentered
                step.reentered.add(name)
                case.emit(detectors.reentered_value(
                    case.event_base, step.spec.id, name, known,
                    entry.typed_seconds.get(name), first_of_form,
                ))
            step.values[name] = typed
        case.typing_seconds += sum(entry.typed_seconds.values())
        step.awaiting_resubmit = False
        case.served_at = workflow.now()
        rules.review(case, step)
        return self.progress()

    @submit_fields.validator
    def _check_fields(self, entry: FieldEntry) -> None:
        step = self._step_awaiting_input(entry.step)
        fields = {f.name: f for f in step.spec.fields}
        today = local_date(workflow.now())
        for name, value in entry.values.items():
            if name not in fields:
                raise invalid(name, f"no such field in step {entry.step!r}")
            problem = check_value(fields[name], value, today)
            if problem:
                raise invalid(name, problem)
        for name, seconds in entry.typed_seconds.items():
            if name not in entry.values or not 0 <= seconds < 3600:
                raise invalid(f"typed_seconds.{name}", "must time a submitted field, 0-3600 s")

    @workflow.update(name=RECORD_MATERIAL)
    def record_material(self, entry: MaterialEntry) -> CaseProgress:
        case = self._case
        step = self._step_awaiting_input(entry.step)
        spec = next(m for m in step.spec.materials if m.name == entry.material)
        if entry.form == "paper":
            held = case.certificates.get(spec.ecert) if spec.ecert else None
            case.emit(detectors.paper_despite_record(
                case.event_base, step.spec.id, spec.name, held))
            step.materials[spec.name] = "received_paper"
        else:
            step.materials[spec.name] = "held_ecert"
        case.served_at = workflow.now()
        rules.review(case, step)
        return self.progress()

    @record_material.validator
    def _check_material(self, entry: MaterialEntry) -> None:
        step = self._step_awaiting_input(entry.step)
        spec = next((m for m in step.spec.materials if m.name == entry.material), None)
        if spec is None:
            raise invalid("material", f"no material {entry.material!r} in step {entry.step!r}")
        if entry.form == "ecert" and (
            spec.ecert is None or spec.ecert not in self._case.certificates
        ):
            raise invalid("form", f"no e-certificate on file holds {entry.material!r}")

    @workflow.update(name=RECORD_TRIP)
    def record_trip(self, entry: TripEntry) -> CaseProgress:
        case = self._case
        case.trips += 1
        trips.count_trip(case, trips.today())
        case.served_at = workflow.now()
        case.trip_records.append(TripRecord(at=workflow.now(), actor=entry.actor))
        if case.current is not None and case.current.rules():
            case.current.recheck = True  # judged again as of the day of the return
        case.emit(detectors.return_visit(
            case.event_base, case.current.spec.id if case.current else None,
            case.trips, tuple(dict.fromkeys(entry.reasons)), case.outstanding_at_first_trip,
            (entry.again_today_reason or "").strip() or None if entry.again_today else None,
        ))
        return self.progress()

    @record_trip.validator
    def _check_trip(self, entry: TripEntry) -> None:
        if self._case.status != "open":
            raise _case_closed()
        trips.check_trip(self._case, entry, trips.today())
        if len(entry.actor) > MAX_NAME:
            raise invalid("actor", f"at most {MAX_NAME} characters")

    @workflow.update(name=RECORD_MILESTONE)
    def record_milestone(self, entry: MilestoneEntry) -> CaseProgress:
        step = self._case.current
        assert step is not None
        step.milestones_done[entry.milestone] = (workflow.now(), entry.actor, entry.evidence_ref)
        return self.progress()

    @record_milestone.validator
    def _check_milestone(self, entry: MilestoneEntry) -> None:
        step = self._case.current
        if self._case.status != "open" or step is None or step.spec.id != entry.step:
            raise _not_current(f"step {entry.step!r} is not the current step")
        if step.status != "awaiting_worker":
            raise _not_current(
                f"step {entry.step!r} takes no milestone now (it is {step.status})")
        spec = next((m for m in step.spec.milestones if m.id == entry.milestone), None)
        if spec is None:
            raise invalid("milestone", f"no milestone {entry.milestone!r} in {entry.step!r}")
        if entry.milestone in step.milestones_done:
            raise invalid("milestone", f"{entry.milestone!r} is recorded already")
        if not entry.actor.strip() or len(entry.actor) > 64:
            raise invalid("actor", "name who did it in 1-64 characters")
        if spec.evidence != "none" and not (entry.evidence_ref or "").strip():
            raise invalid("evidence_ref", f"a {spec.evidence} reference is required")
        if entry.evidence_ref is not None and len(entry.evidence_ref) > 200:
            raise invalid("evidence_ref", "at most 200 characters")

    # -- a case that cannot be completed today ends cleanly -----------------------------------

    def _step_awaiting_closure(self, outcome: str) -> StepState:
        """The current step when the case may close now: waiting on the clerk (or, for a
        withdrawal, on the field worker too), not while an agency or a look-up is at work."""
        case = self._case
        if case.status != "open" or case.closure is not None:
            raise _case_closed()
        step = case.current
        waiting = ("awaiting_clerk", "rejected", "awaiting_worker")
        if step is None or step.status not in waiting or (
            outcome == "not_eligible" and step.status == "awaiting_worker"
        ):
            raise _not_current(
                f"the case cannot close as {outcome} now: "
                + ("it is being looked up" if step is None else f"the step is {step.status}")
                + "; try again when it waits on the clerk"
            )
        return step

    @staticmethod
    def _check_closing_words(actor: str, reason: str | None, required: bool) -> None:
        if not actor.strip() or len(actor) > 64:
            raise invalid("actor", "name who closes the case in 1-64 characters")
        if required and not (reason or "").strip():
            raise invalid("reason", "say briefly why the case is not eligible")
        if reason is not None and len(reason) > MAX_CLOSING_REASON:
            raise invalid("reason", f"at most {MAX_CLOSING_REASON} characters")

    @workflow.update(name=CLOSE_NOT_ELIGIBLE)
    def close_not_eligible(self, entry: NotEligibleEntry) -> CaseProgress:
        step = self._step_awaiting_closure("not_eligible")
        self._case.closure = Closure(
            outcome="not_eligible", actor=entry.actor.strip(), at=workflow.now(),
            step=step.spec.id, reason=entry.reason.strip(), findings=rules.failed_rules(step),
        )
        return self.progress()

    @close_not_eligible.validator
    def _check_not_eligible(self, entry: NotEligibleEntry) -> None:
        step = self._step_awaiting_closure("not_eligible")
        if not rules.failed_rules(step):
            raise _not_current(
                f"step {step.spec.id!r} fails no material rule: it is not a case of "
                "not eligible (withdraw it, or register it as can't get it done)"
            )
        self._check_closing_words(entry.actor, entry.reason, required=True)

    @workflow.update(name=WITHDRAW)
    def withdraw(self, entry: WithdrawalEntry) -> CaseProgress:
        step = self._step_awaiting_closure("withdrawn")
        reason = (entry.reason or "").strip() or None
        self._case.closure = Closure(
            outcome="withdrawn", actor=entry.actor.strip(), at=workflow.now(),
            step=step.spec.id, reason=reason,
        )
        return self.progress()

    @withdraw.validator
    def _check_withdrawal(self, entry: WithdrawalEntry) -> None:
        self._step_awaiting_closure("withdrawn")
        self._check_closing_words(entry.actor, entry.reason, required=False)
