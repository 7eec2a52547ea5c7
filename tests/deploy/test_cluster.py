"""A cluster on one machine, every part its own process: one Temporal dev server, the
PostgreSQL friction store (a fresh database per run), one Redis (a key namespace per run),
the agencies' simulator, two workers and two gateways (`onething worker`, `onething
gateway`). Cases opened through both gateways complete exactly once while a worker and a
gateway are killed (SIGKILL) mid-run; a console session made on one gateway works on the
other and dies on both at logout; a door's rate limit counts across both.

Run with -s to see the figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from temporalio.client import Client

from deploy.local import free_port, installed_binary
from deploy.temporal import ensure_search_attributes
from gateway.auth import TOKEN_LIMIT
from kernel.codec import format_key, generate_key

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = os.environ.get("ONETHING_TEST_POSTGRES_DSN",
                           "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ONETHING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUNDLE = "population-certificate"  # online, nothing typed: completes by itself
CENTRE = "online-app"
CASES = 20
CLERK, PASSWORD = "online-desk", "cluster-pass-2026"
START_TIMEOUT = 60.0
CASE_TIMEOUT = 90.0


def _server_reachable() -> bool:
    try:
        psycopg.connect(ADMIN_DSN, connect_timeout=2).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (psycopg.Error, redis.RedisError):
        return False
    return True


pytestmark = pytest.mark.skipif(not _server_reachable(), reason="needs PostgreSQL and Redis")


def _dsn_of(database: str) -> str:
    return re.sub(r"/[^/]*$", f"/{database}", ADMIN_DSN)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A database of this run's own, dropped afterwards: other runs use the same server."""
    name = f"onething_cluster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _dsn_of(name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_namespace() -> Iterator[str]:
    """A Redis key namespace of this run's own, its keys deleted afterwards."""
    namespace = f"onething-test-{uuid.uuid4().hex[:12]}"
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
        client.close()


