"""The data bureau's dashboard on SQLite and PostgreSQL alike (`store` and `backend`,
conftest.py): friction by kind over China-local days and Monday weeks, top stuck points,
trips and prefill per bundle, SLA breaches by step and the can't-get-it-done register,
each filtered by bundle, centre and period, small groups withheld; and the migration that
fills the kind-by-day rollup from a notebook's stored events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from test_notebook_store import BUNDLE, FORM, FORM_POINT, T0, case, form_events, registration
from test_store import paper

from friction.dashboard import (
    CantGetItDoneByCause,
    Dashboard,
    DashboardFilter,
    FilterOptions,
    PrefillShare,
    SlaBreaches,
    TripsPerCase,
    build_dashboard,
    filter_options,
)
from friction.register import CAUSES
from friction.store import migrations
from friction.store.migrations import MIGRATIONS
from friction.store.rollups import EVENT_COLUMNS, event_params
from friction.store.sql import SqlFrictionStore
from kernel.china_time import CHINA_TZ
from kernel.events import ClerkNote, ExtraWait, FrictionEvent, RepeatTrip, SearchOnlyEntry

if TYPE_CHECKING:
    from tests.friction.conftest import Backend

RESIDENCE = "residence-permit"
WEEK1 = datetime(2025, 3, 3, tzinfo=CHINA_TZ)  # a Monday, local midnight
WEEK2 = WEEK1 + timedelta(days=7)
WEDNESDAY = T0 + timedelta(days=2)  # 2025-03-05, 17:00 in China
SUNDAY_LATE = datetime(2025, 3, 9, 15, 59, tzinfo=UTC)  # 23:59 on Sunday in China
STEP_WAIT = f"extra_wait|{BUNDLE}|registration|step"


def at(centre: str, events: list[FrictionEvent]) -> list[FrictionEvent]:
    return [msgspec.structs.replace(e, centre=centre) for e in events]


def wait(
    case_id: str, seq: int, when: datetime, *, centre: str = "liangxi", bundle: str = BUNDLE,
    step: str = "registration", **details: Any,
) -> ExtraWait:
    """A step past its SLA (30 + 5 minutes), unless details say otherwise."""
    fields: dict[str, Any] = {"scope": "step", "due_at": when, **details}
    return ExtraWait(event_id=f"{case_id}/w{seq}", occurred_at=when, case_id=case_id,
                     bundle=bundle, step=step, centre=centre, **fields)


def seed(store: SqlFrictionStore) -> list[FrictionEvent]:
    """Hardship cases H0-H4 at liangxi and H5-H6 at binhu, opened in week 1; residence
    permit cases P0-P4 (completed) and P5 (open) at liangxi, opened in week 2; their
    friction; the register."""
    for i, (trips, prefilled) in enumerate(zip([1, 1, 1, 1, 2], [10, 10, 9, 9, 8], strict=True)):
        store.upsert_case(case(f"H{i}", opened=T0 + timedelta(minutes=i), trips=trips,
                               fields_total=10, fields_prefilled=prefilled))
    for i, trips in ((5, 1), (6, 3)):
        store.upsert_case(case(f"H{i}", centre="binhu", trips=trips, fields_total=10,
                               fields_prefilled=5))
    for i in range(5):
        store.upsert_case(case(f"P{i}", bundle=RESIDENCE, opened=T0 + timedelta(days=7),
                               fields_total=20, fields_prefilled=10))
    store.upsert_case(case("P5", "open", bundle=RESIDENCE, opened=T0 + timedelta(days=7),
                           trips=2))
    events: list[FrictionEvent] = [
        *at("liangxi", form_events("H0") + form_events("H1")),  # 1.25 + 1.2 minutes each
        *at("binhu", form_events("H5")),
        wait("H2", 1, WEDNESDAY),
        wait("H2", 2, WEDNESDAY, scope="agency_call", agency="hrss", due_at=None,
             sla_seconds=60, actual_seconds=660),  # 10 + 10 minutes
        wait("H3", 1, WEDNESDAY),
        wait("H6", 1, WEDNESDAY, centre="binhu"),
        SearchOnlyEntry(event_id="app/1", occurred_at=SUNDAY_LATE, channel="app",
                        service="population-certificate", entry_path="search"),  # 3 + 0
        msgspec.structs.replace(paper("P0", 1), bundle=RESIDENCE, centre="liangxi",
                                occurred_at=T0 + timedelta(days=7)),  # a household register: 15 + 5
        wait("P1", 1, T0 + timedelta(days=8), bundle=RESIDENCE, step="verification"),
    ]
    assert len(store.ingest(events).stored) == len(events)
    store.register_cant_get_it_done(registration("20250303-REGISTR1"))
    store.register_cant_get_it_done(
        registration("20250304-REGISTR2", registered_at=T0 + timedelta(days=1)))
    store.resolve_cant_get_it_done("20250304-REGISTR2", "resolved", "linked the form",
                                   T0 + timedelta(days=2))
    store.register_cant_get_it_done(registration(
        "20250304-REGISTR3", cause="policy", centre="binhu",
        registered_at=T0 + timedelta(days=1)))
    store.register_cant_get_it_done(registration(
        "20250311-REGISTR4", cause="materials", bundle=RESIDENCE, centre="huishan",
        registered_at=T0 + timedelta(days=8)))
    return events


def dash(store: SqlFrictionStore, **flt: object) -> Dashboard:
    return build_dashboard(store, msgspec.convert(flt, DashboardFilter))


def counted(d: Dashboard) -> dict[tuple[str, str], int]:
    """Friction over time as {(period start, kind): events}, quiet cells left out."""
    return {(r.period_start.isoformat()[5:], r.kind): r.events
            for r in d.friction_over_time if r.events}


def test_friction_by_kind_per_china_day_with_quiet_days_as_zeros(
    store: SqlFrictionStore,
) -> None:
    seed(store)
    everything = dash(store)
    assert counted(everything) == {
        ("03-03", "manual_reentry"): 9, ("03-05", "extra_wait"): 4,
        ("03-09", "search_only_entry"): 1,  # Sunday 23:59 in China, 15:59 UTC
        ("03-10", "physical_material"): 1, ("03-11", "extra_wait"): 1,
    }
    rows = everything.friction_over_time
    # Every kind on every day from the first to the last, in the notebook's kind order.
    assert [r.kind for r in rows[:4]] == [
        "manual_reentry", "search_only_entry", "extra_wait", "physical_material"]
    assert [r.period_start for r in rows[::4]] == [
        date(2025, 3, 3) + timedelta(days=i) for i in range(9)]
    assert len(rows) == 36
    tuesday = [r for r in rows if r.period_start == date(2025, 3, 4)]
    assert [(r.events, r.burden_minutes) for r in tuesday] == [(0, 0.0)] * 4
    waits = next(r for r in rows if (r.period_start, r.kind) == (date(2025, 3, 5), "extra_wait"))
    assert (waits.citizen_minutes, waits.clerk_minutes, waits.burden_minutes) == pytest.approx(
        (100.0, 25.0, 125.0))
    typed = rows[0]
    assert (typed.citizen_minutes, typed.clerk_minutes) == pytest.approx((9 * 1.25, 9 * 1.2))

    assert counted(dash(store, centre="binhu")) == {
        ("03-03", "manual_reentry"): 3, ("03-05", "extra_wait"): 1}
    assert len(dash(store, centre="binhu").friction_over_time) == 3 * 2  # 03-04 as zeros
    assert counted(dash(store, bundle=RESIDENCE)) == {
        ("03-10", "physical_material"): 1, ("03-11", "extra_wait"): 1}
    assert counted(dash(store, bundle=BUNDLE, centre="liangxi")) == {
        ("03-03", "manual_reentry"): 6, ("03-05", "extra_wait"): 3}
    # Events that occurred in [since, until), by China-local day.
    assert counted(dash(store, since=WEEK1, until=WEEK2)) == {
        ("03-03", "manual_reentry"): 9, ("03-05", "extra_wait"): 4,
        ("03-09", "search_only_entry"): 1}
    assert counted(dash(store, since=WEEK1 + timedelta(days=2), until=WEEK2)) == {
        ("03-05", "extra_wait"): 4, ("03-09", "search_only_entry"): 1}
    # A bound inside a day counts the whole day it touches.
    assert ("03-09", "search_only_entry") in counted(
        dash(store, until=WEEK2 - timedelta(hours=12)))
    assert dash(store, since=WEEK2 + timedelta(days=30)).friction_over_time == ()


def test_weeks_start_on_monday(store: SqlFrictionStore) -> None:
    seed(store)
    weekly = dash(store, granularity="week")
    assert counted(weekly) == {
        ("03-03", "manual_reentry"): 9, ("03-03", "search_only_entry"): 1,
        ("03-03", "extra_wait"): 4,
        ("03-10", "physical_material"): 1, ("03-10", "extra_wait"): 1,
    }
    assert sorted({r.period_start for r in weekly.friction_over_time}) == [
        date(2025, 3, 3), date(2025, 3, 10)]
    assert all(r.period_start.weekday() == 0 for r in weekly.friction_over_time)
    # A quiet week between two busy ones is a week of zeros.
    store.ingest([msgspec.structs.replace(paper("P2", 1), bundle=RESIDENCE,
                                          occurred_at=T0 + timedelta(days=21))])
    weeks = dash(store, bundle=RESIDENCE, granularity="week").friction_over_time
    assert [(r.period_start.isoformat()[5:], r.events) for r in weeks
            if r.kind == "physical_material"] == [("03-10", 1), ("03-17", 0), ("03-24", 1)]
    with pytest.raises(ValueError, match="granularity"):
        build_dashboard(store, DashboardFilter(granularity="month"))  # type: ignore[arg-type]


def test_top_stuck_points_by_burden_among_the_filtered_cases(store: SqlFrictionStore) -> None:
    seed(store)

    def top(d: Dashboard) -> list[tuple[str, int | None, int | None, float | None]]:
        return [(p.fingerprint, p.events, p.cases,
                 None if p.burden_minutes is None else round(p.burden_minutes, 2))
                for p in d.stuck_points]

    residence_wait = f"extra_wait|{RESIDENCE}|verification|step"
    assert top(dash(store)) == [
        (STEP_WAIT, 3, 3, 105.0),
        (residence_wait, 1, 1, 35.0),
        (FORM_POINT, 9, 3, 22.05),
        (f"extra_wait|{BUNDLE}|registration|agency_call:hrss", 1, 1, 20.0),
        (f"physical_material|{RESIDENCE}|registration|household_register", 1, 1, 20.0),
        ("search_only_entry|-|-|population-certificate", 1, 0, 3.0),  # no case, no group
    ]
    first = dash(store).stuck_points[0]
    assert (first.kind, first.bundle, first.step, first.subject) == (
        "extra_wait", BUNDLE, "registration", "step")
    assert (first.citizen_minutes, first.clerk_minutes) == pytest.approx((90.0, 15.0))
    assert [p.fingerprint for p in build_dashboard(store, DashboardFilter(), top=2)
            .stuck_points] == [STEP_WAIT, residence_wait]
    assert [p[0] for p in top(dash(store, bundle=RESIDENCE))] == [
        residence_wait, f"physical_material|{RESIDENCE}|registration|household_register"]

    # One centre: only the friction of its cases, a caseless search counts nowhere.
    assert top(dash(store, centre="liangxi")) == [
        (STEP_WAIT, 2, 2, 70.0),
        (residence_wait, 1, 1, 35.0),
        (f"extra_wait|{BUNDLE}|registration|agency_call:hrss", 1, 1, 20.0),
        (f"physical_material|{RESIDENCE}|registration|household_register", 1, 1, 20.0),
        (FORM_POINT, 6, 2, 14.7),
    ]
    # One period: the cases opened in it (week 2's residence cases drop out).
    assert top(dash(store, since=WEEK1, until=WEEK2)) == [
        (STEP_WAIT, 3, 3, 105.0),
        (FORM_POINT, 9, 3, 22.05),
        (f"extra_wait|{BUNDLE}|registration|agency_call:hrss", 1, 1, 20.0),
    ]
    assert top(dash(store, since=WEEK2)) == [
        (residence_wait, 1, 1, 35.0),
        (f"physical_material|{RESIDENCE}|registration|household_register", 1, 1, 20.0),
    ]
    # Two hardship cases at binhu: their stuck points are named but show no numbers.
    binhu = dash(store, centre="binhu").stuck_points
    assert [(p.fingerprint, p.suppressed, p.events, p.burden_minutes) for p in binhu] == [
        (STEP_WAIT, True, None, None), (FORM_POINT, True, None, None)]
    shown = build_dashboard(store, DashboardFilter(centre="binhu"), min_group=2).stuck_points
    assert [(p.events, p.cases, p.suppressed) for p in shown] == [(1, 1, False), (3, 1, False)]


def test_a_clerks_note_counts_as_a_note_over_time_and_a_bundle_without_cases_shows_nothing(
    store: SqlFrictionStore,
) -> None:
    for name in "ABCDE":
        store.upsert_case(case(name))
    note = ClerkNote(event_id="note/A/1", occurred_at=T0, case_id="A", bundle=BUNDLE,
                     step=FORM, category="form_not_generated", text="表格无法生成",
                     about_kind="manual_reentry")
    store.ingest([*form_events("A"), note,
                  msgspec.structs.replace(paper("X0", 1), bundle="newborn")])
    for d in (dash(store), dash(store, since=WEEK1)):  # the rollup, and per case
        assert counted(d) == {("03-03", "manual_reentry"): 3, ("03-03", "clerk_note"): 1,
                              ("03-03", "physical_material"): 1}
        form = next(p for p in d.stuck_points if p.kind == "manual_reentry")
        assert (form.fingerprint, form.events, form.cases) == (FORM_POINT, 4, 1)
        assert form.clerk_minutes == pytest.approx(3 * 1.2 + 1.2 + 5.0)
    # No case of the bundle is known, so not even five: named, no numbers. Among the
    # cases opened since a date, X0 (never recorded) is not there at all.
    newborn = dash(store).stuck_points[0]
    assert (newborn.bundle, newborn.suppressed, newborn.events) == ("newborn", True, None)
    assert [p.kind for p in dash(store, since=WEEK1).stuck_points] == ["manual_reentry"]
    store.rebuild_rollups()
    assert counted(dash(store)) == {("03-03", "manual_reentry"): 3, ("03-03", "clerk_note"): 1,
                                    ("03-03", "physical_material"): 1}


def test_trips_and_prefill_per_bundle_against_the_benchmark(store: SqlFrictionStore) -> None:
    seed(store)
    everything = dash(store)
    assert everything.trips == (
        TripsPerCase(bundle=BUNDLE, suppressed=False, cases=7, average_trips=1.4286,
                     one_trip_share=0.7143),  # 10 trips; 5 of 7 done in one
        # 7 trips over 6 cases, the open one's so far; one trip for the 5 completed.
        TripsPerCase(bundle=RESIDENCE, suppressed=False, cases=6, average_trips=1.1667,
                     one_trip_share=1.0),
    )
    assert everything.prefill == (
        PrefillShare(bundle=BUNDLE, suppressed=False, fields_total=70, fields_prefilled=56,
                     share=0.8, benchmark_met=False),
        PrefillShare(bundle=RESIDENCE, suppressed=False, fields_total=100,
                     fields_prefilled=50, share=0.5, benchmark_met=False),
    )
    liangxi = dash(store, centre="liangxi", bundle=BUNDLE)
    assert liangxi.trips == (TripsPerCase(bundle=BUNDLE, suppressed=False, cases=5,
                                          average_trips=1.2, one_trip_share=0.8),)
    # 46 of 50 is exactly the 92% benchmark: met.
    assert liangxi.prefill == (PrefillShare(bundle=BUNDLE, suppressed=False, fields_total=50,
                                            fields_prefilled=46, share=0.92,
                                            benchmark_met=True),)
    assert liangxi.prefill[0].benchmark == 0.92
    # Two cases at binhu are fewer than five: no numbers.
    binhu = dash(store, centre="binhu")
    assert binhu.trips == (TripsPerCase(bundle=BUNDLE, suppressed=True),)
    assert binhu.prefill == (PrefillShare(bundle=BUNDLE, suppressed=True),)
    assert build_dashboard(store, DashboardFilter(centre="binhu"), min_group=2).trips == (
        TripsPerCase(bundle=BUNDLE, suppressed=False, cases=2, average_trips=2.0,
                     one_trip_share=0.5),)
    # Cases opened in week 2 only: the residence permits.
    assert [t.bundle for t in dash(store, since=WEEK2).trips] == [RESIDENCE]
    assert dash(store, until=WEEK1).trips == ()


def test_trips_per_case_agree_with_the_backlogs_repeat_trips(store: SqlFrictionStore) -> None:
    """Open cases' records still say one trip (a record is written when a case opens and
    when it closes); their return trips are in the notebook, and the dashboard counts them
    as the backlog does: seven return trips in five of six cases, two steps' stuck points."""
    for i in range(6):
        store.upsert_case(case(f"R{i}", "open", bundle=RESIDENCE))
    store.upsert_case(case("R6", bundle=RESIDENCE, trips=3))  # closed: its record counts
    returns = [("R0", "registration"), ("R0", "registration"), ("R1", "registration"),
               ("R2", "verification"), ("R3", "verification"), ("R3", "verification"),
               ("R4", "registration"), ("R6", "registration"), ("R6", "registration")]
    store.ingest([
        RepeatTrip(event_id=f"{case_id}/t{n}", occurred_at=T0, case_id=case_id,
                   bundle=RESIDENCE, step=step, centre="liangxi", trip_number=n + 2,
                   reasons=("other",), could_have_been_told=())
        for n, (case_id, step) in enumerate(returns)
    ])
    open_returns = sum(1 for case_id, _ in returns if case_id != "R6")
    backlog_returns = sum(p.count for p in store.stuck_points(bundle=RESIDENCE)
                          if p.kind == "repeat_trip")
    assert backlog_returns == len(returns) == 9
    trips = {t.bundle: t for t in dash(store).trips}[RESIDENCE]
    # 7 cases, 6 of them one trip each so far plus 7 returns, and the closed case's 3.
    assert trips.cases == 7
    assert trips.average_trips == round((6 + open_returns + 3) / 7, 4)
    assert trips.average_trips * 7 == pytest.approx(7 + backlog_returns, abs=0.001)
    assert trips.one_trip_share == 0.0  # the one closed case came three times


