"""What the access log's readers get."""

from __future__ import annotations

import msgspec

from friction.store import AccessEntry


class AccessLogView(msgspec.Struct, kw_only=True, frozen=True):
    entries: tuple[AccessEntry, ...]  # newest first
    limit: int  # at most this many; narrow the period for more
