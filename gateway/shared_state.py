"""What the gateways of an installation share: console sessions, the doors' rate-limit
counters and the API's idempotency keys. Each purpose is a store of its own name
(SESSION_STORE, `limit-<door>`, IDEMPOTENCY_STORE) in the app's store registry: all in
this process's memory in the embedded default, or each under its own namespace of one
Redis (ONETHING_REDIS_URL) when several gateways serve together, so a session made on
one gateway is known to every other, logging out ends it on all, and a limit counts a
client's tries whichever gateway they reach."""

from __future__ import annotations

from datetime import timedelta

from litestar.stores.base import NamespacedStore, Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["IDEMPOTENCY_STORE", "IDEMPOTENCY_TTL", "SESSION_STORE", "IdempotencyKeys",
           "gateway_stores", "is_away", "redis_root"]

SESSION_STORE = "sessions"
IDEMPOTENCY_STORE = "idempotency"
# A client retrying a request does so within minutes or hours; two days covers a retry
# sent the next morning (a case number carries its day, the key's answer does not).
IDEMPOTENCY_TTL = timedelta(days=2)
REDIS_TIMEOUT = timedelta(seconds=2)


def gateway_stores(shared: NamespacedStore | None) -> StoreRegistry:
    """The app's stores by name: each a namespace of `shared` (one Redis), or a store in
    memory when None (the embedded default, one gateway)."""
    if shared is None:
        return StoreRegistry(default_factory=lambda _name: MemoryStore())
    root = shared
    return StoreRegistry(default_factory=root.with_namespace)


def redis_root(url: str, namespace: str) -> NamespacedStore:
    """One Redis connection pool for every purpose, its keys under `namespace` (so two
    installations, or two test runs, on one Redis never meet). A Redis that does not
    answer within REDIS_TIMEOUT fails the request (a 503, see `is_away`), never hangs it."""
    seconds = REDIS_TIMEOUT.total_seconds()
    client = Redis.from_url(url, socket_connect_timeout=seconds, socket_timeout=seconds)
    return RedisStore(client, namespace=namespace, handle_client_shutdown=True)


def is_away(exc: BaseException) -> bool:
    """Whether `exc` says the shared state's Redis did not answer: try again later."""
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


class IdempotencyKeys:
    """What a request with an Idempotency-Key answered first, for as long as a retry may
    come (IDEMPOTENCY_TTL): a retry names the same case on any gateway, on any day."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def answered(self, key: str) -> str | None:
        found = await self._store.get(key)
        return None if found is None else found.decode()

    async def remember(self, key: str, answer: str) -> None:
        await self._store.set(key, answer, expires_in=IDEMPOTENCY_TTL)
