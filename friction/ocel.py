"""The event log as OCEL 2.0 JSON, for process-mining tools.

Objects are cases and the steps of each case; events are the case's milestones (opened,
each step started and finished, closed) and every friction event, related to its case
and step. Only case numbers, step ids and field or material names appear: no person.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from friction.external_sort import RUN, ExternalSorter
from kernel.events import CaseRecord, FrictionEvent, subject_of

_EPOCH = "1970-01-01T00:00:00Z"
_CASE_ATTRIBUTES = ("bundle", "bundle_version", "centre", "channel", "status", "trips")
_FRICTION_ATTRIBUTES = ("subject", "bundle", "channel", "centre")
_MILESTONES = ("case_opened", "step_started", "step_finished", "case_closed")
_ORDER = {"case_opened": 0, "step_started": 1, "step_finished": 3, "case_closed": 4}


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _step_id(case_id: str, step: str) -> str:
    return f"step:{case_id}:{step}"


def _event(
    event_id: str, kind: str, at: datetime, attributes: dict[str, Any], related: list[Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "time": _time(at),
        "attributes": [{"name": k, "value": v} for k, v in attributes.items() if v is not None],
        "relationships": related,
    }


def _case_parts(
    case: CaseRecord,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A case record in OCEL: its objects (the case, then its steps) and its log entries
    (opened, each step started and finished, closed)."""
    case_obj = f"case:{case.case_id}"
    objects: list[dict[str, Any]] = [{
        "id": case_obj, "type": "case",
        "attributes": [
            {"name": name, "time": _EPOCH, "value": str(getattr(case, name))}
            for name in _CASE_ATTRIBUTES
        ],
        "relationships": [],
    }]
    about_case = [{"objectId": case_obj, "qualifier": "case"}]
    log = [_event(f"{case.case_id}/opened", "case_opened", case.opened_at,
                  {"bundle": case.bundle}, about_case)]
    for step in case.steps:
        step_obj = _step_id(case.case_id, step.step)
        objects.append({
            "id": step_obj, "type": "step",
            "attributes": [
                {"name": "step", "time": _EPOCH, "value": step.step},
                {"name": "status", "time": _EPOCH, "value": step.status},
            ],
            "relationships": [{"objectId": case_obj, "qualifier": "part of"}],
        })
        about_step = [*about_case, {"objectId": step_obj, "qualifier": "step"}]
        if step.started_at:
            log.append(_event(f"{case.case_id}/{step.step}/started", "step_started",
                              step.started_at, {"step": step.step}, about_step))
        if step.finished_at:
            log.append(_event(f"{case.case_id}/{step.step}/finished", "step_finished",
                              step.finished_at,
                              {"step": step.step, "working_days": step.working_days,
                               "rounds": step.rounds}, about_step))
    if case.closed_at:
        log.append(_event(f"{case.case_id}/closed", "case_closed", case.closed_at,
                          {"status": case.status}, about_case))
    return objects, log


def to_ocel(cases: Iterable[CaseRecord], events: Iterable[FrictionEvent]) -> dict[str, Any]:
    objects: list[dict[str, Any]] = []
    log: list[dict[str, Any]] = []
    known_steps: set[str] = set()
    known_cases: set[str] = set()
    for case in cases:
        known_cases.add(f"case:{case.case_id}")
        case_objects, case_log = _case_parts(case)
        known_steps.update(o["id"] for o in case_objects[1:])
        objects += case_objects
        log += case_log
    friction_kinds: set[str] = set()
    for event in events:
        kind = str(type(event).__struct_config__.tag)
        friction_kinds.add(kind)
        related: list[dict[str, str]] = []
        if event.case_id:
            case_obj = f"case:{event.case_id}"
            if case_obj not in known_cases:
                # A case opened outside the exported period (or unknown to the notebook):
                # an object without attributes, so the reference does not dangle.
                known_cases.add(case_obj)
                objects.append({"id": case_obj, "type": "case", "attributes": [],
                                "relationships": []})
            related.append({"objectId": case_obj, "qualifier": "case"})
            if event.step and _step_id(event.case_id, event.step) in known_steps:
                related.append({"objectId": _step_id(event.case_id, event.step),
                                "qualifier": "step"})
        log.append(_event(event.event_id, kind, event.occurred_at,
                          {"subject": subject_of(event), "bundle": event.bundle,
                           "channel": event.channel, "centre": event.centre}, related))
    # At one instant a case opens before its step starts, friction happens within the
    # step, and the step finishes before the case closes.
    log.sort(key=lambda e: (e["time"], _ORDER.get(e["type"], 2), e["id"]))
    return {**_types(friction_kinds), "objects": objects, "events": log}


def _types(friction_kinds: set[str]) -> dict[str, Any]:
    return {
        "objectTypes": [
            {"name": "case",
             "attributes": [{"name": n, "type": "string"} for n in _CASE_ATTRIBUTES]},
            {"name": "step", "attributes": [{"name": n, "type": "string"}
                                            for n in ("step", "status")]},
        ],
        "eventTypes": [
            {"name": "case_opened", "attributes": [{"name": "bundle", "type": "string"}]},
            {"name": "step_started", "attributes": [{"name": "step", "type": "string"}]},
            {"name": "step_finished", "attributes": [
                {"name": "step", "type": "string"}, {"name": "working_days", "type": "integer"},
                {"name": "rounds", "type": "integer"}]},
            {"name": "case_closed", "attributes": [{"name": "status", "type": "string"}]},
            *(
                {"name": kind,
                 "attributes": [{"name": n, "type": "string"} for n in _FRICTION_ATTRIBUTES]}
                for kind in sorted(friction_kinds)
            ),
        ],
    }


