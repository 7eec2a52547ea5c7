"""`onething demo`: a realistic batch of cases, driven through the gateway as clerks would.

The agencies misbehave the way real ones do: the social insurance centre turns slow for a
while (its calls overrun their 5 s SLA) and rejects a quarter of enrollments on the first
review; 人社 (hrss) answers with transient 503s that the workflow retries. Clerks serve
each case from its progress: some ask for the paper ID card although the e-certificate
holds it, some citizens have to come back for a missing document, and every field the
forms do not fill is typed off the citizen's documents. At the end the notebook's backlog
should hold the enrollment form's re-entry as its top stuck point by burden: one stuck
point for the whole form, about ten citizen-minutes in every case, as in the article.

After that batch, every other bundle of the catalogue runs a few cases of its own
(--cases-per-bundle), served by the same simulated clerk with the answers varied: the
online certificate is reached by search, a repair is urgent or not, a dispute simple or
complex, a committed address matches the registry or needs an on-site check; the
allowance for residents aged 80+ is opened by the monthly match, not by a clerk. The
backlog is then shown for each bundle.

With --bundle-version 2 the cases run the fixed definition, whose enrollment form is linked
to the dossier: mark the form's stuck point fix_deployed first (API or `onething notebook
transition`), and the backlog read at the end shows the verifier's verdict on the fix. A
later run on version 1 brings the friction back and the item reopens.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec

from deploy.settings import Settings, installation_secret
from deploy.sim.clerk import ClerkHabits, GatewayError, HttpDesk, held_until, serve_case
from deploy.sim.population import Citizen, lookup_values
from friction.backlog import BacklogEntry
from friction.cli import render_entries
from friction.stores import open_store
from gateway.accounts import AccountBook
from gateway.auth import GatewaySecurity
from kernel.china_time import CHINA_TZ, local_date
from workflows.case import CaseProgress, StepView
from workflows.definition import LOOKUP_SOURCES, BundleDefinition, Catalogue

BUNDLE = "employment-hardship"
ENROLLMENT = "flexible-insurance-enrollment"
CENTRES = ("liangxi-chongan", "binhu-hehu", "xinwu-xinan", "xishan-dongting")
PAPER_HABIT_RATE = 0.3  # clerks who still ask for the paper ID card the e-certificate holds
TRIP_RATE = 0.2  # citizens missing a document who have to come back with it
TYPING_SECONDS = (4.0, 12.0)  # per field, as a console measures it
CASE_TIMEOUT = 120.0
POLL_EVERY = 0.3
SLOW_LATENCY_MS = 5500  # over the 5 s agency-call SLA of every step

GRADE_REJECTION = {
    "code": "grade_not_allowed",
    "message_zh": "缴费档次与申报不符",
    "message_en": "Contribution grade does not match the declaration",
    "field": "contribution_grade",
    "material": None,
}


class DemoError(RuntimeError):
    """The demo cannot go on: the gateway or the simulator refused or is unreachable."""


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    status: str
    trips: int
    detail: str = ""


HELD = "held"


def outcome_of(case_id: str, final: CaseProgress) -> Outcome:
    """A case left open only because its window is closed is held, not failed."""
    opening = held_until(final)
    if opening is not None:
        at = opening.astimezone(CHINA_TZ)
        return Outcome(case_id=case_id, status=HELD, trips=final.trips,
                       detail=f"held until the window opens at {at:%H:%M} on {at:%m-%d}")
    return Outcome(case_id=case_id, status=final.status, trips=final.trips)


def _problem(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url}: {response.status_code} " \
           f"{response.text}"


async def open_case(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """Open a case through the gateway; its case number. A demo run again draws citizens
    whose case from an earlier run may still be open (held until the window opens): the
    clerk has seen it and opens the new one anyway."""
    response = await http.post("/api/cases", json={**body, "confirm_duplicate": True})
    if response.status_code != 201:
        raise GatewayError(_problem(response))
    case_id: str = response.json()["case_id"]
    return case_id


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise DemoError(_problem(response))
    return response


class Agencies:
    """The simulator's admin API: what the demo makes each agency do."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url.rstrip("/")

    async def reset(self) -> None:
        _check(await self._http.post(f"{self._url}/admin/reset"))

    async def behave(self, agency: str, **behaviour: Any) -> None:
        _check(await self._http.put(f"{self._url}/admin/behaviour/{agency}", json=behaviour))

    async def social_insurance(self, latency_ms: int) -> None:
        # A PUT replaces the whole behaviour, so the rejections go along every time.
        await self.behave("social-insurance", latency_ms=latency_ms, reject_rate=0.25,
                          reject_reasons=[GRADE_REJECTION])

    async def citizens(self, limit: int) -> list[Citizen]:
        response = _check(await self._http.get(f"{self._url}/admin/citizens",
                                               params={"limit": limit}))
        return msgspec.json.decode(response.content, type=list[Citizen])


