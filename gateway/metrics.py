"""Business counters for /metrics, read from the notebook's store at scrape time.

Cases and friction are recorded by workers in other processes; reading the store's
rollups gives one true count whichever gateway is scraped. Labels stay bounded: bundle,
status and kind, never a case or a person.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from friction.store import FrictionStore


class NotebookCollector(Collector):
    def __init__(self, store: FrictionStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        opened = CounterMetricFamily(
            "onething_cases_opened", "Cases opened, by bundle", labels=["bundle"]
        )
        completed = CounterMetricFamily(
            "onething_cases_completed", "Cases completed, by bundle", labels=["bundle"]
        )
        by_bundle: dict[str, int] = {}
        done: dict[str, int] = {}
        for (bundle, status), count in self._store.case_counts().items():
            by_bundle[bundle] = by_bundle.get(bundle, 0) + count
            if status == "completed":
                done[bundle] = done.get(bundle, 0) + count
        for bundle, count in sorted(by_bundle.items()):
            opened.add_metric([bundle], count)
            completed.add_metric([bundle], done.get(bundle, 0))
        friction = CounterMetricFamily(
            "onething_friction_events", "Friction events recorded, by kind", labels=["kind"]
        )
        for kind, count in sorted(self._store.counts_by_kind().items()):
            friction.add_metric([kind], count)
        yield opened
        yield completed
        yield friction
