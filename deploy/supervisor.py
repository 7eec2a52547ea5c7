"""The supervisor of `onething up`: each part a child process, kept running.

A part that dies is started again after a backoff that doubles from `RestartPolicy.delay`
up to `RestartPolicy.cap`; a part that has run `stable_after` seconds starts again from
the shortest delay. Each death (exit code or signal), restart and return (the part
answers again) is a line on stderr and in <state>/logs/supervisor.log. A part that dies
`limit` times within `window` seconds is not mended by restarting: everything stops and
`up` exits 1, naming it. Ctrl-C or SIGTERM stops every part, Temporal last.

Temporal gets an environment without the product's settings (ONETHING_*) and
OpenTelemetry's variables (OTEL_*): they are meant for the product's own processes, and
the Temporal server refuses to start with an OTEL_TRACES_EXPORTER it does not know.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TextIO

from deploy.settings import EMBEDDED_VARIABLE, Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90.0  # seconds for a part to come up; a cold Temporal start takes a few
STOP_TIMEOUT = 10.0  # seconds a part gets to stop before it is killed
TICK = 0.25  # seconds between two looks at the parts
TEMPORAL = "temporal"
FOREIGN_PREFIXES = ("ONETHING_", "OTEL_")


class StartupError(RuntimeError):
    """A part did not come up; the message says which and where its log is."""


def _stamp() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def foreign_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for a program that is not ours (the Temporal server): without
    the product's settings and OpenTelemetry's variables."""
    return {k: v for k, v in env.items() if not k.startswith(FOREIGN_PREFIXES)}


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Child:
    """One run of a part, its output appended to <state>/logs/<name>.log."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log: IO[bytes] = open(self.log_path, "ab")  # closed in wait_or_kill()
        self._log.write(f"\n--- {_stamp()} {' '.join(argv)}\n".encode())
        self._log.flush()
        self._run_starts_at = self._log.tell()  # the log keeps earlier runs above this
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            # Through the guard, which makes the part die with `up` even if `up` is killed
            # outright; its exec keeps the pid, so the part is this process's child.
            [sys.executable, "-m", "deploy.parent_guard", str(os.getpid()), *argv],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=PROJECT_ROOT,
            # Own session: a terminal's Ctrl-C reaches only `up`, which stops the parts in
            # order (Temporal last) instead of all of them at once.
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> int | None:
        return self.proc.poll()

    def signal_stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    def wait_or_kill(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            print(f"onething: {self.name} did not stop in time; killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait()
        finally:
            self._log.close()

    def output(self) -> str:
        """What this run wrote so far."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._run_starts_at)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    delay: float = 1.0  # seconds before the first restart
    cap: float = 30.0  # the longest wait between two restarts
    limit: int = 5  # this many deaths of one part within `window` stop everything
    window: float = 300.0
    stable_after: float = 60.0  # a run this long resets the backoff

    def delay_after(self, failures: int) -> float:
        return float(min(self.cap, self.delay * 2 ** max(failures - 1, 0)))


