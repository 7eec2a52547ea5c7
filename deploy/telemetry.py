"""Telemetry of one process: its tracer provider and its Temporal runtime (the core's
logs, the SDK's metrics endpoint).

Each process names itself (onething-gateway, onething-worker) and builds its own
TracerProvider; the gateway and the worker receive it explicitly, so tests can hand them
a provider with an in-memory exporter instead of the process-global one, which OTel lets
a process set only once. Traces go nowhere by default: the embedded default has no
collector and no network.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)

from deploy.settings import Settings

GATEWAY_SERVICE = "onething-gateway"
WORKER_SERVICE = "onething-worker"
EXPORTERS = ("none", "console", "otlp")
CORE_LOGGER = "temporalio.core"


def tracer_provider(service: str, exporter: str = "none") -> TracerProvider:
    """A provider whose spans carry `service` as service.name and go to `exporter`."""
    if exporter not in EXPORTERS:
        raise ValueError(f"traces exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        # Imported only when used; it reads OTEL_EXPORTER_OTLP_* (endpoint, headers, TLS).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def setup_tracing(service: str, settings: Settings) -> TracerProvider:
    """The process's provider from settings, also installed as the OTel global so that
    any library tracing through the global API lands in the same traces. For the
    `worker` and `gateway` commands only: a process can set the global once."""
    provider = tracer_provider(service, settings.traces_exporter)
    trace.set_tracer_provider(provider)
    return provider


def core_logging() -> LoggingConfig:
    """Temporal's core (its Rust part) writes its warnings through Python's logging, as
    records of `temporalio.core`, so they are lines of the process's log (deploy.logs)
    like every other instead of text of its own on stderr."""
    return LoggingConfig(
        filter=LoggingConfig.default.filter,
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )


def process_runtime(host: str, port: int) -> Runtime:
    """A Temporal runtime forwarding the core's logs and serving the SDK's own metrics
    (task latencies, slots, polls...) at http://host:port/metrics, named the Prometheus
    way; no metrics when port is 0. Fails at once if the port is taken."""
    metrics = None if port == 0 else PrometheusConfig(
        bind_address=f"{host}:{port}",
        counters_total_suffix=True,
        unit_suffix=True,
        durations_as_seconds=True,
    )
    return Runtime(telemetry=TelemetryConfig(logging=core_logging(), metrics=metrics))


def install_runtime(settings: Settings, *, metrics: bool) -> Runtime:
    """Make the process's runtime the default, so every client connected after this (and
    its workers) logs, and with `metrics` reports, through it. Call before the first
    client connects."""
    runtime = process_runtime(settings.worker_metrics_host,
                              settings.worker_metrics_port if metrics else 0)
    Runtime.set_default(runtime)
    return runtime
