"""A synthetic city, on SQLite and PostgreSQL alike (`store`, conftest.py): frictions
injected at known rates with known true minutes through the real ingest path, and the
notebook checked against that truth.

The city has two bundles, several steps and every kind of friction a window meets: forms
typed again (some typing measured), paper asked for although an e-certificate or an
agency held it, repeat trips, agency calls the citizen waited for at the window and calls
the case waited for in the background, queues past their promised time, late steps, a
search-only entry, and clerks' notes (about re-typed forms, and one standing apart).
Which cases suffer which friction is drawn by a seeded random.Random, but each rate is an
exact number of cases, so the truth does not depend on the draw.

Everything expected is computed here from the city's own record of what it injected and
from the per-kind minutes stated below (checked against friction/burden.toml), never by
the product's functions: fingerprints, minutes, counts, ranking and rates. All time is
data, relative to the processing date at which a fix is deployed.
"""

from __future__ import annotations

import itertools
import math
import random
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from friction import notebook
from friction.backlog import TransitionRequest
from friction.ingest import decode_batch, ingest
from friction.store.sql import SqlFrictionStore
from friction.verification import RateWindow, VerificationPolicy, judge
from kernel.china_time import CHINA_TZ
from kernel.events import (
    CaseRecord,
    ClerkNote,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    Provenance,
    RepeatTrip,
    SearchOnlyEntry,
)

BURDEN_TOML = Path(__file__).parents[2] / "friction" / "burden.toml"

# The processing date: the fix is deployed at it. "Before" cases open in the four weeks
# up to it, "after" cases in the four weeks from it; the verifier runs the day after.
PROCESSING = datetime(2026, 12, 7, 9, tzinfo=CHINA_TZ)
PERIOD = timedelta(days=28)
VERIFY_AT = PROCESSING + PERIOD + timedelta(days=1)
POLICY = VerificationPolicy()  # the defaults: 30 cases after, 50% fall, p < 0.05
SEED = 20261207

EH = "employment-hardship"
NB = "newborn"
EH_CLOSED, EH_OPEN = 60, 3  # cases per period
NB_CLOSED, NB_OPEN = 40, 2

# Per-event minutes (citizen, clerk) the city's frictions cost, stated here and checked
# against the burden table by test_the_citys_minutes_are_the_burden_tables.
REENTRY_FIELD = (1.25, 1.2)  # per field typed again; measured typing replaces the clerk's
FORM_ROUND = (0.0, 5.0)  # the clerk's redundant round, once per form and case
PAPER = {
    "household_register": (15.0, 5.0),
    "resident_id_card": (3.0, 1.0),
    "marriage_certificate": (10.0, 3.0),  # not in the per-material table: the default
}
REPEAT_TRIP = (120.0, 15.0)
SEARCH_ONLY = (3.0, 0.0)
NOTE = (0.0, 5.0)  # writing a note; a note about a kind adds that kind's estimate
ATTENDED_CALL_PER_MINUTE = (1.0, 1.0)  # of the whole call; a background call costs nothing
QUEUE = (30.0, 0.0)  # per event, plus the citizen's overrun minutes
QUEUE_PER_OVERRUN_MINUTE = (1.0, 0.0)
LATE_STEP = (30.0, 5.0)  # per event, plus per working day late
LATE_STEP_PER_WORKING_DAY = (20.0, 0.0)

FORM_FIELDS = ("bank_account", "phone", "home_address", "employer", "insurance_grade")

# The stuck points, as the city means them: kind|bundle|step|subject.
EH_FORM = f"manual_reentry|{EH}|flexible-insurance-enrollment|form"
EH_TRIP = f"repeat_trip|{EH}|registration|trip"
EH_REGISTER = f"physical_material|{EH}|registration|household_register"
EH_ID_CARD = f"physical_material|{EH}|registration|resident_id_card"
EH_CALL = f"extra_wait|{EH}|registration|agency_call:hrss"
EH_QUEUE = f"extra_wait|{EH}|-|queue"
NB_REGISTER = f"physical_material|{NB}|birth-registration|household_register"
NB_MARRIAGE = f"physical_material|{NB}|birth-registration|marriage_certificate"
NB_FORM = f"manual_reentry|{NB}|medical-insurance|form"
NB_LATE = f"extra_wait|{NB}|medical-insurance|step"
NB_SEARCH = f"search_only_entry|{NB}|-|newborn-insurance"
NB_MACHINE = f"clerk_note|{NB}|-|queue_machine"

