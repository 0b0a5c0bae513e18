"""PERFORMANCE patches to py-libp2p 0.8.1's yamux-over-Noise transport (benchmarks/p2p_transfer.py).

Optional: p2p/libp2p_patches.py installs them only when every target checks out on the installed
libp2p; otherwise py-libp2p's own (slower, correct) paths run, a warning is logged and
P2PNode.stats()["libp2p_patches"]["speed"] says why. Wire format unchanged, Noise still mandatory.

* yamux frames sized to one Noise message (a full 64 KiB frame went out as two messages);
* `FastNoiseTransport` (our Noise transport, passed to new_host: a seam, no global swap) hands
  over its sessions as `_FastSecureSession` over `_BufferedNoiseTransport`: the socket is read
  256 KiB at a time and decrypted in place instead of two awaited reads per message, and
  SecureSession reads without BytesIO copies;
* `FastYamux` delivers plain DATA frames for open streams itself, before py-libp2p's
  handle_incoming sees them (its per-frame debug f-strings, body timer and lock checkpoint cost
  the receiver ~30% of its CPU); every other frame still goes through it. Frames are written 16
  (1 MiB) per socket write;
* `_FastYamuxStream`: WINDOW_UPDATEs at half the window (go-yamux's rule) instead of after every
  read, batched DATA frames, a read takes what is buffered directly, and a fetch stream is
  granted its whole 16 MiB receive window at once (`open_window`) instead of auto-tuning up from
  256 KiB; PY_YAMUX_* environment knobs read once instead of per frame.
"""

from __future__ import annotations

import logging
import struct

import trio
from cryptography.exceptions import InvalidTag
from libp2p.io.exceptions import ConnectionClosedError, IncompleteReadError
from libp2p.io.utils import DEFAULT_RETRY_READ_COUNT, read_exactly
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH, NoiseTransportReadWriter
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.secure_session import SecureSession
from libp2p.stream_muxer.exceptions import MuxedStreamError
from libp2p.stream_muxer.yamux import yamux
from libp2p.stream_muxer.yamux.yamux import YamuxStream
from noise.exceptions import NoiseInvalidMessage

from .libp2p_fixes import CancelSafeYamux, hits

logger = logging.getLogger(__name__)
_YAMUX_HEADER = struct.Struct(yamux.YAMUX_HEADER_FORMAT)
FRAMES_PER_WRITE = 16  # DATA frames (~1 MiB) encrypted and handed to the socket in one write

# py-libp2p reads these PY_YAMUX_* environment variables (os.getenv) on every frame and every read;
# read once (at install): they are debugging knobs, not something that changes while a node runs.
_DATA_READ_TIMEOUT = 30.0
_YAMUX_NO_HYSTERESIS = False
_YAMUX_THRESHOLD_DIV = 2


