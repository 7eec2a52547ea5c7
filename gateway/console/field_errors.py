"""A refused value in the reader's words: the field's label and what is wrong with it,
for the error summary at the top of a form and the message beside the field.

The workflow and the gateway word a refusal in English as "<field>: <what is wrong>"
(workflows.fields); the page looks the words up in the catalogue, and says only that the
value is wrong where the catalogue has no translation of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request
from litestar.plugins.problem_details import ProblemDetailsException

from gateway.console.pages import N_, problem_field, problem_text, tr
from gateway.i18n import request_lang

# What workflows.fields says of a value, for the catalogue; each pattern's groups fill
# the message's placeholders. Fixed words are looked up as they are.
FIELD_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"must be one of (?P<options>.+)"), N_("must be one of %(options)s")),
    (re.compile(r"must be at most (?P<n>\d+) characters"),
     N_("must be at most %(n)s characters")),
)
FIXED_PROBLEMS = (
    N_("must not be empty"),
    N_("must be 18 characters: 17 digits and a digit or X"),
    N_("holds no valid birth date"),
    N_("holds a birth date in the future"),
    N_("has a wrong check digit"),
    N_("must be a date as YYYY-MM-DD"),
    N_("must not be in the future"),
    N_("must be an 11-digit mobile number"),
    N_("must be 12 to 19 digits"),
)
UNKNOWN_PROBLEM = N_("is not accepted: please check it")


class FieldError(msgspec.Struct, kw_only=True, frozen=True):
    field: str  # the name the refusal gives
    anchor: str  # the id of the input on the page, what the summary links to
    message: str  # "<label>: <what is wrong>" in the reader's language


def problem_words(request: Request[Any, Any, Any], problem: str) -> str:
    """What is wrong, in the reader's language."""
    for pattern, message in FIELD_PROBLEMS:
        if found := pattern.fullmatch(problem):
            return tr(request, message) % found.groupdict()
    said = tr(request, problem)
    if said == problem and request_lang(request) != "en":
        return tr(request, UNKNOWN_PROBLEM)  # English words the catalogue does not know
    return said


def field_error(
    request: Request[Any, Any, Any],
    exc: ProblemDetailsException,
    fields: Mapping[str, tuple[str, str]],
) -> FieldError | None:
    """The refusal of a field the form shows (`fields`: name -> input id and label already
    in the reader's language); None when it names none of them."""
    field = problem_field(exc)
    if field is None or field not in fields:
        return None
    anchor, label = fields[field]
    text = problem_text(exc)
    problem = text.removeprefix(f"{field}: ")
    colon = "：" if request_lang(request) == "zh" else ": "
    return FieldError(field=field, anchor=anchor,
                      message=f"{label}{colon}{problem_words(request, problem)}")
