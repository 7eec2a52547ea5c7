"""Which centre's cases an account may see and act on, decided in one place.

Every route handler declares its centre policy in its `opt` (`centre_policy(...)`); one
guard (`centre_guard`, on the whole app) enforces the case-scoped ones before the handler
runs, from what the case's workflow says about itself (`CaseAccess`: its home centre and
who serves it from elsewhere). The route table's tests refuse a handler that declares no
policy, so a new endpoint cannot escape the check.

- "case": the path's `case_id` names a bundle case; the account must work at its home
  centre, or have served it from elsewhere (通办) with a stated reason.
- "cross_centre": the act of serving a case of another centre; only an account that may
  serve elsewhere, and not on its own centre's case.
- "own_centres": lists of cases, limited to the account's centres (`listed_centres`).
- "opening": the case opened is at one of the account's centres (`check_opening`).
- "none": no case's personal data (the notebook, reports, the register, public pages).

A clerk of another centre is refused with 403 naming `centre` rather than a 404: case
numbers carry eight random characters, so a number is not guessed, and the answer tells
a clerk who may serve elsewhere what to do.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal, get_args

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from gateway.accounts import Account
from gateway.errors import problem
from kernel.case_number import CASE_ID_PATTERN
from workflows.case import CaseAccess

CENTRE_POLICY = "centre_policy"
CentrePolicy = Literal["case", "cross_centre", "own_centres", "opening", "none"]
CENTRE_POLICIES: tuple[str, ...] = get_args(CentrePolicy)
CASE_SCOPED: tuple[CentrePolicy, ...] = ("case", "cross_centre")
# The app's state key of the lookup the guard asks for a case's CaseAccess.
CASE_ACCESS_STATE = "case_access"
CROSS_CENTRE_PATH = "/api/cases/{case_id}/cross-centre"
_CASE_ID = re.compile(CASE_ID_PATTERN)

AccessLookup = Callable[[str], Awaitable[CaseAccess]]
HOME_CENTRES_KEPT = 100_000  # cases whose home centre a gateway remembers, latest used


class CaseAccessLookup:
    """The case access the guard asks each case's workflow for (`read`), with each case's
    home centre remembered: it is fixed when the case opens and never changes, so a
    clerk of that centre is let through without asking the case again (a query, as slow
    as the click's own). Who serves a case from elsewhere does change: anyone else is
    judged by a fresh answer every time."""

    def __init__(self, read: AccessLookup, kept: int = HOME_CENTRES_KEPT) -> None:
        self._read = read
        self._kept = kept
        self._homes: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, case_id: str) -> CaseAccess:
        access = await self._read(case_id)
        self.remember(case_id, access.centre)
        return access

    def remember(self, case_id: str, centre: str) -> None:
        self._homes[case_id] = centre
        self._homes.move_to_end(case_id)
        while len(self._homes) > self._kept:
            self._homes.popitem(last=False)

    def home_of(self, case_id: str) -> str | None:
        home = self._homes.get(case_id)
        if home is not None:
            self._homes.move_to_end(case_id)
        return home


def remember_home(connection: ASGIConnection[Any, Any, Any, Any], case_id: str,
                  centre: str) -> None:
    """A case this gateway just opened at `centre`: its clerk's next click needs no
    question to the case."""
    lookup = connection.app.state.get(CASE_ACCESS_STATE)
    if isinstance(lookup, CaseAccessLookup):
        lookup.remember(case_id, centre)


def centre_policy(policy: CentrePolicy) -> dict[str, Any]:
    """A handler's `opt` declaring its centre policy."""
    return {CENTRE_POLICY: policy}


def _account(connection: ASGIConnection[Any, Any, Any, Any]) -> Account:
    user = connection.scope.get("user")
    if not isinstance(user, Account):
        raise NotAuthorizedException("log in first")
    return user


def may_act_on(account: Account, access: CaseAccess) -> bool:
    """Whether `account` may see and act on the case: its home centre's, or served by
    this account from elsewhere."""
    return account.serves(access.centre) or any(
        s.actor == account.username for s in access.served_elsewhere)


async def centre_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The case-scoped policies, enforced before the handler reads the case."""
    policy = handler.opt.get(CENTRE_POLICY)
    if policy not in CASE_SCOPED:
        return
    account = _account(connection)
    case_id = connection.path_params.get("case_id")
    if not isinstance(case_id, str) or not _CASE_ID.fullmatch(case_id):
        return  # not a case number: the handler's own validation refuses it
    lookup: AccessLookup = connection.app.state[CASE_ACCESS_STATE]
    if policy == "case" and isinstance(lookup, CaseAccessLookup):
        home = lookup.home_of(case_id)
        if home is not None and account.serves(home):
            return  # its own centre's clerk: nothing the case could say would refuse it
    access = await lookup(case_id)
    if policy == "case" and not may_act_on(account, access):
        how = (f"; to serve it here, state why: POST {CROSS_CENTRE_PATH}"
               if account.serves_elsewhere else "")
        raise problem(403, "Another centre's case",
                      f"case {case_id} belongs to centre {access.centre}, not one you "
                      f"work at{how}", field="centre", case_id=case_id)
    if policy == "cross_centre":
        if account.serves(access.centre):
            raise problem(409, "Your centre's case",
                          f"case {case_id} belongs to your centre {access.centre}",
                          field="centre", case_id=case_id)
        if not account.serves_elsewhere:
            raise problem(403, "Not allowed to serve elsewhere",
                          "this account may not serve cases of other centres",
                          field="serves_elsewhere", case_id=case_id)


def check_opening(account: Account, centre: str) -> None:
    """A case opens at one of the account's centres (403 naming `centre` otherwise)."""
    if not account.serves(centre):
        raise problem(403, "Not your centre",
                      f"centre: {centre!r} is not a centre you work at "
                      f"({', '.join(account.centres) or 'none'})", field="centre")


def listed_centres(account: Account, asked: str | None) -> tuple[str, ...] | None:
    """The centres a list of cases may show: the one asked for if the account works
    there (403 naming `centre` otherwise), else all of the account's; None: every centre
    (an admin, or a city-wide service)."""
    if asked is not None:
        check_opening(account, asked)
        return (asked,)
    if account.serves(None):
        return None
    return account.centres