class FastYamux(CancelSafeYamux):
    async def _read_header(self) -> bytes:
        return await _read_exactly(self.secured_conn, yamux.HEADER_SIZE)

    async def _read_data_body(self, length: int):
        session = self.secured_conn
        if isinstance(session, _FastSecureSession) and session.buffered() >= length:
            return session.take(length)  # decrypted already: nothing to wait for, no timer needed
        with trio.fail_after(_DATA_READ_TIMEOUT):
            return await _read_exactly(session, length)

    async def _next_header(self) -> bytes:
        """The next frame header py-libp2p's handle_incoming has to see (checked as in
        CancelSafeYamux).

        Plain DATA frames (no flags) for an open stream, i.e. the bulk of any transfer, are
        delivered here instead, the way handle_incoming would (append to the stream's buffer,
        shrink its receive window, wake its reader) but without its per-frame costs: ~10
        f-strings formatted for debug logs that are off (each rendering the peer id in base58), a
        timer per body, and a trio checkpoint on streams_lock. That checkpoint mattered most: it
        let the reading task run after every 64 KiB frame; now it runs once per socket read
        (up to NOISE_RECV_SIZE), with everything that arrived. Any other frame, or a DATA frame
        for a stream that is closing, goes back to handle_incoming unchanged.
        """
        while True:
            header = await self._read_header()
            _version, typ, flags, stream_id, length = self._check_header(header)
            if typ != yamux.TYPE_DATA or flags or not 0 < length <= yamux.MAX_WINDOW_SIZE:
                return header
            stream = self.streams.get(stream_id)
            if stream is None or stream.closed or stream.recv_closed or stream.reset_received:
                return header
            body = await self._read_data_body(length)
            if not self.streams_lock.locked():
                # Nothing below awaits, so no other task can run in between: taking the lock
                # would change nothing but cost a trio Lock round trip per frame.
                self._deliver(stream_id, body)
                continue
            async with self.streams_lock:  # a task is mid-way through changing the streams
                self._deliver(stream_id, body)

    def _deliver(self, stream_id: int, body) -> None:
        stream = self.streams.get(stream_id)
        buffer = self.stream_buffers.get(stream_id)
        if stream is None or buffer is None:  # gone while the body arrived: dropped, as handle_incoming does
            return  # (and never an exception here: out of the header read it would end the connection)
        hits["yamux_fast_data_frames"] += 1
        buffer.extend(body)
        stream.recv_window -= len(body)
        if stream.recv_window < 0:
            logger.warning("yamux stream %d: peer exceeded the receive window by %d bytes",
                           stream_id, -stream.recv_window)
            stream.recv_window = 0
        event = self.stream_events.get(stream_id)
        if event is not None:
            event.set()
        if stream.closed:
            self._finalize_stream_locked(stream, fully_closed=True)

    async def _send_frames(self, frames: list[bytes]) -> None:
        write_msgs = getattr(getattr(self.secured_conn, "conn", None), "write_msgs", None)
        if write_msgs is None:  # a session FastNoiseTransport did not make (e.g. plaintext in a test)
            await super()._send_frames(frames)
        else:
            await write_msgs(frames)


class FastNoiseTransport(NoiseTransport):
    """py-libp2p's Noise transport whose sessions, once the handshake is done, read and write
    through `_BufferedNoiseTransport` and `_FastSecureSession`."""

    async def secure_inbound(self, conn):
        return _speed_up(await super().secure_inbound(conn), conn)

    async def secure_outbound(self, conn, peer_id):
        return _speed_up(await super().secure_outbound(conn, peer_id), conn)


def _speed_up(session, raw_conn):
    noise = getattr(session, "conn", None)
    if type(session) is not SecureSession or type(noise) is not NoiseTransportReadWriter:
        return session  # not what 0.8.1's handshake returns: leave it as it is
    hits["noise_sessions_sped_up"] += 1
    return _FastSecureSession(
        local_peer=session.local_peer,
        local_private_key=session.local_private_key,
        remote_peer=session.remote_peer,
        remote_permanent_pubkey=session.remote_permanent_pubkey,
        is_initiator=session.is_initiator,
        conn=_BufferedNoiseTransport(raw_conn, noise.noise_state),
    )


NOISE_RECV_SIZE = 256 * 1024  # bytes asked of the socket per recv() by the Noise transport reader
_BARE_FRAME_MESSAGE = 2 + 12 + 16  # a Noise message carrying a yamux header alone: length, header, MAC


