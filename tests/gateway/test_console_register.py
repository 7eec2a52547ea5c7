"""The can't-get-it-done window (办不成事) in the console, through the real gateway, worker
and logins: a clerk registers a walk-in through the form, finds it in the register,
assigns its task force and answers it as a matter that cannot be done, and the register
holds the answer with its explanation; refusals (no explanation, an applicant's own
failure, a case answered already) change nothing and say why beside the field; analysts
read and may not write; a form without its CSRF token is refused."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from conftest import running_worker, served_gateway
from temporalio.testing import WorkflowEnvironment

from friction import notebook
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from kernel.china_time import local_date
from kernel.events import CaseRecord
from workflows.calendar_source import load_calendar

PASSWORD = "window-register-2026"
CENTRE = "liangxi-chongan"
REGISTER = "/console/register"


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=(CENTRE,))
    book.add("analyst", PASSWORD, ("analyst",))
    return book


@contextlib.asynccontextmanager
async def gateway_with_worker(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_worker(dev_env.client, {}, store, task_queue),
        served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                       headers={}) as client,
    ):
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the page carries no form with a CSRF token"
    return found.group(1)


def text_of(page: httpx.Response) -> str:
    return unescape(page.text)


async def log_in(client: httpx.AsyncClient, username: str) -> None:
    form = await client.get("/login")
    done = await client.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": csrf_of(form)})
    assert done.status_code == 303, done.text


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    """Posts a form as the page that shows it would, with that page's CSRF token."""
    shown = await client.get(page_path)
    assert shown.status_code == 200, shown.text
    return await client.post(action, data={**fields, "_csrf_token": csrf_of(shown)})


def new_case(store: SqliteFrictionStore | None = None) -> str:
    """A case number; with a store, of a case the notebook knows (it failed at a window):
    the register takes only cases that exist."""
    case_id = f"20260302-{uuid.uuid4().hex[:8].upper()}"
    if store is not None:
        opened = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        store.upsert_case(CaseRecord(
            case_id=case_id, bundle="employment-hardship", bundle_version=1, centre=CENTRE,
            channel="window", status="failed", opened_at=opened,
            closed_at=opened + timedelta(hours=1)))
    return case_id


async def test_a_clerk_registers_assigns_and_answers_through_the_console(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> None:
    case_id = new_case(store)
    case_page = f"{REGISTER}/{case_id}"
    async with gateway_with_worker(dev_env, store, task_queue, accounts) as client:
        await log_in(client, "clerk")
        # The nav leads here; the form offers the catalogue's bundles and the causes in
        # words, never the applicant's own failure.
        listed = await client.get(REGISTER)
        assert listed.status_code == 200, listed.text
        assert 'href="/console/register"' in listed.text and "办不成事" in listed.text
        assert 'value="employment-hardship"' in listed.text
        assert "政策不允许" in listed.text and 'value="applicant"' not in listed.text

        registered = await post_form(client, REGISTER, REGISTER, {
            "case_id": case_id, "bundle": "employment-hardship",
            "step": "flexible-insurance-enrollment", "department": "social-insurance",
            "cause": "system"})
        assert registered.status_code == 303, registered.text
        assert registered.headers["location"] == case_page

        # The register lists it, oldest first, with its cause in words and its age.
        listed = await client.get(REGISTER, params={"open_only": "1"})
        row = re.search(rf'<tr id="row-{case_id}">(.*?)</tr>', listed.text, re.S)
        assert row, listed.text
        cells = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row.group(1))))
        assert "就业困难认定和补贴" in cells or "employment" in cells
        # The department and the centre by name.
        assert "系统故障" in cells and "社保中心" in cells and "梁溪区崇安街道便民服务中心" in cells
        assert f'href="{case_page}"' in row.group(1)

        shown = await client.get(case_page)
        assert shown.status_code == 200, shown.text
        assert 'id="task-force-form"' in shown.text and 'id="answer-form"' in shown.text
        assert "未升级" in text_of(shown) or "Not escalated" in text_of(shown)

        assigned = await post_form(client, case_page, f"{case_page}/task-force", {
            "lead": "tf-lead-1", "departments": "social-insurance，hrss"})
        assert assigned.status_code == 303, assigned.text
        shown = await client.get(case_page)
        assert "tf-lead-1" in shown.text and "社保中心、人社" in text_of(shown)

        # No explanation: refused beside the field (422), the typed outcome kept.
        vague = await post_form(client, case_page, f"{case_page}/resolution", {
            "resolution": "cannot_be_done", "explanation": "  "})
        assert vague.status_code == 422, vague.text
        assert 'id="err-explanation"' in vague.text
        assert re.search(r'id="resolution-cannot_be_done"[^>]*checked', vague.text)
        (entry,) = notebook.cant_get_it_done_cases(store, load_calendar(), datetime.now(UTC))
        assert entry.record.resolution is None and entry.record.explanation is None

        explanation = "No insurance record, so no pension; told the citizen by phone."
        answered = await post_form(client, case_page, f"{case_page}/resolution", {
            "resolution": "cannot_be_done", "explanation": explanation})
        assert answered.status_code == 303, answered.text
        shown = await client.get(case_page)
        assert explanation in text_of(shown) and 'id="answer-form"' not in shown.text
        assert 'id="task-force-form"' not in shown.text

        # A second answer on the closed case: a flash error, nothing changed.
        again = await client.post(f"{case_page}/resolution", data={
            "resolution": "resolved", "explanation": "done", "_csrf_token": csrf_of(listed)})
        assert again.status_code == 409, again.text
        assert 'class="flash error"' in again.text

    # The store's register holds the answer with its explanation and the deadline.
    (entry,) = notebook.cant_get_it_done_cases(store, load_calendar(), datetime.now(UTC))
    record = entry.record
    assert (record.case_id, record.resolution, record.explanation) == (
        case_id, "cannot_be_done", explanation)
    assert record.cause == "system" and record.centre == CENTRE
    # Counted from the moment the register's workflow took the case (the dev server's
    # clock), not from whenever this line runs: a test straddling midnight stays right.
    assert record.deadline == load_calendar().add_working_days(
        local_date(record.registered_at), 5)
    assert [r.case_id for r in store.cant_get_it_done_cases(open_only=True)] == []


