"""The alert rules and Prometheus's configurations, checked by Prometheus's own
`promtool` (Debian's package `prometheus`, installed by .ci/run): the rules parse, the
compose installation's configuration loads them, and the alerts fire on made-up series
exactly when they should (tests/deploy/prometheus/*.test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
UNIT_TESTS = sorted((Path(__file__).parent / "prometheus").glob("*.test.yml"))

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus; CI has it)")


def promtool(*args: str | Path) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@needs_promtool
def test_the_alert_rules_parse() -> None:
    out = promtool("check", "rules", *RULES)
    assert f"SUCCESS: {alert_count()} rules found" in out


@needs_promtool
def test_the_compose_configuration_loads_the_rules() -> None:
    out = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert f"SUCCESS: {len(RULES)} rule files found" in out


@needs_promtool
def test_the_alerts_fire_when_they_should() -> None:
    out = promtool("test", "rules", *UNIT_TESTS)
    assert out.count("SUCCESS") == len(UNIT_TESTS)


def alert_count() -> int:
    return sum(len(group["rules"]) for path in RULES
               for group in yaml.safe_load(path.read_text())["groups"])


def test_every_alert_is_tested_and_says_how_bad_it_is() -> None:
    alerts = {rule["alert"]: rule for path in RULES
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}
    assert len(alerts) == alert_count()  # no name twice
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
    tested = {case["alertname"] for path in UNIT_TESTS
              for test in yaml.safe_load(path.read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert set(alerts) - tested == set()


def test_the_kubernetes_configuration_scrapes_the_same_jobs() -> None:
    # Debian's promtool is built without Kubernetes discovery: its job names are compared.
    def jobs(name: str) -> list[str]:
        config = yaml.safe_load((PROMETHEUS / name).read_text())
        return [job["job_name"] for job in config["scrape_configs"]]

    assert jobs("prometheus-k8s.yml") == jobs("prometheus.yml")
    assert yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())["rule_files"] == [
        "rules/*.yml"]
