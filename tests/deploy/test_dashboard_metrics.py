"""The Grafana dashboard and the alert rules name only metrics, and group only by
labels, that the parts really serve: a gateway's /metrics and a worker's Temporal SDK
endpoint (deploy.telemetry's runtime, as in production) scraped after a case ran
through an agency outage on the time-skipping server."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    pin_clock,
    served_gateway,
    set_behaviour,
    time_skipping_calendar,
)
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from deploy.local import free_port, installed_binary
from deploy.sim.population import Citizen
from deploy.telemetry import process_runtime
from deploy.temporal import indexed_value_types
from friction.sqlite_store import SqliteFrictionStore
from kernel.converter import DATA_CONVERTER
from workflows.bundle import BundleWorkflow
from workflows.definition import Catalogue

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "onething.json"
RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
BUREAU = "medical-insurance"
# Labels Prometheus adds at scrape time, and histogram buckets' own.
SCRAPE_LABELS = {"instance", "job", "le"}
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", re.MULTILINE)
NAME = re.compile(r"\b((?:onething|temporal)_[a-z0-9_]+)\b")
GROUPING = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")


def served(text: str) -> dict[str, set[str]]:
    """Each series name in Prometheus's text format with the label names it carries."""
    families: dict[str, set[str]] = {}
    for name, labels in SERIES.findall(text):
        names = {pair.split("=", 1)[0] for pair in re.findall(r'(\w+)="', labels)}
        families.setdefault(name, set()).update(names)
    return families


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def rule_expressions() -> Iterator[tuple[str, str]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield rule["alert"], rule["expr"]


async def scrape_after_an_outage(
    agencies: ServedApp, agency_urls: dict[str, str], store: SqliteFrictionStore,
    population: list[Citizen], task_queue: str,
) -> dict[str, set[str]]:
    port = free_port()
    runtime = process_runtime("127.0.0.1", port)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER, runtime=runtime,
    )
    try:
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes=indexed_value_types(),
        ))
        await pin_clock(env)
        case = bundle_start(Catalogue.load().default("medical-insurance-enrollment"),
                            citizen_where(population), calendar=time_skipping_calendar())
        await set_behaviour(agencies, BUREAU, failure_rate=1.0)
        try:
            async with served_gateway(env.client, store, task_queue,
                                      agency_urls=agency_urls) as gateway:
                handle = await env.client.start_workflow(
                    BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue)
                # Past the two-hour SLA and the escalation after two hours, then back.
                await env.sleep(timedelta(hours=3))
                await set_behaviour(agencies, BUREAU, failure_rate=0.0)
                await asyncio.wait_for(handle.result(), 60)
                await gateway.get("/healthz")
                gateway_text = (await gateway.get("/metrics")).text
                async with httpx.AsyncClient(timeout=5) as http:
                    worker_text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            await set_behaviour(agencies, BUREAU, failure_rate=0.0)
    finally:
        await env.shutdown()
    return served(gateway_text) | served(worker_text)


def unknown_names_and_labels(
    expressions: list[tuple[str, str]], families: dict[str, set[str]]
) -> list[Any]:
    wrong: list[Any] = []
    for title, expr in expressions:
        names = NAME.findall(expr)
        assert names or "up{" in expr, title
        missing = [n for n in names if n not in families]
        labels = set().union(*(families.get(n, set()) for n in names)) | SCRAPE_LABELS
        grouped = {label.strip() for group in GROUPING.findall(expr)
                   for label in group.split(",") if label.strip()}
        if missing or grouped - labels:
            wrong.append((title, missing, sorted(grouped - labels)))
    return wrong


async def test_the_dashboard_and_the_alerts_read_what_the_parts_serve(
    fresh_agencies: ServedApp, agency_urls: dict[str, str], store: SqliteFrictionStore,
    population: list[Citizen], task_queue: str,
) -> None:
    families = await scrape_after_an_outage(
        fresh_agencies, agency_urls, store, population, task_queue)
    # The worker's product counters are among the SDK's, named the Prometheus way.
    for name in ("onething_agency_calls_total", "onething_sla_breaches_total",
                 "onething_agency_outage_escalations_total"):
        assert name in families, sorted(families)
    assert {"agency", "call", "outcome"} <= families["onething_agency_calls_total"]
    dashboard = list(dashboard_expressions())
    assert len(dashboard) >= 20
    assert unknown_names_and_labels(dashboard, families) == []
    assert unknown_names_and_labels(list(rule_expressions()), families) == []
    # The dashboard covers both sides: the product's metrics and the SDK's.
    named = {n for _, expr in dashboard for n in NAME.findall(expr)}
    assert any(n.startswith("temporal_") for n in named)
    assert {n for n in families if n.startswith("onething_") and not n.endswith(
        ("_bucket", "_sum", "_count", "_created"))} - named - {
        "onething_http_requests_in_progress", "onething_calendar_schedule_official",
        "onething_http_requests_error_total"} == set()


def test_the_dashboard_is_one_importable_document() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["templating"]["list"][0]["type"] == "datasource"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["description"], panel["title"]
