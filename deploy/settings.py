"""Settings from the environment, so the same code runs embedded and in a cluster.

Every agency endpoint is a setting: pointing ONETHING_AGENCY_<ID>_URL at a real agency
replaces its simulator without a code change.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import msgspec
from temporalio.envconfig import ClientConfigProfile

from deploy.temporal_profile import (
    DEFAULT_ADDRESS,
    DEFAULT_NAMESPACE,
    configured_remotely,
    load_profile,
)
from friction.ratings import DEFAULT_FOLLOW_UP_WORKING_DAYS
from gateway.cases.schemas import DEFAULT_CENTRES
from kernel.codec import PayloadKey, format_key, generate_key, parse_keys
from workflows.case import TASK_QUEUE

AGENCIES = ("public-security", "hrss", "civil-affairs", "social-insurance", "ecert",
            "medical-insurance", "community", "finance")
# Days Temporal keeps a closed case's history unless ONETHING_NAMESPACE_RETENTION_DAYS says.
DEFAULT_RETENTION_DAYS = 30


class MissingSetting(RuntimeError):
    """A key a configured (non-embedded) installation must be given; names its variable."""

    WHY = ("outside the embedded default (`onething up`, or a part on the local defaults) "
           "no key is made at random: every worker and gateway of a cluster needs the same "
           "ones, so configure them")

    def __init__(self, variable: str, what: str) -> None:
        self.variable = variable
        self.missing = f"{variable} is not set ({what})"
        super().__init__(f"{self.missing}; {self.WHY}")


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    state_dir: Path
    # How to reach Temporal (deploy.temporal_profile): address, namespace, TLS, API key,
    # gRPC metadata, from a TOML profile, TEMPORAL_* and ONETHING_TEMPORAL_* variables.
    temporal: ClientConfigProfile
    task_queue: str
    temporal_ui_port: int
    gateway_host: str
    gateway_port: int
    agency_sim_port: int
    agency_urls: dict[str, str]
    friction_db: Path
    friction_dsn: str | None = None  # PostgreSQL (city, province); None: SQLite at friction_db
    # HMAC key for referring to people without personal values; None: the state folder's
    # (pseudonym_key below). Never a default everyone knows: ID numbers are few enough
    # that a known key would let anyone enumerate them back from their pseudonyms.
    pseudonym_key: bytes | None
    # Keys the console's sessions, API tokens, CSRF and tracking codes; None: a random
    # key kept in the state folder (secret.key), made on first use.
    secret_key: bytes | None = None
    # Seal every Temporal payload (AES-256-GCM), the first key encrypting and every key
    # decrypting: `id:base64key,...` in ONETHING_PAYLOAD_KEYS. Empty: the state folder's
    # payload.keys, made on first use (the embedded default).
    payload_keys: tuple[PayloadKey, ...] = ()
    # The trace UI's address of one trace, `{trace_id}` in it (Jaeger:
    # http://jaeger:16686/trace/{trace_id}); None: trace ids are shown as text.
    trace_url: str | None = None
    # The accounts file of earlier releases (JSON, scrypt password hashes): imported into
    # the friction store on the first start that finds the store without accounts.
    accounts_file: Path
    # Redis that the gateways of a cluster share sessions, rate-limit counters and
    # idempotency keys through, under `redis_namespace`; None: each gateway's memory.
    redis_url: str | None = None
    redis_namespace: str = "onething"
    default_centre: str = "liangxi-chongan"  # the demo clerk's service centre
    # The service centres a case may be opened at (comma-separated in ONETHING_CENTRES).
    centres: tuple[str, ...] = DEFAULT_CENTRES
    # Temporal SDK metrics of the worker process, for Prometheus; port 0 turns them off.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 8302
    # How much one worker process takes on at once (the SDK's defaults). Each agency call
    # that waits holds an activity slot, so slow agencies want more activities; cached
    # cases are kept in memory between their workflow tasks instead of being replayed.
    worker_max_activities: int = 100
    worker_max_workflow_tasks: int = 100
    worker_cached_cases: int = 1000
    # Where traces go: "none", "console" or "otlp" (OTLP/HTTP, endpoint and headers from
    # the standard OTEL_EXPORTER_OTLP_* variables, which the exporter reads itself).
    traces_exporter: str = "none"
    # Cookies sent over HTTPS only. On unless the gateway listens on loopback, as the
    # embedded default does over plain HTTP; ONETHING_SECURE_COOKIES=0/1 decides otherwise.
    secure_cookies: bool = True
    # Proxies whose X-Forwarded-For names the client (addresses or CIDR blocks, comma-
    # separated in ONETHING_TRUSTED_PROXIES); none: the header is never believed.
    trusted_proxies: tuple[str, ...] = ()
    # Working days a centre has to answer a bad review (好差评), from the day after it.
    rating_follow_up_working_days: int = DEFAULT_FOLLOW_UP_WORKING_DAYS
    # Days the access log keeps an entry (pruned by the gateway at start and daily).
    access_log_retention_days: int = 1096
    # The embedded one-machine default: keys may be made once in the state folder. True
    # for `onething up` and its parts (it sets ONETHING_EMBEDDED=1 for them), and for a
    # process on the local defaults (no Temporal address but 127.0.0.1:7233, no
    # ONETHING_FRICTION_DSN); otherwise every key must be configured (MissingSetting).
    embedded: bool = True
    # Origins whose pages may call the gateway's Temporal codec endpoint (/codec) with an
    # admin's credentials: the Temporal web UI's. Default: the embedded UI's origins.
    codec_origins: tuple[str, ...] = ()
    # Days Temporal keeps a closed case's history (`onething setup` sets the namespace's
    # retention; ONETHING_NAMESPACE_RETENTION_DAYS).
    namespace_retention_days: int = DEFAULT_RETENTION_DAYS

    @property
    def temporal_address(self) -> str:
        return self.temporal.address or DEFAULT_ADDRESS

    @property
    def temporal_namespace(self) -> str:
        return self.temporal.namespace or DEFAULT_NAMESPACE

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        state = Path(e.get("ONETHING_STATE_DIR", ".state")).resolve()
        sim_port = int(e.get("ONETHING_AGENCY_SIM_PORT", "8301"))
        urls = {
            a: e.get(
                f"ONETHING_AGENCY_{a.upper().replace('-', '_')}_URL",
                f"http://127.0.0.1:{sim_port}/{a}",
            )
            for a in AGENCIES
        }
        host = e.get("ONETHING_GATEWAY_HOST", "127.0.0.1")
        ui_port = int(e.get("ONETHING_TEMPORAL_UI_PORT", "8233"))
        temporal = load_profile(e)
        configured = configured_remotely(e, temporal) or bool(e.get("ONETHING_FRICTION_DSN"))
        return cls(
            state_dir=state,
            temporal=temporal,
            namespace_retention_days=_positive(e, "ONETHING_NAMESPACE_RETENTION_DAYS",
                                               DEFAULT_RETENTION_DAYS),
            task_queue=e.get("ONETHING_TASK_QUEUE", TASK_QUEUE),
            temporal_ui_port=ui_port,
            gateway_host=host,
            gateway_port=int(e.get("ONETHING_GATEWAY_PORT", "8300")),
            agency_sim_port=sim_port,
            agency_urls=urls,
            friction_db=Path(e.get("ONETHING_FRICTION_DB", str(state / "friction.db"))),
            friction_dsn=e.get("ONETHING_FRICTION_DSN") or None,
            pseudonym_key=(e["ONETHING_PSEUDONYM_KEY"].encode()
                           if e.get("ONETHING_PSEUDONYM_KEY") else None),
            secret_key=e["ONETHING_SECRET_KEY"].encode() if e.get("ONETHING_SECRET_KEY") else None,
            payload_keys=parse_keys(e.get("ONETHING_PAYLOAD_KEYS", "")),
            accounts_file=Path(e.get("ONETHING_ACCOUNTS_FILE", str(state / "accounts.json"))),
            redis_url=e.get("ONETHING_REDIS_URL") or None,
            redis_namespace=e.get("ONETHING_REDIS_NAMESPACE") or "onething",
            worker_metrics_host=e.get("ONETHING_WORKER_METRICS_HOST", "127.0.0.1"),
            worker_metrics_port=int(e.get("ONETHING_WORKER_METRICS_PORT", "8302")),
            worker_max_activities=_count(e, "ONETHING_WORKER_MAX_ACTIVITIES", 100),
            worker_max_workflow_tasks=_count(e, "ONETHING_WORKER_MAX_WORKFLOW_TASKS", 100),
            worker_cached_cases=_count(e, "ONETHING_WORKER_CACHED_CASES", 1000),
            traces_exporter=_traces_exporter(e),
            secure_cookies=_flag(e.get("ONETHING_SECURE_COOKIES"), default=host not in LOOPBACK),
            trusted_proxies=_listed(e.get("ONETHING_TRUSTED_PROXIES", "")),
            embedded=_flag(e.get(EMBEDDED_VARIABLE), default=not configured),
            access_log_retention_days=_positive(e, "ONETHING_ACCESS_LOG_RETENTION_DAYS", 1096),
            codec_origins=_listed(e.get("ONETHING_CODEC_ORIGINS", "")) or (
                f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"),
            rating_follow_up_working_days=_positive(
                e, "ONETHING_RATING_FOLLOW_UP_WORKING_DAYS", DEFAULT_FOLLOW_UP_WORKING_DAYS),
            centres=_listed(e.get("ONETHING_CENTRES", "")) or DEFAULT_CENTRES,
            trace_url=e.get("ONETHING_TRACE_URL") or None,
        )


EMBEDDED_VARIABLE = "ONETHING_EMBEDDED"
# What each key is, by its variable; which of them a part of the product uses.
KEY_VARIABLES = {
    "ONETHING_PAYLOAD_KEYS": "the AES-256-GCM keys sealing every Temporal payload",
    "ONETHING_PSEUDONYM_KEY": "the HMAC key naming residents by pseudonym",
    "ONETHING_SECRET_KEY": "the gateway's secret for sessions, tokens, CSRF and tracking codes",
}


def missing_keys(settings: Settings, *variables: str) -> list[MissingSetting]:
    """The keys among `variables` that this start needs configured and lacks: none for
    the embedded default, which makes them in the state folder."""
    if settings.embedded:
        return []
    given = {"ONETHING_PAYLOAD_KEYS": bool(settings.payload_keys),
             "ONETHING_PSEUDONYM_KEY": settings.pseudonym_key is not None,
             "ONETHING_SECRET_KEY": settings.secret_key is not None}
    return [MissingSetting(v, KEY_VARIABLES[v]) for v in variables if not given[v]]


def _require(settings: Settings, variable: str, path: Path) -> None:
    """Refuse to make a key outside the embedded default. One the embedded default made
    already (the demo or the CLI beside `onething up`) is read, never a new one made."""
    if path.exists():
        return
    for missing in missing_keys(settings, variable):
        raise missing


def installation_secret(settings: Settings) -> bytes:
    """The gateway's secret: from ONETHING_SECRET_KEY, else the state folder's secret.key,
    made once so sessions and tokens survive a restart. Every gateway of a cluster needs
    the same one, so a cluster sets the variable."""
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.state_dir / "secret.key"
    _require(settings, "ONETHING_SECRET_KEY", path)
    _make_once(path, lambda: secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key naming people without personal values: from ONETHING_PSEUDONYM_KEY,
    else the state folder's pseudonym.key, made once at random. Every worker of a cluster
    needs the same one (it names the allowance match's cases), so a cluster sets it."""
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key
    path = settings.state_dir / "pseudonym.key"
    _require(settings, "ONETHING_PSEUDONYM_KEY", path)
    _make_once(path, lambda: secrets.token_hex(32))
    return path.read_text().strip().encode()


