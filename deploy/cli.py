"""`onething`: the embedded one-machine default and the commands around it.

`onething up` starts the real Temporal dev server (SQLite in the state folder), then the
simulated agencies, the worker and the gateway as child processes of this one, and
keeps them running (deploy/supervisor.py): a part that dies is restarted, Ctrl-C or
SIGTERM stops them all.
The other subcommands are what `up` runs for each part, plus `backlog` and `demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from deploy.local import installed_binary
from deploy.settings import (
    EMBEDDED_VARIABLE,
    MissingSetting,
    Settings,
    installation_secret,
    missing_keys,
    payload_keys,
    private_state_dir,
    pseudonym_key,
)
from deploy.supervisor import START_TIMEOUT, Child, StartupError, Supervisor
from deploy.telemetry import GATEWAY_SERVICE, WORKER_SERVICE
from deploy.temporal import connect
from gateway.accounts import ROLES, AccountBook, AccountError, seed_demo_accounts

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar
    from temporalio.client import Client

    from friction.store import FrictionStore

log = logging.getLogger("deploy.cli")  # also when run as python -m deploy.cli


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _local_host(host: str) -> str:
    # A server bound to every interface is reached locally on the loopback address.
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        # As the servers do: a port with only closed connections lingering is free to them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> Callable[[], bool]:
    import httpx

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


async def worker_polling(client: Client, settings: Settings, pid: int) -> bool:
    """Whether the worker process `pid` polls the task queue: the pollers list keeps a
    previous run's worker for minutes, so match the identity (`<pid>@<host>`)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return any(p.identity.startswith(f"{pid}@") for p in answer.pollers)


async def _set_up(sup: Supervisor) -> None:
    """`onething setup` against the Temporal just started: namespace, search attributes,
    schedules and the store's migrations, before any part uses them."""
    from temporalio.service import RPCError

    from deploy.setup import run_setup
    from deploy.temporal import SearchAttributeClash

    settings = sup.settings
    try:
        report = await run_setup(settings, patience=START_TIMEOUT)
    except RuntimeError as exc:  # no connection, a refusal (RPCError), a type clash
        what = ("setup failed" if isinstance(exc, RPCError | SearchAttributeClash)
                else "no Temporal client could connect")
        raise StartupError(f"{what} ({settings.temporal_address}): {exc}; "
                           f"log {sup.logs / 'temporal.log'}") from exc
    for line in report.lines():
        print(f"onething setup: {line}")


async def _check_worker(sup: Supervisor, worker: Child) -> None:
    settings = sup.settings
    try:
        client = await connect(settings, patience=START_TIMEOUT)
    except RuntimeError as exc:
        raise StartupError(f"no Temporal client could connect to {settings.temporal_address}: "
                           f"{exc}; log {sup.logs / 'temporal.log'}") from exc
    deadline = time.monotonic() + START_TIMEOUT
    while not await worker_polling(client, settings, worker.pid):
        if (code := worker.exited()) is not None:
            raise StartupError(f"worker exited with code {code} while starting; "
                               f"log {worker.log_path}:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            raise StartupError(f"worker not polling after {START_TIMEOUT:.0f} s; "
                               f"log {worker.log_path}")
        await asyncio.sleep(0.3)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


ACCOUNTS_NOTE = "first-accounts.txt"


def _first_accounts(settings: Settings) -> dict[str, str]:
    """A new installation gets one account per staff role, so the console can be used
    at once; their passwords are shown once and kept in a file only root can read. An
    installation whose accounts were in a file (earlier releases) has them imported."""
    store = open_store(settings)
    try:
        book = AccountBook(store)
        _import_first(book, settings)
        if book.all():
            return {}
        made = seed_demo_accounts(book, settings.default_centre)
    finally:
        store.close()
    note = settings.state_dir / ACCOUNTS_NOTE
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{user} {password}\n" for user, password in made.items())
    return made


def _import_first(book: AccountBook, settings: Settings) -> None:
    """The accounts file earlier releases kept, imported once: when the store holds no
    account yet (ONETHING_ACCOUNTS_FILE, default .state/accounts.json)."""
    done = book.import_first(settings.accounts_file)
    if done is not None:
        print(f"onething: {len(done.imported)} accounts imported from "
              f"{settings.accounts_file} into the friction store; the file is no longer read",
              file=sys.stderr)