class Part:
    """A named part and what the supervisor remembers of it across its runs."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str],
                 ready: Callable[[Child], bool]) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.ready = ready
        self.child: Child | None = None
        self.deaths: deque[float] = deque()  # when it died, within the policy's window
        self.failures = 0  # deaths since its last stable run
        self.restart_at: float | None = None
        self.died_at: float | None = None  # set until the restarted part answers again


class Supervisor:
    def __init__(self, settings: Settings, policy: RestartPolicy | None = None,
                 out: TextIO | None = None) -> None:
        self.settings = settings
        self.policy = policy or RestartPolicy()
        self.parts: list[Part] = []
        self.logs = settings.state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._out = out
        env = dict(os.environ)
        # Children must see the same settings and code whatever their working directory.
        env["ONETHING_STATE_DIR"] = str(settings.state_dir)
        # The parts share the keys `up` made in the state folder.
        env[EMBEDDED_VARIABLE] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env

    @property
    def children(self) -> list[Child]:
        return [p.child for p in self.parts if p.child is not None]

    def say(self, message: str) -> None:
        """A supervisor's line: on stderr and in logs/supervisor.log, with its time."""
        line = f"{_stamp()} onething: {message}"
        print(line, file=self._out or sys.stderr, flush=True)
        with open(self.logs / "supervisor.log", "a") as log:
            log.write(line + "\n")

    def spawn(self, name: str, argv: list[str], *,
              ready: Callable[[Child], bool] = lambda child: True,
              env: Mapping[str, str] | None = None) -> Child:
        """Start a part and keep it running; `ready` says whether a run of it answers."""
        part = Part(name, argv, self.env if env is None else env, ready)
        part.child = Child(name, argv, part.env, self.logs)
        self.parts.append(part)
        return part.child

    def spawn_part(self, name: str, *extra: str,
                   ready: Callable[[Child], bool] = lambda child: True) -> Child:
        return self.spawn(name, [sys.executable, "-m", "deploy.cli", name, *extra], ready=ready)

    def spawn_temporal(self, argv: list[str], ready: Callable[[Child], bool]) -> Child:
        return self.spawn(TEMPORAL, argv, ready=ready, env=foreign_environment(self.env))

    def wait_until(self, child: Child, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if (code := child.exited()) is not None:
                raise StartupError(
                    f"{child.name} {describe_exit(code)} while starting; "
                    f"log {child.log_path}:\n{child.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StartupError(f"{what} not ready after {START_TIMEOUT:.0f} s; "
                                   f"log {child.log_path}")
            time.sleep(0.2)

    def watch(self) -> int:
        """Keep every part running until Ctrl-C (KeyboardInterrupt, from the caller's
        signal handlers) or until a part keeps dying: then 1."""
        while True:
            if (hopeless := self.tick()) is not None:
                self.say(f"{hopeless.name} died {len(hopeless.deaths)} times within "
                         f"{self.policy.window:g} s; stopping everything "
                         f"(log {self.logs / (hopeless.name + '.log')})")
                return 1
            time.sleep(TICK)

    def tick(self) -> Part | None:
        """One look at every part: note deaths, restart those whose wait is over, tell
        who is back. Returns a part that keeps dying, if any."""
        now = time.monotonic()
        for part in self.parts:
            child = part.child
            if child is not None and (code := child.exited()) is not None:
                if self._died(part, child, code, now):
                    return part
            elif child is None and part.restart_at is not None and now >= part.restart_at:
                part.restart_at = None
                part.child = Child(part.name, part.argv, part.env, self.logs)
                self.say(f"{part.name} restarted (pid {part.child.pid})")
            elif child is not None and part.died_at is not None and part.ready(child):
                self.say(f"{part.name} is back, answering {now - part.died_at:.1f} s "
                         "after it died")
                part.died_at = None
        return None

    def _died(self, part: Part, child: Child, code: int, now: float) -> bool:
        child.wait_or_kill(0)  # reaped already; closes its log
        part.child = None
        ran = now - child.started_at
        if ran >= self.policy.stable_after:
            part.failures = 0
        part.failures += 1
        part.deaths.append(now)
        while part.deaths and part.deaths[0] < now - self.policy.window:
            part.deaths.popleft()
        if part.died_at is None:
            part.died_at = now
        self.say(f"{part.name} (pid {child.pid}) {describe_exit(code)} after {ran:.1f} s "
                 f"running; log {child.log_path}")
        if code > 0 and (tail := child.log_tail(10)):
            print(tail, file=self._out or sys.stderr, flush=True)
        if len(part.deaths) >= self.policy.limit:
            return True
        delay = self.policy.delay_after(part.failures)
        part.restart_at = now + delay
        self.say(f"{part.name} restarts in {delay:g} s (death {len(part.deaths)} within "
                 f"{self.policy.window:g} s; {self.policy.limit} stop everything)")
        return False

    def stop_all(self) -> None:
        # Everything that talks to Temporal first, all at once; then Temporal itself.
        apps = [c for c in self.children if c.name != TEMPORAL]
        temporal = [c for c in self.children if c.name == TEMPORAL]
        if apps or temporal:
            self.say(f"stopping {', '.join(c.name for c in apps + temporal)} (Temporal last)")
        for group in (apps, temporal):
            for child in group:
                child.signal_stop()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in group:
                child.wait_or_kill(deadline - time.monotonic())
        if apps or temporal:
            self.say("every part stopped")
        self.parts.clear()
