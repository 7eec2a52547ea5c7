"""Telling citizens of their case's progress. A Notifier delivers; the default is an
outbox table that the console reads and an SMS gateway could drain, so a real channel
replaces it by configuration. Delivery is keyed by the notification's id: a retried
activity or a replayed workflow sends each message once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

import msgspec
from temporalio import activity

from workflows import ports
from workflows.case import Notification


class Notifier(Protocol):
    def deliver(self, notification: Notification) -> bool:
        """Send it; False when it was sent before."""
        ...


class OutboxNotifier:
    """Notifications in a SQLite outbox (WAL), one row per notification id."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (notification_id TEXT PRIMARY KEY, "
            "case_id TEXT NOT NULL, at TEXT NOT NULL, body BLOB NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_case ON outbox (case_id, at)")

    def deliver(self, notification: Notification) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?)",
                (notification.notification_id, notification.case_id,
                 notification.at.isoformat(), msgspec.json.encode(notification)),
            )
        return cursor.rowcount == 1

    def for_case(self, case_id: str) -> list[Notification]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM outbox WHERE case_id = ? ORDER BY at, notification_id",
                (case_id,),
            ).fetchall()
        return [msgspec.json.decode(body, type=Notification) for (body,) in rows]

    def close(self) -> None:
        self._db.close()


class NotifyCalls:
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    @activity.defn(name=ports.NOTIFY_CITIZEN)
    async def notify_citizen(self, batch: ports.NotificationBatch) -> int:
        """Deliver a batch; returns how many were new."""

        def deliver_all() -> int:
            return sum(self._notifier.deliver(n) for n in batch.notifications)

        return await asyncio.to_thread(deliver_all)
