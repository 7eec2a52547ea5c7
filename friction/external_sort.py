"""Sort more records than fit in memory: sorted runs spilled to temporary files, then
merged. Memory holds one run being filled, then one buffered record per run while
merging: flat in the number of records. The OCEL export uses it to put a city's events
in time order without holding them.

Records are (key, value): a key of strings and ints (compared as tuples are), a value
of bytes. The runs hold what the notebook holds (clerks' notes among it), so they are
never readable on disk: each is an anonymous file (unlinked from the start, gone with
the process however it ends) of length-prefixed msgpack in blocks sealed with AES-GCM
under a key that lives only in this sorter's memory.
"""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Self

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["ExternalSorter", "Key"]

Key = tuple[str | int, ...]
Record = tuple[Key, int, bytes]
RUN = 20_000  # records per in-memory run: a city's OCEL export holds ~100 MB at most
FAN_IN = 128  # runs merged at once: open files stay well under the usual limit of 1024
_LEN = struct.Struct("<I")
_BLOCK = 1 << 16  # plain bytes per sealed block; also one run's read-ahead while merging
_NONCE = 12


class _Run:
    """One spilled run: records written once, then read once, in sealed blocks."""

    def __init__(self, seal: AESGCM, directory: str | Path | None) -> None:
        self._seal = seal
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="onething-sort-", dir=directory)
        self._pending = bytearray()
        self._blocks = 0

    def write(self, records: Iterator[Record] | list[Record]) -> None:
        encode = msgspec.msgpack.Encoder().encode
        for record in records:
            blob = encode(record)
            self._pending += _LEN.pack(len(blob))
            self._pending += blob
            if len(self._pending) >= _BLOCK:
                self._flush()
        self._flush()
        self._file.seek(0)

    def _flush(self) -> None:
        if not self._pending:
            return
        # The block's number is its associated data: blocks cannot be reordered unseen.
        nonce = os.urandom(_NONCE)
        sealed = self._seal.encrypt(nonce, bytes(self._pending), _LEN.pack(self._blocks))
        self._file.write(_LEN.pack(len(sealed)) + nonce + sealed)
        self._blocks += 1
        self._pending = bytearray()

    def read(self) -> Iterator[Record]:
        decode = msgspec.msgpack.Decoder(Record).decode
        for n in range(self._blocks):
            (size,) = _LEN.unpack(self._file.read(_LEN.size))
            nonce = self._file.read(_NONCE)
            block = self._seal.decrypt(nonce, self._file.read(size), _LEN.pack(n))
            at = 0
            while at < len(block):
                (length,) = _LEN.unpack_from(block, at)
                at += _LEN.size
                yield decode(block[at : at + length])
                at += length

    def close(self) -> None:
        self._file.close()


class ExternalSorter:
    """Add records in any order, then read them back once in key order (equal keys in
    the order added)."""

    def __init__(
        self, run: int = RUN, directory: str | Path | None = None, fan_in: int = FAN_IN
    ) -> None:
        self._run, self._fan_in, self._directory = run, max(2, fan_in), directory
        self._seal = AESGCM(AESGCM.generate_key(bit_length=128))
        self._buffer: list[Record] = []
        self._runs: list[_Run] = []
        self._seq = 0  # ties keep insertion order across runs too
        self.count = 0

    def add(self, key: Key, value: bytes) -> None:
        self._buffer.append((key, self._seq, value))
        self._seq += 1
        self.count += 1
        if len(self._buffer) >= self._run:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=lambda r: (r[0], r[1]))
        run = _Run(self._seal, self._directory)
        run.write(self._buffer)
        self._runs.append(run)
        self._buffer = []
        if len(self._runs) > self._fan_in:
            self._merge_oldest()

    def _merged(self, runs: list[_Run]) -> Iterator[Record]:
        try:
            yield from heapq.merge(*(r.read() for r in runs), key=lambda r: (r[0], r[1]))
        finally:
            for r in runs:
                r.close()

    def _merge_oldest(self) -> None:
        """The oldest fan_in runs merged into one, as soon as there are more (so at most
        fan_in + 1 files are open; each record is rewritten once per level:
        log(runs) / log(fan_in) levels). Merged runs go last: later merges take them in turn."""
        group, self._runs = self._runs[: self._fan_in], self._runs[self._fan_in :]
        merged = _Run(self._seal, self._directory)
        merged.write(self._merged(group))
        self._runs.append(merged)

    def __iter__(self) -> Iterator[tuple[Key, bytes]]:
        """Every record in key order. Iterate once; records added since are not seen."""
        if not self._runs:  # it all fitted: no file needed
            self._buffer.sort(key=lambda r: (r[0], r[1]))
            for key, _, value in self._buffer:
                yield key, value
            return
        if self._buffer:
            self._spill()
        runs, self._runs = self._runs, []
        for key, _, value in self._merged(runs):
            yield key, value

    def close(self) -> None:
        self._buffer = []
        for run in self._runs:
            run.close()
        self._runs = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
