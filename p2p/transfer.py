"""Blob transfer: fetch a blob (a learnware zip, to the dock) by id from one peer, resumably.

Two protocols (docs/PROTOCOL.md section 5), served side by side by one BlobServer:

FETCH_PROTOCOL_ID (/lwdock/fetch/2.0.0), pieces verified as they arrive (p2p/pieces.py):

    request  = frame( u64be offset || u32be piece size || blob id )     offset: a multiple of the piece size, or total
    response = frame( 0x00 || u64be total || sha256(32) || u32be piece size || layer (32 * n) )
               || raw bytes [offset, total)   then FIN
             | frame( 0x02 || code || UTF-8 message )                   (error)

The receiver knows the piece size and root from a signed record: it checks sha256(layer) == root
before reading the body, then every piece as it arrives. A bad piece stops the transfer at that
piece (BadPiece); the partial file only ever holds verified pieces, so a resume, from any
provider, starts on verified bytes.

LEGACY_FETCH_PROTOCOL_ID (/lwdock/fetch/1.0.0), the whole file verified at the end:

    request  = frame( u64be offset || blob id )          blob id: 1..128 ASCII [0-9a-f]
    response = frame( 0x00 || u64be total || sha256(32) ) || raw bytes [offset, total)   then FIN

The receiver hashes what it holds plus what arrives and checks the digest at the end; a mismatch
deletes the partial (the bad bytes cannot be located) and raises HashMismatch. Unverified bytes
are only as good as their provider, so a caller should not resume them from another one.

In both the body is raw (no per-chunk framing) because its length is known: a sender killed
mid-way shows up as an EOF before `total` (TruncatedTransfer), a frozen one as an idle timeout
(RequestTimeout).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from .errors import ErrorCode, HashMismatch, PeerError, ProtocolViolation, RemoteError, TransferError, TruncatedTransfer
from .framing import FramedStream, PeerClosed, encode_frame
from .pieces import (
    HASH,
    BadAnnouncement,
    BadLayer,
    Pieces,
    PieceSink,
    close_partial,
    hash_file,
    is_valid_piece_size,
    layer_root,
    piece_count,
    verified_prefix,
)
from .reqresp import TAG_ERROR, PeerShares, close_quietly, error_frame, parse_error, reset_quietly
from .transfer_sources import open_source

logger = logging.getLogger(__name__)

FETCH_PROTOCOL_ID = "/lwdock/fetch/2.0.0"
LEGACY_FETCH_PROTOCOL_ID = "/lwdock/fetch/1.0.0"
TAG_OK = 0x00
RECV_CHUNK = 1024 * 1024  # most bytes taken from the stream (and written to the file) at once
PROGRESS_EVERY = 1024 * 1024  # bytes between two progress callbacks
FETCH_WINDOW = 16 * 1024 * 1024  # yamux receive window granted at once for a fetch (its maximum)
_ID_RE = re.compile(rb"[0-9a-f]{1,128}")
_HEADER = struct.Struct(">BQ32s")
_PIECE_HEADER = _HEADER.size + 4  # then the layer


@dataclass(frozen=True, slots=True)
class FetchResult:
    blob_id: str
    size: int
    sha256: bytes  # as announced; checked against the received bytes by the legacy protocol only
    resumed_from: int  # bytes that were already in the partial file (verified pieces with `pieces`)


def encode_request(blob_id: str, offset: int, piece_size: int = 0) -> bytes:
    raw = blob_id.encode("ascii")
    if not _ID_RE.fullmatch(raw) or offset < 0:
        raise ValueError(f"blob id must be 1..128 lowercase hex characters, got {blob_id!r}")
    if piece_size:
        return struct.pack(">QI", offset, piece_size) + raw
    return struct.pack(">Q", offset) + raw


def decode_request(payload: bytes) -> tuple[str, int]:
    if len(payload) < 9 or not _ID_RE.fullmatch(payload[8:]):
        raise ProtocolViolation("malformed fetch request")
    return payload[8:].decode("ascii"), struct.unpack(">Q", payload[:8])[0]


def decode_piece_request(payload: bytes) -> tuple[str, int, int]:
    if len(payload) < 13 or not _ID_RE.fullmatch(payload[12:]):
        raise ProtocolViolation("malformed fetch request")
    offset, piece_size = struct.unpack(">QI", payload[:12])
    if not is_valid_piece_size(piece_size):
        raise ProtocolViolation(f"piece size {piece_size} is not a power of two in 16 KiB..16 MiB")
    return payload[12:].decode("ascii"), offset, piece_size


class BlobServer:
    """Serves blobs on both fetch protocols (handlers()), with one pool of slots and per-peer
    shares for the two. `open_blob(blob_id)` runs in a worker thread and returns a binary file,
    a (file, sha256) pair when the caller knows the digest, or None. The piece layer of a blob
    (FETCH_PROTOCOL_ID) is computed on first request, in the same pass as its digest, and cached."""

    def __init__(self, open_blob: Callable, max_concurrent: int = 4, idle_timeout: float = 30.0,
                 max_per_peer: int = 0):
        self.open_blob = open_blob
        self.max_concurrent = max_concurrent
        self.idle_timeout = idle_timeout
        self.max_per_peer = max_per_peer  # 0: half of max_concurrent (see PeerShares)
        self._layers = _LayerCache()
        self._slots: Any = None  # a trio.Semaphore, made on the node thread at the first install

    def handlers(self, protocol_id: str | None = None) -> list[tuple[str, _ProtocolHandler]]:
        """(protocol id, handler) pairs for P2PNode.set_handler: the piece-verified protocol and
        the whole-file one (older lwdock nodes and interop/js/client.mjs speak it)."""
        return [(protocol_id or FETCH_PROTOCOL_ID, _ProtocolHandler(self, True)),
                (LEGACY_FETCH_PROTOCOL_ID, _ProtocolHandler(self, False))]

    def _bind_shared(self) -> None:
        if self._slots is None:  # on the node thread, at the first install
            self._slots = trio.Semaphore(self.max_concurrent)
            self._shares = PeerShares(self.max_concurrent, self.max_per_peer)
            self._threads = trio.CapacityLimiter(self.max_concurrent)

    async def handle(self, stream, stats: dict, pieces: bool) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            if not self._shares.take(peer):
                stats["busy"] += 1
                io = FramedStream(stream, self.idle_timeout)
                await io.write(error_frame(ErrorCode.BUSY, f"too many transfers to you at once (at most "
                                                           f"{self._shares.limit}); ask again when one ends"))
                return await close_quietly(stream)
            try:
                await self._serve(stream, stats, pieces)
            finally:
                self._shares.give_back(peer)
        except Exception as exc:  # a bad or vanished peer costs a stream, never the node
            stats["errors"] += 1
            logger.debug("blob serve failed: %s: %s", type(exc).__name__, exc)
            await reset_quietly(stream)

    async def _serve(self, stream, stats: dict, pieces: bool) -> None:
        io = FramedStream(stream, self.idle_timeout, deadline=trio.current_time() + 30)
        acquired = False
        with trio.move_on_after(2):
            await self._slots.acquire()
            acquired = True
        if not acquired:
            stats["busy"] += 1
            await io.write(error_frame(ErrorCode.BUSY, "too many concurrent transfers"))
            return await close_quietly(stream)
        try:
            try:
                if pieces:
                    blob_id, offset, piece_size = decode_piece_request(await io.read_frame(12 + 128))
                else:
                    (blob_id, offset), piece_size = decode_request(await io.read_frame(8 + 128)), 0
            except ProtocolViolation as exc:
                await io.write(error_frame(ErrorCode.BAD_REQUEST, str(exc)))
                return await reset_quietly(stream)
            stats["requests"] += 1
            await self._send(io, blob_id, offset, piece_size)
        finally:
            self._slots.release()

    async def _send(self, io: FramedStream, blob_id: str, offset: int, piece_size: int) -> None:
        opened = await trio.to_thread.run_sync(self.open_blob, blob_id, limiter=self._threads)
        if opened is None:
            await io.write(error_frame(ErrorCode.NOT_FOUND, f"no blob {blob_id}"))
            return await close_quietly(io.stream)
        f, sha = opened if isinstance(opened, tuple) else (opened, None)
        source = None
        try:
            size = await trio.to_thread.run_sync(f.seek, 0, os.SEEK_END, limiter=self._threads)
            if offset > size:
                await io.write(error_frame(ErrorCode.BAD_OFFSET, f"offset {offset} is beyond the end ({size})"))
                return await close_quietly(io.stream)
            if piece_size:
                if offset % piece_size and offset != size:
                    await io.write(error_frame(ErrorCode.BAD_REQUEST, f"offset {offset} is not on a piece boundary"))
                    return await close_quietly(io.stream)
                layer = self._layers.get(blob_id, size, piece_size)
                if layer is None:
                    total, sha, layer = await trio.to_thread.run_sync(hash_file, f, piece_size, limiter=self._threads)
                    if total != size:
                        raise TransferError(f"blob {blob_id} changed while being hashed")
                    self._layers.put(blob_id, size, piece_size, (sha, layer))
                else:
                    sha, layer = layer
                header = _HEADER.pack(TAG_OK, size, sha) + struct.pack(">I", piece_size) + layer
            else:
                if sha is None:  # one pass; 1 MiB "pieces" whose layer is thrown away
                    _, sha, _ = await trio.to_thread.run_sync(hash_file, f, 1 << 20, limiter=self._threads)
                header = _HEADER.pack(TAG_OK, size, sha)
            await io.write(encode_frame(header))
            source, f = open_source(f, offset, size), None  # the source closes the file
            sent = offset
            while (chunk := await source.next()) is not None:
                await io.write(chunk)
                sent += len(chunk)
            if sent != size:
                raise TransferError(f"blob {blob_id} shrank while being served")
            await close_quietly(io.stream)
        finally:
            if source is not None:
                source.close()
            if f is not None:
                await trio.to_thread.run_sync(f.close)


class _ProtocolHandler:
    """One protocol id of a BlobServer, as P2PNode.set_handler takes a raw stream handler."""

    is_stream_handler = True

    def __init__(self, server: BlobServer, pieces: bool):
        self.server, self.pieces = server, pieces

    def bind(self, stats: dict):
        self.server._bind_shared()
        return lambda stream: self.server.handle(stream, stats, self.pieces)


class _LayerCache:
    """Piece layers of recently served blobs (a blob's id names its bytes, so a layer stays right
    while the size matches); bounded in entries and bytes so a peer asking for every piece size
    of every blob costs hashing time, never memory."""

    def __init__(self, max_entries: int = 64, max_bytes: int = 8 << 20):
        self._items: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
        self.max_entries, self.max_bytes, self._bytes = max_entries, max_bytes, 0

    def get(self, blob_id: str, size: int, piece_size: int):
        key = (blob_id, size, piece_size)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, blob_id: str, size: int, piece_size: int, value: tuple[bytes, bytes]) -> None:
        key = (blob_id, size, piece_size)
        if len(value[1]) > self.max_bytes or key in self._items:
            return
        self._items[key] = value
        self._bytes += len(value[1])
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, old) = self._items.popitem(last=False)
            self._bytes -= len(old)


def _hash_prefix(path: Path, length: int):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        left = length
        while left and (chunk := f.read(min(left, 1024 * 1024))):
            digest.update(chunk)
            left -= len(chunk)
    return digest


class _FileSink:
    """Writes and hashes received bytes on the node thread, as they arrive.

    A writer thread fed through a queue (the previous design) bought nothing on this 2-core
    machine: the two threads traded the GIL around every write() and update(), and an A/B run in
    one process (100 MB fetches, alternating) gave the same wall and CPU time either way (0.51 vs
    0.53 s, 0.31 vs 0.30 CPU s); handing over 1 MiB batches instead, also the same wall time
    (median 0.59 vs 0.58 s) for 10% more CPU. Inline is one thread and one queue fewer. A write is a memcpy
    into the page cache plus ~0.6 ms of SHA-256 per MiB: the longest the event loop waits. Only
    the final flush + fsync, which waits for the disk, runs in a worker thread (close()).
    """

    def __init__(self, path: Path, digest):
        self.digest = digest
        self._f = open(path, "ab")

    def write(self, data) -> None:
        try:
            self._f.write(data)
        except OSError as exc:  # disk full, I/O error
            raise TransferError(f"cannot write the partial file: {exc}") from exc
        self.digest.update(data)

    def close(self, complete: bool) -> None:
        """Blocking (run it in a worker thread): flush, then fsync if the blob is complete."""
        close_partial(self._f, complete)


async def fetch_blob(
    node,
    peer_id: str,
    blob_id: str,
    partial_path,
    *,
    pieces: Pieces | None = None,
    expected_sha256: bytes | None = None,
    expected_size: int | None = None,
    max_size: int = 4 * 1024**3,
    progress: Callable[[int, int], None] | None = None,
    idle_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    protocol_id: str | None = None,
) -> FetchResult:
    """Fetch into `partial_path`, resuming from its current length. Runs on the node thread.

    With `pieces` (size and root, from a signed record) the piece protocol is used: the layer is
    checked against the root before the body (BadLayer), each piece as it arrives (BadPiece, at
    that piece), and the partial file only ever holds verified pieces (a resume re-checks them
    and starts on a piece boundary). The whole-file digest is then the caller's to check if it
    needs one (the dock's blob store does). Without `pieces`, the legacy protocol: the digest of
    the whole is checked at the end (HashMismatch deletes the partial).

    `progress(received, total)` is called on the node thread after each batch; raising from it
    aborts the transfer (the partial is kept). Errors: RemoteError (NOT_FOUND, BUSY, ...),
    TruncatedTransfer, RequestTimeout (partial kept), BadLayer, BadPiece (verified pieces kept),
    HashMismatch (partial deleted), TransferError.
    """
    encode_request(blob_id, 0)  # validates the id before any I/O
    path = Path(partial_path)
    limits = dict(expected_sha256=expected_sha256, expected_size=expected_size, max_size=max_size)
    if pieces is None:
        return await _fetch_whole(node, peer_id, blob_id, path, limits, progress, idle_timeout, connect_timeout,
                                  protocol_id or LEGACY_FETCH_PROTOCOL_ID)
    for attempt in range(2):
        try:
            return await _fetch_pieces(node, peer_id, blob_id, path, pieces, limits, progress, idle_timeout,
                                       connect_timeout, protocol_id or FETCH_PROTOCOL_ID)
        except _CorruptPartial:  # truncated to its verified pieces: ask again from there, once
            if attempt:
                raise
    raise AssertionError("unreachable")


class _CorruptPartial(TransferError):
    """The partial file held a piece that does not match the layer (disk trouble, or a file from
    elsewhere): it was cut back to its verified pieces."""


async def _open_fetch(node, peer_id: str, protocol_id: str, connect_timeout: float):
    try:
        with trio.fail_after(connect_timeout):
            stream = await node._open_stream(peer_id, protocol_id)
    except trio.TooSlowError:
        raise PeerError(f"opening a fetch stream to {peer_id} took over {connect_timeout:.0f} s") from None
    open_window = getattr(getattr(stream, "muxed_stream", None), "open_window", None)
    if open_window is not None and FETCH_WINDOW:
        try:
            await open_window(FETCH_WINDOW)  # a download: no window ramp-up (libp2p_speed)
        except BaseException:
            await reset_quietly(stream)
            raise
    return stream


async def _read_header(io: FramedStream, path: Path, limit: int, trust_bad_offset: bool) -> bytes:
    header = await io.read_frame(limit)
    if header[:1] == bytes([TAG_ERROR]):
        error = parse_error(header)
        if error.code == ErrorCode.BAD_OFFSET and trust_bad_offset:
            path.unlink(missing_ok=True)  # longer than the blob: cannot be a prefix of it
        raise error
    return header


def _check_announced(total: int, sha: bytes, limits: dict) -> None:
    if limits["expected_sha256"] is not None and sha != limits["expected_sha256"]:
        raise BadAnnouncement(f"peer announces sha256 {sha.hex()[:16]}..., not the expected one", "sha256")
    if limits["expected_size"] is not None and total != limits["expected_size"]:
        raise BadAnnouncement(f"peer announces {total} bytes, expected {limits['expected_size']}", "size")
    if total > limits["max_size"]:
        raise TransferError(f"peer announces {total} bytes, over max_size={limits['max_size']}")


async def _fetch_pieces(node, peer_id, blob_id, path: Path, pieces: Pieces, limits: dict, progress,
                        idle_timeout, connect_timeout, protocol_id) -> FetchResult:
    size, expected_size = pieces.size, limits["expected_size"]
    bound = expected_size if expected_size is not None else limits["max_size"]
    held = path.stat().st_size if path.exists() else 0
    if expected_size is not None and held >= expected_size:
        held_pieces = piece_count(expected_size, size) if held == expected_size else 0
    else:
        held_pieces = held // size
    offset = held_pieces * size if expected_size is None else min(held_pieces * size, expected_size)
    request = encode_request(blob_id, offset, size)
    stream = await _open_fetch(node, peer_id, protocol_id, connect_timeout)
    clean = False
    try:
        io = FramedStream(stream, idle_timeout)
        await io.write(encode_frame(request))
        # The layer's length is bounded before a byte of it is read. Verified pieces within the
        # expected size are never dropped because a provider claims they are beyond the end.
        header = await _read_header(io, path, _PIECE_HEADER + HASH * (piece_count(bound, size) + 1),
                                    trust_bad_offset=expected_size is None)
        if len(header) < _PIECE_HEADER or header[0] != TAG_OK:
            raise ProtocolViolation("malformed fetch response header")
        _, total, sha = _HEADER.unpack(header[:_HEADER.size])
        (announced_size,) = struct.unpack(">I", header[_HEADER.size:_PIECE_HEADER])
        _check_announced(total, sha, limits)
        if announced_size != size:
            raise ProtocolViolation(f"peer answers with {announced_size}-byte pieces, asked for {size}")
        layer = header[_PIECE_HEADER:]
        if len(layer) != HASH * piece_count(total, size) or layer_root(layer) != pieces.root:
            raise BadLayer(f"peer's piece hashes for {blob_id[:16]}... do not match the expected root; "
                           "refused before the body")
        if offset > total:
            raise ProtocolViolation("peer accepted an offset beyond the end")
        if held_pieces:
            good = await trio.to_thread.run_sync(verified_prefix, path, layer, size, held_pieces)
            if good < held_pieces:
                await trio.to_thread.run_sync(os.truncate, path, good * size)
                raise _CorruptPartial(f"the partial file of {blob_id[:16]}... had a bad piece {good}; cut back")
        sink = await trio.to_thread.run_sync(PieceSink, path, layer, size, total, held_pieces)
        await _receive(io, sink, offset, total, progress)
        clean = True
    except PeerClosed as exc:
        raise TruncatedTransfer(f"peer closed the transfer of {blob_id}: {exc}") from exc
    except RemoteError:
        clean = True
        raise
    finally:
        await (close_quietly(stream) if clean else reset_quietly(stream))
    return FetchResult(blob_id, total, sha, offset)


async def _fetch_whole(node, peer_id, blob_id, path: Path, limits: dict, progress, idle_timeout, connect_timeout,
                       protocol_id) -> FetchResult:
    offset = path.stat().st_size if path.exists() else 0
    if limits["expected_size"] is not None and offset > limits["expected_size"]:
        path.unlink()
        offset = 0
    digest = await trio.to_thread.run_sync(_hash_prefix, path, offset) if offset else hashlib.sha256()
    request = encode_request(blob_id, offset)
    stream = await _open_fetch(node, peer_id, protocol_id, connect_timeout)
    clean = False
    try:
        io = FramedStream(stream, idle_timeout)
        await io.write(encode_frame(request))
        header = await _read_header(io, path, 2 + 1024, trust_bad_offset=True)
        if len(header) != _HEADER.size or header[0] != TAG_OK:
            raise ProtocolViolation("malformed fetch response header")
        _, total, sha = _HEADER.unpack(header)
        _check_announced(total, sha, limits)
        sink = await trio.to_thread.run_sync(_FileSink, path, digest)
        received = await _receive(io, sink, offset, total, progress)
        clean = True
    except PeerClosed as exc:
        raise TruncatedTransfer(f"peer closed the transfer of {blob_id}: {exc}") from exc
    except RemoteError:
        clean = True
        raise
    finally:
        await (close_quietly(stream) if clean else reset_quietly(stream))
    expected = limits["expected_sha256"]
    if digest.digest() != sha or (expected is not None and digest.digest() != expected):
        path.unlink(missing_ok=True)
        raise HashMismatch(f"blob {blob_id}: received bytes hash to {digest.hexdigest()[:16]}...; partial deleted")
    return FetchResult(blob_id, received, sha, offset)


async def _receive(io: FramedStream, sink, offset: int, total: int, progress) -> int:
    received = offset
    reported = offset
    try:
        while received < total:
            try:
                chunk = await io.read_some(min(RECV_CHUNK, total - received))
            except PeerClosed as exc:
                raise TruncatedTransfer(f"sender stopped at {received} of {total} bytes (EOF before the end)") from exc
            sink.write(chunk)
            received += len(chunk)
            if progress is not None and (received - reported >= PROGRESS_EVERY or received == total):
                reported = received
                progress(received, total)
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(sink.close, False)
        raise
    await trio.to_thread.run_sync(sink.close, True)
    return received