VERIFIED_FIX = EH_FORM  # its after-period rate falls by 80%
FUTILE_FIX = EH_TRIP  # its rate stays as it was


@dataclass(frozen=True)
class Injected:
    """One event as the city knows it."""

    event_id: str
    point: str
    kind: str  # the event's own kind
    case_id: str
    closed: bool  # of a closed case: what the verifier's rates count
    period: str  # "before" or "after" the fix
    citizen: float
    clerk: float


@dataclass
class City:
    cases: list[CaseRecord] = field(default_factory=list)
    batches: list[list[FrictionEvent]] = field(default_factory=list)  # one per case
    truth: list[Injected] = field(default_factory=list)
    _pending: dict[str, list[FrictionEvent]] = field(default_factory=dict)

    def add(self, case: CaseRecord, period: str, point: str, event: FrictionEvent,
            minutes: tuple[float, float]) -> None:
        self._pending.setdefault(case.case_id, []).append(event)
        self.truth.append(Injected(
            event_id=event.event_id, point=point, kind=str(type(event).__struct_config__.tag),
            case_id=case.case_id, closed=case.status != "open", period=period,
            citizen=minutes[0], clerk=minutes[1],
        ))

    def seal(self) -> None:
        """Each case's events become one batch, as its workflow's activity would send."""
        self.batches.extend(self._pending.values())
        self._pending.clear()

    def of(self, period: str) -> list[Injected]:
        return [t for t in self.truth if t.period == period]


def _cases(bundle: str, code: str, period: str, start: datetime, closed: int,
           opened: int) -> list[CaseRecord]:
    out = []
    step = PERIOD / (closed + opened + 1)
    for i in range(closed + opened):
        at = start + step * (i + 1)
        still_open = i >= closed
        out.append(CaseRecord(
            case_id=f"{code}-{period[0]}-{i:03d}", bundle=bundle, bundle_version=2,
            centre="liangxi" if i % 2 else "xinwu", channel="window",
            status="open" if still_open else ("failed" if i % 10 == 9 else "completed"),
            opened_at=at, closed_at=None if still_open else at + timedelta(hours=2),
        ))
    return out


class _Ids:
    def __init__(self) -> None:
        self.seq: Counter[str] = Counter()

    def __call__(self, case_id: str) -> str:
        self.seq[case_id] += 1
        return f"{case_id}/{self.seq[case_id]}"


def build_city(seed: int = SEED) -> tuple[City, City]:
    """The city's before and after periods (each its own batches and truth)."""
    rng = random.Random(seed)
    ids = _Ids()
    before = City()
    form_events = _populate(before, "before", PROCESSING - PERIOD, rng, ids, 0)
    after = City()
    _populate(after, "after", PROCESSING, rng, ids, form_events)
    return before, after


