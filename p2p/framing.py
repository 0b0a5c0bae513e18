"""Length-prefixed frames on a libp2p stream, with the timeouts py-libp2p does not give us.

py-libp2p 0.8.1 facts this module exists for: a frozen sender hangs `stream.read()` forever
(so every read here has an idle timeout), and a killed sender looks like a clean EOF (so every
message carries its length and a short read is an error, never a shorter message).

Frame = uvarint(len(payload)) || payload, the unsigned LEB128 varint libp2p uses everywhere
(multistream-select, pubsub RPCs). A reader states the largest frame it accepts; the length is
checked before a single payload byte is read.
"""

from __future__ import annotations

import math

import trio

from .errors import ProtocolViolation, RequestTimeout

MAX_VARINT_BYTES = 9  # 63 bits: far beyond any frame we accept, and rejects endless 0x80 runs
READ_CHUNK = 256 * 1024


class FrameTooLarge(ProtocolViolation):
    def __init__(self, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit}")


class PeerClosed(ProtocolViolation):
    """EOF (or reset) where more bytes were due."""


def encode_uvarint(n: int) -> bytes:
    if n < 0:
        raise ValueError("uvarint must be >= 0")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class FramedStream:
    """A read buffer over a libp2p stream, with per-read idle timeouts and an optional deadline.

    `idle_timeout` bounds each wait for bytes (a peer that goes silent); `deadline` (a
    `trio.current_time()` value) bounds the whole exchange (a peer that trickles one byte at a
    time). Both raise RequestTimeout.
    """

    def __init__(self, stream, idle_timeout: float, deadline: float = math.inf):
        self.stream = stream
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        self._buf = bytearray()

    async def _fill(self, want: int = READ_CHUNK) -> None:
        self._buf += await self._recv(want)

    async def _recv(self, want: int) -> bytes:
        timeout = min(self.idle_timeout, max(0.0, self.deadline - trio.current_time()))
        with trio.move_on_after(timeout) as scope:
            try:
                data = await self.stream.read(want)
            except Exception as exc:  # StreamEOF, StreamReset, StreamError: all mean "no more bytes"
                raise PeerClosed(f"stream ended: {type(exc).__name__}") from exc
        if scope.cancelled_caught:
            raise RequestTimeout(f"peer sent nothing for {timeout:.1f} s")
        if not data:
            raise PeerClosed("stream ended (EOF)")
        return data

    async def read_some(self, max_bytes: int) -> bytes:
        """At least one byte, at most `max_bytes` (buffered bytes first)."""
        if not self._buf:
            data = await self._recv(max(max_bytes, 1))
            if len(data) <= max_bytes:
                return data  # the common case of a bulk read: no copy through the buffer
            self._buf += data
        out = bytes(self._buf[:max_bytes])
        del self._buf[:max_bytes]
        return out

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            await self._fill(max(n - len(self._buf), 1))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def read_uvarint(self) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            if not self._buf:
                await self._fill()
            byte = self._buf[0]
            del self._buf[:1]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise ProtocolViolation("varint longer than 9 bytes")

    async def read_frame(self, max_size: int) -> bytes:
        size = await self.read_uvarint()
        if size > max_size:
            raise FrameTooLarge(size, max_size)
        return await self.read_exactly(size)

    def buffered(self) -> int:
        return len(self._buf)

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        """Write with a bound: a peer that stops reading must not hold us forever."""
        limit = self.idle_timeout if timeout is None else timeout
        try:
            with trio.fail_after(limit):
                await self.stream.write(data)
        except trio.TooSlowError:
            raise RequestTimeout(f"peer did not take our bytes for {limit:.1f} s") from None
        except Exception as exc:  # StreamReset, StreamClosed, yamux window timeout (MuxedStreamError)
            raise PeerClosed(f"cannot write: {type(exc).__name__}: {exc}") from exc