def up(settings: Settings) -> int:
    import msgspec

    # `up` is the embedded default whatever addresses it was given: it runs Temporal here.
    settings = msgspec.structs.replace(settings, embedded=True)
    temporal_host, temporal_port = _split_address(settings.temporal_address)
    gateway_url = f"http://{_local_host(settings.gateway_host)}:{settings.gateway_port}"
    agencies_url = f"http://127.0.0.1:{settings.agency_sim_port}"
    ports = [
        (temporal_host, temporal_port, "Temporal gRPC", "ONETHING_TEMPORAL_ADDRESS"),
        (temporal_host, settings.temporal_ui_port, "Temporal web UI",
         "ONETHING_TEMPORAL_UI_PORT"),
        ("127.0.0.1", settings.agency_sim_port, "agency simulator", "ONETHING_AGENCY_SIM_PORT"),
        (settings.gateway_host, settings.gateway_port, "gateway", "ONETHING_GATEWAY_PORT"),
        (settings.worker_metrics_host, settings.worker_metrics_port, "worker metrics",
         "ONETHING_WORKER_METRICS_PORT"),
    ]
    # A clear message now beats a child dying later with "address already in use".
    busy = [(h, p, what, var) for h, p, what, var in ports if not _port_free(h, p)]
    for host, port, what, var in busy:
        print(f"onething: {host}:{port} ({what}) is in use; stop what holds it or set {var}",
              file=sys.stderr)
    if busy:
        return 1

    private_state_dir(settings)  # 0700: it holds the keys and Temporal's database
    settings.friction_db.parent.mkdir(parents=True, exist_ok=True)
    installation_secret(settings)  # made once here, before the parts race to make them
    payload_keys(settings)
    first_accounts = _first_accounts(settings)
    sup = Supervisor(settings)
    agencies_ok = _http_ok(f"{agencies_url}/healthz")
    gateway_ok = _http_ok(f"{gateway_url}/healthz")
    temporal_ok = functools.partial(_port_open, temporal_host, temporal_port)
    # Set both explicitly: a shell starts background jobs with SIGINT ignored, and Python
    # then installs no Ctrl-C handler of its own.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        temporal_argv = [
            installed_binary("temporal"), "server", "start-dev",
            "--db-filename", str(settings.state_dir / "temporal.db"),
            "--ip", temporal_host,
            "--port", str(temporal_port),
            "--ui-port", str(settings.temporal_ui_port),
            # The UI asks the gateway to open sealed payloads, for an admin logged in to
            # the console in the same browser (the UI's codec settings: include
            # credentials), or with a token.
            "--ui-codec-endpoint", f"{gateway_url}/codec",
            "--log-level", "warn",
        ]
        temporal = sup.spawn_temporal(temporal_argv, ready=lambda _: temporal_ok())
        sup.wait_until(temporal, temporal_ok, "Temporal gRPC port")
        asyncio.run(_set_up(sup))
        agencies = sup.spawn_part("agencies", ready=lambda _: agencies_ok())
        worker = sup.spawn_part("worker", ready=lambda run: "worker polling" in run.output())
        gateway = sup.spawn_part("gateway", ready=lambda _: gateway_ok())
        asyncio.run(_check_worker(sup, worker))
        sup.wait_until(agencies, agencies_ok, "agency simulator")
        sup.wait_until(gateway, gateway_ok, "gateway")
        ui_host = _local_host(temporal_host)
        rows = [
            ("Temporal gRPC", settings.temporal_address),
            ("Temporal web UI", f"http://{ui_host}:{settings.temporal_ui_port} (decodes "
             f"at {gateway_url}/codec for an admin)"),
            ("agency simulator", agencies_url),
            ("gateway API", gateway_url),
            ("OpenAPI", f"{gateway_url}/schema/openapi.json"),
            ("metrics", f"{gateway_url}/metrics"),
            ("worker metrics", f"http://{_local_host(settings.worker_metrics_host)}:"
             f"{settings.worker_metrics_port}/metrics" if settings.worker_metrics_port else "off"),
            ("state folder", f"{settings.state_dir} (logs in {sup.logs})"),
        ]
        rows[3:3] = [("console", f"{gateway_url}/login")]
        print("onething is up; a part that dies is restarted; Ctrl-C stops everything")
        for label, where in rows:
            print(f"  {label:<17} {where}")
        if first_accounts:
            print(f"  console accounts (made now, also in {settings.state_dir / ACCOUNTS_NOTE}):")
            for username, password in first_accounts.items():
                print(f"    {username:<10} password {password}")
        sys.stdout.flush()
        return sup.watch()
    except KeyboardInterrupt:
        print("onething: stopping", file=sys.stderr)
        return 0
    except StartupError as exc:
        print(f"onething: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C while stopping must not leave parts behind half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop_all()


def open_store(settings: Settings) -> FrictionStore:
    """PostgreSQL when ONETHING_FRICTION_DSN is set (a city or province), else the
    embedded SQLite file in the state folder."""
    from friction.stores import open_store as open_configured

    if not settings.friction_dsn:
        settings.friction_db.parent.mkdir(parents=True, exist_ok=True)
    return open_configured(settings.friction_dsn, settings.friction_db)


async def run_worker(settings: Settings) -> None:
    import httpx

    from activities.notifier import OutboxNotifier
    from activities.worker import create_worker
    from deploy.telemetry import WORKER_SERVICE, install_runtime, setup_tracing
    from workflows.calendar_source import PublishedCalendar

    tracing = setup_tracing(WORKER_SERVICE, settings)
    install_runtime(settings, metrics=True)  # before connecting: the client's runtime
    client = await connect(settings)
    store = open_store(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            worker = create_worker(
                client,
                agency_urls=settings.agency_urls,
                store=store,
                http=http,
                task_queue=settings.task_queue,
                tracer_provider=tracing,
                notifier=OutboxNotifier(settings.state_dir / "outbox.db"),
                pseudonym_key=pseudonym_key(settings),
                calendar=PublishedCalendar(settings.state_dir / "calendars"),
                max_activities=settings.worker_max_activities,
                max_workflow_tasks=settings.worker_max_workflow_tasks,
                cached_cases=settings.worker_cached_cases,
            )
            async with worker:
                # `onething up` waits for this line in the worker's log.
                log.info("worker polling %s on %s", settings.task_queue,
                         settings.temporal_address)
                await stop.wait()
    finally:
        store.close()
        tracing.shutdown()  # flushes spans still batched for export


def redact_access_log(record: logging.LogRecord) -> bool:
    """Access log lines without a code: no query string, no verification code in a path.
    (Tracking codes travel in POST bodies and tokens in headers, which are never logged.)"""
    from gateway.auth import redact_path

    if isinstance(record.args, tuple) and len(record.args) >= 3:
        args = list(record.args)
        args[2] = redact_path(str(args[2]))
        record.args = tuple(args)
    return True


def gateway_server_config(app: Litestar, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves the gateway: its loggers left to the process's logging
    (deploy.logs), its access lines without a code."""
    import uvicorn

    logging.getLogger("uvicorn.access").addFilter(redact_access_log)
    # No proxy_headers: uvicorn would believe X-Forwarded-For from any local peer; the
    # gateway reads it only from the proxies the settings name (gateway.auth).
    return uvicorn.Config(
        app, host=host, port=port, log_level="info", log_config=None,
        proxy_headers=False,
    )


async def run_gateway(settings: Settings) -> None:
    import uvicorn

    from deploy.telemetry import GATEWAY_SERVICE, install_runtime, setup_tracing
    from friction.ratings import RatingPolicy
    from gateway.app import create_app
    from gateway.issued_documents import AgencyDocuments
    from gateway.shared_state import redis_root
    from workflows.calendar_source import PublishedCalendar
    from workflows.definition import Catalogue

    class QuietServer(uvicorn.Server):
        # uvicorn re-raises a captured SIGTERM once shut down, killing the process before
        # `finally` closes the store; the loop's own handlers stop this one instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def request_exit(self) -> None:
            self.should_exit = True

    tracing = setup_tracing(GATEWAY_SERVICE, settings)
    install_runtime(settings, metrics=False)  # before connecting: the core's logs
    client = await connect(settings)
    store = open_store(settings)
    try:
        accounts = AccountBook(store)
        _import_first(accounts, settings)
        catalogue = Catalogue.load()
        app = create_app(
            temporal=client,
            store=store,
            catalogue=catalogue,
            calendar=PublishedCalendar(settings.state_dir / "calendars"),
            task_queue=settings.task_queue,
            tracer_provider=tracing,
            secret=installation_secret(settings),
            accounts=accounts,
            # Sessions, limits and idempotency keys: in Redis when the gateways share one.
            shared_state=(None if settings.redis_url is None
                          else redis_root(settings.redis_url, settings.redis_namespace)),
            # /verify asks the registers of the agencies that issue verifiable documents.
            documents=AgencyDocuments.for_catalogue(settings.agency_urls, catalogue),
            secure_cookies=settings.secure_cookies,
            trusted_proxies=settings.trusted_proxies,
            rating_policy=RatingPolicy(
                follow_up_working_days=settings.rating_follow_up_working_days),
            access_log_retention=timedelta(days=settings.access_log_retention_days),
            codec_origins=settings.codec_origins,
            centres=settings.centres,
            trace_url=settings.trace_url,
            # Citizens by keyed reference, as the worker names the allowance's cases.
            pseudonym_key=pseudonym_key(settings),
        )
        server = QuietServer(gateway_server_config(app, settings.gateway_host,
                                                   settings.gateway_port))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.request_exit)
        # serve() in this loop: the Temporal client is bound to the loop it connected on.
        await server.serve()
    finally:
        store.close()
        tracing.shutdown()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onething",
        description="Multi-agency service bundles as durable workflows, with every friction "
        "recorded and ranked. Settings come from ONETHING_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("up", help="start Temporal, agencies, worker and gateway; Ctrl-C stops all")
    setup = sub.add_parser(
        "setup", help="register the namespace, search attributes and schedules, and migrate "
        "the friction store, against any Temporal and database; running it again changes "
        "nothing")
    setup.add_argument("--namespace", help="the Temporal namespace (default: the profile's, "
                       "ONETHING_TEMPORAL_NAMESPACE or TEMPORAL_NAMESPACE, else 'default')")
    setup.add_argument("--retention-days", type=_days, help="days Temporal keeps a closed "
                       "case's history (default: ONETHING_NAMESPACE_RETENTION_DAYS, else "
                       "30)")
    setup.add_argument("--dsn", help="the friction store's PostgreSQL DSN (default: "
                       "ONETHING_FRICTION_DSN, else the SQLite file ONETHING_FRICTION_DB)")
    sub.add_parser("worker", help="run the bundle worker")
    sub.add_parser("gateway", help="serve the clerk and notebook HTTP API")
    agencies = sub.add_parser("agencies", help="serve the simulated agencies")
    agencies.add_argument("--seed", type=int, default=2026, help="population seed")
    agencies.add_argument("--size", type=int, default=500, help="population size")
    agencies.add_argument("--elderly", type=int, default=40,
                          help="residents aged 76-99 added to the population")
    matching = sub.add_parser("allowance-match", help="run the monthly match of the allowance "
                           "for residents aged 80+ now, for one month, and print its summary")
    matching.add_argument("--month", help="YYYY-MM (default: this month, China time)")
    matching.add_argument("--centre", help="the centre whose grid workers confirm the cases "
                       "(default: the settings' default centre)")
    # These hand all their arguments on; listed here for --help.
    sub.add_parser("backlog", help="the notebook's stuck points (see: onething backlog -h)",
                   add_help=False)
    sub.add_parser("notebook", help="backlog, report, transition, verify, export-ocel "
                   "(see: onething notebook -h)", add_help=False)
    sub.add_parser("demo", help="drive a batch of cases through the gateway (demo -h)",
                   add_help=False)
    cal = sub.add_parser("calendar", help="working days: show a year, or publish a "
                         "year's schedule to every open case")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True, metavar="action")
    cal_show = cal_sub.add_parser("show", help="a year's working days, holidays, make-up days")
    cal_show.add_argument("year", type=int)
    cal_publish = cal_sub.add_parser("publish", help="install a year's schedule file "
                                     "(workflows/calendars/README.md) and hand it to open cases")
    cal_publish.add_argument("file", type=Path)
    case = sub.add_parser("case", help="a case's decoded workflow history, for an admin")
    case_sub = case.add_subparsers(dest="case_command", required=True, metavar="action")
    case_show = case_sub.add_parser(
        "show", help="print the case's history with its payloads decoded (recorded in the "
        "access log); the admin's password, or with --token a bearer token, on stdin")
    case_show.add_argument("case_id")
    who = case_show.add_mutually_exclusive_group(required=True)
    who.add_argument("--username", help="an admin account; its password is read from stdin")
    who.add_argument("--token", action="store_true",
                     help="read an admin's bearer token (POST /api/auth/token) from stdin")
    account = sub.add_parser("account", help="add a console and API account; the password "
                             "is read from standard input (`account import FILE`: bring "
                             "in an accounts file of an earlier release)")
    account.add_argument("username")
    account.add_argument("--role", action="append", choices=ROLES, required=True,
                         help="a role (repeat for several)")
    account.add_argument("--name", help="the name shown in the console")
    account.add_argument("--centre", action="append", default=[],
                         help="a service centre the clerk works at (repeat for several; "
                         "the first is the desk's own)")
    account.add_argument("--serve-elsewhere", action="store_true",
                         help="the clerk may serve cases of other centres (通办), saying why")
    account.add_argument("--lang", choices=("zh", "en"), default="zh")
    return parser


def _days(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of days, at least 1 (got {value!r})")
    return int(value)


def with_setup_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with `onething setup`'s flags over the environment's."""
    import dataclasses

    import msgspec

    changes: dict[str, object] = {}
    if args.dsn and not os.environ.get(EMBEDDED_VARIABLE):
        changes["embedded"] = False  # a city's or a province's database: a cluster's job
    if args.namespace:
        changes["temporal"] = dataclasses.replace(settings.temporal, namespace=args.namespace)
    if args.retention_days:
        changes["namespace_retention_days"] = args.retention_days
    if args.dsn:
        changes["friction_dsn"] = args.dsn
    return msgspec.structs.replace(settings, **changes)


async def set_up(settings: Settings) -> int:
    from deploy.setup import run_setup

    try:
        report = await run_setup(settings)
    except RuntimeError as exc:  # no connection, a refusal (RPCError), a type clash
        print(f"onething setup: {settings.temporal_address}: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    print("onething setup: " + ("done" if report.changed else "nothing to change"))
    return 0


def add_account(settings: Settings, args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n")
    store = open_store(settings)
    try:
        made = AccountBook(store).add(
            args.username, password, tuple(args.role), display_name=args.name,
            centres=tuple(args.centre), serves_elsewhere=args.serve_elsewhere, lang=args.lang,
        )
    except AccountError as exc:
        print(f"onething account: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"account {made.username} ({', '.join(made.roles)}) added to the friction store")
    return 0


def import_accounts(settings: Settings, argv: Sequence[str]) -> int:
    """`onething account import FILE`: the accounts of an accounts file (earlier
    releases') into the store, password hashes as they are; a username the store holds
    already is left as it is."""
    parser = argparse.ArgumentParser(
        prog="onething account import",
        description="bring the accounts of an accounts file (JSON, as earlier releases kept "
        "them) into the friction store; accounts the store holds already stay as they are")
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    store = open_store(settings)
    try:
        done = AccountBook(store).import_file(args.file)
    except (OSError, ValueError) as exc:  # msgspec's DecodeError is a ValueError
        print(f"onething account import: {args.file}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"{len(done.imported)} accounts imported from {args.file}"
          + (f"; {len(done.kept)} already in the store, left as they were: "
             f"{', '.join(done.kept)}" if done.kept else ""))
    return 0


async def allowance_match(settings: Settings, month: str | None, centre: str | None) -> int:
    from deploy.allowance import run_allowance_match
    from kernel.china_time import local_date, month_of
    from workflows.allowance_case import check_month

    month = month or month_of(local_date(datetime.now().astimezone()))
    if (wrong := check_month(month)) is not None:
        print(f"onething allowance-match: --month: {wrong}", file=sys.stderr)
        return 2
    client = await connect(settings)
    summary = await run_allowance_match(client, settings.task_queue, month,
                                        centre or settings.default_centre)
    print(f"allowance match {summary.month}: {summary.candidates} due and not yet paid, "
          f"{summary.opened} cases opened, {summary.already_open} already open")
    for case_id in summary.opened_cases:
        print(f"  {case_id}")
    return 0


async def calendar_command(settings: Settings, args: argparse.Namespace) -> int:
    from deploy import calendar_admin
    from kernel.china_time import local_date
    from workflows.calendar_source import ScheduleError, build_calendar

    today = local_date(datetime.now().astimezone())
    published = calendar_admin.published_dir(settings.state_dir)
    if args.calendar_command == "show":
        print(calendar_admin.show(build_calendar([args.year], published), args.year))
        return 0
    try:
        year = calendar_admin.install(args.file, settings.state_dir)
    except (ScheduleError, OSError) as exc:
        print(f"onething calendar publish: {exc}", file=sys.stderr)
        return 2
    print(f"schedule of {year} installed in {published}")
    client = await connect(settings)
    count = await calendar_admin.hand_to_open_cases(client, settings.state_dir, today)
    print(f"{count} open cases count their working days by it from now on")
    return 0


def _secret_line(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


async def case_command(settings: Settings, args: argparse.Namespace) -> int:
    from deploy.case_history import show_case
    from gateway.auth import GatewaySecurity

    store = open_store(settings)
    try:
        book = AccountBook(store)
        if args.token:
            security = GatewaySecurity(installation_secret(settings), book)
            account = security.account_of_token(_secret_line("token: "))
        else:
            account = book.authenticate(args.username, _secret_line("password: "))
        if account is None:
            print("onething case show: unknown account, wrong password or invalid token",
                  file=sys.stderr)
            return 2
        client = await connect(settings)
        return await show_case(client, store, account, args.case_id)
    finally:
        store.close()


# The keys each part of a cluster needs configured outside the embedded default, whatever
# its state folder holds. (Tools beside it, such as `case show`, read keys the embedded
# default made and refuse, naming the variable, where there are none: deploy.settings.)
# The commands that run a service, and the name their log lines carry (deploy.logs).
SERVICE_OF_COMMAND = {
    "worker": WORKER_SERVICE,
    "gateway": GATEWAY_SERVICE,
    "agencies": "onething-agencies",
    **dict.fromkeys(("allowance-match", "calendar", "case"), "onething-cli"),
}
KEYS_OF_COMMAND = {
    "setup": ("ONETHING_PAYLOAD_KEYS",),  # the schedules' arguments are sealed payloads
    "worker": ("ONETHING_PAYLOAD_KEYS", "ONETHING_PSEUDONYM_KEY"),
    "gateway": ("ONETHING_PAYLOAD_KEYS", "ONETHING_SECRET_KEY", "ONETHING_PSEUDONYM_KEY"),
}


def entry() -> NoReturn:
    """The `onething` command: main's exit code, without the interpreter's finalization.
    Temporal's core keeps native threads that call back into Python when an RPC ends;
    one that does so while the interpreter finalizes is ended by CPython in a way the
    Rust side answers with abort (SIGABRT, seen at the exit of refused commands). What
    finalization would do for the product is done here first: spans exported, log
    handlers and the standard streams flushed."""
    try:
        code = main()
    except SystemExit as stop:  # argparse's usage errors, --help
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except MissingSetting as exc:
        print(f"onething: {exc}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] in ("backlog", "notebook"):
        from friction.cli import main as notebook_main
        from gateway.i18n import DEFAULT_LANG, as_lang
        from gateway.names import names_in

        # `backlog [options]` is `notebook backlog [options]`; --lang names things in
        # the console's catalogues.
        return notebook_main(args_in if args_in[0] == "backlog" else args_in[1:],
                             lambda lang: names_in(as_lang(lang) or DEFAULT_LANG))
    if args_in[:2] == ["account", "import"]:
        return import_accounts(Settings.from_env(), args_in[2:])
    if args_in and args_in[0] == "demo":
        from deploy.sim.demo import main as demo_main

        return demo_main(args_in[1:])

    args = _parser().parse_args(args_in)
    settings = Settings.from_env()
    if args.command == "setup":
        settings = with_setup_flags(settings, args)
    # Before anything starts: a part of a cluster never makes keys of its own.
    missing = missing_keys(settings, *KEYS_OF_COMMAND.get(args.command, ()))
    for refusal in missing:
        print(f"onething {args.command}: {refusal.missing}", file=sys.stderr)
    if missing:
        print(f"onething {args.command}: {MissingSetting.WHY}", file=sys.stderr)
        return 2
    if args.command in SERVICE_OF_COMMAND:
        from deploy.logs import configure_logging

        configure_logging(SERVICE_OF_COMMAND[args.command])
    match args.command:
        case "up":
            return up(settings)
        case "account":
            return add_account(settings, args)
        case "setup":
            return asyncio.run(set_up(settings))
        case "worker":
            asyncio.run(run_worker(settings))
        case "gateway":
            asyncio.run(run_gateway(settings))
        case "agencies":
            from deploy.sim.agencies import serve

            serve("127.0.0.1", settings.agency_sim_port, args.seed, args.size, args.elderly)
        case "allowance-match":
            return asyncio.run(allowance_match(settings, args.month, args.centre))
        case "calendar":
            return asyncio.run(calendar_command(settings, args))
        case "case":
            return asyncio.run(case_command(settings, args))
    return 0


if __name__ == "__main__":
    entry()