class _BufferedNoiseTransport(NoiseTransportReadWriter):
    """The Noise transport reader/writer, reading the socket in large chunks.

    py-libp2p reads each message with two awaited socket reads of its own (the 2-byte length,
    then the body, itself possibly in pieces): two recv() syscalls, two trio locks and
    checkpoints per 64 KiB. Here one recv() of up to NOISE_RECV_SIZE bytes usually brings several
    whole messages, decoded from the buffer. Only the transport phase is buffered: the handshake
    reader must not read past its last message. A cancelled read leaves the buffer consistent
    (bytes are consumed only once a whole message is there), and the wire format is unchanged.
    """

    def __init__(self, conn, noise_state) -> None:
        super().__init__(conn, noise_state)
        self._raw = conn
        self._rbuf = bytearray()
        self._wbuf = bytearray()

    async def read_msg(self, prefix_encoded: bool = False) -> bytes:
        buf = self._rbuf
        awaited = False
        while True:
            if len(buf) >= 2:
                end = 2 + int.from_bytes(buf[:2], "big")
                if len(buf) >= end:
                    break
                want = end
            else:
                want = 2
            data = await self._raw.read(NOISE_RECV_SIZE)
            awaited = True
            if not data:
                raise IncompleteReadError(
                    f"Connection closed during read operation: expected {want} bytes but received {len(buf)} bytes",
                    expected_bytes=want,
                    received_bytes=len(buf),
                )
            buf += data
        if end <= _BARE_FRAME_MESSAGE and not awaited:
            # A yamux frame without payload (RST, FIN, window update, ping) served from the buffer:
            # first let the tasks woken by the frames before it run, as they did while py-libp2p
            # awaited the socket for every message. Otherwise a reader woken by an answer may only
            # run after the RST that follows it in the same recv(), and see nothing but the reset
            # (py-libp2p drops a reset stream's unread data).
            for _ in range(2):
                await trio.lowlevel.checkpoint()
        hits["noise_buffered_reads"] += 1
        whole = memoryview(buf)
        body = whole[2 + (len(self.prefix) if prefix_encoded else 0) : end]
        try:
            # Straight from the buffer, no copy: NoiseConnection.decrypt insists on `bytes`, so
            # its cipher state is called directly (a 2-byte length cannot exceed its size limit).
            plaintext = self.noise_state.noise_protocol.cipher_state_decrypt.decrypt_with_ad(None, body)
        except InvalidTag:
            raise NoiseInvalidMessage("Failed authentication of message") from None
        finally:
            body.release()
            whole.release()
        del buf[:end]
        return plaintext

    async def write_msgs(self, msgs: list[bytes]) -> None:
        """Encrypt each of `msgs` as one Noise message (at most MAX_PLAINTEXT_LENGTH bytes each),
        and hand them all to the socket in one write (longer ones are split, like write_msg)."""
        parts = []
        for msg in msgs:
            for start in range(0, max(len(msg), 1), MAX_PLAINTEXT_LENGTH):  # split like write_msg
                parts.append(self.encrypt(msg[start : start + MAX_PLAINTEXT_LENGTH]))
        # Into one buffer kept across writes (they never overlap: yamux's write lock): a fresh
        # 1 MiB b"".join per write cost the sender more than the copy itself, each allocation
        # faulting its pages in again (py-spy: ~20% of the node thread).
        total = sum(2 + len(part) for part in parts)
        if len(self._wbuf) < total:
            self._wbuf = bytearray(total)
        view, pos = memoryview(self._wbuf), 0
        for part in parts:
            view[pos : pos + 2] = len(part).to_bytes(2, "big")
            view[pos + 2 : pos + 2 + len(part)] = part
            pos += 2 + len(part)
        hits["noise_batched_writes"] += 1
        await self._raw.write(view[:total])


class _FastSecureSession(SecureSession):
    """SecureSession whose read(n) hands out slices of the last decrypted message.

    py-libp2p's copies every message into an io.BytesIO and each read out of it again (a yamux
    frame = one message, read as a 12-byte header then the body: 3-4 copies of 64 KiB). Same
    semantics: read(n) returns n bytes unless the connection ends first; read() one message.
    """

    header_filter = None  # set by CancelSafeYamux: see libp2p_fixes.read_exactly_for_yamux

    def _reset_internal_buffer(self) -> None:
        self._msg = b""
        self._pos = 0

    def buffered(self) -> int:
        """Decrypted bytes that read() can return without waiting."""
        return len(self._msg) - self._pos

    def take(self, n: int) -> memoryview:
        """n buffered bytes (n <= buffered()) as a view: a frame body is appended to a stream
        buffer right away, so copying it out of the message first would be wasted."""
        pos = self._pos
        view = memoryview(self._msg)[pos : pos + n]
        self._pos = pos + n
        if self._pos == len(self._msg):
            self._msg, self._pos = b"", 0
        return view

    def _take(self, n: int | None) -> bytes:
        msg, pos = self._msg, self._pos
        if n is None or pos + n >= len(msg):
            self._msg, self._pos = b"", 0
            return msg if pos == 0 else msg[pos:]
        self._pos = pos + n
        return msg[pos : pos + n]

    async def read(self, n: int | None = None) -> bytes:
        if n == 0:
            return b""
        parts: list[bytes] = []
        have = 0
        if self._pos < len(self._msg):
            first = self._take(n)
            if n is None or len(first) == n:
                return first
            parts.append(first)
            have = len(first)
        try:
            while True:
                msg = await self.conn.read_msg()
                if msg == b"":
                    if parts:
                        return b"".join(parts)
                    raise ConnectionClosedError("Connection closed")
                if n is None:
                    return msg
                self._msg, self._pos = msg, 0
                part = self._take(n - have)
                if not parts and len(part) == n:
                    return part
                parts.append(part)
                have += len(part)
                if have == n:
                    return b"".join(parts)
        except BaseException:
            if parts:  # cancelled (or failed) mid-way: keep the bytes for the next read
                self._msg, self._pos = b"".join(parts) + self._msg[self._pos :], 0
            raise


