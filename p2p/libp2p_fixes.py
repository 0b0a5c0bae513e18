"""CORRECTNESS fixes to py-libp2p 0.8.1 internals: without them a node is unsafe, not just slower.

Installed by p2p/libp2p_patches.py (which checks every target first and refuses to start the
node when one is missing); the inventory of targets is there. Wire format unchanged.

* yamux over Noise is torn by cancellation: Noise bumps its nonce when it encrypts a frame, then
  awaits the socket; a task cancelled at that await (any timeout around a stream write, or a
  pending cancel landing on the socket lock) leaves a nonce gap, the peer's next decrypt fails
  ("Failed authentication of message") and the whole connection dies, taking gossip with it
  (seen in ~1 of 10 runs of the oversized-request test, where the client's upload is cancelled).
  `CancelSafeYamux` shields each frame write, bounded by FRAME_WRITE_LIMIT, after which the
  connection is closed on purpose (its peer stopped reading; half a frame may be on the wire).
* hostile frames: a frame of unknown version or type closes the connection (py-libp2p skipped it
  and read on, out of step with the sender); see `CancelSafeYamux._next_header`.
* exclusive listen: py-libp2p sets SO_REUSEPORT on TCP listeners, so a second node on a busy port
  starts "fine" and the kernel splits the connections between the two.
* logging: two libp2p modules log through the root logger (installing a stderr handler for the
  whole program) and "libp2p" has no handler (Python's last-resort handler prints on stderr).

The other correctness hooks are subclasses passed through py-libp2p's own seams (host.py:
`_Pubsub`, `install_stream_guard`; scoring.py: `LwScorer`, `_GuardedGossipSub`; defences.py:
`forget_pubsub_peer`; peers.py: `ConnectionEvents`); libp2p_patches.py checks their targets too.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import Counter

import trio
from libp2p.io.utils import DEFAULT_RETRY_READ_COUNT, read_exactly
from libp2p.network.connection.exceptions import RawConnError
from libp2p.stream_muxer.yamux import yamux
from libp2p.stream_muxer.yamux.yamux import Yamux

logger = logging.getLogger(__name__)
_YAMUX_HEADER = struct.Struct(yamux.YAMUX_HEADER_FORMAT)

FRAME_WRITE_LIMIT = 10.0  # seconds a write of yamux frames may take to reach the socket, plus:
MIN_SEND_RATE = 1 << 20  # bytes/s: a write of N bytes gets N / MIN_SEND_RATE more seconds

# How often each patched path ran in this process: tests read it to prove that a live connection
# really goes through the patches (a patch that silently stopped being called fails the suite).
hits: Counter = Counter()


class YamuxProtocolError(Exception):
    """A frame no yamux implementation may send (unknown version or type)."""


class CancelSafeYamux(Yamux):
    """py-libp2p's Yamux with shielded, bounded frame writes and a strict frame-header check."""

    def __init__(self, secured_conn, *args, **kwargs) -> None:
        super().__init__(secured_conn, *args, **kwargs)
        # handle_incoming reads each header through yamux's module-level `read_exactly`, which
        # install() replaces with `read_exactly_for_yamux`: it asks this filter for headers.
        try:
            secured_conn.header_filter = self._next_header
        except AttributeError:  # a session class with __slots__: no header check possible
            logger.warning("yamux: cannot check frame headers on %s", type(secured_conn).__name__)

    async def _read_header(self) -> bytes:
        return await read_exactly(self.secured_conn, yamux.HEADER_SIZE)

    def _check_header(self, header: bytes) -> tuple[int, int, int, int, int]:
        version, typ, flags, stream_id, length = fields = _YAMUX_HEADER.unpack(header)
        hits["yamux_headers_checked"] += 1
        if version != 0 or typ > yamux.TYPE_GO_AWAY:
            # py-libp2p skips such a frame and reads on, out of step with the peer's bytes from
            # then on; the yamux spec makes it a protocol error: the connection ends
            # (handle_incoming closes it on any exception out of this header read).
            logger.warning("yamux: peer %s sent a frame of version %d, type %d; closing the connection",
                           self.peer_id, version, typ)
            raise YamuxProtocolError(f"yamux frame of version {version}, type {typ}")
        return fields

    async def _next_header(self) -> bytes:
        """The next frame header for py-libp2p's handle_incoming, checked."""
        header = await self._read_header()
        self._check_header(header)
        return header

    async def _write_frame(self, data: bytes) -> None:
        await self._write_frames([data])

    async def _send_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            await self.secured_conn.write(frame)

    async def _write_frames(self, frames: list[bytes]) -> None:
        """Write whole yamux frames in order; the whole batch is shielded like a single frame."""
        async with self._write_lock:
            with trio.CancelScope(shield=True):
                size = sum(map(len, frames))
                limit = FRAME_WRITE_LIMIT + size / MIN_SEND_RATE
                with trio.move_on_after(limit) as stalled:
                    await self._send_frames(frames)
        hits["yamux_shielded_writes"] += 1
        if stalled.cancelled_caught:
            # Half a frame may be on the wire: the session is unusable. Close the socket first
            # (so the GO_AWAY that close() tries to send fails at once instead of stalling again),
            # then close() proper, which tells the swarm to forget this connection.
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.secured_conn.close()
                await self.close()
            # RawConnError: what yamux and the swarm already treat as "this connection is gone".
            raise RawConnError(
                f"peer {self.peer_id} did not take {size} bytes within {limit:.0f} s; connection closed"
            )
        await trio.lowlevel.checkpoint()  # a cancellation that waited for the frame is delivered here


