"""The files that deploy a city's cluster (deploy/container, compose, k8s, prometheus),
checked offline: nothing here can pull an image or reach a cluster.

The compose file is validated against the compose specification's JSON schema (vendored
by check-jsonschema), the Kubernetes manifests against the API schemas that
kubernetes-validate bundles, strictly; then each is read for what the product needs of it
(its commands, probes, keys kept out of the files, one setting name the product reads).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy.settings import AGENCIES, KEY_VARIABLES, Settings, payload_keys, pseudonym_key

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
K8S = DEPLOY / "k8s" / "onething"
KUBERNETES_VERSION = "1.30.0"  # the oldest release a city's cluster is expected to run
SETTINGS_SOURCE = "".join((DEPLOY / name).read_text()
                          for name in ("settings.py", "temporal_profile.py"))
# Read by the SDK's environment configuration (temporalio.envconfig), not by our code.
SDK_SETTINGS = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
                "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
                "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    loaded: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return loaded


def env_names(path: Path) -> list[str]:
    return [line.split("=", 1)[0] for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


# -- the compose file -------------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert list(validator.iter_errors(compose())) == []
    # The schema does catch a mistake: a misspelt field of a service.
    broken = compose()
    broken["services"]["worker-1"] = {**broken["services"]["worker-1"], "comand": ["worker"]}
    assert [e.message for e in validator.iter_errors(broken)]


def test_two_workers_and_two_gateways_start_after_setup_behind_the_proxy() -> None:
    services = compose()["services"]
    parts = {name: s["command"][0] for name, s in services.items()
             if s.get("image", "").startswith("onething:")}
    assert parts == {"setup": "setup", "worker-1": "worker", "worker-2": "worker",
                     "gateway-1": "gateway", "gateway-2": "gateway"}
    for name in ("worker-1", "worker-2", "gateway-1", "gateway-2"):
        assert services[name]["depends_on"]["setup"] == {
            "condition": "service_completed_successfully"}
    assert services["setup"]["restart"] == "no"
    # Gateways share sessions, limits and idempotency keys through Redis.
    for name in ("gateway-1", "gateway-2"):
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "ONETHING_REDIS_URL" in env_names(COMPOSE_DIR / "secrets" / "onething.env.example")
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["DEFAULT_NAMESPACE"] == "onething"
    assert {"postgresql", "temporal-ui", "proxy", "prometheus"} <= set(services)
    # The proxy sends to exactly the gateways, the proxy's address is the trusted one.
    caddyfile = (COMPOSE_DIR / "caddy" / "Caddyfile").read_text()
    (upstreams,) = re.findall(r"reverse_proxy ((?:gateway-\d:8300 ?)+)", caddyfile)
    assert set(upstreams.split()) == {"gateway-1:8300", "gateway-2:8300"}
    proxy_ip = services["proxy"]["networks"]["onething"]["ipv4_address"]
    assert f"ONETHING_TRUSTED_PROXIES={proxy_ip}" in (COMPOSE_DIR / "cluster.env").read_text()


def test_no_key_or_password_is_written_in_the_compose_file() -> None:
    services = compose()["services"]
    secret_like = re.compile(r"PASSWORD|PWD|DSN|_KEY", re.IGNORECASE)
    for name, service in services.items():
        inline = service.get("environment", {})
        assert not [k for k in inline if k in KEY_VARIABLES or secret_like.search(k)], name
        for env_file in service.get("env_file", []):
            path = COMPOSE_DIR / env_file
            if env_file.startswith("secrets/"):
                # The real file is made on the host and ignored by git; its example is kept.
                assert path.with_name(path.name + ".example").is_file(), env_file
            else:
                assert not [k for k in env_names(path) if secret_like.search(k)], env_file
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/compose/secrets/onething.env"],
                             cwd=REPO)
    assert ignored.returncode == 0


def test_every_setting_the_cluster_files_give_is_one_the_product_reads() -> None:
    for names in (env_names(COMPOSE_DIR / "cluster.env"),
                  list(of_kind("ConfigMap")["onething-settings"]["data"]),
                  env_names(COMPOSE_DIR / "secrets" / "onething.env.example"),
                  list(of_kind("Secret")["onething-keys"]["stringData"])):
        unknown = [n for n in names if f'"{n}"' not in SETTINGS_SOURCE
                   and not n.startswith("ONETHING_AGENCY_") and n not in SDK_SETTINGS]
        assert unknown == []
        # Every agency's endpoint is given (a simulator on loopback otherwise).
        urls = {f"ONETHING_AGENCY_{a.upper().replace('-', '_')}_URL" for a in AGENCIES}
        assert urls <= set(names) or not any(n.startswith("ONETHING_AGENCY_") for n in names)
    for names in (env_names(COMPOSE_DIR / "secrets" / "onething.env.example"),
                  list(of_kind("Secret")["onething-keys"]["stringData"])):
        assert set(KEY_VARIABLES) <= set(names)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_make_secrets_makes_private_keys_the_product_accepts_and_never_replaces_them(
    tmp_path: Path,
) -> None:
    here = tmp_path / "compose"
    shutil.copytree(COMPOSE_DIR, here, ignore=shutil.ignore_patterns("*.env", "tls.*"))
    env = {"PATH": os.environ["PATH"], "ONETHING_PUBLIC_HOST": "onething.test"}
    subprocess.run(["sh", str(here / "make-secrets.sh")], env=env, check=True,
                   capture_output=True)
    secrets = here / "secrets"
    made = {p.name: p.read_bytes() for p in secrets.iterdir() if not p.name.endswith(".example")
            and p.name != ".gitignore"}
    assert set(made) == {"onething.env", "postgres.env", "redis.env", "temporal.env", "tls.crt",
                         "tls.key"}
    for name in made:
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600, name
    values = dict(line.split("=", 1) for line in made["onething.env"].decode().splitlines())
    settings = Settings.from_env({**values, "ONETHING_STATE_DIR": str(tmp_path / "state")})
    assert not settings.embedded  # a part of a cluster: keys configured, none made
    (key,) = payload_keys(settings)
    assert key.id == "k1"  # and 32 bytes, or parsing it would have refused it
    assert len(pseudonym_key(settings)) == 64 and len(settings.secret_key or b"") == 64
    postgres = dict(line.split("=", 1) for line in made["postgres.env"].decode().splitlines())
    assert f":{postgres['ONETHING_DB_PASSWORD']}@" in values["ONETHING_FRICTION_DSN"]
    temporal = dict(line.split("=", 1) for line in made["temporal.env"].decode().splitlines())
    assert temporal["POSTGRES_PWD"] == postgres["POSTGRES_PASSWORD"]
    redis = dict(line.split("=", 1) for line in made["redis.env"].decode().splitlines())
    assert values["ONETHING_REDIS_URL"] == f"redis://:{redis['REDIS_PASSWORD']}@redis:6379/0"
    assert settings.redis_url == values["ONETHING_REDIS_URL"]
    # Run again: a new payload key would leave every sealed case unreadable.
    again = subprocess.run(["sh", str(here / "make-secrets.sh")], env=env, check=True,
                           capture_output=True, text=True)
    assert "keeping onething.env" in again.stdout
    assert {n: (secrets / n).read_bytes() for n in made} == made


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_the_proxy_configuration_parses() -> None:
    env = {**os.environ, "ONETHING_PUBLIC_HOST": "onething.test",
           "ONETHING_OPERATOR_NETWORK": "10.0.0.0/8"}
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(COMPOSE_DIR / "caddy" / "Caddyfile"),
         "--adapter", "caddyfile"], env=env, capture_output=True, text=True, check=True)
    assert "warn" not in adapted.stderr.lower(), adapted.stderr

    def proxies(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("handler") == "reverse_proxy":
                yield node
            for value in node.values():
                yield from proxies(value)
        elif isinstance(node, list):
            for value in node:
                yield from proxies(value)

    found = list(proxies(json.loads(adapted.stdout)))
    (gateways,) = [p for p in found if "gateway-1:8300" in json.dumps(p["upstreams"])]
    # Sessions live in Redis: any request may go to either gateway.
    assert gateways["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert gateways["health_checks"]["active"]["uri"] == "/healthz"
    assert [p["upstreams"] for p in found if p is not gateways] == [[{"dial": "temporal-ui:8080"}]]


# -- Kubernetes -----------------------------------------------------------------------


def test_the_manifests_follow_the_kubernetes_schemas_strictly() -> None:
    documents = k8s_documents()
    assert {doc["kind"] for _, doc in documents} >= {
        "Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Job", "Deployment",
        "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for _, doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    # Strict: a misspelt field is refused, not ignored.
    worker = of_kind("Deployment")["onething-worker"]
    broken = json.loads(json.dumps(worker))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_secrets_example() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(listed) == sorted(present)


def test_workers_and_gateways_are_probed_limited_and_given_keys_from_the_secret() -> None:
    deployments = of_kind("Deployment")
    probes = {"onething-worker": ("/metrics", "metrics", 8302),
              "onething-gateway": ("/healthz", "http", 8300)}
    for name, (path, port_name, port) in probes.items():
        spec = deployments[name]["spec"]
        assert spec["replicas"] >= 2
        (container,) = spec["template"]["spec"]["containers"]
        assert container["args"] == [name.removeprefix("onething-")]
        assert {"name": port_name, "containerPort": port} in container["ports"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": path, "port": port_name}, probe
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert {"secretRef": {"name": "onething-keys"}} in container["envFrom"]
        # Prometheus (prometheus-k8s.yml) finds them by these labels.
        labels = spec["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == name.removeprefix("onething-")
    settings = of_kind("ConfigMap")["onething-settings"]["data"]
    assert not set(settings) & (set(KEY_VARIABLES) | {"ONETHING_FRICTION_DSN"})
    (job,) = of_kind("Job").values()
    (setup,) = job["spec"]["template"]["spec"]["containers"]
    assert setup["args"][0] == "setup"
    # Sessions are shared through Redis, so the ingress needs no affinity.
    assert "nginx.ingress.kubernetes.io/affinity" not in of_kind("Ingress")[
        "onething-gateway"]["metadata"]["annotations"]


def test_the_temporal_chart_values_keep_cases_in_postgresql() -> None:
    values = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text())
    persistence = values["server"]["config"]["persistence"]
    for store in ("default", "visibility"):
        assert persistence[store]["driver"] == "sql"
        sql = persistence[store]["sql"]
        assert sql["driver"] == "postgres12" and sql["existingSecret"]
        assert "password" not in sql
    assert values["server"]["config"]["namespaces"]["namespace"] == [
        {"name": "onething", "retention": "90d"}]
    for bundled in ("cassandra", "mysql", "postgresql", "elasticsearch", "prometheus", "grafana"):
        assert values[bundled]["enabled"] is False, bundled


# -- the image ------------------------------------------------------------------------


def test_the_image_installs_the_locked_runtime_dependencies_and_runs_as_a_user() -> None:
    text = (DEPLOY / "container" / "Containerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "uv sync --frozen --no-dev" in text and "--extra" not in text
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert 'ENTRYPOINT ["onething"]' in text and "HEALTHCHECK" in text
    # Every package the project installs is copied into the build (derived from
    # pyproject), and the build context lets it through.
    pyproject = (REPO / "pyproject.toml").read_text()
    (include,) = re.findall(r"^include = \[(.*)\]$", pyproject, re.MULTILINE)
    packages = [p.strip().strip('"').rstrip("*") for p in include.split(",")]
    ignore = (DEPLOY / "container" / "Containerfile.dockerignore").read_text().splitlines()
    for package in packages:
        assert f"COPY {package}/ {package}/" in text, package
        assert f"!{package}/" in ignore, package
