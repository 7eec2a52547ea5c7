"""The error notebook's loop through the gateway, on the real dev server with a real
worker: cases on version 1 of employment-hardship type the insurance form again; an
analyst triages the form's stuck point and marks the fix deployed; cases on version 2
(the form linked to the dossier) make the verifier's next scheduled run verify it; cases
on version 1 again reopen it. A clerk's note on a case joins the form's stuck point, its ID number
masked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import ServedApp, known_values, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from friction import notebook
from friction.sqlite_store import SqliteFrictionStore
from friction.verification import VerificationPolicy

BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"
POLICY = VerificationPolicy(min_cases=8)  # a small batch is enough to judge the fix
WINDOWS = 4  # cases served at once
PROBLEM = "application/problem+json"


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(
        dev_env.client, store, task_queue, agency_urls, verification=POLICY
    ) as client:
        yield client


def with_everything_on_file(population: list[Citizen]) -> list[Citizen]:
    """Citizens whose e-certificates and bank account the agencies hold: on version 2
    their insurance form is filled entirely from the dossier."""
    return [c for c in population
            if "resident_id_card" in c.certificates and c.bank_account is not None]


async def run_cases(
    gateway: httpx.AsyncClient, citizens: list[Citizen], version: int
) -> list[str]:
    slots = asyncio.Semaphore(WINDOWS)

    async def one(citizen: Citizen) -> str:
        async with slots:
            opened = await gateway.post("/api/cases", json={
                "bundle": BUNDLE, "citizen_id_number": citizen.id_number,
                "centre": "liangxi-chongan", "bundle_version": version,
            })
            assert opened.status_code == 201, opened.text
            assert opened.json()["bundle_version"] == version
            case_id: str = opened.json()["case_id"]
            final = await serve_case(HttpDesk(gateway, case_id), known_values(citizen),
                                     ClerkHabits(), timeout=90)
            assert final.status == "completed", final
            return case_id

    return list(await asyncio.gather(*(one(c) for c in citizens)))


async def form_entry(gateway: httpx.AsyncClient) -> dict[str, Any]:
    response = await gateway.get("/api/friction/backlog", params={"bundle": BUNDLE})
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    (entry,) = [e for e in entries if e["point"]["fingerprint"] == FORM_POINT]
    return dict(entry)


async def verifier_runs(store: SqliteFrictionStore) -> None:
    """What the verifier's Temporal Schedule does every period, now rather than minutes from now."""
    await asyncio.to_thread(notebook.run_verifier, store, POLICY, datetime.now(UTC))


