"""Counting residents' personal values in bytes: what a scan of the disk after a demo looks
for, and the control that proves the scan would see them.

A value is looked for as the UTF-8 bytes a JSON or text writer leaves and, for names and
addresses, as JSON's \\u escapes too, since some writers escape every non-ASCII character.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import msgspec

from deploy.sim.population import Citizen

KINDS = ("id_number", "phone", "name", "address")


def _forms(value: str) -> set[bytes]:
    forms = {value.encode()}
    escaped = json.dumps(value)[1:-1].encode()  # "\u738b\u4f1f"
    forms.add(escaped)
    forms.add(escaped.lower())
    return forms


class PersonalValues:
    """Every personal value of a population, by kind."""

    def __init__(self, citizens: Iterable[Citizen]) -> None:
        self.needles: dict[str, set[bytes]] = {kind: set() for kind in KINDS}
        for citizen in citizens:
            for kind in KINDS:
                self.needles[kind] |= _forms(getattr(citizen, kind))

    def count(self, haystack: bytes) -> Counter[str]:
        """How many values of each kind occur in `haystack` (a value counted once per
        occurrence of any of its forms)."""
        found: Counter[str] = Counter()
        for kind, needles in self.needles.items():
            found[kind] += sum(haystack.count(n) for n in needles)
        return found

    def scan_folder(self, folder: Path) -> dict[str, Counter[str]]:
        """Hits per file (relative path) under `folder`; files without a hit are left out."""
        hits: dict[str, Counter[str]] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            found = self.count(path.read_bytes())
            if +found:
                hits[str(path.relative_to(folder))] = +found
        return hits


def total(hits: dict[str, Counter[str]]) -> Counter[str]:
    summed: Counter[str] = Counter({kind: 0 for kind in KINDS})
    for found in hits.values():
        summed.update(found)
    return summed


def citizens_of(body: bytes) -> list[Citizen]:
    return msgspec.json.decode(body, type=list[Citizen])
