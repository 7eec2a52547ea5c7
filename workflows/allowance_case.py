"""What crosses the boundary of the monthly allowance match (高龄津贴免申即享): its input,
what it carries across continue-as-new, and the summary it returns.

AllowanceMatchWorkflow (workflows.allowance_match) runs once a month from the Temporal
Schedule SCHEDULE_ID, or by hand (`onething allowance-match --month YYYY-MM`). The CLI,
the worker and the tests speak to it only in these Structs.
"""

from __future__ import annotations

import re

import msgspec

from workflows.calendar import WorkingCalendar
from workflows.definition import BundleDefinition
from workflows.ports import AllowanceCandidate

ALLOWANCE_BUNDLE = "elderly-allowance"
MATCH_WORKFLOW = "AllowanceMatchWorkflow"
SCHEDULE_ID = "elderly-allowance-monthly"
# The schedule's runs get this id plus the scheduled time; a run by hand gets the month.
MATCH_WORKFLOW_ID = "elderly-allowance-match"
PROACTIVE_CHANNEL = "proactive"
MEMO_PERSON_REF = "person_ref"  # a case's memo: whose case it is, as a keyed HMAC
# Cases one run opens before it continues as new: each costs the history two events, and
# a history is best kept to a few thousand.
CASES_PER_RUN = 500
# The schedule: the first of each month at 02:00 in China, before anyone's working day.
SCHEDULE_TIME_ZONE = "Asia/Shanghai"
SCHEDULE_DAY_OF_MONTH = 1
SCHEDULE_HOUR = 2

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def check_month(month: str) -> str | None:
    """What is wrong with a month given as YYYY-MM, or None."""
    if not _MONTH.fullmatch(month):
        return "a month is YYYY-MM, e.g. 2026-03"
    if month < "1900-01":
        return "no allowance was paid before 1900"
    return None


def match_workflow_id(month: str) -> str:
    """A run by hand for `month`: starting it again while it runs joins that run."""
    return f"{MATCH_WORKFLOW_ID}-{month}"


class AllowanceMatchSummary(msgspec.Struct, kw_only=True, frozen=True):
    month: str
    candidates: int  # due the allowance in the month and not yet paid
    opened: int  # cases this match opened
    already_open: int  # candidates who have a case already (this month's or an earlier one)
    opened_cases: tuple[str, ...] = ()  # case numbers, never a personal value


class MatchCarry(msgspec.Struct, kw_only=True, frozen=True):
    """What a run hands to the next when it continues as new."""

    bundle: BundleDefinition
    calendar: WorkingCalendar
    remaining: tuple[AllowanceCandidate, ...]
    summary: AllowanceMatchSummary


class AllowanceMatchInput(msgspec.Struct, kw_only=True, frozen=True):
    centre: str  # the service centre whose grid workers confirm the cases
    month: str | None = None  # YYYY-MM; None: the month of the scheduled time, in China
    bundle: str = ALLOWANCE_BUNDLE
    cases_per_run: int = CASES_PER_RUN
    carried: MatchCarry | None = None  # set only by continue-as-new