async def _read_exactly(reader, n: int, retry_count: int = DEFAULT_RETRY_READ_COUNT) -> bytes:
    """libp2p.io.utils.read_exactly without its two copies when the first read brings all n."""
    data = await reader.read(n)
    if len(data) == n:
        return data
    try:
        rest = await read_exactly(reader, n - len(data), retry_count)
    except IncompleteReadError as exc:
        got = exc.received_bytes + len(data)
        raise IncompleteReadError(
            f"Connection closed during read operation: expected {n} bytes but received {got} bytes",
            expected_bytes=n,
            received_bytes=got,
        ) from exc
    return bytes(data) + rest


class _FastYamuxStream(YamuxStream):
    """YamuxStream with go-yamux's window-update hysteresis and batched frame writes.

    * py-libp2p 0.8.1 sends a WINDOW_UPDATE after *every* read (its "release on read" and
      "partial slack" branches), one Noise message and syscall each way per read. Here an update
      is sent only once the consumed-but-unannounced bytes reach half the target window (go-yamux's
      rule; auto-tuning of the target up to 16 MiB is kept). Deadlock-free: a sender stalled on a
      zero window means the reader has a whole window to consume, which crosses the half mark.
    * py-libp2p's write() costs a lock round-trip, a Noise write and a send() per frame; here up
      to FRAMES_PER_WRITE frames (as far as the send window allows) go out in one socket write,
      the stall limit FRAME_WRITE_LIMIT plus 1 s per MiB written (a peer must take 1 MiB/s). A sender
      waiting for window wakes on the update instead of polling every 10 ms.
    """

    @property
    def send_window(self) -> int:
        return self._send_window

    @send_window.setter
    def send_window(self, value: int) -> None:
        self._send_window = value
        event = getattr(self, "_window_opened", None)
        if value > 0 and event is not None:
            event.set()

    async def write(self, data: bytes) -> None:
        if self.send_closed:
            raise MuxedStreamError("Stream is closed for sending")
        view = memoryview(data)
        total = len(view)
        sent = 0
        while sent < total:
            frames: list[bytes] = []
            async with self.rw_lock.write_lock():
                if self.send_closed:
                    raise MuxedStreamError("Stream is closed for sending")
                if self.closed:
                    raise MuxedStreamError("Stream is closed")
                # No await from here to the window update: window_lock is not needed.
                payload = yamux.MAX_MESSAGE_SIZE - yamux.HEADER_SIZE
                budget = min(self._send_window, total - sent, FRAMES_PER_WRITE * payload)
                if budget > 0:
                    pos, end = sent, sent + budget
                    while pos < end:
                        n = min(payload, end - pos)
                        header = struct.pack(yamux.YAMUX_HEADER_FORMAT, 0, yamux.TYPE_DATA, 0, self.stream_id, n)
                        frames.append(header + view[pos : pos + n])
                        pos += n
                    self.send_window = self._send_window - budget
            if frames:
                await self.conn._write_frames(frames)
                sent += budget
                continue
            self._zero_window_waits += 1
            with trio.move_on_after(5.0) as waited:
                while self._send_window <= 0 and not self.closed:
                    self._window_opened = trio.Event()
                    with trio.move_on_after(0.01):  # `closed` has no event: look again every 10 ms
                        await self._window_opened.wait()
            self._window_opened = None
            if waited.cancelled_caught:
                raise MuxedStreamError("Timed out waiting for window update after 5 seconds.")

    async def read(self, n: int | None = -1) -> bytes:
        """Bytes already buffered for an open stream are taken directly; anything else (read
        to EOF, an empty buffer, a closing or reset stream) goes through py-libp2p's read, whose
        stream lock and debug f-strings cost more than the copy on a bulk transfer."""
        if n is None or n <= 0 or not self._fast_readable():
            return await super().read(n)
        await trio.lowlevel.checkpoint()  # as any trio read: cancellable, and lets the muxer run
        if not self._fast_readable():
            return await super().read(n)
        buffer = self.conn.stream_buffers[self.stream_id]
        if n >= len(buffer):  # the usual case in bulk: everything, one copy
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(memoryview(buffer)[:n])  # one copy (buffer[:n] would make two); view gone
            del buffer[:n]
        hits["yamux_fast_stream_reads"] += 1
        await self._auto_tune_and_send_window_update(bytes_read=len(data))
        return data

    def _fast_readable(self) -> bool:
        conn = self.conn
        return bool(
            conn.stream_buffers.get(self.stream_id)
            and self.stream_id in conn.streams
            and not (self.closed or self.recv_closed or self.reset_received)
            and not conn.event_shutting_down.is_set()
            and not conn.streams_lock.locked()
        )

    async def open_window(self, size: int) -> None:
        """Grant the sender a receive window of `size` bytes (at most yamux's 16 MiB) now, for a
        stream that will carry a bulk download. Auto-tuning starts every stream at 256 KiB and
        doubles per window update: ~16 MiB went by before the window stopped stalling the sender.
        A WINDOW_UPDATE may be sent at any time, so this is plain yamux."""
        size = min(size, yamux.MAX_WINDOW_SIZE)
        async with self.window_lock:
            extra = size - self.target_recv_window
            if extra <= 0:
                return
            self.target_recv_window = size
            self.recv_window += extra
        hits["yamux_windows_opened"] += 1
        await self.send_window_update(extra)

    def _grow_threshold(self) -> int:
        return 0 if _YAMUX_NO_HYSTERESIS else self.target_recv_window // _YAMUX_THRESHOLD_DIV

    async def _auto_tune_and_send_window_update(self, *, bytes_read: int = 0) -> None:
        buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
        consumed = self.target_recv_window - (self.recv_window + buffered)
        if consumed <= 0 or consumed < self._grow_threshold():
            return
        increment = self._grow_to_delta(buffered) + self._apply_autotune_epoch(buffered)
        self._pending_recv_release = 0
        await self.send_window_update(increment)


