"""Article 000 replayed: the residence permit by stable employment (居住证), on real servers.

Mr Jiang's record, relative to today: a labour contract of over a year; the latest
month's contribution insured but not yet credited; the months transferred from another
city listed last under a "transferred virtual employer"; a lease that has expired. In 2017
he made three trips and was still not done: each visit named one more thing (the
uncredited month, the virtual line, then the stale printout and the expired lease the
clerk had not looked at before the 11:30 closing).

- The product: the first review names every real deficiency at once (only the lease);
  the virtual line and the uncredited month raise nothing, by the stated rules; the
  insurance proof is read from the record as of the processing date, so no printout goes
  stale; one return with a new lease, and the case is done.
- The old window (no rules, paper printouts, an officer naming deficiencies piecemeal):
  three trips, piecemeal rejections and repeat trips in the notebook, the case not done.
- The window's hours (time-skipping server): a submission attempted within the closing
  margin waits for the next opening, and a case the clerk was serving at closing is
  recorded as friction; neither is a silent stop.

The dev-server tests drop the window's hours: they run at whatever hour the test runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from conftest import ServedApp, bundle_start, running_worker, wait_for
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.local import free_port
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.population import Citizen, generate, work_and_lease
from friction.sqlite_store import SqliteFrictionStore
from gateway.console.notice import notice_items
from kernel.china_time import CHINA_TZ, local_date, month_of
from kernel.events import (
    ExtraWait,
    ManualReentry,
    PhysicalMaterialRequested,
    PiecemealRejection,
    RepeatTrip,
)
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar
from workflows.case import (
    RECORD_MATERIAL,
    RECORD_TRIP,
    SUBMIT_FIELDS,
    CaseProgress,
    FieldEntry,
    MaterialEntry,
    TripEntry,
)
from workflows.definition import (
    BundleDefinition,
    Catalogue,
    OpeningHours,
    WindowSpec,
    validate,
)
from workflows.material_rules import (
    VIRTUAL_EMPLOYER_ZH,
    add_months,
    decode_lines,
    latest_month,
)

PERMIT = Catalogue.load().default("residence-permit")
STEP = "residence-permit"
EMPLOYER = "无锡鸿运电子科技有限公司"
LEASE_RULE = f"rule:{STEP}.lease_valid_on_processing_date"
HELD = ("resident_id_card", "household_register", "social_insurance_record")


def today() -> date:
    return local_date(datetime.now(UTC))


def jiang(
    day: date, *, lease_expired: bool = True, declared_this_month: bool = False, n: int = 0
) -> Citizen:
    """Mr Jiang as of `day`: at his employer for fourteen months, the latest month (or, when
    declared_this_month, the current one) insured but not yet credited, a year of months
    transferred in from another city listed last, a lease expired ten days ago or valid."""
    base = generate(seed=2017, size=n + 1, today=day)[n]
    last = month_of(day) if declared_this_month else latest_month(day)
    person = msgspec.structs.replace(
        base, last_employer=EMPLOYER, last_contribution_month=last, certificates=HELD)
    lease_start = add_months(day, -13)
    lease_end = day - timedelta(days=10) if lease_expired else add_months(day, 11)
    return work_and_lease(
        person,
        contract_start=add_months(day, -14).replace(day=1),
        contract_end=add_months(day, 22),
        employer_code="913202000000000017",
        latest_insured_not_credited=True,
        transferred_months=12,
        lease=(lease_start, lease_end),
    )


@pytest.fixture
async def article_agencies() -> AsyncIterator[tuple[ServedApp, list[Citizen]]]:
    """A simulator of its own: the article's citizen is not in the shared population."""
    day = today()
    people = [jiang(day, n=0), jiang(day, n=1)]
    async with ServedApp(create_agency_sim(people), free_port()) as served:
        yield served, people


def urls(sim: ServedApp) -> dict[str, str]:
    return {a: f"{sim.url}/{a}" for a in AGENCIES}


async def behave(sim: ServedApp, reasons: list[dict[str, Any]]) -> None:
    """The officer at the window this visit: forgets earlier visits, names only these."""
    async with httpx.AsyncClient(base_url=sim.url) as http:
        (await http.post("/admin/reset")).raise_for_status()
        response = await http.put("/admin/behaviour/public-security",
                                  json={"reject_rate": 1.0, "reject_reasons": reasons})
        response.raise_for_status()


