"""`onething case show CASE` prints a case's history with its payloads decoded, for an
admin only (password or token on stdin), and records it in the access log first."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.auth import GatewaySecurity
from kernel.codec import PayloadKey, format_key, generate_key
from kernel.converter import data_converter

ROOT = Path(__file__).resolve().parents[2]
RAW_KEY = generate_key()
KEY = PayloadKey("case-show", RAW_KEY)
SECRET = "case-show-test-secret-0123456789"
PASSWORD = "show-me-the-case-2026"
MARKER = "顾晓明-320211199001011234"


def environment(dev_env: WorkflowEnvironment, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONETHING_", "OTEL_"))}
    env.update(
        ONETHING_STATE_DIR=str(state),
        ONETHING_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        ONETHING_PAYLOAD_KEYS=format_key(KEY.id, RAW_KEY),
        ONETHING_SECRET_KEY=SECRET,
        PYTHONPATH=str(ROOT),
    )
    return env


def show(env: dict[str, str], *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.cli", "case", "show", *args],
                          cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
async def sealed_case(dev_env: WorkflowEnvironment, task_queue: str) -> str:
    config = dev_env.client.config()
    config["data_converter"] = data_converter([KEY])
    handle = await Client(**config).start_workflow(
        "NoWorkerNeeded", {"resident": MARKER}, id=f"show-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue)
    await handle.signal("material", {"note": MARKER + "-signal"})
    return handle.id


async def test_an_admin_reads_a_decoded_history_and_it_is_recorded(
    dev_env: WorkflowEnvironment, sealed_case: str, tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    book = AccountBook(SqliteFrictionStore(state / "friction.db"))  # the CLI's store
    book.add("admin", PASSWORD, ("admin",))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    env = environment(dev_env, state)
    try:
        shown = show(env, sealed_case, "--username", "admin", stdin=PASSWORD + "\n")
        assert shown.returncode == 0, shown.stderr
        assert "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" in shown.stdout
        assert MARKER in shown.stdout and f"{MARKER}-signal" in shown.stdout
        assert "binary/encrypted" not in shown.stdout

        token = GatewaySecurity(SECRET.encode(), book).mint_token("admin")
        by_token = show(env, sealed_case, "--token", stdin=token + "\n")
        assert by_token.returncode == 0 and MARKER in by_token.stdout

        clerk = show(env, sealed_case, "--username", "clerk", stdin=PASSWORD + "\n")
        assert clerk.returncode == 2 and MARKER not in clerk.stdout
        wrong = show(env, sealed_case, "--username", "admin", stdin="guess\n")
        assert wrong.returncode == 2 and MARKER not in wrong.stdout

        store = SqliteFrictionStore(state / "friction.db")
        try:
            logged = store.access_entries(case_id=sealed_case)
        finally:
            store.close()
        assert [(e.username, e.action, e.status) for e in logged] == [
            ("clerk", "read_history", 403), ("admin", "read_history", 200),
            ("admin", "read_history", 200)]
        assert all(e.client.startswith("cli@") for e in logged)

        # The keys are configured, never made here: without them the command refuses.
        unkeyed = {k: v for k, v in env.items() if k != "ONETHING_PAYLOAD_KEYS"}
        refused = show(unkeyed, sealed_case, "--username", "admin", stdin=PASSWORD + "\n")
        assert refused.returncode == 2 and "ONETHING_PAYLOAD_KEYS" in refused.stderr
        assert not (state / "payload.keys").exists()
    finally:
        await dev_env.client.get_workflow_handle(sealed_case).terminate()
