"""Generic request/response over a libp2p stream: one request frame in, DATA* END (or ERROR) out.

Wire format (docs/PROTOCOL.md, "Request/response"): the client opens a stream with the protocol
id, writes one frame holding the request and half-closes. The server answers with frames whose
first byte is a tag: DATA (0x00) carries a piece of the body, END (0x01) says the body is
complete, ERROR (0x02) carries a one-byte code and a UTF-8 message. A body is the concatenation
of its DATA payloads; a stream that ends before END is a truncated answer, never a short one.

Everything here runs on the node's trio thread; request handlers themselves run in worker
threads (they are the dock's code: DuckDB, search) so a slow handler never stalls the network.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import trio

from .errors import ErrorCode, PeerError, ProtocolViolation, RemoteError, RequestRefused, ResponseTooLarge
from .framing import FramedStream, FrameTooLarge, PeerClosed, encode_frame

logger = logging.getLogger(__name__)

TAG_DATA = 0x00
TAG_END = 0x01
TAG_ERROR = 0x02
MAX_DATA_FRAME = 1024 * 1024  # a DATA payload never exceeds this; bodies are split
MAX_ERROR_MESSAGE = 1024

Handler = Callable[[str, bytes], "bytes | Iterable[bytes]"]


@dataclass(frozen=True, slots=True)
class ProtocolLimits:
    """Per-protocol bounds on the serving side. Every number is a defence against one peer."""

    max_request: int = 64 * 1024  # bytes in the request frame; larger -> TOO_LARGE and a reset
    max_concurrent: int = 8  # requests handled at once for this protocol
    max_per_peer: int = 0  # of those, at most this many from one peer (0: half of max_concurrent, >= 1)
    queue_timeout: float = 2.0  # how long a request may wait for a slot before BUSY
    read_timeout: float = 10.0  # idle timeout per read of the request
    request_deadline: float = 30.0  # the whole request frame must arrive within this
    handler_timeout: float = 60.0  # the handler (and each chunk of a streamed body) must finish within
    write_timeout: float = 30.0  # a client that stops reading the answer for this long is dropped
    rate: float = 0.0  # requests/s per peer (token bucket); 0: the node's GuardConfig.request_rate
    burst: float = 0.0  # bucket size; 0: the node's GuardConfig.request_burst

    def __post_init__(self) -> None:
        if self.rate < 0 or self.burst < 0:
            raise ValueError("rate and burst must be >= 0 (0: the node's default)")
        if self.max_request < 0 or self.max_concurrent < 1 or self.max_per_peer < 0:
            raise ValueError("max_request and max_per_peer must be >= 0 and max_concurrent >= 1")
        for name in ("queue_timeout", "read_timeout", "request_deadline", "handler_timeout", "write_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


def error_frame(code: ErrorCode, message: str) -> bytes:
    text = message.encode("utf-8", "replace")[:MAX_ERROR_MESSAGE]
    return encode_frame(bytes([TAG_ERROR, int(code)]) + text)


def parse_error(payload: bytes) -> RemoteError:
    if len(payload) < 2:
        raise ProtocolViolation("ERROR frame without a code")
    return RemoteError(payload[1], payload[2:].decode("utf-8", "replace"))


async def reset_quietly(stream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        try:
            await stream.reset()
        except Exception:  # the connection may already be gone; nothing left to tell the peer
            pass


async def close_quietly(stream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        try:
            await stream.close()
        except Exception:
            pass


class _HandlerTimeout(Exception):
    pass


class PeerShares:
    """Counts each peer's requests in flight so that one peer cannot hold every slot: past its
    share it is told BUSY at once (it is the one asking too much) while other peers still get in."""

    def __init__(self, max_concurrent: int, max_per_peer: int = 0):
        self.limit = max_per_peer or max(1, max_concurrent // 2)
        self._held: dict[str, int] = {}

    def take(self, peer: str) -> bool:
        held = self._held.get(peer, 0)
        if held >= self.limit:
            return False
        self._held[peer] = held + 1
        return True

    def give_back(self, peer: str) -> None:
        left = self._held.get(peer, 0) - 1
        if left > 0:
            self._held[peer] = left
        else:
            self._held.pop(peer, None)


class RequestServer:
    """Serves one protocol id: bounded slots, bounded reads, handler in a worker thread."""

    def __init__(self, protocol_id: str, handler: Handler, limits: ProtocolLimits, stats: dict,
                 on_malformed: Callable[[str, str, str], None] | None = None):
        self.protocol_id = protocol_id
        self.handler = handler
        self.limits = limits
        self.stats = stats
        self.on_malformed = on_malformed  # (peer, protocol_id, reason): a frame broke the format
        self._slots = trio.Semaphore(limits.max_concurrent)
        self._shares = PeerShares(limits.max_concurrent, limits.max_per_peer)
        # Threads are bounded per protocol too: a handler stuck forever keeps its thread (threads
        # cannot be killed), and this limiter stops such threads from piling up without bound.
        self._threads = trio.CapacityLimiter(limits.max_concurrent)

    async def handle(self, stream) -> None:
        """The libp2p stream handler. Never raises: a bad peer costs a stream, not the node."""
        peer = str(stream.muxed_conn.peer_id)
        try:
            await self._handle(stream, peer)
        except Exception as exc:
            self.stats["errors"] += 1
            logger.debug("%s from %s failed: %s: %s", self.protocol_id, peer, type(exc).__name__, exc)
            # A bad varint or frame is the peer's doing; a stream that ends early or a silence
            # may be a crash or a network fault, so they cost the stream only.
            malformed = isinstance(exc, ProtocolViolation) and not isinstance(exc, PeerClosed)
            if malformed and self.on_malformed is not None:
                self.on_malformed(peer, self.protocol_id, str(exc))
            await reset_quietly(stream)

    async def _handle(self, stream, peer: str) -> None:
        limits = self.limits
        io = FramedStream(stream, limits.read_timeout)
        if not self._shares.take(peer):
            self.stats["busy"] += 1
            message = f"too many concurrent requests from you (at most {self._shares.limit})"
            await io.write(error_frame(ErrorCode.BUSY, message), limits.write_timeout)
            await close_quietly(stream)
            return
        try:
            await self._handle_in_share(stream, io, peer)
        finally:
            self._shares.give_back(peer)

    async def _handle_in_share(self, stream, io: FramedStream, peer: str) -> None:
        limits = self.limits
        acquired = False
        with trio.move_on_after(limits.queue_timeout):
            await self._slots.acquire()
            acquired = True
        if not acquired:
            self.stats["busy"] += 1
            await io.write(error_frame(ErrorCode.BUSY, "too many concurrent requests"), limits.write_timeout)
            await close_quietly(stream)
            return
        try:
            io.deadline = trio.current_time() + limits.request_deadline
            try:
                request = await io.read_frame(limits.max_request)
            except FrameTooLarge as exc:
                self.stats["too_large"] += 1
                # Answer, then reset: resetting stops the client's upload at once instead of
                # letting it block on a full window; it reads the answer from its buffer.
                await io.write(error_frame(ErrorCode.TOO_LARGE, str(exc)), limits.write_timeout)
                await reset_quietly(stream)
                return
            io.deadline = math.inf
            self.stats["requests"] += 1
            await self._respond(io, peer, request)
            await close_quietly(stream)
        finally:
            self._slots.release()

    async def _in_thread(self, fn, *args):
        with trio.move_on_after(self.limits.handler_timeout):
            return await trio.to_thread.run_sync(fn, *args, limiter=self._threads, abandon_on_cancel=True)
        raise _HandlerTimeout

    async def _respond(self, io: FramedStream, peer: str, request: bytes) -> None:
        wt = self.limits.write_timeout
        try:
            result = await self._in_thread(self.handler, peer, request)
            if isinstance(result, (bytes, bytearray, memoryview)):
                for frame in _data_frames(bytes(result)):
                    await io.write(frame, wt)
            else:
                chunks = iter(result)
                while (chunk := await self._in_thread(next, chunks, None)) is not None:
                    for frame in _data_frames(bytes(chunk)):
                        await io.write(frame, wt)
        except RequestRefused as exc:
            await io.write(error_frame(ErrorCode.REFUSED, str(exc)), wt)
            return
        except _HandlerTimeout:
            self.stats["timeouts"] += 1
            logger.warning("%s handler took longer than %.0f s", self.protocol_id, self.limits.handler_timeout)
            await io.write(error_frame(ErrorCode.TIMEOUT, "handler timed out"), wt)
            return
        except PeerError:
            raise  # the client went away or stalled while we wrote: nothing to answer
        except Exception:
            logger.exception("%s handler failed on a request from %s", self.protocol_id, peer)
            await io.write(error_frame(ErrorCode.INTERNAL, "handler failed"), wt)
            return
        await io.write(encode_frame(bytes([TAG_END])), wt)


def _data_frames(body: bytes) -> Iterable[bytes]:
    if not body:
        return
    for start in range(0, len(body), MAX_DATA_FRAME):
        yield encode_frame(bytes([TAG_DATA]) + body[start : start + MAX_DATA_FRAME])


async def read_response(io: FramedStream, max_response: int) -> bytes:
    """Collect DATA frames until END; raise RemoteError on ERROR, ProtocolViolation otherwise."""
    body = bytearray()
    while True:
        frame = await io.read_frame(MAX_DATA_FRAME + 1)
        if not frame:
            raise ProtocolViolation("empty response frame")
        tag = frame[0]
        if tag == TAG_DATA:
            if len(body) + len(frame) - 1 > max_response:
                raise ResponseTooLarge(f"response exceeds max_response={max_response} bytes")
            body += frame[1:]
        elif tag == TAG_END:
            return bytes(body)
        elif tag == TAG_ERROR:
            raise parse_error(frame)
        else:
            raise ProtocolViolation(f"unknown response frame tag {tag:#x}")


async def send_request(stream, data: bytes, idle_timeout: float, max_response: int) -> bytes:
    """Client side on an open stream: write the request and half-close while already reading the
    answer. Reading from the start matters: a server that refuses an oversized request answers
    TOO_LARGE and resets the stream while we are still uploading; once our write fails py-libp2p
    marks the stream reset and refuses further reads, so the answer must already be read by then."""
    io = FramedStream(stream, idle_timeout)

    async def upload() -> None:
        try:
            await io.write(encode_frame(data))
            await stream.close_write()
        except Exception as exc:  # the answer decides what happened; a failed upload alone says little
            logger.debug("request upload ended early: %s", exc)

    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(upload)
        try:
            body = await read_response(io, max_response)
        except Exception as exc:  # raised after the nursery, so callers see it bare, not in a group
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return body