def test_sla_breaches_by_step(store: SqlFrictionStore) -> None:
    seed(store)

    def breaches(d: Dashboard) -> list[tuple[str | None, str | None, int | None, int | None]]:
        return [(b.bundle, b.step, b.events, b.cases) for b in d.sla_breaches]

    # H2 waited twice at registration (the step, and a call to hrss): one case.
    everything = dash(store)
    assert breaches(everything) == [
        (BUNDLE, "registration", 4, 3), (RESIDENCE, "verification", 1, 1)]
    hardship = everything.sla_breaches[0]
    assert (hardship.citizen_minutes, hardship.clerk_minutes, hardship.burden_minutes) == (
        pytest.approx((100.0, 25.0, 125.0)))
    assert breaches(dash(store, centre="liangxi")) == [
        (BUNDLE, "registration", 3, 2), (RESIDENCE, "verification", 1, 1)]
    assert breaches(dash(store, bundle=RESIDENCE)) == [(RESIDENCE, "verification", 1, 1)]
    assert breaches(dash(store, since=WEEK1, until=WEEK2)) == [(BUNDLE, "registration", 4, 3)]
    assert dash(store, centre="binhu").sla_breaches == (
        SlaBreaches(bundle=BUNDLE, step="registration", suppressed=True),)


def test_cant_get_it_done_cases_by_cause(store: SqlFrictionStore) -> None:
    seed(store)

    def causes(d: Dashboard) -> dict[str, tuple[int, int]]:
        assert [c.cause for c in d.cant_get_it_done] == list(CAUSES)  # every cause, in order
        return {c.cause: (c.open, c.answered) for c in d.cant_get_it_done
                if c.open or c.answered}

    assert causes(dash(store)) == {"system": (1, 1), "policy": (1, 0), "materials": (1, 0)}
    assert causes(dash(store, bundle=RESIDENCE)) == {"materials": (1, 0)}
    assert causes(dash(store, centre="binhu")) == {"policy": (1, 0)}
    assert causes(dash(store, since=WEEK1 + timedelta(days=1), until=WEEK2)) == {
        "system": (0, 1), "policy": (1, 0)}
    assert dash(store).cant_get_it_done[0] == CantGetItDoneByCause(cause="policy", open=1,
                                                                   answered=0)


