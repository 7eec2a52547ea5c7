"""A refused value in the reader's words: the field's label and what is wrong with it,
for the error summary at the top of a form and the message beside the field.

The workflow and the gateway word a refusal in English as "<field>: <what is wrong>"
(workflows.fields); the page looks the words up in the catalogue, and says only that the
value is wrong where the catalogue has no translation of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request
from litestar.plugins.problem_details import ProblemDetailsException

from gateway.console.pages import problem_field, problem_text, reason_words
from gateway.i18n import request_lang


class FieldError(msgspec.Struct, kw_only=True, frozen=True):
    field: str  # the name the refusal gives
    anchor: str  # the id of the input on the page, what the summary links to
    message: str  # "<label>: <what is wrong>" in the reader's language


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
                      message=f"{label}{colon}{reason_words(request, problem)}")