async def read_exactly_for_yamux(reader, n: int, retry_count: int = DEFAULT_RETRY_READ_COUNT) -> bytes:
    """Replaces yamux's `read_exactly`: frame headers go through the connection's filter
    (CancelSafeYamux._next_header); bodies are read by Yamux._read_data_body."""
    header_filter = getattr(reader, "header_filter", None)
    if n == yamux.HEADER_SIZE and header_filter is not None:
        return await header_filter()
    return await read_exactly(reader, n, retry_count)


def reuse_address_only(sock) -> None:
    """Replaces tcp._set_reuse_flags: SO_REUSEADDR keeps restarts quick, and without SO_REUSEPORT
    a busy port is an error at start()."""
    import socket

    hits["exclusive_listen"] += 1
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError:
        pass


def install_yamux(muxer_class: type[CancelSafeYamux]) -> None:
    # py-libp2p 0.8.1 ignores the class given in muxer_opt for /yamux/1.0.0 and builds `Yamux(...)`
    # by name in muxer_multistream (no seam), so the subclass takes that name. p2p/ is the only
    # user of libp2p in the process, so the process-wide swap changes nothing for anyone else.
    from libp2p.stream_muxer import muxer_multistream

    muxer_multistream.Yamux = muxer_class
    yamux.read_exactly = read_exactly_for_yamux


def install_exclusive_listen() -> None:
    from libp2p.transport.tcp import tcp

    tcp._set_reuse_flags = reuse_address_only


def quiet_libp2p_logging() -> None:
    """Stop libp2p's logs from reaching stderr through Python's last-resort handler.

    Left alone when LIBP2P_DEBUG is set: then the developer asked libp2p for its own handlers.
    """
    # Two modules log through the *root* logging functions (`logging.debug(...)`), which call
    # logging.basicConfig() when the root has no handler: the first closed connection would then
    # install a stderr handler for the whole program. Give them a named logger instead.
    from libp2p.network.connection import swarm_connection
    from libp2p.tools import utils as libp2p_tools_utils

    for module in (swarm_connection, libp2p_tools_utils):
        if module.logging is logging:
            module.logging = logging.getLogger(module.__name__)
    if os.environ.get("LIBP2P_DEBUG"):
        return
    root = logging.getLogger("libp2p")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    root.propagate = True
    # Some libp2p modules pin their own logger to INFO at import (auto_connector logs every dial
    # round): let them inherit the "libp2p" level instead, so a daemon's log is not flooded.
    import libp2p.network.auto_connector  # noqa: F401 - imported for its logger's side effect

    for name, candidate in list(logging.root.manager.loggerDict.items()):
        if not (isinstance(candidate, logging.Logger) and name.startswith("libp2p.")):
            continue
        if 0 < candidate.level < logging.WARNING:  # pinned low
            candidate.setLevel(logging.NOTSET)
