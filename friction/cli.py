"""`onething backlog` and `onething notebook ...`: the error notebook from a terminal.

Subcommands: `backlog` (the default: the ranked table with each item's status, after the
verifier has judged deployed fixes), `report` (per bundle, step or centre, small groups
withheld), `transition` (move a backlog item) and `export-ocel` (the event log for
process-mining tools).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Protocol, get_args

import msgspec

from friction import notebook
from friction.backlog import BacklogEntry, BacklogItem, LifecycleError, Status, TransitionRequest
from friction.ocel import PreparedOcel
from friction.reports import DEFAULT_MIN_GROUP, display_width, render
from friction.store import ConflictError, FrictionStore
from friction.stores import open_store
from friction.stuck_points import StuckPoint
from friction.verification import VerificationPolicy
from kernel.china_time import CHINA_TZ


def N_(message: str) -> str:
    """Marks a message for the gettext catalogues; the Namer translates it."""
    return message


HEADERS = (
    N_("rank"), N_("kind"), N_("bundle/step"), N_("subject"), N_("count"), N_("cases"),
    N_("citizen min"), N_("clerk min"), N_("total"), N_("known from"), N_("remedy"),
)
STATUS_HEADER = N_("status")
EMPTY = N_("No stuck points recorded.")
LANGS = ("en", "zh")
_NUMERIC = frozenset({0, 4, 5, 6, 7, 8})  # columns aligned right (without a status column)
_KNOWN_FROM_SHOWN = 2


class Namer(Protocol):
    """Names instead of ids, and messages, in one language (gateway.names.Names)."""

    def say(self, message: str) -> str: ...

    def name(self, of: Any, key: str | None, bundle: str | None = None,
             step: str | None = None, kind: str | None = None) -> str: ...

    def remedy(self, point: StuckPoint) -> str: ...


class Ids:
    """The notebook's own words: English messages and ids, for scripts and tests."""

    def say(self, message: str) -> str:
        return message

    def name(self, of: Any, key: str | None, bundle: str | None = None,
             step: str | None = None, kind: str | None = None) -> str:
        return key or "-"

    def remedy(self, point: StuckPoint) -> str:
        return point.remedy


IDS = Ids()
SUBCOMMANDS = ("backlog", "report", "transition", "verify", "export-ocel")


def _width(text: str) -> int:
    # CJK characters take two terminal columns; padding by len() would skew the table.
    return display_width(text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _known_from(counts: dict[str, int], names: Namer, bundle: str | None) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{names.name('source', source, bundle)} ×{n}"
             for source, n in ranked[:_KNOWN_FROM_SHOWN]]
    if len(ranked) > _KNOWN_FROM_SHOWN:
        shown.append(f"+{len(ranked) - _KNOWN_FROM_SHOWN}")
    return ", ".join(shown) or "-"


