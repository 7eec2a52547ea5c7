"""Referring to a person without holding a personal value.

A plain hash of an ID number is not a pseudonym: there are few enough valid ID numbers
that anyone can hash them all and look the hash up. A keyed HMAC cannot be reversed that
way without the key, which stays outside the notebook (ONETHING_PSEUDONYM_KEY).
"""

from __future__ import annotations

import hashlib
import hmac

REF_LENGTH = 20  # 80 bits of the digest: no collisions at any realistic population


def keyed_ref(value: str, key: bytes) -> str:
    """A stable reference to `value` that only the key holder can reproduce."""
    if not key:
        raise ValueError("keyed_ref needs a non-empty key: an unkeyed hash is enumerable")
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:REF_LENGTH]
