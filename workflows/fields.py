"""Checks on values a clerk types, run in update validators before anything enters history.

Each check returns None for a good value or a message naming what is wrong; the caller
adds the field's name.
"""

from __future__ import annotations

import re
from datetime import date

from workflows.definition import FieldSpec

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"\d{17}[\dX]")
_PHONE_SHAPE = re.compile(r"1[3-9]\d{9}")
_BANK_SHAPE = re.compile(r"\d{12,19}")
MAX_TEXT = 200


def N_(message: str) -> str:
    """Marks a message for the console's catalogues, which say it in the reader's words."""
    return message


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character of a resident identity number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def check_id_number(value: str, today: date) -> str | None:
    value = value.upper()
    if not _ID_SHAPE.fullmatch(value):
        return N_("must be 18 characters: 17 digits and a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return N_("holds no valid birth date")
    if born > today:
        return N_("holds a birth date in the future")
    if id_check_digit(value[:17]) != value[17]:
        return N_("has a wrong check digit")
    return None


def check_date(value: str, today: date) -> str | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return N_("must be a date as YYYY-MM-DD")
    if day > today:
        return N_("must not be in the future")
    return None


def check_value(spec: FieldSpec, value: str, today: date) -> str | None:
    if not value.strip():
        return N_("must not be empty")
    match spec.type:
        case "id_number":
            return check_id_number(value, today)
        case "date":
            return check_date(value, today)
        case "term_date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return N_("must be a date as YYYY-MM-DD")
        case "enum":
            if value not in spec.options:
                return f"must be one of {', '.join(spec.options)}"
        case "phone":
            if not _PHONE_SHAPE.fullmatch(value):
                return N_("must be an 11-digit mobile number")
        case "bank_account":
            if not _BANK_SHAPE.fullmatch(value):
                return N_("must be 12 to 19 digits")
        case "text":
            if len(value) > MAX_TEXT:
                return f"must be at most {MAX_TEXT} characters"
    return None