def documents(citizen: Citizen, rng: random.Random, today: datetime) -> dict[str, str]:
    """What the clerk reads off the citizen's documents, by dossier concept: everything the
    agencies hold, plus what only the citizen can say (why and when the job ended)."""
    known: dict[str, str] = {}
    for source in LOOKUP_SOURCES:
        known.update(lookup_values(citizen, source) or {})
    left_on = local_date(today) - timedelta(days=rng.randint(30, 90))
    known["employment.left_on"] = left_on.isoformat()
    known["employment.reason"] = rng.choice(("合同期满", "单位解除", "单位关闭", "个人辞职"))
    known["hardship.category"] = "低保家庭成员" if citizen.low_income else "长期失业人员"
    known["insurance.grade"] = "60%"
    if "bank.account" not in known:
        # No account on file: the citizen opens one and the clerk types its 16 digits.
        known["bank.account"] = "6217" + "".join(rng.choice("0123456789") for _ in range(12))
    return known


def _current(progress: CaseProgress) -> StepView:
    return next(s for s in progress.steps if s.id == progress.current_step)


class Clerk:
    """One clerk serving one case at a window, through the gateway."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        citizen: Citizen,
        rng: random.Random,
        bundle_version: int | None = None,
    ) -> None:
        self.http = http
        self.bundle_version = bundle_version
        self.citizen = citizen
        self.rng = rng
        self.known = documents(citizen, rng, datetime.now(UTC))
        self.paper_habit = rng.random() < PAPER_HABIT_RATE
        self.comes_back = rng.random() < TRIP_RATE

    async def open(self, centre: str) -> str:
        body: dict[str, Any] = {
            "bundle": BUNDLE,
            "citizen_id_number": self.citizen.id_number,
            "centre": centre,
            "channel": "window",
        }
        if self.bundle_version is not None:
            body["bundle_version"] = self.bundle_version
        return await open_case(self.http, body)

    async def serve(self, case_id: str) -> Outcome:
        habits = ClerkHabits(
            paper_once_for=("resident_id_card",) if self.paper_habit else (),
            citizen_comes_back=self.comes_back,
            seconds_per_field=TYPING_SECONDS,
        )
        final = await serve_case(HttpDesk(self.http, case_id), self.known, habits, self.rng,
                                 timeout=CASE_TIMEOUT, every=POLL_EVERY)
        return outcome_of(case_id, final)

NOT_ELIGIBLE = "not-eligible"  # told at once what cannot be met today, and closed so
PROACTIVE = "elderly-allowance"  # opened by the monthly match, not at a window
CHANNEL_OF = {"population-certificate": "online", "public-repair": "qr"}
# The app has no home tile or menu entry for the certificate (the article): search it is.
ONLINE_ENTRIES = ("search",)
MATCHING_ADDRESS_RATE = 0.7  # committed addresses the population registry confirms


# Who applies for a residence permit, by standing (population.RESIDENCE_MIX), in turn:
# half of them can be served today, the others are each told at once, in one notice, a
# different reason they cannot (an expired lease, under a year of work, a latest month
# not yet declared), whatever day the demo runs.
PERMIT = "residence-permit"
PERMIT_APPLICANTS = ("eligible", "lease_expired", "eligible", "contract_under_a_year",
                     "eligible", "latest_month_missing")


def applicants(
    bundle: str, people: Sequence[Citizen], count: int, rng: random.Random
) -> list[Citizen]:
    """`count` citizens applying for `bundle`: chosen by standing for the residence permit,
    at random otherwise."""
    if bundle != PERMIT:
        return rng.sample(list(people), k=min(count, len(people)))
    by_standing: dict[str, list[Citizen]] = {}
    for person in rng.sample(list(people), k=len(people)):
        by_standing.setdefault(person.residence_standing or "", []).append(person)
    wanted = [PERMIT_APPLICANTS[i % len(PERMIT_APPLICANTS)] for i in range(count)]
    return [by_standing[s].pop() for s in wanted if by_standing.get(s)]


def answers_for(
    definition: BundleDefinition, citizen: Citizen, rng: random.Random, today: datetime
) -> dict[str, str]:
    """What the citizen says and shows for any bundle: the agencies' records, a choice
    among each enumerated answer the records do not hold, and an address to commit to."""
    known = documents(citizen, rng, today)
    for step in definition.steps:
        for f in step.fields:
            if f.concept and f.concept not in known and f.type == "enum":
                known[f.concept] = rng.choice(f.options)
    if rng.random() < MATCHING_ADDRESS_RATE:
        known["residence.address"] = citizen.address
    else:
        known["residence.address"] = "滨湖区蠡湖街道湖滨路8号"  # lives elsewhere than registered
    return known


class BundleClerk(Clerk):
    """A clerk (or the online channel) serving a case of any bundle."""

    def __init__(self, http: httpx.AsyncClient, citizen: Citizen, rng: random.Random,
                 definition: BundleDefinition) -> None:
        super().__init__(http, citizen, rng)
        self.definition = definition
        self.known = answers_for(definition, citizen, rng, datetime.now(UTC))
        held = [m.name for s in definition.steps for m in s.materials if m.ecert]
        self.paper_habit = bool(held) and self.paper_habit
        self.held = tuple(held[:1])

    async def open(self, centre: str) -> str:
        channel = CHANNEL_OF.get(self.definition.id, "window")
        body: dict[str, Any] = {"bundle": self.definition.id,
                                "citizen_id_number": self.citizen.id_number,
                                "centre": centre, "channel": channel}
        if channel == "online":
            body["entry"] = self.rng.choice(ONLINE_ENTRIES)
        return await open_case(self.http, body)

    async def serve(self, case_id: str) -> Outcome:
        habits = ClerkHabits(paper_once_for=self.held if self.paper_habit else (),
                             citizen_comes_back=self.comes_back,
                             seconds_per_field=TYPING_SECONDS)
        final = await serve_case(HttpDesk(self.http, case_id), self.known, habits, self.rng,
                                 timeout=CASE_TIMEOUT, every=POLL_EVERY)
        if final.status == "not_eligible" and final.closure is not None:
            # Told at once what cannot be met today, and closed as not eligible.
            told = "; ".join(f.message_en for f in final.closure.findings)
            return Outcome(case_id=case_id, status=NOT_ELIGIBLE, trips=final.trips, detail=told)
        return outcome_of(case_id, final)


class GridWorker:
    """A grid worker visiting residents the monthly match found; the forms fill themselves."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def serve(self, case_id: str) -> Outcome:
        final = await serve_case(HttpDesk(self.http, case_id), {}, ClerkHabits(worker="网格员"),
                                 timeout=CASE_TIMEOUT, every=POLL_EVERY)
        return outcome_of(case_id, final)


