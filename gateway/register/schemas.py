"""Request and response bodies of the can't-get-it-done register, and the parameter that
names a registered case."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar.params import Parameter

from friction import notebook

# A register entry may come from a channel outside the platform, so any plain case number.
CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
RegisterCaseId = Annotated[str, Parameter(pattern=f"^{CASE_NUMBER.pattern}$")]


class RegisterBody(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str = ""  # an existing case's number; none for a walk-in
    bundle: str
    centre: str
    department: str
    cause: str
    step: str | None = None
    # A walk-in with no case yet: registered under a WALKIN- number the register makes.
    walk_in: bool = False


class ResolutionBody(msgspec.Struct, kw_only=True, frozen=True):
    """The answer to a registered case. Who answers is the logged-in account, recorded as
    the resolution's actor; an `actor` in the body is ignored."""

    resolution: str
    explanation: str


class Register(msgspec.Struct, kw_only=True, frozen=True):
    cases: tuple[notebook.RegisterEntry, ...]
