"""Request and response bodies of the can't-get-it-done register, and the parameter that
names a registered case."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar.params import Parameter
from msgspec import Meta

from friction import notebook
from gateway.errors import Name
from workflows.register_case import TaskForceEntry

MAX_EXPLANATION_CHARS = 2000
MAX_DEPARTMENTS = 20
MAX_BODY_BYTES = 64 * 1024  # 413 beyond

# A register entry may come from a channel outside the platform, so any plain case number.
CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
RegisterCaseId = Annotated[str, Parameter(pattern=f"^{CASE_NUMBER.pattern}$")]


class RegisterBody(msgspec.Struct, kw_only=True, frozen=True):
    # An existing case's number; none for a walk-in.
    case_id: Annotated[str, Meta(max_length=64)] = ""
    bundle: Name
    centre: Annotated[Name, Meta(description="a service centre of this installation")]
    department: Name
    cause: Name
    step: Name | None = None
    # A walk-in with no case yet: registered under a WALKIN- number the register makes.
    walk_in: bool = False


class ResolutionBody(msgspec.Struct, kw_only=True, frozen=True):
    """The answer to a registered case. Who answers is the logged-in account, recorded as
    the resolution's actor; an `actor` in the body is ignored."""

    resolution: Name  # "resolved" | "cannot_be_done", checked by the case's workflow
    explanation: Annotated[str, Meta(max_length=MAX_EXPLANATION_CHARS)]


class TaskForceBody(TaskForceEntry, kw_only=True, frozen=True):
    lead: Name
    departments: Annotated[tuple[Name, ...], Meta(min_length=1, max_length=MAX_DEPARTMENTS)]


class Register(msgspec.Struct, kw_only=True, frozen=True):
    cases: tuple[notebook.RegisterEntry, ...]
