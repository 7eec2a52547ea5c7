"""Finding and masking personal values in text bound for the notebook.

Only the two values that identify a person on their own and that clerks type most often
are detected: resident ID numbers and mobile numbers. Free text (a clerk's note) is
masked; identifiers and names of fields are refused outright if they hold one, since
masking would change what they identify.
"""

from __future__ import annotations

import re

ID_LABEL = "[身份证号]"
PHONE_LABEL = "[手机号]"

# A resident ID number: 6-digit region, birth date YYYYMMDD, 3-digit sequence and a check
# digit or X. The birth date is required to look like one (years 18xx-20xx) so that long
# digit runs in other identifiers are not mistaken for IDs; the check digit is not
# verified because a mistyped ID number is still personal.
_ID = (
    r"(?<![0-9])"
    r"[0-9]{6}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
    r"(?![0-9Xx])"
)
# A mainland mobile number, optionally with +86 and written 3-4-4 with spaces or dashes.
# Bounded by letters too: hex identifiers (trace ids, hashes) often contain 11-digit runs.
_PHONE = (
    r"(?<![0-9A-Za-z])"
    r"(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}"
    r"(?![0-9A-Za-z])"
)
_PERSONAL = re.compile(f"(?P<id>{_ID})|(?P<phone>{_PHONE})")
# What every match above holds: 11 digits in a row once the "-" and " " that may part a
# mobile number's groups are dropped (an ID number has 17). Digits, "-" and " " are
# written as they are in JSON, so the JSON of a value whose strings hold a personal value
# holds such a run too. Bytes map to "0" (a digit) or "." (anything else) and a run is
# looked for as a substring: C speed, where the regex above walks every position.
_DIGIT_OR_NOT = bytes(b"0"[0] if b"0"[0] <= i <= b"9"[0] else b"."[0] for i in range(256))
_RUN = b"0" * 11


def find_personal_values(text: str) -> list[str]:
    """The ID numbers and mobile numbers in `text`, in order of appearance."""
    return [m.group(0) for m in _PERSONAL.finditer(text)]


def has_personal_value(text: str) -> bool:
    return _PERSONAL.search(text) is not None


def may_hold_personal_value(encoded: bytes) -> bool:
    """False if the JSON (or any UTF-8 text) `encoded` surely holds no ID or mobile number
    in any of its strings; True if it might (then look closer with has_personal_value). A
    quick first pass: most values have none."""
    return _RUN in encoded.translate(_DIGIT_OR_NOT, b"- ")


def mask(text: str) -> str:
    """`text` with every ID number and mobile number replaced by a label naming its kind."""
    return _PERSONAL.sub(lambda m: ID_LABEL if m.group("id") else PHONE_LABEL, text)