def install_speed() -> None:
    """Swap in the fast paths that have no seam (FastNoiseTransport and FastYamux are handed
    to new_host / libp2p_fixes.install_yamux by the caller)."""
    global _DATA_READ_TIMEOUT, _YAMUX_NO_HYSTERESIS, _YAMUX_THRESHOLD_DIV
    _DATA_READ_TIMEOUT = yamux._yamux_data_read_timeout()
    _YAMUX_NO_HYSTERESIS = yamux._yamux_disable_hysteresis()
    _YAMUX_THRESHOLD_DIV = yamux._yamux_batch_threshold_divisor()
    # A yamux DATA frame is 12 + up to 65524 bytes, one byte-for-byte write to Noise, whose
    # messages carry at most 65519 plaintext bytes: every full frame went out as two Noise
    # messages (65519 + 17), doubling the per-message cost (encrypt, syscalls, decrypt) of bulk
    # transfers. Frames sized to one Noise message are always legal yamux.
    yamux.MAX_MESSAGE_SIZE = min(yamux.MAX_MESSAGE_SIZE, MAX_PLAINTEXT_LENGTH)
    # Yamux.open_stream and handle_incoming build `YamuxStream(...)` by name (no seam).
    yamux.YamuxStream = _FastYamuxStream
    yamux._yamux_data_read_timeout = lambda: _DATA_READ_TIMEOUT