def _populate(city: City, period: str, start: datetime, rng: random.Random, ids: _Ids,
              before_form_events: int) -> int:
    """Fill one period; the friction events of the fix to verify in it (the form's)."""
    eh = _cases(EH, "eh", period, start, EH_CLOSED, EH_OPEN)
    nb = _cases(NB, "nb", period, start, NB_CLOSED, NB_OPEN)
    city.cases = eh + nb

    def pick(cases: list[CaseRecord], n: int) -> list[CaseRecord]:
        return sorted(rng.sample(cases, n), key=lambda c: c.case_id)

    def t(case: CaseRecord, minutes: int = 10) -> datetime:
        return case.opened_at + timedelta(minutes=minutes)

    eh_closed, eh_open = eh[:EH_CLOSED], eh[EH_CLOSED:]
    nb_closed = nb[:NB_CLOSED]

    # --- employment-hardship -----------------------------------------------------
    # The flexible-insurance form typed again: the fix to verify. Before, 24 of the
    # closed cases (and one open case) retype 1-4 fields; after, 80% fewer events.
    def retype(case: CaseRecord, n_fields: int, bundle: str, step: str,
               point: str) -> int:
        for j, name in enumerate(rng.sample(FORM_FIELDS, n_fields)):
            typed = rng.choice([None, None, 30.0, 45.0, 72.0])
            clerk = REENTRY_FIELD[1] if typed is None else typed / 60
            first = j == 0
            city.add(case, period, point, ManualReentry(
                event_id=ids(case.case_id), occurred_at=t(case, 20 + j),
                case_id=case.case_id, bundle=bundle, bundle_version=2, step=step,
                centre=case.centre, field=name, typed_seconds=typed, first_of_form=first,
                known_from=Provenance(kind="agency", source="hrss"),
            ), (REENTRY_FIELD[0], clerk + (FORM_ROUND[1] if first else 0.0)))
        return n_fields

    if period == "before":
        for case in pick(eh_closed, 24):
            before_form_events += retype(case, rng.randint(1, 4), EH,
                                         "flexible-insurance-enrollment", EH_FORM)
        retype(eh_open[0], 3, EH, "flexible-insurance-enrollment", EH_FORM)
    else:
        remaining = round(before_form_events * 0.2)
        for case in pick(eh_closed, remaining):
            if remaining == 0:
                break
            n = min(rng.randint(1, 2), remaining)
            remaining -= retype(case, n, EH, "flexible-insurance-enrollment", EH_FORM)
        assert remaining == 0

    # Clerks' notes about the re-typed form: they join its stuck point and its burden,
    # never its rate. After the fix, enough of them that counting them as friction
    # would leave the rate less than halved.
    n_notes = 3 if period == "before" else math.floor(0.3 * before_form_events) + 3
    for case in pick(eh_closed, n_notes):
        city.add(case, period, EH_FORM, ClerkNote(
            event_id=notebook.note_id(case.case_id, "form_not_generated", "bank_account"),
            occurred_at=t(case, 40), case_id=case.case_id, bundle=EH,
            step="flexible-insurance-enrollment", centre=case.centre,
            category="form_not_generated", text="表格无法生成，只能手填",
            subject="bank_account", about_kind="manual_reentry", actor="clerk-017",
        ), (REENTRY_FIELD[0] + NOTE[0], REENTRY_FIELD[1] + NOTE[1]))

    # Repeat trips: a fix is deployed that changes nothing, 9 of 60 either side.
    for case in [*pick(eh_closed, 9), eh_open[1]]:
        city.add(case, period, EH_TRIP, RepeatTrip(
            event_id=ids(case.case_id), occurred_at=t(case, 90), case_id=case.case_id,
            bundle=EH, bundle_version=2, step="registration", centre=case.centre,
            trip_number=2, reasons=("material_missing",),
            could_have_been_told=("labour_contract",),
        ), REPEAT_TRIP)

    # Paper asked for although an e-certificate held it.
    for point, material, source, n in (
        (EH_REGISTER, "household_register", "household-register-ecert", 18),
        (EH_ID_CARD, "resident_id_card", "resident-id-ecert", 40),
    ):
        for case in pick(eh, n):
            city.add(case, period, point, PhysicalMaterialRequested(
                event_id=ids(case.case_id), occurred_at=t(case, 5), case_id=case.case_id,
                bundle=EH, bundle_version=2, step="registration", centre=case.centre,
                material=material, held_by=Provenance(kind="ecert", source=source),
            ), PAPER[material])

    # Calls to hrss past their SLA: attended ones cost both people the whole call, the
    # ones the case waited for in the background cost nobody.
    for case in pick(eh_closed, 20):
        actual = 120.0 + 60.0 * rng.randint(1, 20)
        attended = rng.random() < 0.5
        waited = actual / 60 if attended else 0.0
        city.add(case, period, EH_CALL, ExtraWait(
            event_id=ids(case.case_id), occurred_at=t(case, 30), case_id=case.case_id,
            bundle=EH, bundle_version=2, step="registration", centre=case.centre,
            scope="agency_call", agency="hrss", sla_seconds=120.0, actual_seconds=actual,
            attended=attended,
        ), (ATTENDED_CALL_PER_MINUTE[0] * waited, ATTENDED_CALL_PER_MINUTE[1] * waited))

    # The queue past its promised half hour (no step: the hall's queue).
    for case in pick(eh, 12):
        overrun = rng.randint(5, 40)
        city.add(case, period, EH_QUEUE, ExtraWait(
            event_id=ids(case.case_id), occurred_at=t(case, 1), case_id=case.case_id,
            bundle=EH, bundle_version=2, centre=case.centre, scope="queue",
            sla_seconds=1800.0, actual_seconds=1800.0 + 60 * overrun,
        ), (QUEUE[0] + QUEUE_PER_OVERRUN_MINUTE[0] * overrun,
            QUEUE[1] + QUEUE_PER_OVERRUN_MINUTE[1] * overrun))

    # --- newborn -----------------------------------------------------------------
    for point, material, held_by, n in (
        (NB_REGISTER, "household_register",
         Provenance(kind="agency", source="public-security"), 16),
        (NB_MARRIAGE, "marriage_certificate",
         Provenance(kind="ecert", source="marriage-ecert"), 11),
    ):
        for case in pick(nb, n):
            city.add(case, period, point, PhysicalMaterialRequested(
                event_id=ids(case.case_id), occurred_at=t(case, 5), case_id=case.case_id,
                bundle=NB, bundle_version=2, step="birth-registration", centre=case.centre,
                material=material, held_by=held_by,
            ), PAPER[material])

    for case in pick(nb_closed, 10):
        retype(case, rng.randint(1, 3), NB, "medical-insurance", NB_FORM)

    # The medical-insurance step finished one or two weeks (5 or 10 working days)
    # after it was due.
    for case in pick(nb_closed, 6):
        weeks = rng.randint(1, 2)
        done = t(case, 60) + timedelta(days=30)
        city.add(case, period, NB_LATE, ExtraWait(
            event_id=ids(case.case_id), occurred_at=done, case_id=case.case_id,
            bundle=NB, bundle_version=2, step="medical-insurance", centre=case.centre,
            scope="step", sla_working_days=5, calendar="cn-2026",
            due_at=done - timedelta(weeks=weeks),
        ), (LATE_STEP[0] + LATE_STEP_PER_WORKING_DAY[0] * 5 * weeks,
            LATE_STEP[1] + LATE_STEP_PER_WORKING_DAY[1] * 5 * weeks))

    for case in pick(nb, 8):
        city.add(case, period, NB_SEARCH, SearchOnlyEntry(
            event_id=ids(case.case_id), occurred_at=t(case, 0), case_id=case.case_id,
            bundle=NB, bundle_version=2, centre=case.centre, service="newborn-insurance",
            entry_path="home>search",
        ), SEARCH_ONLY)

    # A note about something the system does not see: a stuck point of its own.
    for case in pick(nb, 2):
        city.add(case, period, NB_MACHINE, ClerkNote(
            event_id=notebook.note_id(case.case_id, "equipment", "queue_machine"),
            occurred_at=t(case, 2), case_id=case.case_id, bundle=NB, centre=case.centre,
            category="equipment", subject="queue_machine", text="叫号机故障",
            actor="clerk-017",
        ), NOTE)

    city.seal()
    return before_form_events


