"""Activities that talk to agency systems over HTTP.

Each agency is a base URL from settings, so a real agency replaces a simulated one by
configuration. Submissions carry an idempotency key per case, step and round, so a retry
after a crash or a timeout is answered from the agency's record and registers nothing twice.

Every attempt is counted on the worker's Temporal metrics (CALLS_METRIC, served as
`onething_agency_calls_total{agency,call,outcome}`): `ok`, `error` (the agency's trouble:
5xx, 429, no answer; retried) or `refused` (our request is wrong; not retried), so an
alert sees an agency's error rate before any case escalates.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import msgspec
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows import ports

CALLS_METRIC = "onething_agency_calls"


@contextlib.contextmanager
def counted(agency: str, call: str) -> Iterator[None]:
    """Count one attempt of `call` to `agency` by its outcome (a cancelled attempt is not
    counted). Labels are bounded: the catalogue's agencies and calls, never a case or a
    person."""
    try:
        yield
    except ApplicationError:
        _count(agency, call, "refused")
        raise
    except Exception:
        _count(agency, call, "error")
        raise
    _count(agency, call, "ok")


def _count(agency: str, call: str, outcome: str) -> None:
    activity.metric_meter().create_counter(
        CALLS_METRIC, "Calls to agency systems, by agency, call and outcome"
    ).add(1, {"agency": agency, "call": call, "outcome": outcome})


class AgencyCalls:
    def __init__(self, agency_urls: dict[str, str], http: httpx.AsyncClient) -> None:
        self._urls = agency_urls
        self._http = http

    def _url(self, agency: str, path: str) -> str:
        base = self._urls.get(agency)
        if base is None:
            raise ApplicationError(f"no endpoint configured for agency {agency!r}",
                                   type="UnknownAgency", non_retryable=True)
        return f"{base.rstrip('/')}/{path}"

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        # 5xx and 429 are the agency's trouble: retry. Other 4xx mean our request is wrong.
        if response.status_code >= 500 or response.status_code == 429:
            raise RuntimeError(f"agency answered {response.status_code}")
        if response.status_code >= 400:
            raise ApplicationError(
                f"agency refused the request: {response.status_code} {response.text[:300]}",
                type="InvalidSubmission",
                non_retryable=True,
            )

    @activity.defn(name=ports.LOOK_UP)
    async def look_up(self, request: ports.LookupRequest) -> ports.LookupResult:
        with counted(request.agency, ports.LOOK_UP):
            return await self._look_up(request)

    async def _look_up(self, request: ports.LookupRequest) -> ports.LookupResult:
        if request.source == "ecert":
            response = await self._http.get(
                self._url(request.agency, "certificates"),
                headers={"X-Citizen-Id": request.citizen_id_number},
            )
            self._raise_for(response)
            held = msgspec.json.decode(response.content, type=dict[str, list[str]])
            return ports.LookupResult(found=True, certificates=tuple(held["certificates"]))
        response = await self._http.get(
            self._url(request.agency, f"lookup/{request.source}"),
            headers={"X-Citizen-Id": request.citizen_id_number},
        )
        if response.status_code == 404:
            return ports.LookupResult(found=False)
        self._raise_for(response)
        body = msgspec.json.decode(response.content, type=dict[str, dict[str, str]])
        return ports.LookupResult(found=True, values=body["values"])

    @activity.defn(name=ports.SUBMIT_STEP)
    async def submit_step(self, submission: ports.Submission) -> ports.AgencyDecision:
        with counted(submission.agency, ports.SUBMIT_STEP):
            return await self._submit_step(submission)

    async def _submit_step(self, submission: ports.Submission) -> ports.AgencyDecision:
        started = time.monotonic()
        response = await self._http.post(
            self._url(submission.agency, "submissions"),
            headers={"Idempotency-Key": submission.idempotency_key},
            content=msgspec.json.encode(
                {
                    "case_id": submission.case_id,
                    "step": submission.step,
                    "form": submission.form,
                    "materials": submission.materials,
                    "outputs": list(submission.outputs),
                }
            ),
        )
        self._raise_for(response)
        return _to_decision(response.content, time.monotonic() - started)

    @activity.defn(name=ports.POLL_DECISION)
    async def poll_decision(self, request: ports.PollRequest) -> ports.AgencyDecision:
        with counted(request.agency, ports.POLL_DECISION):
            started = time.monotonic()
            response = await self._http.get(
                self._url(request.agency, f"submissions/{request.receipt}"))
            self._raise_for(response)
            return _to_decision(response.content, time.monotonic() - started)


def _to_decision(content: bytes, elapsed: float) -> ports.AgencyDecision:
    decision = msgspec.json.decode(content, type=ports.AgencyDecision)
    return msgspec.structs.replace(decision, elapsed_seconds=elapsed)