def render_backlog(
    points: list[StuckPoint], names: Namer = IDS, items: dict[str, BacklogItem] | None = None
) -> str:
    """A plain-text table, largest burden first (re-sorted, whatever order it is given),
    in `names`' language with names instead of ids; with `items`, a status column after
    the rank ("new" for a point without an item)."""
    headers = tuple(names.say(h) for h in HEADERS)
    if not points:
        return names.say(EMPTY) + "\n"
    ranked = sorted(points, key=lambda p: (-p.burden_minutes, -p.count, p.fingerprint))
    rows: list[tuple[str, ...]] = [
        (
            str(rank),
            names.name("kind", p.kind),
            f"{names.name('bundle', p.bundle)}/{names.name('step', p.step, p.bundle)}",
            names.name("subject", p.subject, p.bundle, p.step, p.kind),
            str(p.count),
            str(p.cases),
            f"{p.citizen_minutes:,.1f}",
            f"{p.clerk_minutes:,.1f}",
            f"{p.burden_minutes:,.1f}",
            _known_from(p.known_from, names, p.bundle),
            names.remedy(p),
        )
        for rank, p in enumerate(ranked, start=1)
    ]
    numeric = _NUMERIC
    if items is not None:
        headers = (headers[0], names.say(STATUS_HEADER), *headers[1:])
        rows = [
            (row[0], _status(items.get(p.fingerprint), names), *row[1:])
            for row, p in zip(rows, ranked, strict=True)
        ]
        numeric = frozenset(i if i == 0 else i + 1 for i in _NUMERIC)
    widths = [max(_width(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for cells in (headers, *rows):
        padded = [
            _pad(cell, widths[i], i in numeric) if i < len(cells) - 1 else cell
            for i, cell in enumerate(cells)
        ]
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _status(item: BacklogItem | None, names: Namer) -> str:
    status = names.name("status", "new" if item is None else item.status)
    return status if item is None or item.owner is None else f"{status} ({item.owner})"


def render_entries(entries: list[BacklogEntry], names: Namer = IDS) -> str:
    return render_backlog(
        [e.point for e in entries], names, {e.point.fingerprint: e.item for e in entries}
    )


def default_db(env: dict[str, str] | None = None) -> Path:
    e = os.environ if env is None else env
    if "ONETHING_FRICTION_DB" in e:  # the same override the worker and gateway honour
        return Path(e["ONETHING_FRICTION_DB"])
    return Path(e.get("ONETHING_STATE_DIR", ".state")) / "friction.db"


def _instant(value: str) -> datetime:
    """A date (China-local midnight) or a time with its offset."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), CHINA_TZ)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or time: {value!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"a time needs its offset (e.g. +08:00): {value!r}")
    return moment


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", type=Path, default=None,
        help="friction store (default: $ONETHING_FRICTION_DB or $ONETHING_STATE_DIR/friction.db)",
    )
    common.add_argument(
        "--dsn", default=None,
        help="PostgreSQL friction store instead (default: $ONETHING_FRICTION_DSN if set)",
    )
    common.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser = argparse.ArgumentParser(
        prog="onething notebook",
        description="The error notebook: stuck points ranked by citizen and clerk minutes, "
        "their backlog lifecycle, reports and the event log.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    backlog = sub.add_parser("backlog", parents=[common],
                             help="stuck points ranked by burden, with status (the default)")
    backlog.add_argument("--bundle", help="only this bundle's stuck points")
    backlog.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    backlog.add_argument("--lang", choices=LANGS, default=None,
                         help="the table in this language, names instead of ids: headings, "
                         "kinds, bundles, steps, subjects, remedies (default: the ids)")

    report = sub.add_parser("report", parents=[common],
                            help="trips, working days, minutes and prefill per group")
    report.add_argument("--group-by", choices=("bundle", "step", "centre"), default="bundle")
    report.add_argument("--since", type=_instant, help="cases opened from (YYYY-MM-DD or time)")
    report.add_argument("--until", type=_instant, help="cases opened before")
    report.add_argument("--min-group", type=int, default=DEFAULT_MIN_GROUP,
                        help=f"withhold groups with fewer cases (default {DEFAULT_MIN_GROUP})")
    report.add_argument("--bundle", help="only this bundle's cases")
    report.add_argument("--lang", choices=LANGS, default=None,
                        help="the table in this language: headings and group names "
                        "(default: the ids)")

    move = sub.add_parser("transition", parents=[common], help="move a backlog item")
    move.add_argument("fingerprint", help='the stuck point, "kind|bundle|step|subject"')
    move.add_argument("--to", dest="to_status", required=True, choices=get_args(Status))
    move.add_argument("--reason", required=True, help="why, in a few words")
    move.add_argument("--owner", help="who fixes it (required to triage)")
    move.add_argument("--fix", help="what was deployed (required for fix_deployed)")
    move.add_argument("--actor", default=os.environ.get("USER") or "cli",
                      help="who makes the transition (default: $USER)")

    sub.add_parser("verify", parents=[common],
                   help="judge every deployed fix by the data now (what the gateway's "
                   "schedule runs)")

    export = sub.add_parser("export-ocel", parents=[common],
                            help="cases and friction as OCEL 2.0 JSON")
    export.add_argument("file", help='where to write it ("-" for standard output)')
    export.add_argument("--since", type=_instant, help="cases opened and friction from")
    export.add_argument("--until", type=_instant, help="... and before")
    return parser


def _open(args: argparse.Namespace, prog: str) -> FrictionStore | None:
    dsn = args.dsn or os.environ.get("ONETHING_FRICTION_DSN")
    db: Path = args.db or default_db()
    if not dsn and not db.exists():
        # Opening would create an empty notebook and print nothing useful.
        print(f"{prog}: no friction store at {db}", file=sys.stderr)
        return None
    return open_store(dsn, db)


def _print_json(value: object) -> None:
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value)).decode() + "\n")


NamerFor = Callable[[str], Namer]


def main(argv: Sequence[str] | None = None, namer_for: NamerFor | None = None) -> int:
    """The notebook's commands; `namer_for` gives the names of a --lang (ids without)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if not args_in or (args_in[0] not in SUBCOMMANDS and args_in[0] not in ("-h", "--help")):
        args_in = ["backlog", *args_in]  # `onething backlog [options]` as it always was
    parser = _parser()
    args = parser.parse_args(args_in)
    if args.command == "backlog" and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.command == "report" and args.min_group < 1:
        parser.error("--min-group must be at least 1")
    prog = f"onething {args.command}"
    store = _open(args, prog)
    if store is None:
        return 1
    try:
        lang = getattr(args, "lang", None)
        names = namer_for(lang) if namer_for and lang else IDS
        return _run(args, store, prog, names)
    finally:
        store.close()


def _run(args: argparse.Namespace, store: FrictionStore, prog: str, names: Namer) -> int:
    now = datetime.now(UTC)
    match args.command:
        case "backlog":
            entries = notebook.backlog(store, args.bundle, args.limit)
            if args.json:
                _print_json(entries)
            else:
                sys.stdout.write(render_entries(entries, names))
        case "report":
            try:
                report = notebook.report(store, args.group_by, args.since, args.until,
                                         args.min_group, args.bundle)
            except notebook.InputError as exc:
                print(f"{prog}: {exc}", file=sys.stderr)
                return 2
            if args.json:
                _print_json(report)
            else:
                sys.stdout.write(render(report, names.say, _group_namer(names, args.group_by))
                                 + "\n")
        case "transition":
            request = TransitionRequest(to_status=args.to_status, reason=args.reason,
                                        owner=args.owner, fix_description=args.fix)
            try:
                item, made = notebook.transition(store, args.fingerprint, request,
                                                 args.actor, now, policy=VerificationPolicy())
            except LifecycleError as exc:
                print(f"{prog}: {exc}", file=sys.stderr)
                return 2
            except (ConflictError, notebook.NotFoundError) as exc:
                print(f"{prog}: {exc}", file=sys.stderr)
                return 1
            if args.json:
                _print_json({"item": item, "transition": made})
            else:
                print(f"{made.fingerprint}: {made.from_status} -> {made.to_status}")
        case "verify":
            moved = notebook.run_verifier(store, VerificationPolicy(), now)
            if args.json:
                _print_json(moved)
            else:
                for t in moved:
                    print(f"{t.fingerprint}: {t.from_status} -> {t.to_status} ({t.reason})")
                print(f"{len(moved)} items moved", file=sys.stderr)
        case "export-ocel":
            # Streamed: memory stays flat however big the notebook is.
            log = PreparedOcel(store.iter_cases(args.since, args.until),
                               store.iter_events(args.since, args.until))
            if args.file == "-":
                for chunk in log.chunks():
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.write(b"\n")
            else:
                # Renamed into place when complete: a failed export leaves no short file
                # that looks like a log.
                part = Path(f"{args.file}.part")
                try:
                    with part.open("wb") as out:
                        for chunk in log.chunks():
                            out.write(chunk)
                    part.replace(args.file)
                finally:
                    part.unlink(missing_ok=True)  # a failed export leaves nothing behind
            print(f"{log.objects} objects, {log.events} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _group_namer(names: Namer, group_by: str) -> Callable[[str], str]:
    """A report group's name: a bundle's, a step's ("bundle/step") or a centre's."""
    def name(group: str) -> str:
        if group_by == "step":
            bundle, _, step = group.partition("/")
            return f"{names.name('bundle', bundle)}/{names.name('step', step or None, bundle)}"
        return names.name("bundle" if group_by == "bundle" else "centre", group)
    return name