# --- the truth, computed from the city's own record --------------------------------------


def true_points(truth: list[Injected]) -> dict[str, tuple[int, int, int, float, float]]:
    """(events + notes, notes, distinct cases, citizen, clerk) per stuck point."""
    count: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    cases: dict[str, set[str]] = defaultdict(set)
    citizen: defaultdict[str, float] = defaultdict(float)
    clerk: defaultdict[str, float] = defaultdict(float)
    for t in truth:
        count[t.point] += 1
        notes[t.point] += t.kind == "clerk_note" and not t.point.startswith("clerk_note|")
        cases[t.point].add(t.case_id)
        citizen[t.point] += t.citizen
        clerk[t.point] += t.clerk
    return {p: (count[p], notes[p], len(cases[p]), citizen[p], clerk[p]) for p in count}


def true_ranking(truth: list[Injected]) -> list[str]:
    points = true_points(truth)
    burden = {p: c + k for p, (_, _, _, c, k) in points.items()}
    ranking = sorted(burden, key=lambda p: -burden[p])
    gaps = [burden[a] - burden[b] for a, b in itertools.pairwise(ranking)]
    assert min(gaps) > 0.01, "the city must not tie two stuck points"
    return ranking


def true_window(city: City, point: str, bundle: str) -> RateWindow:
    """Friction events (no notes) of the point among the period's closed cases, and those
    cases."""
    closed = {c.case_id for c in city.cases if c.bundle == bundle and c.status != "open"}
    events = sum(1 for t in city.truth
                 if t.point == point and t.kind != "clerk_note" and t.case_id in closed)
    return RateWindow(events=events, cases=len(closed))


# --- ingest as producers do, and retry as they would ---------------------------------------


