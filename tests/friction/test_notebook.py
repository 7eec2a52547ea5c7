"""The notebook's loop as a service (friction.notebook) over SQLite and PostgreSQL stores:
the verifier's scheduled run seen on the next backlog read, people's transitions, clerks' notes, the
can't-get-it-done register with deadlines in working days, reports with small groups
withheld, and the event log as OCEL 2.0 that PM4Py reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from friction import notebook
from friction.backlog import LifecycleError, TransitionRequest
from friction.ocel import encode
from friction.register import RegisterError
from friction.reports import PREFILL_BENCHMARK
from friction.store import ConflictError
from friction.store.sql import SqlFrictionStore
from friction.verification import VerificationPolicy
from kernel.events import (
    CaseRecord,
    ClerkNote,
    FrictionEvent,
    ManualReentry,
    Provenance,
    StepRecord,
)
from workflows.calendar_source import load_calendar

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"
FIELDS = ("applicant_name", "id_number", "phone", "bank_account")
POLICY = VerificationPolicy(min_cases=8)
ID_NUMBER = "11010519491231002X"


def run_case(
    store: SqlFrictionStore, case_id: str, opened: datetime, *, retyped: int = len(FIELDS)
) -> None:
    """A closed case whose enrollment form had `retyped` fields typed again."""
    store.upsert_case(CaseRecord(
        case_id=case_id, bundle=BUNDLE, bundle_version=1, centre="liangxi-chongan",
        channel="window", status="completed", opened_at=opened,
        closed_at=opened + timedelta(minutes=30),
    ))
    store.ingest([
        ManualReentry(event_id=f"{case_id}/{i}", occurred_at=opened + timedelta(minutes=i),
                      case_id=case_id, bundle=BUNDLE, step=FORM, field=field,
                      known_from=Provenance(kind="agency", source="public-security"))
        for i, field in enumerate(FIELDS[:retyped], start=1)
    ])


def deploy_fix(store: SqlFrictionStore, at: datetime) -> None:
    notebook.transition(store, FORM_POINT, TransitionRequest(
        to_status="triaged", reason="top of the backlog", owner="platform-team"), "lead", at)
    notebook.transition(store, FORM_POINT, TransitionRequest(
        to_status="fix_deployed", reason="v2 released", fix_description="link the form",
        fix_deployed_at=at), "dev-7", at)


def status(store: SqlFrictionStore, now: datetime) -> str:
    notebook.run_verifier(store, POLICY, now)  # the scheduled run; the read writes nothing
    (entry,) = [e for e in notebook.backlog(store)
                if e.point.fingerprint == FORM_POINT]
    return entry.item.status


def test_a_fix_is_verified_by_the_data_and_reopens_when_friction_returns(
    store: SqlFrictionStore,
) -> None:
    for i in range(4):
        run_case(store, f"V1-{i}", T0 + timedelta(hours=i))
    (entry,) = notebook.backlog(store)
    assert (entry.rank, entry.item.status, entry.item.owner) == (1, "new", None)

    fixed_at = T0 + timedelta(days=1)
    deploy_fix(store, fixed_at)
    for i in range(7):  # not enough cases yet: a verdict, but no transition
        run_case(store, f"V2-{i}", fixed_at + timedelta(hours=i + 1), retyped=0)
    now = fixed_at + timedelta(hours=10)
    assert status(store, now) == "fix_deployed"
    waiting = store.backlog_item(FORM_POINT)
    assert waiting is not None and waiting.verdict is not None
    assert waiting.verdict.outcome == "not_yet"
    assert waiting.verdict.explanation == "7 of 8 cases run since the fix"

    run_case(store, "V2-7", fixed_at + timedelta(hours=9), retyped=0)
    assert status(store, now) == "verified"
    verified = store.backlog_item(FORM_POINT)
    assert verified is not None and verified.verified_at == now
    assert verified.verdict is not None and verified.verdict.p_value is not None
    assert verified.verdict.p_value < POLICY.alpha
    assert (verified.verdict.before.events, verified.verdict.before.cases) == (16, 4)
    assert (verified.verdict.after.events, verified.verdict.after.cases) == (0, 8)
    assert status(store, now + timedelta(minutes=1)) == "verified"  # reading again: same

    # Version 1 comes back (a rollback): the cases since verification carry the friction.
    for i in range(8):
        run_case(store, f"V1b-{i}", now + timedelta(hours=i + 1))
    later = now + timedelta(days=1)
    assert status(store, later) == "reopened"
    history = store.transitions(FORM_POINT)
    assert [(t.from_status, t.to_status, t.actor) for t in history] == [
        ("new", "triaged", "lead"), ("triaged", "fix_deployed", "dev-7"),
        ("fix_deployed", "verified", "verifier"), ("verified", "reopened", "verifier")]
    assert history[-1].reason.startswith("friction came back after verification")


def test_a_fix_that_changes_nothing_is_reopened(store: SqlFrictionStore) -> None:
    for i in range(4):
        run_case(store, f"V1-{i}", T0 + timedelta(hours=i))
    fixed_at = T0 + timedelta(days=1)
    deploy_fix(store, fixed_at)
    for i in range(8):
        run_case(store, f"V2-{i}", fixed_at + timedelta(hours=i + 1), retyped=3)
    assert status(store, fixed_at + timedelta(days=1)) == "reopened"
    reopened = store.backlog_item(FORM_POINT)
    assert reopened is not None and reopened.verdict is not None
    assert reopened.verdict.outcome == "not_effective"
    assert "did not fall enough" in reopened.verdict.explanation


def test_people_move_items_only_as_the_lifecycle_allows(store: SqlFrictionStore) -> None:
    run_case(store, "A", T0)

    def request(to: str, **kw: object) -> TransitionRequest:
        return TransitionRequest(to_status=to, reason="because", **kw)  # type: ignore[arg-type]

    with pytest.raises(notebook.NotFoundError):
        notebook.transition(store, "manual_reentry|x|y|form", request("triaged", owner="o"),
                            "me", T0)
    cases = [
        (request("verified"), "to_status"),
        (request("triaged"), "owner"),
        (TransitionRequest(to_status="triaged", reason=" ", owner="o"), "reason"),
    ]
    for bad, field in cases:
        with pytest.raises(LifecycleError) as refused:
            notebook.transition(store, FORM_POINT, bad, "me", T0)
        assert notebook.field_of(refused.value) == field
    with pytest.raises(LifecycleError, match="actor"):
        notebook.transition(store, FORM_POINT, request("triaged", owner="o"), " ", T0)
    item, made = notebook.transition(store, FORM_POINT, request("triaged", owner="o"), "me", T0)
    assert (item.status, made.from_status, made.to_status) == ("triaged", "new", "triaged")
    with pytest.raises(LifecycleError, match="fix_description"):
        notebook.transition(store, FORM_POINT, request("fix_deployed"), "me", T0)
    with pytest.raises(LifecycleError, match="fix_deployed_at"):
        notebook.transition(store, FORM_POINT, request(
            "fix_deployed", fix_description="x", fix_deployed_at=datetime(2026, 3, 2)), "me", T0)
    # The caller saw "new"; it is "triaged" now.
    with pytest.raises(ConflictError):
        notebook.transition(store, FORM_POINT, request("in_progress"), "me", T0, "new")
    assert [t.to_status for t in store.transitions(FORM_POINT)] == ["triaged"]


def test_a_clerks_note_is_masked_and_merges_with_the_automatic_stuck_point(
    store: SqlFrictionStore,
) -> None:
    run_case(store, "A", T0)
    note = ClerkNote(
        event_id=notebook.note_id("A", "clerk-017", "form"), occurred_at=T0,
        case_id="A", bundle=BUNDLE, step=FORM, centre="liangxi-chongan",
        category="form", about_kind="manual_reentry", actor="clerk-017",
        text=f"参保申请表无法生成，只能手填 {ID_NUMBER} 的资料",
    )
    stored = notebook.log_note(store, note)
    assert ID_NUMBER not in stored.text and "[身份证号]" in stored.text
    assert notebook.log_note(store, note) == stored  # a retried request: stored once
    (point,) = store.stuck_points()
    assert (point.fingerprint, point.count, point.notes) == (FORM_POINT, 5, 1)
    (kept,) = [e for e in store.events_for_case("A") if isinstance(e, ClerkNote)]
    assert kept == stored and ID_NUMBER not in msgspec.json.encode(kept).decode()

    with pytest.raises(notebook.InputError, match=r"^subject: holds a personal value"):
        notebook.log_note(store, msgspec.structs.replace(
            note, event_id="n/2", subject=f"id {ID_NUMBER}"))
    with pytest.raises(notebook.InputError, match=r"^about_kind"):
        notebook.log_note(store, msgspec.structs.replace(note, event_id="n/3",
                                                         about_kind="gossip"))


def test_the_register_sets_deadlines_in_working_days_and_feeds_the_notebook(
    store: SqlFrictionStore,
) -> None:
    calendar = load_calendar()
    # Tuesday 29 September 2026, the day before the National Day holidays.
    registered = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)

    def register(case_id: str, cause: str, now: datetime = registered) -> tuple[object, bool]:
        return notebook.register_cant_get_it_done(
            store, case_id=case_id, bundle=BUNDLE, step=FORM, centre="liangxi-chongan",
            department="social-insurance", cause=cause, calendar=calendar, now=now)

    with pytest.raises(RegisterError, match=r"^cause: an applicant's own failure"):
        register("20260929-AAAAAAAA", "applicant")
    with pytest.raises(RegisterError, match=r"^cause: must be one of"):
        register("20260929-AAAAAAAA", "weather")
    record, created = notebook.register_cant_get_it_done(
        store, case_id="20260929-AAAAAAAA", bundle=BUNDLE, step=FORM, centre="liangxi-chongan",
        department="social-insurance", cause="system", calendar=calendar, now=registered)
    assert created
    # 30 Sep, then 1-7 Oct are holidays, 8 and 9 Oct, Saturday 10 Oct is worked, Monday 12.
    assert record.deadline == date(2026, 10, 12)
    again, created_again = register("20260929-AAAAAAAA", "system", registered + timedelta(days=1))
    assert again == record and not created_again
    (event,) = store.events_for_case("20260929-AAAAAAAA")  # one event, however often sent
    assert event.event_id == "cgid/20260929-AAAAAAAA"
    (point,) = store.stuck_points()
    assert point.fingerprint == f"cant_get_it_done|{BUNDLE}|{FORM}|system"
    register("20260929-BBBBBBBB", "policy")

    on_deadline = datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
    entries = notebook.cant_get_it_done_cases(store, calendar, on_deadline, open_only=True)
    assert [(e.record.case_id, e.age_working_days, e.overdue) for e in entries] == [
        ("20260929-AAAAAAAA", 5, False), ("20260929-BBBBBBBB", 5, False)]
    late = datetime(2026, 10, 13, 8, 0, tzinfo=UTC)
    answered = notebook.resolve_cant_get_it_done(
        store, "20260929-AAAAAAAA", "cannot_be_done",
        f"no social insurance record for {ID_NUMBER}, so no retirement", late)
    assert ID_NUMBER not in (answered.explanation or "")
    with pytest.raises(RegisterError, match=r"^explanation"):
        notebook.resolve_cant_get_it_done(store, "20260929-BBBBBBBB", "resolved", " ", late)
    with pytest.raises(RegisterError, match=r"^resolution"):
        notebook.resolve_cant_get_it_done(store, "20260929-BBBBBBBB", "shrug", "x", late)
    everything = notebook.cant_get_it_done_cases(store, calendar, late)
    assert [(e.record.case_id, e.overdue) for e in everything] == [
        ("20260929-AAAAAAAA", True), ("20260929-BBBBBBBB", True)]
    assert [e.record.case_id for e in notebook.cant_get_it_done_cases(
        store, calendar, late, open_only=True)] == ["20260929-BBBBBBBB"]


def closed_case(
    case_id: str, centre: str, opened: datetime, total: int, prefilled: int, trips: int = 1
) -> CaseRecord:
    return CaseRecord(
        case_id=case_id, bundle=BUNDLE, bundle_version=1, centre=centre, channel="window",
        status="completed", opened_at=opened, closed_at=opened + timedelta(hours=1),
        trips=trips, fields_total=total, fields_prefilled=prefilled, working_days=1,
        clerk_minutes=20.0,
        steps=(StepRecord(step=FORM, status="approved", working_days=1, fields_total=total,
                          fields_prefilled=prefilled),),
    )


def test_reports_withhold_small_groups_and_judge_prefill_against_92_percent(
    store: SqlFrictionStore,
) -> None:
    # Five cases at one centre with 23 of 25 fields prefilled (92%), three at another.
    for i in range(5):
        store.upsert_case(closed_case(f"A{i}", "liangxi-chongan", T0 + timedelta(hours=i),
                                      25, 23, trips=1 if i else 2))
    for i in range(3):
        store.upsert_case(closed_case(f"B{i}", "binhu-hehu", T0, 25, 25))
    store.upsert_case(closed_case("late", "binhu-hehu", T0 + timedelta(days=40), 25, 25))
    report = notebook.report(store, "centre", T0 - timedelta(days=1), T0 + timedelta(days=1))
    binhu, liangxi = report.rows
    assert binhu.group == "binhu-hehu" and binhu.suppressed and binhu.cases is None
    assert binhu.prefilled_share is None and binhu.one_trip_rate is None
    assert (liangxi.cases, liangxi.suppressed) == (5, False)
    assert liangxi.prefilled_share == pytest.approx(0.92) == PREFILL_BENCHMARK
    assert liangxi.prefill_benchmark_met is True
    assert (liangxi.one_trip_rate, liangxi.completion_rate) == (0.8, 1.0)
    assert liangxi.clerk_minutes_per_case == pytest.approx(20.0)

    # One field fewer prefilled in one case: 114 of 125 is 91.2%, short of the benchmark.
    store.upsert_case(closed_case("A0", "liangxi-chongan", T0, 25, 22, trips=2))
    (_, liangxi) = notebook.report(store, "centre", None, None, min_group=3).rows
    assert liangxi.prefill_benchmark_met is False
    everyone = notebook.report(store, "bundle", None, None, min_group=3)
    assert everyone.rows[0].cases == 9
    step = notebook.report(store, "step", None, None).rows[0]
    assert step.group == f"{BUNDLE}/{FORM}" and step.clerk_minutes_per_case is None
    with pytest.raises(notebook.InputError, match=r"^until"):
        notebook.report(store, "bundle", T0, T0)


def test_the_event_log_is_ocel_2_that_pm4py_reads(
    store: SqlFrictionStore, tmp_path: Path
) -> None:
    pm4py = pytest.importorskip("pm4py")
    for i in range(3):
        record = closed_case(f"C{i}", "liangxi-chongan", T0 + timedelta(hours=i), 8, 0)
        started = record.opened_at + timedelta(minutes=1)
        steps = (
            StepRecord(step="unemployment-registration", status="approved",
                       started_at=started, finished_at=started + timedelta(minutes=5),
                       working_days=0),
            StepRecord(step=FORM, status="approved", started_at=started + timedelta(minutes=6),
                       finished_at=started + timedelta(minutes=20), working_days=0, rounds=2),
        )
        store.upsert_case(msgspec.structs.replace(record, steps=steps))
        events: list[FrictionEvent] = [
            ManualReentry(event_id=f"C{i}/{n}", occurred_at=started + timedelta(minutes=10),
                          case_id=f"C{i}", bundle=BUNDLE, step=FORM, field=field,
                          known_from=Provenance(kind="agency", source="public-security"))
            for n, field in enumerate(FIELDS[:2], start=1)
        ]
        store.ingest(events)
    # An event of a case the notebook has no record of: the case is a bare object.
    store.ingest([ManualReentry(event_id="Z/1", occurred_at=T0, case_id="Z", bundle=BUNDLE,
                                step=FORM, field="phone",
                                known_from=Provenance(kind="agency", source="x"))])
    log = notebook.export_ocel(store)
    path = tmp_path / "notebook.jsonocel"
    path.write_bytes(encode(log))
    ocel = pm4py.read_ocel2_json(str(path))

    assert len(ocel.objects) == 3 + 6 + 1  # cases, their steps, the case only named
    assert set(ocel.objects["ocel:type"]) == {"case", "step"}
    kinds = ocel.events["ocel:activity"].value_counts().to_dict()
    assert kinds == {"case_opened": 3, "step_started": 6, "step_finished": 6,
                     "case_closed": 3, "manual_reentry": 7}
    related = ocel.relations[ocel.relations["ocel:activity"] == "manual_reentry"]
    assert set(related["ocel:oid"]) == {f"case:C{i}" for i in range(3)} | {
        f"step:C{i}:{FORM}" for i in range(3)} | {"case:Z"}
    window = notebook.export_ocel(store, T0 + timedelta(minutes=30), T0 + timedelta(hours=3))
    assert {o["id"] for o in window["objects"] if o["type"] == "case"} == {"case:C1", "case:C2"}


def test_reading_the_backlog_writes_nothing(store: SqlFrictionStore) -> None:
    """The verifier runs where writes belong (its schedule, a deployed fix), never on a
    read: enough cases since the fix leave the item as it was until it runs."""
    for i in range(4):
        run_case(store, f"V1-{i}", T0 + timedelta(hours=i))
    fixed_at = T0 + timedelta(days=1)
    deploy_fix(store, fixed_at)
    for i in range(8):
        run_case(store, f"V2-{i}", fixed_at + timedelta(hours=i + 1), retyped=0)
    before = (store.backlog_items(), store.transitions(FORM_POINT))
    (entry,) = notebook.backlog(store)
    assert entry.item.status == "fix_deployed"
    assert (store.backlog_items(), store.transitions(FORM_POINT)) == before
    made = notebook.run_verifier(store, POLICY, fixed_at + timedelta(days=1))
    assert [(t.from_status, t.to_status) for t in made] == [("fix_deployed", "verified")]


def test_a_fix_deployed_with_its_cases_already_run_is_verified_at_once(
    store: SqlFrictionStore,
) -> None:
    for i in range(4):
        run_case(store, f"V1-{i}", T0 + timedelta(hours=i))
    fixed_at = T0 + timedelta(days=1)
    for i in range(8):
        run_case(store, f"V2-{i}", fixed_at + timedelta(hours=i + 1), retyped=0)
    now = fixed_at + timedelta(days=1)
    notebook.transition(store, FORM_POINT, TransitionRequest(
        to_status="triaged", reason="top", owner="platform-team"), "lead", now)
    notebook.transition(store, FORM_POINT, TransitionRequest(
        to_status="fix_deployed", reason="v2 released", fix_description="link the form",
        fix_deployed_at=fixed_at), "dev-7", now, policy=POLICY)
    item = store.backlog_item(FORM_POINT)
    assert item is not None and item.status == "verified"
