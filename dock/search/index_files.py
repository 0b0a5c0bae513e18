"""Storage for the search index: growable columns in RAM or in files of the dock's home.

Why files and not a DuckDB table (measured on this project, dock/store/catalogue.py notes):
DuckDB fetched BLOB rows by key at one point lookup per row (14-24 s per 1,000 specs), and
loading a million sketches through a result set would cost seconds of Python objects on every
start. A flat file of fixed-size rows opens in microseconds (np.memmap), pages in only what a
query touches, and a candidate's points are one `os.pread` at a computed offset.

Two kinds of column:
* `Column`: a fixed-width array (slot metadata, sketches, ids). In RAM it is a numpy array;
  in a directory it is a np.memmap over `<name>.bin`. Both grow by doubling (the file by
  ftruncate; unwritten pages cost neither disk nor RAM on Linux).
* `PointFile`: the reduced points, (d + 1) float32 per point (z then beta). Read with pread,
  not mapped: pages of a mapped file that a query touched stay in the process's RSS, and over
  many queries that would grow to the whole file; pread leaves them in the kernel's page
  cache, shared and reclaimable.

Nothing here knows what the rows mean; dock/search/stat_group.py and engine.py decide.
Durability: data is written before the index's meta.json (atomic rename) advances the counts,
so a crash leaves extra rows past the recorded counts, which are ignored and overwritten.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

_MIN_CAPACITY = 64


class Column:
    """A growable (capacity, *shape) array of one dtype, in RAM or memory-mapped from a file."""

    def __init__(self, path: Path | None, dtype, shape: tuple[int, ...] = (), fill=0):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.fill = fill
        row_bytes = self.dtype.itemsize * int(np.prod(self.shape, dtype=np.int64))
        self._row_bytes = row_bytes
        if path is not None and path.exists() and path.stat().st_size >= row_bytes:
            self.a = self._map(path.stat().st_size // row_bytes)
        else:
            self.a = self._new(_MIN_CAPACITY)

    def _new(self, capacity: int) -> np.ndarray:
        if self.path is None:
            return np.full((capacity, *self.shape), self.fill, self.dtype)
        with open(self.path, "ab") as f:
            f.truncate(capacity * self._row_bytes)
        a = self._map(capacity)
        if self.fill != 0:
            a[:] = self.fill
        return a

    def _map(self, capacity: int) -> np.ndarray:
        return np.memmap(_file(self.path), self.dtype, "r+", shape=(capacity, *self.shape))

    @property
    def capacity(self) -> int:
        return self.a.shape[0]

    def reserve(self, need: int) -> None:
        if need <= self.capacity:
            return
        cap = max(need, 2 * self.capacity)
        if self.path is None:
            b = np.full((cap, *self.shape), self.fill, self.dtype)
            b[: self.capacity] = self.a
            self.a = b
            return
        old = self.capacity
        # No flush first: the old mapping's writes are in the (shared) page cache either way, and
        # the index's save() flushes every column before meta.json counts the new rows.
        with open(_file(self.path), "r+b") as f:
            f.truncate(cap * self._row_bytes)
        self.a = self._map(cap)
        if self.fill != 0:
            self.a[old:] = self.fill

    def flush(self) -> None:
        if not isinstance(self.a, np.memmap):
            return
        if sys.platform != "linux":
            self.a.flush()
            return
        # Linux's fsync writes the pages dirtied through the mapping too, and os.fsync releases the
        # GIL, which mmap.flush (msync) keeps while it waits on the disk: during a sync every other
        # thread of the node (verification results, gossip, searches) stopped meanwhile (issue 16).
        fd = os.open(_file(self.path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, values: np.ndarray) -> None:
        """Make the column exactly these rows (compaction): a new file, renamed over the old."""
        values = np.asarray(values, self.dtype)
        if self.path is None:
            self.a = np.full((max(values.shape[0], _MIN_CAPACITY), *self.shape), self.fill, self.dtype)
            self.a[: values.shape[0]] = values
            return
        path = _file(self.path)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fresh = Column(tmp, self.dtype, self.shape, self.fill)
        fresh.reserve(values.shape[0])
        fresh.a[: values.shape[0]] = values
        fresh.flush()
        del fresh
        os.replace(tmp, path)
        self.a = self._map(path.stat().st_size // self._row_bytes)


class PointFile:
    """Reduced points, one (d + 1) float32 row each (z in the group frame, then beta)."""

    def __init__(self, path: Path | None, dim: int):
        self.path = path
        self.dim = dim
        self._row = (dim + 1) * 4
        self._ram = np.zeros((0, dim + 1), np.float32) if path is None else None
        self._fd = None if path is None else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def write(self, first: int, z: np.ndarray, beta: np.ndarray) -> None:
        block = np.empty((z.shape[0], self.dim + 1), np.float32)
        block[:, : self.dim] = z
        block[:, self.dim] = beta
        if self._ram is not None:
            need = first + block.shape[0]
            if need > self._ram.shape[0]:
                grown = np.zeros((max(need, 2 * self._ram.shape[0], _MIN_CAPACITY), self.dim + 1), np.float32)
                grown[: self._ram.shape[0]] = self._ram
                self._ram = grown
            self._ram[first:need] = block
            return
        os.pwrite(_open(self._fd, self.path), block.tobytes(), first * self._row)

    def read(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The rows of these segments, concatenated in the given order: (sum(lengths), d + 1)."""
        total = int(lengths.sum())
        if self._ram is not None:
            from dock.search.kernels import gather_index

            return self._ram[gather_index(starts, lengths)]
        out = np.empty((total, self.dim + 1), np.float32)
        flat = out.reshape(-1).view(np.uint8)
        pos = 0
        # Neighbouring segments (sorted candidates are often adjacent) are read in one call.
        s_list, l_list = starts.tolist(), lengths.tolist()
        i = 0
        while i < len(s_list):
            lo, n = s_list[i], l_list[i]
            while i + 1 < len(s_list) and s_list[i + 1] == lo + n:
                i += 1
                n += l_list[i]
            nbytes = n * self._row
            got = os.preadv(_open(self._fd, self.path), [memoryview(flat[pos : pos + nbytes].data)], lo * self._row)
            if got != nbytes:
                raise OSError(f"search index file {self.path} is short ({got} of {nbytes} bytes at row {lo})")
            pos += nbytes
            i += 1
        return out

    def read_range(self, lo: int, hi: int) -> np.ndarray:
        return self.read(np.array([lo]), np.array([hi - lo]))

    def rewrite(self, starts: np.ndarray, lengths: np.ndarray, chunk_points: int = 1 << 20) -> None:
        """Keep only these segments, packed in order (compaction)."""
        if self._ram is not None:
            self._ram = self.read(starts, lengths)
            return
        path = _file(self.path)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            pos, i = 0, 0
            while i < starts.size:
                j, acc = i, 0
                while j < starts.size and (acc == 0 or acc + lengths[j] <= chunk_points):
                    acc += int(lengths[j])
                    j += 1
                block = self.read(starts[i:j], lengths[i:j])
                os.pwrite(fd, block.tobytes(), pos * self._row)
                pos += block.shape[0]
                i = j
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        os.close(_open(self._fd, path))
        self._fd = os.open(path, os.O_RDWR, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class BytesFile:
    """Variable-length records appended to one file (or a bytearray in RAM), read by (offset, size)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._ram = bytearray() if path is None else None
        self._fd = None if path is None else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def write(self, offset: int, data: bytes) -> None:
        if self._ram is not None:
            del self._ram[offset:]
            self._ram += data
        else:
            os.pwrite(_open(self._fd, self.path), data, offset)

    def read(self, offset: int, size: int) -> bytes:
        if self._ram is not None:
            return bytes(self._ram[offset : offset + size])
        return os.pread(_open(self._fd, self.path), size, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _file(path: Path | None) -> Path:
    """The file behind a column or point file (a RAM-only one has none: a caller's bug)."""
    if path is None:
        raise ValueError("this search index lives in RAM: it has no file")
    return path


def _open(fd: int | None, path: Path | None) -> int:
    if fd is None:
        raise OSError(f"search index file {path} is closed (the dock was closed)")
    return fd


def write_meta(directory: Path, meta: dict) -> None:
    """meta.json, atomically (write, fsync, rename): the counts that make rows valid."""
    tmp = directory / "meta.json.tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / "meta.json")


def read_meta(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "meta.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