def reason(code: str, zh: str, en: str, material: str) -> dict[str, Any]:
    return {"code": code, "message_zh": zh, "message_en": en, "field": None,
            "material": material}


async def update(handle: WorkflowHandle[Any, Any], name: str, entry: object) -> CaseProgress:
    result: CaseProgress = await handle.execute_update(name, entry, result_type=CaseProgress)
    return result


def paper(material: str) -> MaterialEntry:
    return MaterialEntry(step=STEP, material=material, form="paper")


def at_clerk(round_: int) -> Any:
    def ready(p: CaseProgress) -> bool:
        return p.status != "open" or (p.awaiting == "clerk" and p.steps[0].round == round_)
    return ready


async def test_the_first_review_names_every_deficiency_and_one_return_completes(
    dev_env: WorkflowEnvironment,
    article_agencies: tuple[ServedApp, list[Citizen]],
    store: SqliteFrictionStore,
    task_queue: str,
) -> None:
    sim, people = article_agencies
    citizen = people[0]
    definition = msgspec.structs.replace(PERMIT, window=None)
    start = bundle_start(definition, citizen)
    async with running_worker(dev_env.client, urls(sim), store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        first = await wait_for(handle, at_clerk(0))

        # The record holds the article's traps: the virtual employer line last, the
        # latest month insured but not yet credited.
        lines = decode_lines(first.dossier["insurance.lines"].value)
        assert lines is not None
        assert lines[-1].employer == VIRTUAL_EMPLOYER_ZH and lines[-1].transferred_virtual
        latest = next(ln for ln in lines if ln.month == latest_month(today()))
        assert latest.status == "insured_not_credited"
        assert first.dossier["insurance.lines"].source.source == "hrss"
        assert first.dossier["housing.lease_end"].source.source == "public-security"

        # The first review: every real deficiency at once, before anything is submitted.
        # Only the lease: the virtual line is not the current employer, the uncredited
        # latest month counts by the stated rule, the proof is read as of today.
        view = first.steps[0]
        assert [f.rule for f in view.findings] == ["lease_valid_on_processing_date"]
        assert view.findings[0].material == "lease"
        assert set(first.outstanding) == {
            f"material:{STEP}.labour_contract", f"material:{STEP}.lease", LEASE_RULE}
        assert {m.name: m.status for m in view.materials}["insurance_proof"] == "held_ecert"
        assert all(f.prefilled for f in view.fields)

        # He hands over his contract and the (expired) lease: the lease is still named.
        await update(handle, RECORD_MATERIAL, paper("labour_contract"))
        told = await update(handle, RECORD_MATERIAL, paper("lease"))
        assert told.outstanding == (LEASE_RULE,)
        assert told.status == "open" and told.awaiting == "clerk"
        notice = notice_items(told)
        assert [(i.kind, i.code) for i in notice] == [("rule", LEASE_RULE)]
        assert "租赁合同已于" in notice[0].label_zh

        # He comes back once, with a renewed lease; the clerk enters its dates.
        back = await update(handle, RECORD_TRIP, TripEntry(reasons=told.outstanding))
        assert back.trips == 2
        await update(handle, RECORD_MATERIAL, paper("lease"))
        renewed_from = today().isoformat()
        await update(handle, SUBMIT_FIELDS, FieldEntry(step=STEP, values={
            "lease_start": renewed_from, "lease_end": add_months(today(), 12).isoformat()}))
        final: CaseProgress = await handle.result()

    assert final.status == "completed"
    assert final.trips == 2  # one return, for the one thing the first visit named
    assert final.outstanding == ()
    assert final.steps[0].status == "approved" and final.steps[0].round == 0
    assert "residence_permit.number" in final.dossier
    events = store.events_for_case(start.case_id)
    trips = [e for e in events if isinstance(e, RepeatTrip)]
    assert len(trips) == 1 and trips[0].could_have_been_told == (LEASE_RULE,)
    assert not [e for e in events if isinstance(
        e, PiecemealRejection | PhysicalMaterialRequested | ManualReentry)]


async def test_the_old_window_takes_three_trips_and_the_notebook_shows_why(
    dev_env: WorkflowEnvironment,
    article_agencies: tuple[ServedApp, list[Citizen]],
    store: SqliteFrictionStore,
    task_queue: str,
) -> None:
    """The window as it ran in 2017: no rules, the insurance proof a paper printout, and
    an officer who names one more deficiency at each visit."""
    sim, people = article_agencies
    citizen = people[1]
    step = PERMIT.steps[0]
    old_materials = tuple(msgspec.structs.replace(
        m, rules=(), ecert=None if m.name == "insurance_proof" else m.ecert)
        for m in step.materials)
    old = msgspec.structs.replace(
        PERMIT, window=None, steps=(msgspec.structs.replace(step, materials=old_materials),))
    start = bundle_start(old, citizen)
    visits = [
        [reason("insurance_covers_12_months", "最近一个月已参保未到账，需到账后才满一年",
                "The latest month is insured but not yet credited: not a full year yet",
                "insurance_proof")],
        [reason("insurance_matches_contract_employer",
                "社保证明最后一个单位为转移虚拟单位，需提供该单位劳动合同和在职证明",
                "The last employer on the proof is a transferred virtual employer: bring its "
                "contract and proof of employment", "labour_contract")],
        [reason("insurance_includes_latest_month", "参保证明已过期，需重新打印含上月的证明",
                "The printout is stale: print one including last month", "insurance_proof"),
         reason("lease_valid_on_processing_date", "租赁合同已过期", "The lease has expired",
                "lease")],
    ]
    async with running_worker(dev_env.client, urls(sim), store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        first = await wait_for(handle, at_clerk(0))
        # Without rules, the first notice names papers only, not the expired lease.
        assert not any(o.startswith("rule:") for o in first.outstanding)
        await behave(sim, visits[0])
        for material in ("labour_contract", "insurance_proof", "lease"):
            await update(handle, RECORD_MATERIAL, paper(material))
        for visit in (1, 2):
            rejected = await wait_for(handle, at_clerk(visit))
            assert rejected.status == "open"
            told = [o for o in rejected.outstanding if o.startswith("rejection:")]
            assert told == [f"rejection:{STEP}.{r['code']}" for r in visits[visit - 1]]
            await behave(sim, visits[visit])
            # The three visits were on three days; the test has them in one, and says so.
            again = visit > 1
            await update(handle, RECORD_TRIP, TripEntry(
                reasons=tuple(told), again_today=again,
                again_today_reason="third visit, a day apart in the case" if again else None))
            for material in rejected.steps[0].missing_materials:
                await update(handle, RECORD_MATERIAL, paper(material))
        final: CaseProgress = await handle.result()

    assert final.status == "failed"  # three trips, and still not done
    assert final.trips == 3
    events = store.events_for_case(start.case_id)
    trips = sorted(e.trip_number for e in events if isinstance(e, RepeatTrip))
    assert trips == [2, 3]
    # The expired lease was detectable at the first rejection: a piecemeal rejection.
    # The virtual employer line and the stale printout were not deficiencies of the
    # facts at the earlier visits (same day, record read afresh), so they are not.
    piecemeal = [e for e in events if isinstance(e, PiecemealRejection)]
    assert [(e.rule, e.first_rejection_round, e.later_rejection_round) for e in piecemeal] == [
        ("lease_valid_on_processing_date", 0, 2)]
    assert citizen.id_number not in repr(events) and citizen.name not in repr(events)


# -- the window's hours on the time-skipping server ----------------------------------------


@workflow.defn(name="TestClock")
class Clock:
    """Sleeps until a moment: awaiting it moves the time-skipping server's clock there
    (or past it, to whatever timer another case has pending next)."""

    @workflow.run
    async def run(self, until: datetime) -> None:
        await workflow.sleep(max(until - workflow.now(), timedelta(0)))


async def advance_to(env: WorkflowEnvironment, until: datetime) -> None:
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[Clock],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        await env.client.execute_workflow(Clock.run, until, id=queue, task_queue=queue)


async def away_from_midnight(env: WorkflowEnvironment) -> datetime:
    """The server's time, moved on to 02:00 China time if it lies too close to midnight
    for a window that opened an hour ago and closes in five minutes."""
    for _ in range(5):
        now = await env.get_current_time()
        if time(1, 5) <= now.astimezone(CHINA_TZ).time() <= time(23, 50):
            return now
        tomorrow = local_date(now) + timedelta(days=1)
        await advance_to(env, datetime.combine(tomorrow, time(2), CHINA_TZ).astimezone(UTC))
    raise AssertionError("the test server's clock kept landing near midnight")


def closing_soon(now: datetime) -> tuple[WindowSpec, WorkingCalendar]:
    """One opening period a day, from an hour ago to five minutes from now, China time,
    with the permit's 15-minute closing margin; every day of the next weeks a working day,
    so the next opening is tomorrow's."""
    local = now.astimezone(CHINA_TZ).replace(microsecond=0)
    window = WindowSpec(run_by="public-security", closing_margin_minutes=15, hours=(
        OpeningHours(opens=(local - timedelta(hours=1)).time(),
                     closes=(local + timedelta(minutes=5)).time()),))
    calendar = WorkingCalendar(id="every-day", makeup_workdays=frozenset(
        local.date() + timedelta(days=i) for i in range(30)))
    return window, calendar


def everything_on_file(window: WindowSpec) -> BundleDefinition:
    """The permit with the contract and the lease held as records, so the case needs no
    clerk (the time-skipping server takes no updates)."""
    step = PERMIT.steps[0]
    held = {"labour_contract": "labour_contract_filing", "lease": "lease_registration"}
    materials = tuple(msgspec.structs.replace(m, ecert=held.get(m.name, m.ecert))
                      for m in step.materials)
    return validate(msgspec.structs.replace(PERMIT, window=window, steps=(
        msgspec.structs.replace(step, materials=materials),)))


async def test_closing_time_is_friction_and_the_case_continues_at_the_next_opening(
    time_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    now = await away_from_midnight(time_env)
    window, calendar = closing_soon(now)
    day = local_date(now)
    closes = datetime.combine(day, window.hours[0].closes, CHINA_TZ).astimezone(UTC)
    reopens = datetime.combine(day + timedelta(days=1), window.hours[0].opens,
                               CHINA_TZ).astimezone(UTC)
    # Records that hold tomorrow too: the current month already declared.
    held = (*HELD, "labour_contract_filing", "lease_registration")
    ready = msgspec.structs.replace(
        jiang(day, lease_expired=False, declared_this_month=True, n=2), certificates=held)
    # No lease on file: the clerk must type its dates, so this case waits on the clerk.
    waiting = msgspec.structs.replace(jiang(day, n=3), lease_start=None, lease_end=None,
                                      certificates=held)
    definition = everything_on_file(window)

    async def start(person: Citizen) -> tuple[str, WorkflowHandle[Any, Any]]:
        case = msgspec.structs.replace(bundle_start(definition, person), calendar=calendar)
        # The handle start_workflow returns lets time skip while awaiting its result.
        return case.case_id, await time_env.client.start_workflow(
            BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue,
            execution_timeout=timedelta(days=60))

    def queued(case_id: str) -> list[ExtraWait]:
        return [e for e in store.events_for_case(case_id)
                if isinstance(e, ExtraWait) and e.scope == "queue"]

    async with ServedApp(create_agency_sim([ready, waiting]), free_port()) as sim:
        async with running_worker(time_env.client, urls(sim), store, task_queue):
            ready_id, ready_case = await start(ready)
            waiting_id, waiting_case = await start(waiting)
            final: CaseProgress = await ready_case.result()
            for _ in range(200):
                if queued(waiting_id):
                    break
                await asyncio.sleep(0.05)
            waited: CaseProgress = await waiting_case.query(BundleWorkflow.progress)
            await waiting_case.terminate("test over")

    # Attempted within the closing margin: recorded at once, taken at the next opening.
    assert final.status == "completed"
    step = final.steps[0]
    assert step.started_at is not None and step.started_at < closes
    assert step.finished_at is not None and step.finished_at >= reopens
    [cut_off] = queued(ready_id)
    assert (cut_off.agency, cut_off.due_at, cut_off.calendar) == (
        "public-security", closes, "every-day")
    assert cut_off.occurred_at < closes
    assert cut_off.actual_seconds == pytest.approx(
        (reopens - cut_off.occurred_at).total_seconds())
    assert [f.kind for f in final.friction] == ["extra_wait"]
    # Judged as of the day the window took it: the records were read again that day.
    assert final.dossier["insurance.lines"].at >= reopens
    assert final.dossier["housing.lease_end"].at >= reopens

    # Served in the margin and still waiting on the clerk when the window closed:
    # recorded at the closing; the case simply stays open for the next opening.
    [closed_on] = queued(waiting_id)
    assert closed_on.due_at == closes and closed_on.occurred_at >= closes
    assert closed_on.actual_seconds == pytest.approx((reopens - closes).total_seconds())
    assert waited.status == "open" and waited.awaiting == "clerk"
    assert set(waited.steps[0].missing_fields) == {"residence_address", "lease_start",
                                                   "lease_end"}
