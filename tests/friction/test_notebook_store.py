"""The store's side of the notebook's loop, on SQLite and PostgreSQL alike (`store` and
`backend`, conftest.py): stuck points per form with their evidence, clerks' notes merged
into automatic stuck points, daily and weekly trends, case steps and per-case friction,
reports, the backlog with optimistic concurrency, the verifier's rate windows, the
can't-get-it-done register, the event log's pages and the migration of a version 1
notebook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import pytest

from friction import reports
from friction.backlog import BacklogItem, Transition
from friction.register import CantGetItDoneRecord, RegisterError
from friction.store import ConflictError, IngestResult, engine, export, migrations, rollups
from friction.store.migrations import MIGRATIONS
from friction.store.rollups import event_params
from friction.store.sql import SqlFrictionStore
from friction.stuck_points import StuckPoint
from kernel.events import (
    CaseRecord,
    ClerkNote,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    Provenance,
    RepeatTrip,
    StepRecord,
    fingerprint,
)

if TYPE_CHECKING:
    from tests.friction.conftest import Backend

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, 17:00 in China
BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"


def reentry(
    case: str, seq: int, field: str, *, at: datetime = T0, source: str = "public-security",
    trace: str | None = None, bundle: str = BUNDLE,
) -> ManualReentry:
    return ManualReentry(
        event_id=f"{case}/{seq}", occurred_at=at, case_id=case, bundle=bundle, step=FORM,
        field=field, known_from=Provenance(kind="agency", source=source), trace_id=trace,
    )


def form_events(case: str, at: datetime = T0, bundle: str = BUNDLE) -> list[FrictionEvent]:
    return [reentry(case, i, f, at=at, bundle=bundle)
            for i, f in enumerate(("applicant_name", "phone", "bank_account"), start=1)]


def case(
    case_id: str, status: str = "completed", *, opened: datetime = T0, bundle: str = BUNDLE,
    centre: str = "liangxi", **changes: object,
) -> CaseRecord:
    record = CaseRecord(
        case_id=case_id, bundle=bundle, bundle_version=1, centre=centre, channel="window",
        status="open", opened_at=opened,
        closed_at=None if status == "open" else opened + timedelta(hours=2),
    )
    return msgspec.structs.replace(record, status=status, **changes)


def test_re_entries_are_one_stuck_point_per_form_with_the_fields_as_evidence(
    store: SqlFrictionStore,
) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    store.ingest([
        reentry("A", 1, "phone", trace=trace),
        reentry("A", 2, "bank_account", trace=trace),
        reentry("B", 1, "phone", source="hrss", at=T0 + timedelta(minutes=5)),
        reentry("C", 1, "phone", at=T0 + timedelta(minutes=9)),
        reentry("C", 2, "applicant_name", at=T0 + timedelta(minutes=9)),
    ])
    (point,) = store.stuck_points()
    assert point.fingerprint == FORM_POINT == fingerprint(reentry("X", 1, "anything"))
    assert (point.kind, point.subject, point.count, point.cases) == (
        "manual_reentry", "form", 5, 3)
    assert point.details == {"field:phone": 3, "field:applicant_name": 1,
                             "field:bank_account": 1}
    assert list(point.details) == ["field:phone", "field:applicant_name", "field:bank_account"]
    assert point.known_from == {"agency:public-security": 4, "agency:hrss": 1}
    assert point.sample_traces == (trace,)
    assert point.remedy == (
        f"link form {FORM} to the dossier: prefill phone, applicant_name, bank_account "
        "from agency:public-security"
    )
    assert store.stuck_point(FORM_POINT) == point
    assert store.stuck_point("manual_reentry|nowhere|-|form") is None


def test_evidence_of_trips_papers_and_notes(store: SqlFrictionStore) -> None:
    store.ingest([
        RepeatTrip(event_id="A/1", occurred_at=T0, case_id="A", bundle=BUNDLE, step="s",
                   trip_number=2, reasons=("material:s.lease", "material:s.lease", "field:x"),
                   could_have_been_told=()),
        RepeatTrip(event_id="B/1", occurred_at=T0, case_id="B", bundle=BUNDLE, step="s",
                   trip_number=2, reasons=("material:s.lease",), could_have_been_told=()),
        PhysicalMaterialRequested(event_id="A/2", occurred_at=T0, case_id="A", bundle=BUNDLE,
                                  step="s", material="resident_id_card",
                                  held_by=Provenance(kind="ecert", source="id_ecert")),
        ClerkNote(event_id="n/1", occurred_at=T0, bundle=BUNDLE, step="s", category="ui",
                  text="the button is hidden", subject="entry"),
    ])
    points = {p.kind: p for p in store.stuck_points()}
    assert points["repeat_trip"].details == {"reason:material:s.lease": 2, "reason:field:x": 1}
    assert points["physical_material"].details == {"material:resident_id_card": 1}
    assert points["clerk_note"].details == {"category:ui": 1}


def test_a_clerks_note_about_a_kind_joins_its_automatic_stuck_point(
    store: SqlFrictionStore,
) -> None:
    note = ClerkNote(
        event_id="note/A/1", occurred_at=T0, case_id="A", bundle=BUNDLE, step=FORM,
        category="form_not_generated", text="表格无法生成，只能手填", subject="phone",
        about_kind="manual_reentry", actor="clerk-017",
    )
    assert fingerprint(note) == FORM_POINT
    store.ingest([note])  # the note first: the stuck point is still a re-entry point
    store.ingest(form_events("A") + form_events("B"))
    (point,) = store.stuck_points()
    assert point.kind == "manual_reentry" and point.fingerprint == FORM_POINT
    assert (point.count, point.notes, point.cases) == (7, 1, 2)
    assert point.details["category:form_not_generated"] == 1
    assert point.details["field:phone"] == 3  # two typed, one named by the clerk
    # the note about a re-entry: the re-entry's 1.2 clerk minutes plus 5 of writing
    assert point.clerk_minutes == pytest.approx(6 * 1.2 + 1.2 + 5.0)
    # A note still counts as a note, however it is merged.
    counts = store.counts_by_kind()
    assert (counts["manual_reentry"], counts["clerk_note"]) == (6, 1)
    # A note about something the system does not see stays a note of its own.
    store.ingest([msgspec.structs.replace(note, event_id="note/A/2", about_kind=None)])
    assert {p.kind for p in store.stuck_points()} == {"manual_reentry", "clerk_note"}


def test_trend_by_china_day_and_week_with_quiet_periods_as_zeros(
    store: SqlFrictionStore,
) -> None:
    store.ingest([
        reentry("A", 1, "phone", at=datetime(2025, 3, 2, 15, 59, tzinfo=UTC)),  # 3-2 23:59
        reentry("B", 1, "phone", at=datetime(2025, 3, 2, 16, 0, tzinfo=UTC)),  # 3-3 00:00
        reentry("C", 1, "phone", at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC)),
        reentry("D", 1, "phone", at=datetime(2025, 3, 5, 9, 0, tzinfo=UTC)),
        reentry("E", 1, "phone", at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC)),
    ])
    days = store.trend(FORM_POINT, "day")
    assert [(p.period_start, p.count) for p in days[:4]] == [
        (date(2025, 3, 2), 1), (date(2025, 3, 3), 2), (date(2025, 3, 4), 0),
        (date(2025, 3, 5), 1)]
    assert days[-1].period_start == date(2025, 3, 12) and len(days) == 11
    assert days[1].citizen_minutes == pytest.approx(2.5)
    assert days[1].clerk_minutes == pytest.approx(2.4)
    weeks = store.trend(FORM_POINT, "week")  # weeks start on Monday
    assert [(p.period_start, p.count) for p in weeks] == [
        (date(2025, 2, 24), 1), (date(2025, 3, 3), 3), (date(2025, 3, 10), 1)]
    assert store.trend("no|such|stuck|point") == []
    with pytest.raises(ValueError, match="granularity"):
        store.trend(FORM_POINT, "month")  # type: ignore[arg-type]


def test_cases_keep_their_steps_and_a_later_record_replaces_them(
    store: SqlFrictionStore,
) -> None:
    registration = StepRecord(step="registration", status="approved", started_at=T0,
                              finished_at=T0 + timedelta(hours=1), working_days=0, rounds=1,
                              fields_total=6, fields_prefilled=6)
    store.upsert_case(case("A", "open", steps=(registration,)))
    enrollment = StepRecord(step=FORM, status="approved", started_at=T0, rounds=2,
                            finished_at=T0 + timedelta(days=2), working_days=2,
                            fields_total=8, fields_prefilled=0)
    closed = case("A", working_days=2, clerk_minutes=31.5, steps=(registration, enrollment))
    store.upsert_case(closed)
    (stored,) = store.iter_cases()
    assert stored == closed
    # A late retry of the opening record changes neither the case nor its steps.
    store.upsert_case(case("A", "open", steps=(registration,)))
    assert list(store.iter_cases()) == [closed]


def test_reports_sum_cases_and_their_friction_per_bundle_step_and_centre(
    store: SqlFrictionStore,
) -> None:
    def steps(prefilled: int) -> tuple[StepRecord, ...]:
        return (
            StepRecord(step="registration", status="approved", working_days=1,
                       fields_total=10, fields_prefilled=10),
            StepRecord(step=FORM, status="approved", working_days=3, rounds=2,
                       fields_total=10, fields_prefilled=prefilled),
        )

    store.upsert_case(case("A", working_days=4, clerk_minutes=30, trips=1,
                           fields_total=20, fields_prefilled=10, steps=steps(0)))
    store.upsert_case(case("B", working_days=6, clerk_minutes=50, trips=2, centre="binhu",
                           fields_total=20, fields_prefilled=20, steps=steps(10)))
    store.upsert_case(case("C", "open", clerk_minutes=5, steps=(
        StepRecord(step="registration", status="awaiting_clerk", fields_total=10),)))
    store.upsert_case(case("D", opened=T0 + timedelta(days=30)))  # outside the window
    store.upsert_case(case("E", bundle="other", working_days=1))
    store.ingest(form_events("A") + form_events("D"))
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=1)

    by_bundle = {s.group: s for s in store.report_sums("bundle", since, until)}
    hardship = by_bundle[BUNDLE]
    assert (hardship.cases, hardship.completed, hardship.one_trip) == (3, 2, 1)
    assert (hardship.working_days_sum, hardship.working_days_count) == (10, 2)
    assert hardship.clerk_minutes == pytest.approx(85)
    assert (hardship.fields_total, hardship.fields_prefilled) == (40, 30)
    assert hardship.friction_citizen_minutes == pytest.approx(3.75)
    assert hardship.friction_clerk_minutes == pytest.approx(3.6)
    assert by_bundle["other"].cases == 1

    by_step = {s.group: s for s in store.report_sums("step", since, until, bundle=BUNDLE)}
    assert set(by_step) == {f"{BUNDLE}/registration", f"{BUNDLE}/{FORM}"}
    form = by_step[f"{BUNDLE}/{FORM}"]
    assert (form.cases, form.completed, form.one_trip) == (2, 2, 1)
    assert (form.working_days_sum, form.working_days_count) == (6, 2)
    assert (form.fields_total, form.fields_prefilled) == (20, 10)
    assert form.friction_citizen_minutes == pytest.approx(3.75) and form.clerk_minutes is None
    registration = by_step[f"{BUNDLE}/registration"]
    assert (registration.cases, registration.completed) == (3, 2)
    assert registration.friction_citizen_minutes == 0.0

    by_centre = {s.group: s.cases for s in store.report_sums("centre", None, None)}
    assert by_centre == {"liangxi": 4, "binhu": 1}


def item(fp: str = FORM_POINT, **changes: object) -> BacklogItem:
    return msgspec.structs.replace(BacklogItem(fingerprint=fp), **changes)


def move(old: str, new: str, fp: str = FORM_POINT) -> Transition:
    return Transition(fingerprint=fp, from_status=old, to_status=new,  # type: ignore[arg-type]
                      actor="analyst-3", at=T0, reason=f"{old} to {new}")


def test_backlog_items_and_transitions_are_saved_together_or_not_at_all(
    store: SqlFrictionStore,
) -> None:
    assert store.backlog_items() == {} and store.backlog_item(FORM_POINT) is None
    triaged = item(status="triaged", owner="platform-team", updated_at=T0)
    store.save_backlog(triaged, move("new", "triaged"), expected_status="new")
    assert store.backlog_items() == {FORM_POINT: triaged}

    # Someone who read the item as "new" has lost the race: nothing of theirs is kept.
    with pytest.raises(ConflictError, match="triaged"):
        store.save_backlog(item(status="triaged", owner="someone-else"),
                           move("new", "triaged"), expected_status="new")
    with pytest.raises(ConflictError):
        store.save_backlog(item("other|b|s|x", status="triaged"), None,
                           expected_status="triaged")  # absent counts as new
    assert store.backlog_item(FORM_POINT) == triaged
    assert store.transitions(FORM_POINT) == [move("new", "triaged")]

    from friction.verification import RateWindow, Verdict

    verdict = Verdict(outcome="not_yet", before=RateWindow(events=9, cases=3),
                      after=RateWindow(events=0, cases=1), reduction=None, p_value=None,
                      explanation="1 of 30 cases run since the fix")
    deployed = item(status="fix_deployed", owner="platform-team", updated_at=T0,
                    fix_deployed_at=T0, fix_description="v2 links the form", verdict=verdict)
    store.save_backlog(deployed, move("triaged", "fix_deployed"), expected_status="triaged")
    store.save_backlog(deployed, None, expected_status="fix_deployed")  # a verdict only
    assert store.backlog_item(FORM_POINT) == deployed
    assert [t.to_status for t in store.transitions(FORM_POINT)] == ["triaged", "fix_deployed"]
    assert store.transitions("other|b|s|x") == []


def test_rate_windows_count_closed_cases_of_the_bundle_opened_in_the_window(
    store: SqlFrictionStore,
) -> None:
    fix = T0 + timedelta(days=10)
    for i in range(4):  # before the fix: three events each
        store.upsert_case(case(f"B{i}", opened=T0 + timedelta(days=i)))
        store.ingest(form_events(f"B{i}"))
    store.upsert_case(case("B-open", "open", opened=T0))  # not closed: not counted
    store.ingest(form_events("B-open"))
    store.upsert_case(case("X", bundle="other", opened=T0))  # another bundle's case
    store.ingest(form_events("X", bundle="other"))
    for i in range(3):  # after: one case still types one field
        store.upsert_case(case(f"A{i}", "failed" if i == 2 else "completed",
                               opened=fix + timedelta(hours=i)))
    store.ingest([reentry("A0", 1, "phone", at=fix)])
    # A clerk's note merged into the stuck point is evidence, not an event of the rate.
    store.ingest([ClerkNote(
        event_id="note/A1/1", occurred_at=fix, case_id="A1", bundle=BUNDLE, step=FORM,
        category="form_not_generated", text="表格无法生成", subject="phone",
        about_kind="manual_reentry", actor="clerk-017")])

    before = store.rate_window(FORM_POINT, BUNDLE, None, fix)
    after = store.rate_window(FORM_POINT, BUNDLE, fix, None)
    assert (before.events, before.cases) == (12, 4)
    assert (after.events, after.cases) == (1, 3)
    assert store.rate_window(FORM_POINT, BUNDLE, fix + timedelta(hours=1), None).cases == 2
    assert store.rate_window(FORM_POINT, "nobody", None, None).cases == 0


def registration(case_id: str = "20250303-ABCDEFGH", **changes: object) -> CantGetItDoneRecord:
    record = CantGetItDoneRecord(
        case_id=case_id, bundle=BUNDLE, step=FORM, centre="liangxi", department="hrss",
        cause="system", registered_at=T0, deadline=date(2025, 3, 10),
    )
    return msgspec.structs.replace(record, **changes)


def test_the_register_refuses_applicants_failures_and_answers_once(
    store: SqlFrictionStore,
) -> None:
    with pytest.raises(RegisterError, match="applicant's own failure"):
        store.register_cant_get_it_done(registration(cause="applicant"))  # type: ignore[arg-type]
    first = registration()
    assert store.register_cant_get_it_done(first) == (first, True)
    again = registration(cause="policy", registered_at=T0 + timedelta(days=1))
    assert store.register_cant_get_it_done(again) == (first, False)  # the first one stands
    store.register_cant_get_it_done(registration("20250303-OTHERCAS", cause="policy",
                                                 registered_at=T0 + timedelta(hours=1)))
    summary = {o.cause: (o.count, o.oldest_registered_at) for o in store.open_cant_get_it_done()}
    assert summary == {"system": (1, T0), "policy": (1, T0 + timedelta(hours=1))}

    at = T0 + timedelta(days=2)
    resolved = store.resolve_cant_get_it_done(
        first.case_id, "cannot_be_done", "no insurance record: no retirement", at)
    assert (resolved.resolution, resolved.resolved_at) == ("cannot_be_done", at)
    with pytest.raises(ConflictError, match="answered already"):
        store.resolve_cant_get_it_done(first.case_id, "resolved", "again", at)
    with pytest.raises(KeyError):
        store.resolve_cant_get_it_done("20250303-NOTHERE2", "resolved", "x", at)
    assert [r.case_id for r in store.cant_get_it_done_cases()] == [
        first.case_id, "20250303-OTHERCAS"]
    assert [r.case_id for r in store.cant_get_it_done_cases(open_only=True)] == [
        "20250303-OTHERCAS"]
    assert store.cant_get_it_done_cases()[0] == resolved
    assert store.cant_get_it_done_case(first.case_id) == resolved
    assert store.cant_get_it_done_case("20250303-NOTHERE2") is None


def test_the_event_log_is_read_in_pages_within_its_window(
    store: SqlFrictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE", 3)
    for i in range(7):
        store.upsert_case(case(f"C{i}", opened=T0 + timedelta(days=i)))
    store.ingest([reentry(f"C{i}", 1, "phone", at=T0 + timedelta(days=i)) for i in range(7)])
    assert [c.case_id for c in store.iter_cases()] == [f"C{i}" for i in range(7)]
    window = (T0 + timedelta(days=1), T0 + timedelta(days=5))
    assert [c.case_id for c in store.iter_cases(*window)] == ["C1", "C2", "C3", "C4"]
    assert [e.event_id for e in store.iter_events(*window)] == [
        "C1/1", "C2/1", "C3/1", "C4/1"]
    assert len(list(store.iter_events())) == 7


def test_rebuilt_rollups_keep_evidence_trends_and_per_case_friction(
    store: SqlFrictionStore, backend: Backend
) -> None:
    store.ingest([reentry("A", 1, "phone", trace="ab" * 16), *form_events("B"),
                  reentry("C", 1, "phone", at=T0 + timedelta(days=3))])
    store.ingest([ClerkNote(event_id="n/1", occurred_at=T0, case_id="A", bundle=BUNDLE,
                            step=FORM, category="c", text="t", about_kind="manual_reentry")])
    store.upsert_case(case("A"))
    store.upsert_case(case("B"))
    before = (store.stuck_points(), store.trend(FORM_POINT), store.counts_by_kind(),
              store.rate_window(FORM_POINT, BUNDLE, None, None))
    store.rebuild_rollups()
    after = (store.stuck_points(), store.trend(FORM_POINT), store.counts_by_kind(),
             store.rate_window(FORM_POINT, BUNDLE, None, None))
    assert after == before
    # The rate counts the four re-entries of closed cases A and B, not the note.
    assert before[0][0].notes == 1 and before[3].events == 4


def test_a_version_1_notebook_is_migrated_to_one_stuck_point_per_form(backend: Backend) -> None:
    """Events stored under version 1 (one stuck point per field) are re-keyed and their
    rollups rebuilt: the form's point, its fields as evidence, per-case friction."""
    dialect: engine.Dialect
    if backend.name == "sqlite":
        from friction.sqlite_store import SQLITE as dialect

        backend.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
    else:
        from friction.postgres_store import postgres_dialect

        dialect = postgres_dialect()
        backend.execute(f'CREATE SCHEMA IF NOT EXISTS "{backend.schema}"')  # type: ignore[attr-defined]
    for statement in ("CREATE TABLE schema_version (version INTEGER NOT NULL)",
                      "INSERT INTO schema_version (version) VALUES (1)", *MIGRATIONS[0][1]):
        assert isinstance(statement, str)
        backend.execute(dialect.sql(statement))
    events = form_events("A") + form_events("B")
    old = []
    for event in events:  # as version 1 wrote them: the field was the subject
        params = list(event_params(event)[:14])
        params[2] = f"manual_reentry|{BUNDLE}|{FORM}|{event.field}"  # type: ignore[union-attr]
        params[5] = event.field  # type: ignore[union-attr]
        old.append(params)
    backend.insert("events", rollups.EVENT_COLUMNS[:14], old)

    store = backend.open()
    try:
        (point,) = store.stuck_points()
        assert (point.fingerprint, point.count, point.cases) == (FORM_POINT, 6, 2)
        assert point.details == {"field:applicant_name": 2, "field:bank_account": 2,
                                 "field:phone": 2}
        store.upsert_case(case("A"))
        assert store.rate_window(FORM_POINT, BUNDLE, None, None).events == 3
        assert [p.count for p in store.trend(FORM_POINT)] == [6]
        # New events land on the same stuck point.
        result: IngestResult = store.ingest(form_events("C"))
        assert len(result.stored) == 3
        assert [p.count for p in store.stuck_points()] == [9]
    finally:
        store.close()
    assert backend.execute("SELECT max(version) FROM schema_version") == [
        (migrations.SCHEMA_VERSION,)]