def payload_keys(settings: Settings) -> tuple[PayloadKey, ...]:
    """The keys sealing Temporal payloads: from ONETHING_PAYLOAD_KEYS, else the state
    folder's payload.keys (one `id:base64key` a line, the first encrypting), made once
    with one random key. To rotate there, put a new key on the first line and keep the
    old one below it while histories sealed under it are still read. Every worker and
    gateway of a cluster needs the same keys, so a cluster sets the variable."""
    if settings.payload_keys:
        return settings.payload_keys
    path = settings.state_dir / "payload.keys"
    _require(settings, "ONETHING_PAYLOAD_KEYS", path)
    _make_once(path, lambda: format_key(f"local-{secrets.token_hex(4)}", generate_key()) + "\n")
    keys = parse_keys(path.read_text())
    if not keys:
        raise ValueError(f"{path} lists no payload key")
    return keys


def private_state_dir(settings: Settings) -> None:
    """The state folder, made if missing, readable by its owner only: it holds the keys,
    Temporal's database and the friction store."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.state_dir.chmod(0o700)


def _make_once(path: Path, content: Callable[[], str]) -> None:
    """A secret file (mode 0600) written once, whole: written aside, then linked in, so
    no part reads it half written; another process making it meanwhile wins."""
    if path.exists():
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(content())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another part made it meanwhile
    finally:
        aside.unlink()


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _listed(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _positive(e: dict[str, str], name: str, default: int) -> int:
    raw = e.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}: a whole number of days, at least 1 (got {raw!r})")
    return int(raw)


def _count(e: dict[str, str], name: str, default: int) -> int:
    raw = e.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}: a whole number, at least 1 (got {raw!r})")
    return int(raw)


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _traces_exporter(e: dict[str, str]) -> str:
    # The standard OpenTelemetry variables, so operators configure onething like any
    # other service: OTEL_TRACES_EXPORTER wins; an OTLP endpoint alone means OTLP.
    if chosen := e.get("OTEL_TRACES_EXPORTER"):
        return chosen.strip().lower()
    if e.get("OTEL_EXPORTER_OTLP_ENDPOINT") or e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return "otlp"
    return "none"