async def test_refusals_roles_and_csrf(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> None:
    case_id = new_case(store)
    form = {"case_id": case_id, "bundle": "employment-hardship", "step": "",
            "department": "hrss", "cause": "applicant"}
    async with gateway_with_worker(dev_env, store, task_queue, accounts) as client:
        await log_in(client, "clerk")
        # An applicant's own failure is refused as the register refuses it.
        refused = await post_form(client, REGISTER, REGISTER, form)
        assert refused.status_code == 422, refused.text
        assert 'id="err-cause"' in refused.text and "申请人自身" in text_of(refused)
        assert f'value="{case_id}"' in refused.text  # what the clerk typed is kept
        assert store.cant_get_it_done_cases() == []
        # A step of another bundle is refused by its field too.
        wrong_step = await post_form(client, REGISTER, REGISTER, {
            **form, "cause": "policy", "step": "no-such-step"})
        assert wrong_step.status_code == 422 and 'id="err-step"' in wrong_step.text

        # No CSRF token: refused, nothing registered.
        forged = await client.post(REGISTER, data={**form, "cause": "policy"})
        assert forged.status_code == 403
        assert store.cant_get_it_done_cases() == []

        done = await post_form(client, REGISTER, REGISTER, {**form, "cause": "policy"})
        assert done.status_code == 303, done.text

        # A case registered weeks ago, before cases ran as workflows, still open: overdue
        # and escalated in the list; its page shows the register's row.
        old = new_case()
        notebook.register_cant_get_it_done(
            store, case_id=old, bundle="employment-hardship", step=None, centre=CENTRE,
            department="civil-affairs", cause="consultation", calendar=load_calendar(),
            now=datetime.now(UTC) - timedelta(days=21))

        # An analyst reads the register and the case but may not write.
        client.cookies.clear()
        await log_in(client, "analyst")
        listed = await client.get(REGISTER)
        assert listed.status_code == 200 and case_id in listed.text
        assert listed.text.index(old) < listed.text.index(case_id)  # oldest first
        old_row = re.search(rf'<tr id="row-{old}">(.*?)</tr>', listed.text, re.S)
        assert old_row and "已超时" in old_row.group(1) and "已升级督办" in old_row.group(1)
        new_row = re.search(rf'<tr id="row-{case_id}">(.*?)</tr>', listed.text, re.S)
        assert new_row and "已超时" not in new_row.group(1)
        old_page = await client.get(f"{REGISTER}/{old}")
        assert old_page.status_code == 200 and 'id="overdue"' in old_page.text
        assert (await client.get(f"{REGISTER}/NO-SUCH-CASE")).status_code == 404
        assert 'id="register-form"' not in listed.text
        shown = await client.get(f"{REGISTER}/{case_id}")
        assert shown.status_code == 200 and 'id="task-force-form"' not in shown.text
        token = csrf_of(shown)  # the logout form's
        for action, fields in (
            (REGISTER, {**form, "case_id": new_case(), "cause": "policy"}),
            (f"{REGISTER}/{case_id}/task-force", {"lead": "tf", "departments": "hrss"}),
            (f"{REGISTER}/{case_id}/resolution",
             {"resolution": "resolved", "explanation": "x"}),
        ):
            denied = await client.post(action, data={**fields, "_csrf_token": token})
            assert denied.status_code == 403, (action, denied.text)
    (record,) = [r for r in store.cant_get_it_done_cases() if r.case_id == case_id]
    assert record.resolution is None and record.cause == "policy"