def test_stuck_points_carry_new_fields_with_defaults() -> None:
    # Older JSON (before details, traces and notes) still decodes.
    old = {"fingerprint": "f", "kind": "k", "bundle": None, "step": None, "subject": "s",
           "count": 1, "cases": 1, "first_seen": T0.isoformat(), "last_seen": T0.isoformat(),
           "citizen_minutes": 1.0, "clerk_minutes": 1.0, "burden_minutes": 2.0,
           "known_from": {}, "sample_cases": [], "remedy": "r"}
    point = msgspec.convert(old, type=StuckPoint)
    assert (point.details, point.sample_traces, point.notes) == ({}, (), 0)


def test_cases_closed_as_not_eligible_or_withdrawn_count_as_closed_not_completed(
    store: SqlFrictionStore,
) -> None:
    """A case the citizen cannot complete today ends for good: it is closed but not
    completed, its single trip counts in the one-trip rate, and each ending is counted
    apart per bundle and per step."""
    def one(status: str) -> tuple[StepRecord, ...]:
        return (StepRecord(step=FORM, status=status),)

    store.upsert_case(case("A", trips=1, working_days=1, steps=one("approved")))
    store.upsert_case(case("B", trips=2, working_days=3, steps=one("approved")))
    store.upsert_case(case("N", "not_eligible", trips=1, steps=one("not_eligible")))
    store.upsert_case(case("W", "withdrawn", trips=2, steps=one("withdrawn")))
    store.upsert_case(case("F", "failed", trips=1, steps=one("rejected")))
    store.upsert_case(case("O", "open", steps=one("awaiting_clerk")))
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=1)

    (sums,) = store.report_sums("bundle", since, until)
    assert (sums.cases, sums.completed, sums.closed) == (6, 2, 5)
    assert (sums.not_eligible, sums.withdrawn) == (1, 1)
    assert sums.one_trip == 2  # A and N: the failed case is no trip's end
    row = reports.to_row(sums, min_group=1)
    assert row.completion_rate == pytest.approx(2 / 6, abs=1e-4)
    assert row.closed_rate == pytest.approx(5 / 6, abs=1e-4)
    assert row.one_trip_rate == 0.5  # of A, B, N and W
    assert (row.not_eligible, row.withdrawn) == (1, 1)
    assert (sums.working_days_sum, sums.working_days_count) == (4, 2)  # completed only

    (step,) = store.report_sums("step", since, until)
    assert (step.completed, step.not_eligible, step.withdrawn, step.one_trip) == (2, 1, 1, 2)
    assert "not elig." in reports.render(reports.build("bundle", [sums], since, until, 1))
