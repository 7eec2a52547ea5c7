"""Case numbers a citizen can read out at a window: a date and eight characters.

Pure functions, shared by the gateway (cases opened at a window or online) and by the
proactive allowance match (cases the system opens itself), so every case number has the
one shape the console, the API and the tracking page accept.
"""

from __future__ import annotations

from datetime import date

from kernel.pseudonym import keyed_ref

CASE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out at a window
CASE_ID_PATTERN = r"^\d{8}-[2-9A-Z]{8}$"
TAIL_LENGTH = 8


def case_tail(digest: bytes) -> str:
    """Eight case-number characters from the first eight bytes of a digest."""
    if len(digest) < TAIL_LENGTH:
        raise ValueError(f"a case number tail needs {TAIL_LENGTH} bytes of digest")
    return "".join(CASE_ALPHABET[b % len(CASE_ALPHABET)] for b in digest[:TAIL_LENGTH])


def case_number(day: date, tail: str) -> str:
    return f"{day:%Y%m%d}-{tail}"


def allowance_case_id(month: str, citizen_id_number: str, key: bytes) -> str:
    """The case number of a citizen's proactive allowance case for `month` (YYYY-MM):
    the month's first day and a tail from a keyed HMAC of month and ID number. The same
    month and citizen always name the same case, so a re-run opens nothing twice; without
    the key nobody can tell whose case a number is, or enumerate ID numbers to find out."""
    digest = bytes.fromhex(keyed_ref(f"elderly-allowance\x1f{month}\x1f{citizen_id_number}", key))
    first_day = date.fromisoformat(f"{month}-01")
    return case_number(first_day, case_tail(digest))
