"""The streamed OCEL export (friction.ocel.stream_ocel) is to_ocel's document, on both
stores, however small its sort runs (here: a few records, so every pass spills to many
files); and the external sort itself keeps key order and insertion order of equal keys."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from test_case_rollups import notebook

from friction.external_sort import ExternalSorter
from friction.ocel import encode, stream_ocel, to_ocel
from friction.store.sql import SqlFrictionStore


def _canonical(log: dict[str, Any]) -> dict[str, Any]:
    # The stream lists objects in case-number order; to_ocel as it met them.
    return {**log, "objects": sorted(log["objects"], key=lambda o: o["id"])}


def test_the_stream_is_the_same_log(store: SqlFrictionStore) -> None:
    notebook(store, cases=25)
    want = json.loads(encode(to_ocel(store.iter_cases(), store.iter_events())))
    assert want["events"] and want["objects"]
    for run in (3, 10_000):
        chunks = list(stream_ocel(store.iter_cases(), store.iter_events(), run=run))
        got = json.loads(b"".join(chunks))
        assert _canonical(got) == _canonical(want)


def test_an_empty_notebook_streams_an_empty_log(store: SqlFrictionStore) -> None:
    got = json.loads(b"".join(stream_ocel(store.iter_cases(), store.iter_events())))
    assert got == json.loads(encode(to_ocel([], [])))


def test_the_external_sort_keeps_key_then_insertion_order() -> None:
    rng = random.Random(3)
    records = [((rng.choice("abc"), rng.randint(0, 5)), str(i).encode()) for i in range(500)]
    want = sorted(records, key=lambda r: r[0])  # stable: equal keys keep their order
    for fan_in in (2, 3, 1000):  # 30 runs merged in levels, or at once
        with ExternalSorter(run=17, fan_in=fan_in) as sorter:
            for key, value in records:
                sorter.add(key, value)
            got = [(tuple(k), v) for k, v in sorter]
        assert got == want, fan_in


def test_the_sort_leaves_nothing_readable_on_disk(tmp_path: Path) -> None:
    """Its runs are anonymous files (no name in the folder, gone with the process) and
    sealed: the bytes a process could read through them hold no record in clear."""
    marker = "记录-3202-note".encode()
    with ExternalSorter(run=5, fan_in=3, directory=tmp_path) as sorter:
        for i in range(40):  # 8 runs, merged in levels as they spill
            sorter.add((f"case-{i % 7}", i), marker + str(i).encode())
        assert list(tmp_path.iterdir()) == []
        runs = _open_files_in(tmp_path)
        assert runs, "the runs are open files in the folder given"
        held = b"".join(Path(f"/proc/self/fd/{fd}").read_bytes() for fd in runs)
        assert held and marker not in held and b"case-" not in held
        assert [v for _, v in sorter] == [
            marker + str(i).encode() for i in sorted(range(40), key=lambda i: (i % 7, i))]


def _open_files_in(folder: Path) -> list[int]:
    """This process's descriptors of files in `folder` (named or not)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor, closed meanwhile
            continue
        if target.startswith(str(folder)):
            found.append(int(fd))
    return found
