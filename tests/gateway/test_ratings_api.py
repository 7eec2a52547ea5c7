"""The citizen's rating (好差评) through the API, on a real case served by the real
gateway, worker and Temporal dev server: once per case and visit (409 naming the
field), a bad review opens a follow-up due in working days counted by the calendar from
a pinned date, a case that does not exist cannot be rated, a follow-up closes only with
its answer and only at its own centre, and the backlog shows a stuck point's ratings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import TEST_SECRET, api_token, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen
from friction.ratings import RatingPolicy
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.console.notice import tracking_code
from kernel.china_time import CHINA_TZ

PROBLEM = "application/problem+json"
# The Wednesday before National Day: five working days run through the holiday week and
# its make-up Saturday (10-10) to Tuesday 13 October.
PINNED = datetime(2026, 9, 30, 10, 0, tzinfo=CHINA_TZ)
CENTRE = "east-centre"


def auth(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(*roles, subject=subject)}"}


CHANNEL = auth("service:sms", "channel")


def field_of(response: httpx.Response, status: int) -> str | None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    field: str | None = response.json().get("field")
    return field


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    agency_urls: dict[str, str], fresh_agencies: object, tmp_path: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("eastclerk", "rating-pass-2026", ("clerk",), display_name="东窗口",
             centres=(CENTRE,))
    book.add("westclerk", "rating-pass-2026", ("clerk",), display_name="西窗口",
             centres=("west-centre",))
    async with served_gateway(
        dev_env.client, store, task_queue, agency_urls, accounts=book,
        rating_policy=RatingPolicy(follow_up_working_days=5), clock=lambda: PINNED,
    ) as client:
        yield client


async def test_a_visit_is_rated_once_and_a_bad_review_is_followed_up(
    api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    opened = await api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": population[0].id_number,
        "centre": CENTRE})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(api, case_id), waiting_on_clerk)

    bad = await api.post("/api/ratings", headers=CHANNEL, json={
        "case_id": case_id, "level": "very_dissatisfied", "channel": "sms",
        "reasons": ["long_wait", "unclear_guidance"], "text": "请回电 13912345678"})
    assert bad.status_code == 201, bad.text
    made = bad.json()
    assert made["rating"]["visit"] == 1 and made["rating"]["centre"] == CENTRE
    assert made["rating"]["text"] == "请回电 [手机号]"
    follow_up = made["follow_up"]
    assert (follow_up["deadline"], follow_up["owner"]) == ("2026-10-13", CENTRE)
    assert follow_up["answer"] is None

    # Once per case and visit, whichever channel asks.
    again = await api.post("/api/ratings", headers=auth("service:pad", "channel"), json={
        "case_id": case_id, "level": "very_satisfied", "channel": "window_pad"})
    assert field_of(again, 409) == "visit"
    # A visit not yet made, a reason off the list, a level that is none.
    for body, field in (
        ({"visit": 2, "level": "satisfied"}, "visit"),
        ({"level": "satisfied", "reasons": ["bribes"]}, "reasons"),
        ({"level": "meh"}, "level"),
        ({"level": "satisfied", "channel": "pigeon"}, "channel"),
    ):
        sent = await api.post("/api/ratings", headers=CHANNEL,
                              json={"case_id": case_id, "channel": "sms", **body})
        assert field_of(sent, 422) == field, body
    # A case one cannot track cannot be rated: none with this number, or no number at all.
    for number in ("20260930-ABCDEFGH", "not-a-case"):
        sent = await api.post("/api/ratings", headers=CHANNEL, json={
            "case_id": number, "level": "very_dissatisfied", "channel": "sms"})
        assert field_of(sent, 422) == "case_id"
    # Citizens' ratings come from channels and windows, not from the data bureau.
    sent = await api.post("/api/ratings", headers=auth("service:bureau", "analyst"), json={
        "case_id": case_id, "level": "satisfied", "channel": "sms"})
    assert sent.status_code == 403

    # The citizen comes back: the second visit is rated on its own.
    assert (await api.post(f"/api/cases/{case_id}/trips", json={"reasons": []})).is_success
    second = await api.post("/api/ratings", headers=CHANNEL, json={
        "case_id": case_id, "level": "satisfied", "channel": "sms"})
    assert second.status_code == 201 and second.json()["rating"]["visit"] == 2
    assert second.json()["follow_up"] is None

    # The follow-up is the east centre's: the west centre neither sees, reads nor answers
    # it, and the data bureau reads the list but answers for no centre.
    west, east = auth("westclerk"), auth("eastclerk")
    analyst = auth("service:bureau", "analyst")
    listed = await api.get("/api/ratings/follow-ups", headers=west)
    assert listed.json()["follow_ups"] == []
    path = f"/api/ratings/follow-ups/{case_id}/1"
    assert field_of(await api.post(f"{path}/answer", headers=west,
                                   json={"answer": "x"}), 403) == "centre"
    assert field_of(await api.post(f"{path}/owner", headers=west,
                                   json={"owner": "x"}), 403) == "centre"
    assert field_of(await api.get(f"/api/ratings/cases/{case_id}", headers=west),
                    403) == "centre"
    assert (await api.post(f"{path}/answer", headers=analyst,
                           json={"answer": "x"})).status_code == 403
    listed = await api.get("/api/ratings/follow-ups?open_only=true", headers=east)
    [shown] = listed.json()["follow_ups"]
    assert shown["follow_up"]["case_id"] == case_id and shown["overdue"] is False
    assert field_of(await api.post(f"{path}/answer", headers=east,
                                   json={"answer": "  "}), 422) == "answer"
    assigned = await api.post(f"{path}/owner", headers=east, json={"owner": "综窗主任"})
    assert assigned.json()["follow_up"]["owner"] == "综窗主任"
    closed = await api.post(f"{path}/answer", headers=east, json={
        "answer": "已电话致歉，材料清单已在窗口张贴。"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["follow_up"]["answered_by"] == "eastclerk"
    assert field_of(await api.post(f"{path}/answer", headers=east,
                                   json={"answer": "again"}), 409) == "answer"
    every = await api.get("/api/ratings/follow-ups", headers=analyst)
    assert [v["follow_up"]["case_id"] for v in every.json()["follow_ups"]] == [case_id]

    ratings = (await api.get(f"/api/ratings/cases/{case_id}", headers=east)).json()
    assert [(r["visit"], r["level"]) for r in ratings["ratings"]] == [
        (1, "very_dissatisfied"), (2, "satisfied")]
    # Nothing personal in what was stored: the case number, levels, reasons, masked text.
    assert population[0].id_number not in str(ratings)
    assert "13912345678" not in str(ratings)

    choices = (await api.get("/api/ratings/choices", headers=CHANNEL)).json()
    assert [c["name"] for c in choices["levels"]] == [
        "非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert choices["bad_levels"] == ["dissatisfied", "very_dissatisfied"]


async def test_the_backlog_shows_a_stuck_points_ratings_beside_its_burden(
    api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    opened = await api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": population[1].id_number,
        "centre": CENTRE})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(api, case_id), waiting_on_clerk)
    # The clerk notes what went wrong: the case now has friction in the notebook.
    noted = await api.post(f"/api/cases/{case_id}/notes", json={
        "category": "system", "text": "社保系统卡顿，等了半小时"})
    assert noted.is_success, noted.text
    rated = await api.post("/api/ratings", headers=CHANNEL, json={
        "case_id": case_id, "level": "dissatisfied", "channel": "sms"})
    assert rated.status_code == 201

    backlog = (await api.get("/api/friction/backlog")).json()
    [entry] = [e for e in backlog["entries"] if e["point"]["cases"] >= 1
               and e["point"]["kind"] == "clerk_note"]
    assert entry["ratings"] == {"ratings": 1, "bad": 1, "bad_share": 1.0}


async def test_the_tracking_page_rates_only_with_the_cases_code(
    api: httpx.AsyncClient, store: SqliteFrictionStore, population: list[Citizen]
) -> None:
    opened = await api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": population[2].id_number,
        "centre": CENTRE})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(api, case_id), waiting_on_clerk)
    citizen = httpx.AsyncClient(base_url=api.base_url, timeout=60)  # no token: anyone
    async with citizen:
        form = await citizen.get("/track")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        right = tracking_code(TEST_SECRET, case_id)
        wrong = "000000" if right != "000000" else "111111"
        body = {"_csrf_token": token.group(1), "case_id": case_id, "visit": "1",
                "level": "very_dissatisfied", "reasons": ["long_wait", "bribes"]}
        refused = await citizen.post("/track/rating", data={**body, "code": wrong})
        assert refused.status_code == 404
        assert store.ratings_of_case(case_id) == []
        # A reason off the list is refused by name, the form kept as typed.
        sent = await citizen.post("/track/rating", data={**body, "code": right})
        assert sent.status_code == 422 and 'id="rating-error"' in sent.text
        assert store.ratings_of_case(case_id) == []
        body["reasons"] = ["long_wait"]
        sent = await citizen.post("/track/rating", data={**body, "code": right})
        assert sent.status_code == 200 and 'id="rating-thanks"' in sent.text
        [rating] = store.ratings_of_case(case_id)
        assert (rating.channel, rating.level, rating.reasons) == (
            "track", "very_dissatisfied", ("long_wait",))
        assert 'id="follow-up-1"' in sent.text and "2026年10月13日" in sent.text
        again = await citizen.post("/track/rating", data={**body, "code": right})
        assert again.status_code == 409 and "已经评价过了" in again.text
