"""Sort more records than fit in memory: sorted runs spilled to temporary files, then
merged. Memory holds one run being filled, then one buffered record per run while
merging: flat in the number of records. The OCEL export uses it to put a city's events
in time order without holding them.

Records are (key, value): a key of strings and ints (compared as tuples are), a value
of bytes. Runs are length-prefixed msgpack in a private temporary directory that is
removed when the sorter is closed (or garbage collected).
"""

from __future__ import annotations

import heapq
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Self

import msgspec

__all__ = ["ExternalSorter", "Key"]

Key = tuple[str | int, ...]
RUN = 20_000  # records per in-memory run: a city's OCEL export holds ~100 MB at most
FAN_IN = 128  # runs merged at once: open files stay well under the usual limit of 1024
_LEN = struct.Struct("<I")
_BUFFER = 1 << 16  # read buffer per run while merging


class ExternalSorter:
    """Add records in any order, then read them back once in key order (equal keys in
    the order added)."""

    def __init__(
        self, run: int = RUN, directory: str | Path | None = None, fan_in: int = FAN_IN
    ) -> None:
        self._run, self._fan_in = run, max(2, fan_in)
        self._tmp = tempfile.TemporaryDirectory(prefix="onething-sort-", dir=directory)
        self._buffer: list[tuple[Key, int, bytes]] = []
        self._runs: list[Path] = []
        self._seq = 0  # ties keep insertion order across runs too
        self._encode = msgspec.msgpack.Encoder().encode
        self.count = 0

    def add(self, key: Key, value: bytes) -> None:
        self._buffer.append((key, self._seq, value))
        self._seq += 1
        self.count += 1
        if len(self._buffer) >= self._run:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=lambda r: (r[0], r[1]))
        path = Path(self._tmp.name) / f"run-{len(self._runs):06d}"
        with path.open("wb") as out:
            for record in self._buffer:
                blob = self._encode(record)
                out.write(_LEN.pack(len(blob)))
                out.write(blob)
        self._runs.append(path)
        self._buffer = []

    def _merged(self, paths: list[Path]) -> Iterator[tuple[Key, int, bytes]]:
        files = [path.open("rb", buffering=_BUFFER) for path in paths]
        try:
            yield from heapq.merge(*(_read(f) for f in files), key=lambda r: (r[0], r[1]))
        finally:
            for f in files:
                f.close()

    def _cascade(self) -> None:
        """Merge the oldest runs into one until at most fan_in remain (each record is
        rewritten once per level: log(runs) / log(fan_in) levels)."""
        level = 0
        while len(self._runs) > self._fan_in:
            group, self._runs = self._runs[: self._fan_in], self._runs[self._fan_in :]
            path = Path(self._tmp.name) / f"merged-{level:06d}"
            level += 1
            with path.open("wb") as out:
                for record in self._merged(group):
                    blob = self._encode(record)
                    out.write(_LEN.pack(len(blob)))
                    out.write(blob)
            for done in group:
                done.unlink()
            self._runs.append(path)  # merged runs go last: later levels take them in turn

    def __iter__(self) -> Iterator[tuple[Key, bytes]]:
        """Every record in key order. Iterate once; records added since are not seen."""
        if not self._runs:  # it all fitted: no file needed
            self._buffer.sort(key=lambda r: (r[0], r[1]))
            for key, _, value in self._buffer:
                yield key, value
            return
        if self._buffer:
            self._spill()
        self._cascade()
        for key, _, value in self._merged(self._runs):
            yield key, value

    def close(self) -> None:
        self._buffer = []
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(f: IO[bytes]) -> Iterator[tuple[Key, int, bytes]]:
    decode = msgspec.msgpack.Decoder(tuple[tuple[str | int, ...], int, bytes]).decode
    while True:
        head = f.read(_LEN.size)
        if not head:
            return
        (n,) = _LEN.unpack(head)
        yield decode(f.read(n))