def test_filter_options_name_every_bundle_and_centre(store: SqlFrictionStore) -> None:
    assert filter_options(store) == FilterOptions(bundles=(), centres=())
    seed(store)
    store.ingest([msgspec.structs.replace(paper("X0", 1), bundle="newborn")])  # no case yet
    assert filter_options(store) == FilterOptions(
        bundles=(BUNDLE, "newborn", RESIDENCE),
        centres=("binhu", "huishan", "liangxi"),  # huishan: in the register only
    )


def test_the_rollup_counts_new_events_only_and_rebuilds_to_the_same(
    store: SqlFrictionStore, backend: Backend
) -> None:
    events = seed(store)
    before = dash(store, granularity="week")
    assert store.ingest(events).duplicates == tuple(e.event_id for e in events)
    assert dash(store, granularity="week") == before
    backend.execute("DELETE FROM kind_days")  # lost, or never kept by a bulk load
    assert dash(store).friction_over_time == ()
    store.rebuild_rollups()
    rebuilt = dash(store, granularity="week")
    assert counted(rebuilt) == counted(before)
    assert [r.burden_minutes for r in rebuilt.friction_over_time] == pytest.approx(
        [r.burden_minutes for r in before.friction_over_time])


def test_a_version_2_notebook_gets_its_kind_by_day_rollup_from_its_events(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 3 fills kind_days from the events a version 2 notebook stored; events
    stored afterwards add to it, once each."""
    with monkeypatch.context() as old:
        old.setattr(migrations, "MIGRATIONS", MIGRATIONS[:2])
        old.setattr(migrations, "SCHEMA_VERSION", 2)
        backend.open().close()
    assert backend.execute("SELECT max(version) FROM schema_version") == [(2,)]
    stored = [
        *at("liangxi", form_events("A")),
        *at("binhu", form_events("B", at=T0 + timedelta(days=1))),
        wait("A", 1, WEDNESDAY),
        SearchOnlyEntry(event_id="app/1", occurred_at=SUNDAY_LATE, channel="app",
                        service="population-certificate", entry_path="search"),
    ]
    backend.insert("events", EVENT_COLUMNS, [event_params(e) for e in stored])

    store = backend.open()
    try:
        newest = migrations.SCHEMA_VERSION
        assert backend.execute("SELECT max(version) FROM schema_version") == [(newest,)]
        assert counted(dash(store)) == {
            ("03-03", "manual_reentry"): 3, ("03-04", "manual_reentry"): 3,
            ("03-05", "extra_wait"): 1, ("03-09", "search_only_entry"): 1}
        assert counted(dash(store, centre="binhu")) == {("03-04", "manual_reentry"): 3}
        assert counted(dash(store, centre="liangxi", granularity="week")) == {
            ("03-03", "manual_reentry"): 3, ("03-03", "extra_wait"): 1}
        waits = [r for r in dash(store).friction_over_time if r.kind == "extra_wait"]
        assert sum(r.burden_minutes for r in waits) == pytest.approx(35.0)
        result = store.ingest([*stored, wait("C", 1, WEDNESDAY)])
        assert len(result.stored) == 1
        assert counted(dash(store))[("03-05", "extra_wait")] == 2
    finally:
        store.close()
