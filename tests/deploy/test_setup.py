"""`onething setup` against a real Temporal (the tests' dev server) and a real PostgreSQL:
a fresh namespace with its retention, typed search attributes, both schedules and the
friction store's migrations; a second run changes nothing and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from friction.store.migrations import SCHEMA_VERSION
from kernel.codec import PayloadKey, format_key, generate_key
from kernel.converter import data_converter
from workflows.allowance_case import SCHEDULE_ID as ALLOWANCE_SCHEDULE_ID
from workflows.case import SEARCH_ATTRIBUTES
from workflows.verifier import VERIFIER_SCHEDULE_ID, VERIFIER_WORKFLOW, VERIFY_EVERY

ROOT = Path(__file__).resolve().parents[2]
RAW_KEY = generate_key()
KEY = PayloadKey("setup-test", RAW_KEY)
POSTGRES = os.environ.get("ONETHING_TEST_POSTGRES_DSN",
                          "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of its own in the test database, dropped afterwards."""
    schema = f"setup_{uuid.uuid4().hex[:8]}"
    yield schema
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def setup(dev_env: WorkflowEnvironment, state: Path, *args: str,
          **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ONETHING_", "OTEL_", "TEMPORAL_"))}
    env.update(
        ONETHING_STATE_DIR=str(state),
        ONETHING_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        ONETHING_PAYLOAD_KEYS=format_key(KEY.id, RAW_KEY),
        PYTHONPATH=str(ROOT),
        **variables,
    )
    return subprocess.run([sys.executable, "-m", "deploy.cli", "setup", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_setup_registers_everything_once_against_any_temporal_and_database(
    dev_env: WorkflowEnvironment, tmp_path: Path, pg_schema: str
) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    # The search path picks the schema: the store's tables land there, not in public.
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
    dsn = f"{POSTGRES}?options=-csearch_path%3D{pg_schema}"

    first = setup(dev_env, tmp_path, "--namespace", namespace, "--retention-days", "7",
                  "--dsn", dsn)
    assert first.returncode == 0, first.stderr
    assert f"namespace {namespace}: created (retention 7 days)" in first.stdout
    assert ("registered OtBundle, OtCentre, OtAwaiting, OtStep, OtCitizen, OtDueDate, "
            "OtWaitingSince") in first.stdout
    assert f"schedule {ALLOWANCE_SCHEDULE_ID}: created" in first.stdout
    assert f"schedule {VERIFIER_SCHEDULE_ID}: created" in first.stdout
    assert f"schema version {SCHEMA_VERSION} (migrated from 0)" in first.stdout

    again = setup(dev_env, tmp_path, "--namespace", namespace, "--retention-days", "7",
                  "--dsn", dsn)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "onething setup: nothing to change", again.stdout
    assert "created" not in again.stdout and "updated" not in again.stdout

    # The env var equivalents of the flags; a retention that differs is corrected.
    longer = setup(dev_env, tmp_path, ONETHING_TEMPORAL_NAMESPACE=namespace,
                   ONETHING_NAMESPACE_RETENTION_DAYS="30", ONETHING_FRICTION_DSN=dsn)
    assert longer.returncode == 0, longer.stderr
    assert f"namespace {namespace}: retention updated (retention 30 days)" in longer.stdout
    assert "schedule" in longer.stdout and "updated" not in longer.stdout.replace(
        "retention updated", "")

    config = dev_env.client.config()
    config.update(namespace=namespace, data_converter=data_converter([KEY]))
    client = Client(**config)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=30)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    assert {n: listed.custom_attributes[n] for n in SEARCH_ATTRIBUTES} == {
        "OtBundle": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "OtCentre": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "OtAwaiting": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "OtStep": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "OtCitizen": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "OtDueDate": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "OtWaitingSince": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    schedules = {s.id: s async for s in await client.list_schedules()}
    assert set(schedules) == {ALLOWANCE_SCHEDULE_ID, VERIFIER_SCHEDULE_ID}
    verifier = (await client.get_schedule_handle(VERIFIER_SCHEDULE_ID).describe()).schedule
    assert [i.every for i in verifier.spec.intervals] == [VERIFY_EVERY]
    assert getattr(verifier.action, "workflow", None) == VERIFIER_WORKFLOW
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    assert row == (SCHEMA_VERSION,)


async def test_a_search_attribute_of_another_type_is_refused_by_name(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    namespace = f"clash-{uuid.uuid4().hex[:8]}"
    client = dev_env.client
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=retention))
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={"OtDueDate": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}))

    refused = setup(dev_env, tmp_path, "--namespace", namespace)
    assert refused.returncode == 1, refused.stdout
    assert ("OtDueDate is INDEXED_VALUE_TYPE_KEYWORD, wanted INDEXED_VALUE_TYPE_DATETIME"
            in refused.stderr), refused.stderr


def test_an_unreachable_database_is_said_plainly(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    refused = setup(dev_env, tmp_path, "--namespace", f"nodb-{uuid.uuid4().hex[:8]}",
                    "--dsn", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    assert refused.returncode == 1, refused.stdout
    assert "friction store: OperationalError" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