async def move(gateway: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await gateway.post(f"/api/friction/backlog/{quote(FORM_POINT, safe='')}/transitions",
                              json={"actor": "analyst-3", "reason": "see the backlog", **body})


async def test_a_fix_is_verified_by_the_next_cases_and_reopened_when_friction_returns(
    gateway: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore
) -> None:
    citizens = with_everything_on_file(population)
    assert len(citizens) >= 20

    # Collect: version 1 types the insurance form's fields again.
    before = await run_cases(gateway, citizens[:4], version=1)
    entry = await form_entry(gateway)
    assert entry["rank"] == 1 and entry["item"]["status"] == "new"
    point = entry["point"]
    assert point["cases"] == 4 and point["count"] == 4 * 8
    assert point["details"]["field:phone"] == 4 and len(point["details"]) == 8
    assert point["remedy"].startswith(f"link form {FORM} to the dossier: prefill ")

    # A clerk notes it on a case, typing the citizen's ID number into the text.
    id_number = citizens[0].id_number
    note = await gateway.post(f"/api/cases/{before[0]}/notes", json={
        "category": "form", "about_kind": "manual_reentry", "subject": "phone",
        "actor": "clerk-017", "text": f"参保申请表无法生成，{id_number} 的资料只能手填",
    })
    assert note.status_code == 201, note.text
    logged = note.json()
    assert id_number not in note.text and "[身份证号]" in logged["text"]
    assert (logged["bundle"], logged["centre"]) == (BUNDLE, "liangxi-chongan")
    assert logged["step"] == "subsidy-claim"  # the last step of the closed case
    assert logged["actor"] == "service:tests"  # the caller's account, not the body's actor
    bad_note = await gateway.post(f"/api/cases/{before[0]}/notes", json={
        "category": "other", "text": "t", "actor": "clerk-017", "step": "no-such-step"})
    assert bad_note.status_code == 422 and bad_note.json()["field"] == "step"

    # Analyse: the stuck point with its evidence and history.
    detail = await gateway.get(f"/api/friction/stuck-points/{quote(FORM_POINT, safe='')}")
    assert detail.status_code == 200, detail.text
    shown = detail.json()
    assert shown["point"]["count"] == 4 * 8  # the note went to the subsidy step's point
    assert sum(p["count"] for p in shown["trend_by_day"]) == shown["point"]["count"]
    assert shown["trend_by_week"] and shown["transitions"] == []

    # Fix: triage and deploy, refused where the lifecycle says no.
    refused = await move(gateway, to_status="verified")
    assert refused.status_code == 422 and refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["field"] == "to_status"
    no_owner = await move(gateway, to_status="triaged")
    assert no_owner.status_code == 422 and no_owner.json()["field"] == "owner"
    triaged = await move(gateway, to_status="triaged", owner="platform-team")
    assert triaged.status_code == 201, triaged.text
    stale = await move(gateway, to_status="in_progress", expected_status="new")
    assert stale.status_code == 409
    deployed = await move(gateway, to_status="fix_deployed",
                          fix_description="version 2 links the insurance form to the dossier")
    assert deployed.status_code == 201, deployed.text
    assert (await form_entry(gateway))["item"]["status"] == "fix_deployed"

    # Feed back: version 2 runs; the verifier's next scheduled run verifies the fix.
    await run_cases(gateway, citizens[4:12], version=2)
    await verifier_runs(store)
    entry = await form_entry(gateway)
    item = entry["item"]
    assert item["status"] == "verified", item
    assert item["owner"] == "platform-team"
    assert item["verdict"]["outcome"] == "verified"
    assert item["verdict"]["after"] == {"events": 0, "cases": 8}
    assert entry["point"]["count"] == 4 * 8  # version 2 typed nothing again

    # Version 1 comes back: the friction returns and the item reopens.
    await run_cases(gateway, citizens[12:20], version=1)
    await verifier_runs(store)
    item = (await form_entry(gateway))["item"]
    assert item["status"] == "reopened", item
    history = (await gateway.get(
        f"/api/friction/stuck-points/{quote(FORM_POINT, safe='')}")).json()["transitions"]
    assert [(t["to_status"], t["actor"]) for t in history] == [
        # Who moved it is the caller's account; the body's `actor` is ignored.
        ("triaged", "service:tests"), ("fix_deployed", "service:tests"), ("verified", "verifier"),
        ("reopened", "verifier")]

    missing = await gateway.get(f"/api/friction/stuck-points/{quote('a|b|c|d', safe='')}")
    assert missing.status_code == 404
    nowhere = await gateway.post(
        f"/api/friction/backlog/{quote('a|b|c|d', safe='')}/transitions",
        json={"to_status": "triaged", "reason": "r", "owner": "o", "actor": "a"})
    assert nowhere.status_code == 404


async def test_a_clerks_note_about_the_form_joins_its_stuck_point(
    gateway: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore
) -> None:
    citizen = with_everything_on_file(population)[0]
    opened = await gateway.post("/api/cases", json={
        "bundle": BUNDLE, "citizen_id_number": citizen.id_number, "centre": "binhu-hehu",
        "bundle_version": 1})
    case_id = opened.json()["case_id"]
    desk = HttpDesk(gateway, case_id)
    # Serve up to the insurance form, and note it while the clerk is on it.
    for _ in range(10):
        progress = await desk.progress()
        if progress.current_step == FORM and progress.awaiting == "clerk":
            break
        await serve_step(desk, citizen)
    note = await gateway.post(f"/api/cases/{case_id}/notes", json={
        "category": "form", "about_kind": "manual_reentry",
        "actor": "clerk-017", "text": "参保申请表无法生成，只能手填",
    })
    assert note.status_code == 201, note.text
    assert note.json()["step"] == FORM
    again = await gateway.post(f"/api/cases/{case_id}/notes", json={
        "category": "form", "about_kind": "manual_reentry",
        "actor": "clerk-017", "text": "参保申请表无法生成，只能手填",
    })
    assert again.json()["event_id"] == note.json()["event_id"]  # a retry is the same note
    await serve_case(desk, known_values(citizen), ClerkHabits(), timeout=90)
    (point,) = [p for p in store.stuck_points() if p.step == FORM]
    assert (point.fingerprint, point.count, point.notes) == (FORM_POINT, 9, 1)
    assert point.details["category:form"] == 1
    assert store.counts_by_kind()["clerk_note"] == 1

    unknown = await gateway.post("/api/cases/20260101-ABCDEFGH/notes", json={
        "category": "other", "text": "t", "actor": "a"})
    assert unknown.status_code == 404
    piped = await gateway.post(f"/api/cases/{case_id}/notes", json={
        "category": "a|b", "text": "t", "actor": "a"})
    assert piped.status_code == 422 and piped.json()["field"] == "category"


async def serve_step(desk: HttpDesk, citizen: Citizen) -> None:
    """One round of the clerk's work on the current step (serve_case does them all)."""
    from datetime import UTC, datetime

    from deploy.sim.clerk import clerk_answer, wait_for, waiting_on_clerk
    from kernel.china_time import local_date
    from workflows.case import FieldEntry, MaterialEntry

    progress = await wait_for(desk, waiting_on_clerk, timeout=60)
    step = next(s for s in progress.steps if s.id == progress.current_step)
    if step.id == FORM:
        return
    for material in step.materials:
        if material.status == "missing":
            await desk.record_material(MaterialEntry(step=step.id, material=material.name,
                                                     form="paper"))
    known = known_values(citizen)
    today = local_date(datetime.now(UTC))
    values = {f.name: clerk_answer(f, known, today) for f in step.fields
              if f.name in step.missing_fields}
    if values or not (step.missing_fields or step.missing_materials):
        await desk.submit_fields(FieldEntry(step=step.id, values=values))
    await asyncio.sleep(0.2)
