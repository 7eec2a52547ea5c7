"""`onething backlog`: the notebook's stuck points as a table, ranked by time lost."""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import msgspec

from friction.sqlite_store import SqliteFrictionStore
from friction.stuck_points import StuckPoint

HEADERS = {
    "en": (
        "rank", "kind", "bundle/step", "subject", "count", "cases",
        "citizen min", "clerk min", "total", "known from", "remedy",
    ),
    "zh": (
        "排名", "类型", "事项/环节", "对象", "次数", "件数",
        "群众分钟", "窗口分钟", "合计", "已有来源", "整改建议",
    ),
}
EMPTY = {"en": "No stuck points recorded.", "zh": "暂无堵点记录。"}
_NUMERIC = frozenset({0, 4, 5, 6, 7, 8})  # columns aligned right
_KNOWN_FROM_SHOWN = 2


def _width(text: str) -> int:
    # CJK characters take two terminal columns; padding by len() would skew the table.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _known_from(counts: dict[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{source} ×{n}" for source, n in ranked[:_KNOWN_FROM_SHOWN]]
    if len(ranked) > _KNOWN_FROM_SHOWN:
        shown.append(f"+{len(ranked) - _KNOWN_FROM_SHOWN}")
    return ", ".join(shown) or "-"


def render_backlog(points: list[StuckPoint], lang: str = "en") -> str:
    """A plain-text table, largest burden first (re-sorted, whatever order it is given)."""
    headers = HEADERS.get(lang, HEADERS["en"])
    if not points:
        return EMPTY.get(lang, EMPTY["en"]) + "\n"
    ranked = sorted(points, key=lambda p: (-p.burden_minutes, -p.count, p.fingerprint))
    rows = [
        (
            str(rank),
            p.kind,
            f"{p.bundle or '-'}/{p.step or '-'}",
            p.subject,
            str(p.count),
            str(p.cases),
            f"{p.citizen_minutes:,.1f}",
            f"{p.clerk_minutes:,.1f}",
            f"{p.burden_minutes:,.1f}",
            _known_from(p.known_from),
            p.remedy,
        )
        for rank, p in enumerate(ranked, start=1)
    ]
    widths = [max(_width(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for cells in (headers, *rows):
        padded = [
            _pad(cell, widths[i], i in _NUMERIC) if i < len(cells) - 1 else cell
            for i, cell in enumerate(cells)
        ]
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def default_db(env: dict[str, str] | None = None) -> Path:
    e = os.environ if env is None else env
    if "ONETHING_FRICTION_DB" in e:  # the same override the worker and gateway honour
        return Path(e["ONETHING_FRICTION_DB"])
    return Path(e.get("ONETHING_STATE_DIR", ".state")) / "friction.db"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="onething backlog",
        description="Stuck points from the error notebook, ranked by citizen and clerk minutes.",
    )
    parser.add_argument(
        "--db", type=Path, default=None,
        help="friction store (default: $ONETHING_FRICTION_DB or $ONETHING_STATE_DIR/friction.db)",
    )
    parser.add_argument("--bundle", help="only this bundle's stuck points")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument("--lang", choices=sorted(HEADERS), default="en", help="table headings")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    db: Path = args.db or default_db()
    if not db.exists():
        # Opening would create an empty notebook and print nothing useful.
        print(f"onething backlog: no friction store at {db}", file=sys.stderr)
        return 1
    store = SqliteFrictionStore(db)
    try:
        points = store.stuck_points(bundle=args.bundle, limit=args.limit)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(points)).decode() + "\n")
    else:
        sys.stdout.write(render_backlog(points, lang=args.lang))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
