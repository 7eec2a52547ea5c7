"""What a migration file holds: SQL statements, written with "?" and {words} (the
dialect's column types and clauses, engine.Dialect.words), and Python steps for what SQL
alone cannot do (decoding event bodies)."""

from __future__ import annotations

from collections.abc import Callable

from friction.store.engine import Cursor, Dialect

Step = str | Callable[[Cursor, Dialect], None]