class Run:
    def __init__(self, args: argparse.Namespace, began: float | None = None) -> None:
        self.args = args
        self.cases: int = args.cases
        self.rng = random.Random(args.seed)
        self.started = 0
        # The wall time printed is the whole command's, from its start.
        self.began = time.monotonic() if began is None else began
        self.spell_left = sum(self._in_slow_spell(i) for i in range(args.cases))

    def _in_slow_spell(self, index: int) -> bool:
        # The middle third of the batch, by the order cases open.
        third = max(1, self.cases // 3)
        return third <= index < 2 * third

    async def _slow_spell_begins(self, agencies: Agencies, index: int) -> None:
        if index == max(1, self.cases // 3):
            await agencies.social_insurance(latency_ms=SLOW_LATENCY_MS)
            print(f"  social insurance turns slow ({SLOW_LATENCY_MS} ms per call) "
                  f"from case {index + 1}")

    async def _slow_spell_case_done(self, agencies: Agencies) -> None:
        # It ends when the cases opened during it are done, so even a small batch that
        # opens all at once meets the slow agency.
        self.spell_left -= 1
        if self.spell_left == 0:
            await agencies.social_insurance(latency_ms=0)
            print("  social insurance back to normal")

    async def _one(
        self,
        http: httpx.AsyncClient,
        agencies: Agencies,
        slots: asyncio.Semaphore,
        citizen: Citizen,
        centre: str,
        seed: int,
    ) -> Outcome:
        async with slots:
            index = self.started
            self.started += 1
            await self._slow_spell_begins(agencies, index)
            clerk = Clerk(http, citizen, random.Random(seed), self.args.bundle_version)
            case_id = "-"
            try:
                case_id = await clerk.open(centre)
                outcome = await clerk.serve(case_id)
            except (GatewayError, TimeoutError) as exc:
                outcome = Outcome(case_id=case_id, status="failed", trips=0, detail=str(exc))
            finally:
                if self._in_slow_spell(index):
                    await self._slow_spell_case_done(agencies)
            flags = [f for f, on in (("asks for the paper ID", clerk.paper_habit),
                                     ("came back", outcome.trips > 1)) if on]
            print(f"  {outcome.case_id}  {outcome.status:<9} at {centre:<16}"
                  f"{'  (' + ', '.join(flags) + ')' if flags else ''}")
            if outcome.detail:
                print(f"    {outcome.detail}", file=sys.stderr)
            return outcome

    async def backlog(self, http: httpx.AsyncClient) -> list[BacklogEntry]:
        # Reading the backlog also has the verifier judge every deployed fix.
        response = await http.get("/api/friction/backlog", params={"bundle": BUNDLE})
        if response.status_code >= 400:
            raise DemoError(_problem(response))
        return msgspec.json.decode(response.content, type=Backlog).entries

    async def other_bundles(
        self, http: httpx.AsyncClient, people: list[Citizen]
    ) -> dict[str, list[Outcome]]:
        catalogue = Catalogue.load()
        wanted = [b for b in catalogue.ids() if b != BUNDLE and b in self.args.bundles]
        results: dict[str, list[Outcome]] = {}
        slots = asyncio.Semaphore(self.args.concurrency)
        for bundle in wanted:
            if bundle == PROACTIVE:
                results[bundle] = await self.proactive(http, slots)
                continue
            definition = catalogue.default(bundle)
            chosen = applicants(bundle, people, self.args.cases_per_bundle, self.rng)
            print(f"\n{len(chosen)} cases of {bundle} ({definition.name_zh})")

            clerks = [BundleClerk(http, c, random.Random(self.rng.randrange(2**32)), definition)
                      for c in chosen]

            async def serve(clerk: BundleClerk, centre: str) -> Outcome:
                async with slots:
                    return await self._served(clerk, centre)

            results[bundle] = list(await asyncio.gather(*(
                serve(c, self.rng.choice(CENTRES)) for c in clerks)))
        return results

    async def _served(
        self, clerk: Clerk | GridWorker, centre: str, case_id: str | None = None
    ) -> Outcome:
        try:
            if case_id is None:
                assert isinstance(clerk, Clerk)
                case_id = await clerk.open(centre)
            outcome = await clerk.serve(case_id)
        except (GatewayError, TimeoutError, RuntimeError) as exc:
            outcome = Outcome(case_id=case_id or "-", status="failed", trips=0, detail=str(exc))
        came_back = "  (came back)" if outcome.trips > 1 else ""
        print(f"  {outcome.case_id}  {outcome.status:<9} at {centre:<16}{came_back}")
        if outcome.detail:
            print(f"    {outcome.detail}", file=sys.stderr)
        return outcome

    async def proactive(self, http: httpx.AsyncClient, slots: asyncio.Semaphore) -> list[Outcome]:
        """This month's match opens the allowance cases; grid workers confirm them."""
        from deploy.allowance import run_allowance_match
        from deploy.temporal import connect
        from kernel.china_time import month_of

        settings = Settings.from_env()
        month = month_of(local_date(datetime.now(UTC)))
        client = await connect(settings)
        summary = await run_allowance_match(client, settings.task_queue, month,
                                            settings.default_centre)
        print(f"\n{PROACTIVE}: the {month} match found {summary.candidates} residents aged 80+ "
              f"not yet paid; {summary.opened} cases opened, {summary.already_open} already open")
        async def confirm(case_id: str) -> Outcome:
            async with slots:
                return await self._served(GridWorker(http), settings.default_centre, case_id)

        # The rest wait in the grid workers' worklist (awaiting=worker), as they would.
        chosen = summary.opened_cases[: self.args.cases_per_bundle]
        return list(await asyncio.gather(*(confirm(c) for c in chosen)))

    async def bundle_backlogs(self, http: httpx.AsyncClient, bundles: Sequence[str]) -> None:
        for bundle in bundles:
            response = await http.get("/api/friction/backlog", params={"bundle": bundle,
                                                                       "limit": 3})
            entries = msgspec.json.decode(_check(response).content, type=Backlog).entries
            print(f"\nBacklog of {bundle}:")
            print(render_entries(entries) if entries else "  no friction recorded")

    async def go(self) -> int:
        args = self.args
        async with (
            httpx.AsyncClient(
                base_url=args.gateway, timeout=30, headers={"Authorization": f"Bearer {args.token}"}
            ) as http,
            httpx.AsyncClient(timeout=10) as admin,
        ):
            agencies = Agencies(admin, args.agencies)
            await agencies.reset()
            await agencies.social_insurance(latency_ms=0)
            await agencies.behave("hrss", failure_rate=0.1)
            people = await agencies.citizens(max(args.cases * 4, 100))
            chosen = self.rng.sample(people, k=min(args.cases, len(people)))
            version = f" version {args.bundle_version}" if args.bundle_version else ""
            print(f"{len(chosen)} cases of {BUNDLE}{version}, {args.concurrency} windows at a time")
            slots = asyncio.Semaphore(args.concurrency)
            outcomes = await asyncio.gather(*(
                self._one(http, agencies, slots, c, self.rng.choice(CENTRES),
                          self.rng.randrange(2**32))
                for c in chosen
            ))
            await agencies.reset()
            others = await self.other_bundles(http, people)
            entries = await self.backlog(http)
            if others:
                await self.bundle_backlogs(http, list(others))
        for bundle, results in others.items():
            ok = sum(o.status == "completed" for o in results)
            told = sum(o.status == NOT_ELIGIBLE for o in results)
            held = sum(o.status == HELD for o in results)
            print(f"{bundle}: {ok} of {len(results) - told - held} completed"
                  + (f", {held} held for the window to open" if held else "")
                  + (f", {told} closed as not eligible (told at once what they cannot meet"
                     " today)" if told else ""))
            outcomes = [*outcomes, *results]
        print(summary(outcomes, time.monotonic() - self.began))
        print("Backlog (stuck points, largest burden first):")
        print(render_entries(entries))
        return verdict(outcomes, entries, args.bundle_version)


def summary(outcomes: Sequence[Outcome], wall: float) -> str:
    """One line: completed, held for a closed window (and until when), told what they cannot
    meet today, failed; and the command's wall time."""
    done = sum(o.status == "completed" for o in outcomes)
    held = [o for o in outcomes if o.status == HELD]
    told = sum(o.status == NOT_ELIGIBLE for o in outcomes)
    failed = len(outcomes) - done - len(held) - told
    why = sorted({o.detail for o in held})
    held_part = f", {len(held)} held ({'; '.join(why)})" if held else ""
    told_part = f", {told} not eligible today" if told else ""
    return (f"\n{done} completed, {failed} failed{held_part}{told_part}, "
            f"in {wall:.1f} s wall time\n")


class Backlog(msgspec.Struct, kw_only=True, frozen=True):
    entries: list[BacklogEntry]


FORM_FINGERPRINT = f"manual_reentry|{BUNDLE}|{ENROLLMENT}|form"


def verdict(
    outcomes: Sequence[Outcome], entries: Sequence[BacklogEntry], bundle_version: int | None = None
) -> int:
    failed = [o for o in outcomes if o.status not in ("completed", NOT_ELIGIBLE, HELD)]
    if failed:
        print(f"demo: {len(failed)} case(s) did not complete: "
              + ", ".join(f"{o.case_id} ({o.status})" for o in failed), file=sys.stderr)
        return 1
    if not entries:
        print("demo: the notebook recorded no stuck points", file=sys.stderr)
        return 1
    form = next((e for e in entries if e.point.fingerprint == FORM_FINGERPRINT), None)
    if form is not None:
        item = form.item
        said = f" ({item.verdict.explanation})" if item.verdict else ""
        print(f"The {ENROLLMENT} form's stuck point is {item.status}{said}")
    if bundle_version not in (None, 1):
        # The fixed form types nothing again; the verdict above is the story.
        return 0
    top = entries[0].point  # ranked by burden
    if (top.kind, top.step) != ("manual_reentry", ENROLLMENT):
        print(f"demo: expected the {ENROLLMENT} form's re-entry on top of the backlog, got "
              f"{top.kind} at {top.step} ({top.subject}, {top.burden_minutes:.0f} min)",
              file=sys.stderr)
        return 1
    print(f"Top stuck point: the {ENROLLMENT} form, typed again by hand "
          f"({top.burden_minutes:.0f} min over {top.cases} cases); remedy: {top.remedy}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    began = time.monotonic()
    settings = Settings.from_env()
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::") else settings.gateway_host
    parser = argparse.ArgumentParser(
        prog="onething demo",
        description="Drive a realistic batch of cases through the gateway, then print the "
        "backlog. Needs `onething up` running.",
    )
    parser.add_argument("--gateway", default=f"http://{host}:{settings.gateway_port}",
                        help="gateway base URL (default: from ONETHING_GATEWAY_*)")
    parser.add_argument("--agencies", default=f"http://127.0.0.1:{settings.agency_sim_port}",
                        help="agency simulator base URL (default: from ONETHING_AGENCY_SIM_PORT)")
    parser.add_argument("--cases", type=int, default=24, help="how many cases (default 24)")
    parser.add_argument("--concurrency", type=int, default=6,
                        help="cases served at once (default 6)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of every choice")
    parser.add_argument("--bundles", default="all",
                        help="the other bundles to run after the employment batch: 'all', "
                        "'none' or a comma-separated list of bundle ids")
    parser.add_argument("--cases-per-bundle", type=int, default=6,
                        help="cases of each other bundle (default 6)")
    parser.add_argument("--bundle-version", type=int, default=None,
                        help="run this version of the bundle (default: the catalogue's; "
                        "2 links the insurance form to the dossier)")
    args = parser.parse_args(None if argv is None else list(argv))
    # The demo runs beside the gateway and holds its secret: it acts as a service with
    # the roles of the clerks and developers it plays, for as long as a demo run takes.
    store = open_store(settings.friction_dsn, settings.friction_db)
    try:
        args.token = GatewaySecurity(
            installation_secret(settings), AccountBook(store)
        ).mint_token("service:demo", ("clerk", "analyst", "developer"),
                     ttl=timedelta(hours=12), centres=(*CENTRES, settings.default_centre))
    finally:
        store.close()
    known = Catalogue.load().ids()
    if args.bundles == "all":
        args.bundles = known
    elif args.bundles == "none":
        args.bundles = []
    else:
        args.bundles = [b.strip() for b in args.bundles.split(",") if b.strip()]
        if unknown := [b for b in args.bundles if b not in known]:
            parser.error(f"--bundles: no bundle {', '.join(unknown)}; known: {', '.join(known)}")
    if args.bundle_version is not None:
        args.bundles = []  # the fix's story is about the employment bundle alone
    if args.cases < 1 or args.concurrency < 1 or args.cases_per_bundle < 1:
        parser.error("--cases and --concurrency must be at least 1")
    if args.bundle_version is not None and args.bundle_version < 1:
        parser.error("--bundle-version must be at least 1")
    try:
        return asyncio.run(Run(args, began).go())
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"demo: cannot reach {exc.request.url} ({exc!r}); is `onething up` running?",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