def encode(ocel: dict[str, Any]) -> bytes:
    return msgspec.json.encode(ocel)


# -- the same log, streamed ----------------------------------------------------------------

CHUNK = 1 << 16  # bytes per chunk handed to the writer


class PreparedOcel:
    """The export with the store already read (cases and events spilled, by case, to an
    external sort): what remains only reads local temporary files, so a failure of the
    store surfaces before the first byte is sent. Iterate `chunks()` once."""

    def __init__(
        self,
        cases: Iterable[CaseRecord],
        events: Iterable[FrictionEvent],
        *,
        run: int = RUN,
        directory: str | Path | None = None,
    ) -> None:
        self._run, self._directory = run, directory
        self._by_case = ExternalSorter(run, directory)
        self._by_time = ExternalSorter(run, directory)
        self._kinds: set[str] = set()
        self.objects = 0  # written so far by chunks()
        self.events = 0
        try:
            encode_mp = msgspec.msgpack.Encoder().encode
            for case in cases:
                self._by_case.add((case.case_id, 0), encode_mp(case))
            for event in events:
                self._kinds.add(str(type(event).__struct_config__.tag))
                if event.case_id:
                    self._by_case.add((event.case_id, 1), encode_mp(event))
                else:
                    self._log(self._friction(event, []))
        except BaseException:
            self.close()
            raise

    def _log(self, entry: dict[str, Any]) -> None:
        key = (entry["time"], _ORDER.get(entry["type"], 2), entry["id"])
        self._by_time.add(key, msgspec.json.encode(entry))

    @staticmethod
    def _friction(event: FrictionEvent, related: list[Any]) -> dict[str, Any]:
        kind = str(type(event).__struct_config__.tag)
        return _event(event.event_id, kind, event.occurred_at,
                      {"subject": subject_of(event), "bundle": event.bundle,
                       "channel": event.channel, "centre": event.centre}, related)

    def _objects(self) -> Iterator[bytes]:
        """Each object's JSON, in case-number order, as the log entries go to the time
        sort: a case and its steps, its milestones, then its friction."""
        decode_case = msgspec.msgpack.Decoder(CaseRecord).decode
        decode_event = msgspec.msgpack.Decoder(FrictionEvent).decode
        encode = msgspec.json.encode
        current: str | None = None  # the case whose records are being read
        steps: set[str] = set()  # its steps, when its record was exported
        for (case_id, what), blob in self._by_case:
            assert isinstance(case_id, str)
            case_obj = f"case:{case_id}"
            about_case = [{"objectId": case_obj, "qualifier": "case"}]
            if what == 0:  # the case's record: it sorts before the case's friction
                current, steps = case_id, set()
                case = decode_case(blob)
                case_objects, case_log = _case_parts(case)
                steps = {step.step for step in case.steps}
                for obj in case_objects:
                    yield encode(obj)
                for entry in case_log:
                    self._log(entry)
                continue
            event = decode_event(blob)
            if current != case_id:
                # A case opened outside the exported period (or unknown to the notebook):
                # an object without attributes, so the reference does not dangle.
                current, steps = case_id, set()
                yield encode({"id": case_obj, "type": "case", "attributes": [],
                              "relationships": []})
            related = list(about_case)
            if event.step and event.step in steps:
                related.append({"objectId": _step_id(case_id, event.step),
                                "qualifier": "step"})
            self._log(self._friction(event, related))

    def chunks(self) -> Iterator[bytes]:
        """The OCEL 2.0 JSON document (to_ocel's, with its keys in another order and
        the objects in case-number order), a chunk at a time. Closes the export."""
        try:
            out = bytearray(b'{"objects":[')
            for n in _array(out, self._objects()):
                self.objects = n
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            self._by_case.close()
            out += b'],"events":['
            for n in _array(out, (entry for _, entry in self._by_time)):
                self.events = n
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            types = msgspec.json.encode(_types(self._kinds))
            out += b"]," + types[1:]  # the types' object, merged into the document
            yield bytes(out)
        finally:
            self.close()

    def close(self) -> None:
        self._by_case.close()
        self._by_time.close()


def stream_ocel(
    cases: Iterable[CaseRecord],
    events: Iterable[FrictionEvent],
    *,
    run: int = RUN,
    directory: str | Path | None = None,
) -> Iterator[bytes]:
    """to_ocel's document as JSON chunks, with memory flat in the number of cases and
    events: both are external-sorted (by case, then by time) through temporary files."""
    yield from PreparedOcel(cases, events, run=run, directory=directory).chunks()


def _array(out: bytearray, items: Iterator[bytes]) -> Iterator[int]:
    """A JSON array's items appended to `out` (in place), comma-separated: the count so
    far after each, so the caller can drain `out` between items."""
    for n, item in enumerate(items, start=1):
        if n > 1:
            out += b","
        out += item
        yield n
