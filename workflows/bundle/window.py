"""The service window's hours: a submission attempted within the closing margin waits
for the next opening and is recorded as friction, never a silent stop; a case the clerk
was serving when the window closed is friction too and simply continues at the next
opening.

Only bundles that name a window reach the timers below, so the histories of bundles
without one replay command for command.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Gate, Mechanism

with workflow.unsafe.imports_passed_through():
    from workflows import detectors
    from workflows.opening_hours import cut_off, next_opening, session_at, takes_submissions


def _served_again(case: CaseState, step: StepState,
                  served: datetime | None) -> Callable[[], bool]:
    return lambda: step.finished_at is not None or case.served_at != served


async def watch_closing(case: CaseState, step: StepState) -> None:
    """The window closing on a case the clerk served within the closing margin and that
    still waits on the clerk."""
    window = case.bundle.window
    assert window is not None
    calendar = case.calendar
    watched: datetime | None = None
    while step.finished_at is None:
        served = case.served_at
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
                    timeout_summary=f"{window.run_by} window closes on {step.spec.id}",
                )
                return
            except TimeoutError:
                if step.status in ("awaiting_clerk", "rejected"):
                    reopens = next_opening(window, calendar, session.closes)
                    case.emit(detectors.window_wait(
                        case.event_base, step.spec.id, window.run_by,
                        closes=session.closes, waits_from=session.closes, reopens=reopens,
                        calendar=calendar.id,
                    ))
            continue
        await workflow.wait_condition(_served_again(case, step, served))


class ServiceWindow(Mechanism):
    def watches(self, case: CaseState, step: StepState) -> list[Coroutine[Any, Any, None]]:
        return [] if case.bundle.window is None else [watch_closing(case, step)]

    async def before_submit(self, case: CaseState, step: StepState) -> Gate:
        """The window's hours, after the rules: a submission outside them waits for the
        next opening (the rules are then judged again as of that day)."""
        window = case.bundle.window
        calendar = case.calendar
        now = workflow.now()
        if window is None or takes_submissions(window, calendar, now):
            step.held_until = None
            return "pass"
        opening = next_opening(window, calendar, now)
        session = session_at(window, calendar, now)
        if session is not None and cut_off(window, calendar, now):
            case.emit(detectors.window_wait(
                case.event_base, step.spec.id, window.run_by, closes=session.closes,
                waits_from=now, reopens=opening, calendar=calendar.id,
            ))
        step.status = "awaiting_agency"
        case.set_awaiting("agency", step.spec.id)
        step.held_until = opening
        await workflow.sleep(opening - now, summary=f"{window.run_by} window closed: "
                             f"{step.spec.id} is submitted when it opens")
        step.held_until = None
        return "again"