def ingest_period(store: SqlFrictionStore, city: City) -> None:
    for case in city.cases:
        store.upsert_case(case)
    stored: list[str] = []
    for batch in city.batches:
        result = ingest(store, batch)
        assert result.duplicates == ()
        stored += result.stored
    assert sorted(stored) == sorted(t.event_id for t in city.truth)
    assert len(set(stored)) == len(stored)


def retry_period(store: SqlFrictionStore, city: City) -> None:
    """Every batch again, the same event ids: once through the workflow path, once as an
    HTTP producer's JSON body, and once more with two batches run together."""
    for batch in city.batches:
        again = ingest(store, batch)
        assert again.stored == () and again.duplicates == tuple(e.event_id for e in batch)
        events, errors = decode_batch(msgspec.json.encode({"events": batch}))
        assert errors == []
        again = store.ingest(events)
        assert again.stored == () and len(again.duplicates) == len(batch)
    joined = [e for batch in city.batches[:2] for e in batch]
    again = ingest(store, joined + joined)  # a batch repeated within itself, too
    assert again.stored == () and len(again.duplicates) == 2 * len(joined)


def assert_matches_truth(store: SqlFrictionStore, truth: list[Injected]) -> None:
    expected = true_points(truth)
    points = {p.fingerprint: p for p in store.stuck_points(limit=100)}
    assert set(points) == set(expected)
    for fp, (count, notes, cases, citizen, clerk) in expected.items():
        p = points[fp]
        assert (p.count, p.notes, p.cases) == (count, notes, cases), fp
        assert p.citizen_minutes == pytest.approx(citizen, abs=1e-6), fp
        assert p.clerk_minutes == pytest.approx(clerk, abs=1e-6), fp
        assert p.burden_minutes == pytest.approx(citizen + clerk, abs=1e-6), fp
    # Nothing lost, nothing doubled: per kind and in total (notes count as notes).
    kinds = Counter(t.kind for t in truth)
    counts = store.counts_by_kind()
    assert {k: n for k, n in counts.items() if n} == dict(kinds)
    assert sum(counts.values()) == len(truth) == len({t.event_id for t in truth})
    # The backlog's order is the truth's.
    ranking = true_ranking(truth)
    assert [p.fingerprint for p in store.stuck_points(limit=100)] == ranking


# --- the tests ---------------------------------------------------------------------------


def test_the_citys_minutes_are_the_burden_tables() -> None:
    with BURDEN_TOML.open("rb") as f:
        table = tomllib.load(f)

    def pair(entry: dict[str, float]) -> tuple[float, float]:
        return entry["citizen"], entry["clerk"]

    assert pair(table["manual_reentry"]) == REENTRY_FIELD
    assert pair(table["manual_reentry_form_round"]) == FORM_ROUND
    by_material = table["physical_material_by_material"]
    assert "marriage_certificate" not in by_material
    assert PAPER == {
        "household_register": pair(by_material["household_register"]),
        "resident_id_card": pair(by_material["resident_id_card"]),
        "marriage_certificate": pair(table["physical_material"]),
    }
    assert pair(table["repeat_trip"]) == REPEAT_TRIP
    assert pair(table["search_only_entry"]) == SEARCH_ONLY
    assert pair(table["clerk_note"]) == NOTE
    call = table["extra_wait"]["agency_call"]
    assert pair(call) == (0.0, 0.0)
    assert (call["citizen_per_overrun_minute"], call["clerk_per_overrun_minute"]) == (
        ATTENDED_CALL_PER_MINUTE)
    queue = table["extra_wait"]["queue"]
    assert pair(queue) == QUEUE
    assert (queue["citizen_per_overrun_minute"], queue["clerk_per_overrun_minute"]) == (
        QUEUE_PER_OVERRUN_MINUTE)
    step = table["extra_wait"]["step"]
    assert pair(step) == LATE_STEP
    assert (step["citizen_per_working_day_late"], step["clerk_per_working_day_late"]) == (
        LATE_STEP_PER_WORKING_DAY)


