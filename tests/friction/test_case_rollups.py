"""The case-level rollups (friction.store.case_rollups) give the reports and the
dashboard exactly the numbers the scans of cases, steps and friction give, on SQLite and
PostgreSQL: on a generated notebook written through the product's own writes (events
before and after their case's record, records replaced, a centre corrected, return
trips, SLA breaches, clerk notes, caseless friction, a case failed by close_ended_case),
for every grouping, bundle, centre and whole-day period; after rebuild_rollups too. A
window that is not whole local days is read from the cases themselves."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from test_dashboard import wait
from test_notebook_store import case, reentry

from friction.store.dashboard import DashboardFilter
from friction.store.sql import SqlFrictionStore
from kernel.china_time import CHINA_TZ
from kernel.events import ClerkNote, FrictionEvent, RepeatTrip, SearchOnlyEntry, StepRecord

# Midnight in China is 16:00 UTC: cases open on both sides of it.
START = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
BUNDLES = ("employment-hardship", "residence-permit")
CENTRES = ("liangxi", "binhu", "xinwu")
STEPS = ("registration", "review")
STATUSES = ("open", "completed", "completed", "not_eligible", "withdrawn", "failed")


def _events(rng: random.Random, case_id: str, bundle: str, centre: str,
            opened: datetime) -> list[FrictionEvent]:
    out: list[FrictionEvent] = []
    for n in range(rng.randint(0, 5)):
        when = opened + timedelta(minutes=rng.randint(0, 600))
        step = rng.choice(STEPS)
        pick = rng.randrange(5)
        event: FrictionEvent
        if pick == 0:
            event = reentry(case_id, 100 + n, rng.choice(("phone", "bank_account")), at=when,
                            bundle=bundle)
        elif pick == 1:
            event = wait(case_id, n, when, centre=centre, bundle=bundle, step=step)
        elif pick == 2:
            event = RepeatTrip(event_id=f"{case_id}/t{n}", occurred_at=when, case_id=case_id,
                               bundle=bundle, step=step, centre=centre, trip_number=n + 2,
                               reasons=("other",), could_have_been_told=())
        elif pick == 3:
            event = ClerkNote(event_id=f"{case_id}/n{n}", occurred_at=when, case_id=case_id,
                              bundle=bundle, step=step, category="form_not_generated",
                              text="表格无法生成", about_kind="manual_reentry")
        else:
            event = wait(case_id, 50 + n, when, centre=centre, bundle=bundle, step=step,
                         scope="queue", sla_seconds=600, actual_seconds=1500)
        out.append(msgspec.structs.replace(event, centre=centre))
    return out


def _record(rng: random.Random, case_id: str, bundle: str, centre: str, opened: datetime,
            status: str) -> object:
    steps = tuple(
        StepRecord(step=s, status=rng.choice(("approved", "pending", "not_eligible")),
                   started_at=opened, finished_at=opened + timedelta(hours=1),
                   working_days=rng.choice((None, 1, 2, 3)), fields_total=6,
                   fields_prefilled=rng.randint(0, 6))
        for s in STEPS[: rng.randint(0, 2)]
    )
    return case(case_id, status, opened=opened, bundle=bundle, centre=centre,
                trips=rng.randint(1, 3), fields_total=12, fields_prefilled=rng.randint(0, 12),
                working_days=rng.choice((None, 2, 5)), clerk_minutes=rng.randint(1, 40) / 4,
                steps=steps)


def notebook(store: SqlFrictionStore, cases: int = 60, seed: int = 7) -> None:
    rng = random.Random(seed)
    for k in range(cases):
        case_id = f"R{k:04d}"
        bundle, centre = rng.choice(BUNDLES), rng.choice(CENTRES)
        opened = START + timedelta(hours=rng.randint(0, 24 * 6), minutes=rng.randint(0, 59))
        events = _events(rng, case_id, bundle, centre, opened)
        half = len(events) // 2
        if rng.random() < 0.3:  # friction before the case's record reaches the notebook
            store.ingest(events[:half])
        store.upsert_case(_record(rng, case_id, bundle, centre, opened, "open"))  # type: ignore[arg-type]
        store.ingest(events)  # the first half again: duplicates change nothing
        if rng.random() < 0.6:
            status = rng.choice(STATUSES)
            # A closing record may correct the centre.
            centre2 = rng.choice(CENTRES) if rng.random() < 0.2 else centre
            store.upsert_case(_record(rng, case_id, bundle, centre2, opened, status))  # type: ignore[arg-type]
        elif rng.random() < 0.3:
            store.close_ended_case(case_id, opened + timedelta(days=1))
    store.ingest([SearchOnlyEntry(event_id="online/1", occurred_at=START, service="elderly-card",
                                  entry_path="search")])


def _midnight(day: int) -> datetime:
    return datetime(2025, 3, 2, tzinfo=CHINA_TZ) + timedelta(days=day)


WINDOWS = [(None, None), (_midnight(1), _midnight(4)), (_midnight(3), None),
           (None, _midnight(2)), (_midnight(6), _midnight(7))]


def same(got: list[Any], want: list[Any]) -> bool:
    """Equal answers: counts exactly, minutes up to the last bits of a float sum (the
    rollups add the same values in another order)."""
    a = [msgspec.structs.asdict(x) for x in got]
    b = [msgspec.structs.asdict(x) for x in want]
    approx = [
        {k: pytest.approx(v, rel=1e-12, abs=1e-9) if isinstance(v, float) else v
         for k, v in row.items()}
        for row in b
    ]
    return a == approx


def _check(store: SqlFrictionStore) -> None:
    for since, until in WINDOWS:
        for bundle in (None, *BUNDLES):
            for centre in (None, *CENTRES):
                for group in ("bundle", "step", "centre"):
                    assert same(store.report_sums(group, since, until, bundle, centre),
                                store.scanned_sums(group, since, until, bundle, centre)
                                ), (group, since, until, bundle, centre)
                flt = DashboardFilter(since=since, until=until, bundle=bundle, centre=centre)
                assert same(store.sla_breaches(flt), store.scanned_sla_breaches(flt)), flt
                if centre is not None or since is not None or until is not None:
                    assert same(store.point_sums(flt, limit=100),
                                store.scanned_point_sums(flt, limit=100)), flt


def test_rollups_answer_as_the_scans_do(store: SqlFrictionStore) -> None:
    notebook(store)
    assert store.report_sums("bundle", None, None), "the notebook has cases"
    assert store.sla_breaches(DashboardFilter()), "and breaches"
    _check(store)
    store.rebuild_rollups()
    _check(store)


def test_a_window_inside_a_day_reads_the_cases_themselves(store: SqlFrictionStore) -> None:
    notebook(store, cases=20)
    since = _midnight(1) + timedelta(hours=9, minutes=30)
    until = _midnight(3) + timedelta(hours=11)
    sums = store.report_sums("centre", since, until)
    assert sums == store.scanned_sums("centre", since, until)
    # The whole days around it count more cases: the rollup was not read in its place.
    wider = store.report_sums("centre", _midnight(1), _midnight(4))
    assert sum(s.cases for s in sums) < sum(s.cases for s in wider)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_stay_exact_over_other_notebooks(store: SqlFrictionStore, seed: int) -> None:
    notebook(store, cases=30, seed=seed)
    _check(store)