class Cluster:
    """The parts as separate processes, each with its own log under `folder`."""

    def __init__(self, folder: Path, dsn: str, namespace: str) -> None:
        self.folder = folder
        self.temporal_port, self.sim_port, self.gateway_a, self.gateway_b = _ports(4)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ONETHING_", "OTEL_"))}
        self.env.update(
            ONETHING_TEMPORAL_ADDRESS=f"127.0.0.1:{self.temporal_port}",
            ONETHING_TASK_QUEUE=f"cluster-{uuid.uuid4().hex[:8]}",
            ONETHING_FRICTION_DSN=dsn,
            ONETHING_REDIS_URL=REDIS_URL,
            ONETHING_REDIS_NAMESPACE=namespace,
            ONETHING_AGENCY_SIM_PORT=str(self.sim_port),
            ONETHING_WORKER_METRICS_PORT="0",
            ONETHING_PAYLOAD_KEYS=format_key("cluster", generate_key()),
            ONETHING_PSEUDONYM_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
            ONETHING_SECRET_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", ""))
                                       if p),
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, gateway: str) -> str:
        port = self.gateway_a if gateway == "a" else self.gateway_b
        return f"http://127.0.0.1:{port}"

    def start(self, name: str, argv: list[str], **env: str) -> None:
        state = self.folder / name.split("#")[0]  # each part its own state folder
        state.mkdir(parents=True, exist_ok=True)
        log = (self.folder / f"{name.replace('#', '-')}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**self.env, "ONETHING_STATE_DIR": str(state), **env})
        log.close()

    def onething(self, name: str, *args: str, **env: str) -> None:
        self.start(name, [sys.executable, "-m", "deploy.cli", *args], **env)

    def gateway(self, which: str, name: str | None = None) -> None:
        port = self.gateway_a if which == "a" else self.gateway_b
        self.onething(name or f"gateway-{which}", "gateway", ONETHING_GATEWAY_PORT=str(port))

    def kill(self, name: str) -> None:
        """SIGKILL, as a machine failing would: nothing of the process runs after it."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def add_account(self) -> None:
        made = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "account", CLERK, "--role", "clerk",
             "--centre", CENTRE], cwd=ROOT, input=PASSWORD + "\n", capture_output=True,
            text=True, timeout=60, check=False,
            env={**self.env, "ONETHING_STATE_DIR": str(self.folder / "cli")})
        assert made.returncode == 0, made.stderr

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]


def _ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


async def _healthy(cluster: Cluster, name: str, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if cluster.processes[name].poll() is not None:
                pytest.fail(f"{name} exited:\n{cluster.log(name)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    pytest.fail(f"{name} not healthy at {url} after {START_TIMEOUT:.0f} s:\n{cluster.log(name)}")


async def _temporal(cluster: Cluster) -> Client:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return await Client.connect(f"127.0.0.1:{cluster.temporal_port}")
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF token in {page.request.url}"
    return found.group(1)


def _browser(cluster: Cluster, gateway: str, cookies: httpx.Cookies | None = None
             ) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=cluster.url(gateway), cookies=cookies, timeout=10)


class Opener:
    """Opens the cases through both gateways in turn, each request with its own
    Idempotency-Key; a request that dies with its gateway is sent again, with the same
    key, to the other one (what a load balancer in front of them would do)."""

    def __init__(self, cluster: Cluster, token: str) -> None:
        self.cluster = cluster
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sent_again = 0
        self.http = httpx.AsyncClient(timeout=15)

    async def open(self, citizen_id: str, key: str, first: str) -> str:
        body = {"bundle": BUNDLE, "citizen_id_number": citizen_id, "centre": CENTRE,
                "channel": "online", "entry": "search"}
        order = [first, "b" if first == "a" else "a"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for gateway in order:
                try:
                    answer = await self.http.post(
                        f"{self.cluster.url(gateway)}/api/cases", json=body,
                        headers={**self.headers, "Idempotency-Key": key})
                except httpx.TransportError:
                    self.sent_again += 1
                    continue
                if answer.status_code == 503:  # Temporal busy: retry as told
                    continue
                assert answer.status_code in (200, 201), answer.text
                case_id: str = answer.json()["case_id"]
                return case_id
            await asyncio.sleep(0.5)
        raise AssertionError(f"case {key} could not be opened")


async def _open_cases(opener: Opener, url: str, case_ids: list[str]) -> int:
    """How many of `case_ids` are still running."""
    running = 0
    for case_id in case_ids:
        answer = await opener.http.get(f"{url}/api/cases/{case_id}", headers=opener.headers)
        running += answer.status_code == 200 and answer.json()["status"] not in (
            "completed", "failed")
    return running


async def _wait_completed(http: httpx.AsyncClient, url: str, headers: dict[str, str],
                          case_ids: list[str]) -> dict[str, str]:
    status: dict[str, str] = {}
    deadline = time.monotonic() + CASE_TIMEOUT
    while time.monotonic() < deadline:
        for case_id in case_ids:
            if status.get(case_id) in ("completed", "failed"):
                continue
            answer = await http.get(f"{url}/api/cases/{case_id}", headers=headers)
            if answer.status_code == 200:
                status[case_id] = answer.json()["status"]
        if all(status.get(c) in ("completed", "failed") for c in case_ids):
            break
        await asyncio.sleep(1)
    return status


async def test_two_gateways_and_two_workers_share_what_they_must(tmp_path: Path) -> None:
    began = time.monotonic()
    with fresh_database() as dsn, fresh_namespace() as namespace:
        cluster = Cluster(tmp_path, dsn, namespace)
        try:
            await _run(cluster, dsn, namespace)
        finally:
            cluster.stop_all()
    print(f"cluster test: {time.monotonic() - began:.1f} s wall time")


async def _run(cluster: Cluster, dsn: str, namespace: str) -> None:
    # -- the parts, each its own process -----------------------------------------------
    cluster.start("temporal", [
        installed_binary("temporal"), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", str(cluster.temporal_port),
        "--http-port", str(free_port()), "--metrics-port", str(free_port()),
        "--log-level", "warn"])
    temporal = await _temporal(cluster)
    await ensure_search_attributes(temporal, "default")
    cluster.onething("agencies", "agencies", "--size", "120")
    sim = f"http://127.0.0.1:{cluster.sim_port}"
    await _healthy(cluster, "agencies", f"{sim}/healthz")
    # The agency answers slowly: submissions are in flight when the worker dies.
    async with httpx.AsyncClient(timeout=10) as http:
        behaviour = await http.put(f"{sim}/admin/behaviour/public-security",
                                   json={"latency_ms": 800, "pending_polls": 1})
        assert behaviour.status_code < 300, behaviour.text
        citizens = (await http.get(f"{sim}/admin/citizens", params={"limit": 60})).json()
    # The first gateway migrates the store; the second and the workers find it migrated.
    cluster.gateway("a")
    await _healthy(cluster, "gateway-a", f"{cluster.url('a')}/healthz")
    cluster.gateway("b")
    cluster.onething("worker-1", "worker")
    cluster.onething("worker-2", "worker")
    await _healthy(cluster, "gateway-b", f"{cluster.url('b')}/healthz")
    # An account added by the CLI, beside the running gateways, is known to both at once.
    cluster.add_account()

    # -- a session made on one gateway works on the other ------------------------------
    async with _browser(cluster, "a") as on_a:
        form = await on_a.get("/login")
        logged_in = await on_a.post("/login", data={
            "username": CLERK, "password": PASSWORD, "_csrf_token": _csrf(form)})
        assert logged_in.status_code == 303, logged_in.text
        cookies = on_a.cookies
    async with _browser(cluster, "b", cookies) as on_b:
        desk = await on_b.get("/console/desk")
        assert desk.status_code == 200, "gateway B does not know A's session"

    # -- a token from one gateway, cases through both ----------------------------------
    async with httpx.AsyncClient(timeout=10) as http:
        issued = await http.post(f"{cluster.url('b')}/api/auth/token",
                                 json={"username": CLERK, "password": PASSWORD})
        assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    opener = Opener(cluster, token)
    ids = [c["id_number"] for c in citizens if c.get("id_number")][:CASES]
    assert len(ids) == CASES
    run = uuid.uuid4().hex[:8]
    case_ids: list[str] = []
    kills: list[str] = []
    in_flight = 0
    for i, citizen_id in enumerate(ids):
        first = "a" if i % 2 == 0 else "b"
        key = f"{run}-{i}"
        if i == 6:
            in_flight = await _open_cases(opener, cluster.url("b"), case_ids)
            cluster.kill("worker-1")
            kills.append("worker-1")
        if i == 10:
            # Gateway A dies while it handles an opening: the client sends it again to B.
            sending = asyncio.create_task(opener.open(citizen_id, key, "a"))
            await asyncio.sleep(0.02)
            cluster.kill("gateway-a")
            kills.append("gateway-a")
            case_ids.append(await sending)
            continue
        if i == 15:
            # A's replacement starts: the sessions it serves were never in its memory.
            cluster.gateway("a", "gateway-a#2")
            await _healthy(cluster, "gateway-a#2", f"{cluster.url('a')}/healthz")
        case_ids.append(await opener.open(citizen_id, key, first))
        # The same request again, through the other gateway: the same case.
        if i in (3, 16):
            again = await opener.open(citizen_id, key, "b" if first == "a" else "a")
            assert again == case_ids[-1]

    async with httpx.AsyncClient(timeout=15) as http:
        status = await _wait_completed(http, cluster.url("b"), opener.headers, case_ids)
        submissions = (await http.get(f"{sim}/admin/submissions")).json()
    await opener.http.aclose()

    # -- every case completed, once; one agency submission each; no friction twice ------
    assert in_flight > 0, "the worker died with no case running: the kill proved nothing"
    assert len(set(case_ids)) == CASES, "two requests opened one case, or one opened two"
    assert Counter(status.values()) == {"completed": CASES}, status
    ours = [s for s in submissions if s["case_id"] in set(case_ids)]
    per_step = Counter((s["case_id"], s["agency"], s["step"]) for s in ours)
    duplicate_submissions = (sum(n - 1 for n in per_step.values())
                             + sum(s["registrations"] - 1 for s in ours))
    with psycopg.connect(dsn) as db:
        events = db.execute("SELECT case_id, kind, step, subject FROM events WHERE "
                            "case_id = ANY(%s)", (case_ids,)).fetchall()
        rows = db.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall()
        counted = db.execute("SELECT status, count FROM case_counts WHERE bundle = %s",
                             (BUNDLE,)).fetchall()
    same_event = Counter(events)
    duplicate_events = sum(n - 1 for n in same_event.values())
    search_only = sum(1 for _, kind, _, _ in events if kind == "search_only_entry")
    assert len(per_step) == CASES and duplicate_submissions == 0, per_step
    assert duplicate_events == 0, [k for k, n in same_event.items() if n > 1]
    assert search_only == CASES  # each case's one search-only entry, recorded once
    assert dict(rows) == {"completed": CASES}
    assert dict(counted).get("completed") == CASES

    # -- what the gateways share is in Redis, each purpose under its own namespace ------
    shared = redis.Redis.from_url(REDIS_URL)
    purposes = Counter(key.decode().partition(":")[0].removeprefix(namespace + "_")
                       for key in shared.scan_iter(match=f"{namespace}_*"))
    shared.close()
    assert purposes["idempotency"] == CASES and purposes["sessions"] == 1, purposes
    assert purposes["limit-token"] == 1 and purposes["limit-login"] == 1, purposes

    # -- logging out on one gateway ends the session on both ---------------------------
    async with _browser(cluster, "a", cookies) as on_a:
        desk = await on_a.get("/console/desk")  # A's replacement: a new process
        assert desk.status_code == 200, "the session did not outlive gateway A's death"
    async with _browser(cluster, "b", cookies) as on_b:
        desk = await on_b.get("/console/desk")
        assert desk.status_code == 200
        out = await on_b.post("/console/logout", data={"_csrf_token": _csrf(desk)})
        assert out.status_code == 303
    for gateway in ("a", "b"):
        async with _browser(cluster, gateway, cookies) as browser:
            after = await browser.get("/console/desk")
            assert after.status_code in (302, 303, 401), (gateway, after.status_code)

    # -- a door's limit counts across both gateways ------------------------------------
    # From an address of its own (127.0.0.2), so no earlier request of this test counts.
    limit = TOKEN_LIMIT.rate_limit[1]
    transport = {"local_address": "127.0.0.2"}
    wrong = {"username": CLERK, "password": "not-the-password"}
    answers: dict[str, list[int]] = {"a": [], "b": []}
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(**transport),
                                 timeout=10) as http:
        for _ in range(limit - 1):
            answer = await http.post(f"{cluster.url('a')}/api/auth/token", json=wrong)
            answers["a"].append(answer.status_code)
        for _ in range(2):
            answer = await http.post(f"{cluster.url('b')}/api/auth/token", json=wrong)
            answers["b"].append(answer.status_code)
        refused_on_a = await http.post(f"{cluster.url('a')}/api/auth/token", json=wrong)
    assert answers["a"] == [401] * (limit - 1)
    assert answers["b"] == [401, 429], answers
    assert refused_on_a.status_code == 429 and "Retry-After" in refused_on_a.headers

    print(f"\ncluster: {CASES} cases through 2 gateways, {len(case_ids)} opened, "
          f"{Counter(status.values())['completed']} completed; kills (SIGKILL): "
          f"{', '.join(kills)} ({in_flight} cases running when the worker died); "
          f"openings sent again after a gateway died: "
          f"{opener.sent_again}; Redis keys by purpose {dict(purposes)}; "
          f"agency submissions {len(ours)}, duplicate submissions "
          f"{duplicate_submissions}; friction events {len(events)}, "
          f"duplicate events {duplicate_events}; token door: {limit - 1} tries on A, "
          f"then B {answers['b']}, A {refused_on_a.status_code}")