def test_the_city_is_what_it_claims() -> None:
    before, after = build_city()
    again, _ = build_city()  # the same seed, the same city
    assert (before.truth, before.batches) == (again.truth, again.batches)
    kinds = {t.kind for t in before.truth + after.truth}
    assert kinds == {"manual_reentry", "physical_material", "repeat_trip", "extra_wait",
                     "search_only_entry", "clerk_note"}
    events = [e for b in before.batches + after.batches for e in b]
    calls = [e for e in events if isinstance(e, ExtraWait) and e.scope == "agency_call"]
    assert {e.attended for e in calls} == {True, False}
    assert all(e.occurred_at.tzinfo is not None for e in events)
    # The verified fix's rate falls by 80% exactly; the futile fix's does not move.
    b, a = true_window(before, VERIFIED_FIX, EH), true_window(after, VERIFIED_FIX, EH)
    assert a.cases == b.cases and a.events == round(0.2 * b.events)
    assert true_window(before, FUTILE_FIX, EH) == true_window(after, FUTILE_FIX, EH)
    # Counted as friction, the notes after the fix would keep it from being verified.
    notes_after = sum(1 for t in after.truth if t.point == VERIFIED_FIX and t.kind == "clerk_note")
    with_notes = RateWindow(events=a.events + notes_after, cases=a.cases)
    assert judge(POLICY, b, a).outcome == "verified"
    assert judge(POLICY, b, with_notes).outcome != "verified"


def test_a_synthetic_city_is_counted_costed_ranked_and_verified(
    store: SqlFrictionStore,
) -> None:
    before, after = build_city()

    # Before the fix: ingested, retried, and checked against the truth.
    ingest_period(store, before)
    retry_period(store, before)
    assert_matches_truth(store, before.truth)
    entries = notebook.backlog(store)
    assert [e.point.fingerprint for e in entries] == true_ranking(before.truth)
    assert [e.rank for e in entries] == list(range(1, len(entries) + 1))

    # At the processing date two fixes are deployed through the backlog's transitions.
    for fp, what in ((VERIFIED_FIX, "link the insurance form to the dossier"),
                     (FUTILE_FIX, "one-time notice of deficiencies")):
        notebook.transition(store, fp, TransitionRequest(
            to_status="triaged", reason="high in the backlog", owner="platform-team"),
            "task-force-lead", PROCESSING)
        notebook.transition(store, fp, TransitionRequest(
            to_status="fix_deployed", reason="released", fix_description=what,
            fix_deployed_at=PROCESSING), "dev-7", PROCESSING)

    # After: the form's friction falls by 80%, the trips' does not.
    ingest_period(store, after)
    retry_period(store, after)
    retry_period(store, before)  # a late retry of the old batches changes nothing
    everything = before.truth + after.truth
    assert_matches_truth(store, everything)

    notebook.run_verifier(store, POLICY, VERIFY_AT)  # the verifier's scheduled run
    entries = notebook.backlog(store)
    assert [e.point.fingerprint for e in entries] == true_ranking(everything)
    status = {e.point.fingerprint: e.item for e in entries}
    verified, futile = status[VERIFIED_FIX], status[FUTILE_FIX]
    assert verified.status == "verified" and verified.verified_at == VERIFY_AT
    assert futile.status == "reopened"
    assert {fp for fp, item in status.items() if item.status != "new"} == {
        VERIFIED_FIX, FUTILE_FIX}

    # The verdicts rest on the true rates: friction events of closed cases, notes not.
    assert verified.verdict is not None and futile.verdict is not None
    assert verified.verdict.outcome == "verified"
    assert (verified.verdict.before, verified.verdict.after) == (
        true_window(before, VERIFIED_FIX, EH), true_window(after, VERIFIED_FIX, EH))
    assert verified.verdict.reduction == pytest.approx(0.8, abs=0.02)
    assert futile.verdict.outcome == "not_effective"
    assert (futile.verdict.before, futile.verdict.after) == (
        true_window(before, FUTILE_FIX, EH), true_window(after, FUTILE_FIX, EH))
    assert futile.verdict.reduction == pytest.approx(0.0)
    # The notes are in the form's stuck point (count and burden), not in its rate.
    form = store.stuck_point(VERIFIED_FIX)
    assert form is not None
    assert form.notes == sum(1 for t in everything
                             if t.point == VERIFIED_FIX and t.kind == "clerk_note") > 0
    assert form.count == verified.verdict.before.events + verified.verdict.after.events + (
        form.notes + sum(1 for t in everything if t.point == VERIFIED_FIX
                         and t.kind != "clerk_note" and not t.closed))

    history = [(t.from_status, t.to_status, t.actor) for t in store.transitions(FUTILE_FIX)]
    assert history == [("new", "triaged", "task-force-lead"),
                       ("triaged", "fix_deployed", "dev-7"),
                       ("fix_deployed", "reopened", "verifier")]
