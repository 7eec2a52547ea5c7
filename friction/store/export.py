"""The event log for the OCEL export: cases and events a page per read transaction, so
no lock is held between pages however long the reader takes."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.store.engine import Cursor, Engine, dt, opt_dt, window
from kernel.events import CaseRecord, FrictionEvent, StepRecord

__all__ = ["PAGE", "ExportSql", "ExportStore"]

PAGE = 1000  # rows per read transaction when iterating cases or events

_CASE_COLUMNS = """case_id, bundle, bundle_version, centre, channel, status, opened_at, closed_at,
       trips, fields_total, fields_prefilled, working_days, clerk_minutes"""
_STEP_COLUMNS = """case_id, step, ordinal, status, started_at, finished_at, working_days, rounds,
       fields_total, fields_prefilled"""
# In key order, so each page is an index range.
_PAGE_CASES = f"""
SELECT {_CASE_COLUMNS} FROM cases
WHERE case_id > ? AND opened_at >= ? AND opened_at < ? ORDER BY case_id LIMIT ?"""
_PAGE_EVENTS = """
SELECT event_id, body FROM events
WHERE event_id > ? AND occurred_at >= ? AND occurred_at < ? ORDER BY event_id LIMIT ?"""


@runtime_checkable
class ExportStore(Protocol):
    """What the OCEL export reads."""

    def iter_cases(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[CaseRecord]:
        """Cases opened in [since, until) with their steps, read a page at a time."""
        ...

    def iter_events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[FrictionEvent]:
        """Events that occurred in [since, until), read a page at a time."""
        ...


class ExportSql:
    """ExportStore in SQL."""

    _engine: Engine
    _decoder: msgspec.json.Decoder[FrictionEvent]

    def iter_cases(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[CaseRecord]:
        start, end = window(since, until)
        last = ""
        while True:
            page = self._engine.read(
                functools.partial(self._case_page, after=last, start=start, end=end)
            )
            yield from page
            if len(page) < PAGE:
                return
            last = page[-1].case_id

    def _case_page(self, cur: Cursor, after: str, start: str, end: str) -> list[CaseRecord]:
        cur.execute(self._engine.sql(_PAGE_CASES), (after, start, end, PAGE))
        rows = cur.fetchall()
        steps: dict[str, list[StepRecord]] = {row[0]: [] for row in rows}
        if rows:
            cur.execute(
                self._engine.dialect.sql(
                    f"SELECT {_STEP_COLUMNS} FROM case_steps"
                    f" WHERE case_id IN ({','.join('?' * len(rows))}) ORDER BY case_id, ordinal"
                ),
                [row[0] for row in rows],
            )
            for (case_id, step, _, status, started, finished, wdays, rounds, total,
                 prefilled) in cur.fetchall():
                steps[case_id].append(
                    StepRecord(
                        step=step, status=status, started_at=opt_dt(started),
                        finished_at=opt_dt(finished), working_days=wdays, rounds=rounds,
                        fields_total=total, fields_prefilled=prefilled,
                    )
                )
        return [
            CaseRecord(
                case_id=case_id, bundle=bundle, bundle_version=version, centre=centre,
                channel=channel, status=status, opened_at=dt(opened),
                closed_at=opt_dt(closed), trips=trips, fields_total=total,
                fields_prefilled=prefilled, working_days=wdays, clerk_minutes=float(clerk),
                steps=tuple(steps[case_id]),
            )
            for (case_id, bundle, version, centre, channel, status, opened, closed, trips,
                 total, prefilled, wdays, clerk) in rows
        ]

    def iter_events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[FrictionEvent]:
        start, end = window(since, until)
        last = ""
        while True:
            rows = self._engine.fetch(_PAGE_EVENTS, (last, start, end, PAGE))
            for _, body in rows:
                yield self._decoder.decode(body)
            if len(rows) < PAGE:
                return
            last = rows[-1][0]
