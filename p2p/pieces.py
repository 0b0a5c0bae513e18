"""Pieces: a blob cut into fixed-size pieces, each checked against a root signed elsewhere.

BitTorrent v2's lesson, applied to one provider at a time (docs/PROTOCOL.md section 5):

    piece i      = bytes [i * size, min((i + 1) * size, total))       size: a power of two, 16 KiB..16 MiB
    piece hash i = sha256(piece i)                                     32 bytes
    layer        = piece hash 0 || piece hash 1 || ... || piece hash n-1     n = ceil(total / size)
    root         = sha256(layer)

The root (with `size`) is what a signed record carries. A fetch response sends the whole layer
in its header, so the receiver checks sha256(layer) == root before reading a body byte and then
every piece as it arrives: a lying provider is caught at its first bad piece, and a partial file
only ever holds pieces that matched. A Merkle tree would let a receiver check one piece with a
log(n) proof instead of the whole layer; here every transfer is sequential from one provider and
the layer is at most 32 bytes per 256 KiB (0.012%), so a flat list is enough and is simpler for
another implementation (one SHA-256 over the concatenation).

No trio here: the dock imports this module to compute a record's root at sign time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import HashMismatch, TransferError

MIN_PIECE = 16 * 1024
MAX_PIECE = 16 * 1024 * 1024
DEFAULT_PIECE = 256 * 1024
MAX_LAYER_PIECES = 16384  # the signer doubles the piece size until a blob has at most this many
HASH = 32


class BadPiece(HashMismatch):
    """A received piece does not match its hash in the (root-checked) layer: the provider lied.
    Its bytes were dropped; the partial file still holds only the pieces before it."""

    def __init__(self, index: int, verified_bytes: int):
        super().__init__(f"piece {index} does not match its hash (the provider sent wrong bytes); "
                         f"kept the {verified_bytes} verified bytes before it")
        self.index = index
        self.verified_bytes = verified_bytes


class BadLayer(HashMismatch):
    """The piece layer in a response header does not hash to the expected root (or has the wrong
    length): the provider is lying about the blob. Refused before any body byte is read."""


class BadAnnouncement(TransferError):
    """The response header describes another blob than the one expected: `about` is "sha256" or "size"."""

    def __init__(self, message: str, about: str):
        super().__init__(message)
        self.about = about


@dataclass(frozen=True, slots=True)
class Pieces:
    """What a signed record says about a blob's pieces."""

    size: int  # piece size in bytes
    root: bytes  # sha256 of the layer

    def __post_init__(self) -> None:
        if not is_valid_piece_size(self.size):
            raise ValueError(f"piece size must be a power of two in {MIN_PIECE}..{MAX_PIECE}, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH:
            raise ValueError("a pieces root is 32 bytes")


def is_valid_piece_size(size) -> bool:
    return (isinstance(size, int) and not isinstance(size, bool) and MIN_PIECE <= size <= MAX_PIECE
            and size & (size - 1) == 0)


def piece_count(total: int, size: int) -> int:
    return -(-total // size)


def choose_piece_size(total: int) -> int:
    size = DEFAULT_PIECE
    while piece_count(total, size) > MAX_LAYER_PIECES and size < MAX_PIECE:
        size *= 2
    return size


def layer_root(layer: bytes) -> bytes:
    return hashlib.sha256(layer).digest()


def _read_piece(f, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end (a file-like object may return short reads)."""
    piece = f.read(size)
    while piece and len(piece) < size and (more := f.read(size - len(piece))):
        piece += more
    return piece


def hash_file(f, size: int) -> tuple[int, bytes, bytes]:
    """One pass over an open binary file: (total, sha256 of the whole, layer)."""
    f.seek(0)
    whole, layer, total = hashlib.sha256(), bytearray(), 0
    while piece := _read_piece(f, size):
        whole.update(piece)
        layer += hashlib.sha256(piece).digest()
        total += len(piece)
    return total, whole.digest(), bytes(layer)


def file_pieces(path: str | os.PathLike, size: int | None = None) -> Pieces:
    """The pieces (size, root) of a file, for a record's signer."""
    path = Path(path)
    size = size or choose_piece_size(path.stat().st_size)
    with open(path, "rb") as f:
        _, _, layer = hash_file(f, size)
    return Pieces(size, layer_root(layer))


def verified_prefix(path: Path, layer: bytes, size: int, held_pieces: int) -> int:
    """How many of the first `held_pieces` pieces of the file at `path` match the layer (blocking)."""
    with open(path, "rb") as f:
        for index in range(held_pieces):
            if hashlib.sha256(_read_piece(f, size)).digest() != layer[index * HASH:(index + 1) * HASH]:
                return index
    return held_pieces


class PieceSink:
    """Hashes received bytes piece by piece as they arrive and appends a piece to the partial
    file only once it matched its hash (one SHA-256 pass, no copy: the piece's chunks are held
    as views until it is complete). On the node thread, like transfer._FileSink."""

    def __init__(self, path: Path, layer: bytes, size: int, total: int, first_piece: int):
        self._layer, self._size, self._total = layer, size, total
        self.index = first_piece
        self._f = open(path, "r+b" if path.exists() else "wb")
        try:
            self._f.truncate(self.verified)
            self._f.seek(self.verified)
        except OSError as exc:
            self._f.close()
            raise TransferError(f"cannot write the partial file: {exc}") from exc
        self._hasher = hashlib.sha256()
        self._pending: list[memoryview] = []
        self._filled = 0

    @property
    def verified(self) -> int:
        return min(self.index * self._size, self._total)

    def write(self, chunk) -> None:
        view, pos = memoryview(chunk), 0
        while pos < len(view):
            want = min(self._size, self._total - self.index * self._size) - self._filled
            if want <= 0:
                raise TransferError("more bytes than the blob holds")
            part = view[pos:pos + want]
            self._hasher.update(part)
            self._pending.append(part)
            self._filled += len(part)
            pos += len(part)
            if self._filled == min(self._size, self._total - self.index * self._size):
                self._finish_piece()

    def _finish_piece(self) -> None:
        expected = self._layer[self.index * HASH:(self.index + 1) * HASH]
        if self._hasher.digest() != expected:
            self._pending.clear()
            raise BadPiece(self.index, self.verified)
        try:
            for part in self._pending:
                self._f.write(part)
        except OSError as exc:  # disk full, I/O error: drop what may be half written
            self._pending.clear()
            raise TransferError(f"cannot write the partial file: {exc}") from exc
        self._pending.clear()
        self._hasher = hashlib.sha256()
        self._filled = 0
        self.index += 1

    def close(self, complete: bool) -> None:
        """Blocking (run it in a worker thread): flush (and fsync when complete); an unfinished
        piece is dropped, so the file ends on a verified piece boundary."""
        self._pending.clear()
        close_partial(self._f, complete, truncate_to=self.verified)


def close_partial(f, complete: bool, truncate_to: int | None = None) -> None:
    """Flush a partial download (cut back to `truncate_to` bytes if given), fsync it when the blob
    is complete, and close it: shared by the piece and the whole-file receivers. Blocking."""
    try:
        f.flush()
        if truncate_to is not None:
            f.truncate(truncate_to)
        if complete:
            os.fsync(f.fileno())
    except OSError as exc:
        raise TransferError(f"cannot write the partial file: {exc}") from exc
    finally:
        f.close()
