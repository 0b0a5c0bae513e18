"""Connections: dialling, stream opening, connection events, bootstrap. Runs on the trio thread."""

from __future__ import annotations

import logging
from collections.abc import Callable

import multiaddr
import trio
from libp2p.abc import INotifee
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

from .errors import DialError, ErrorCode, PeerError, RemoteError
from .events import PeerConnected, PeerDisconnected

logger = logging.getLogger(__name__)


def parse_addr(addr: str) -> PeerInfo:
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise DialError(f"not a dialable multiaddr with /p2p/<peer id>: {addr!r} ({exc})") from exc


def parse_peer_id(peer_id: str) -> ID:
    try:
        return ID.from_base58(peer_id)
    except Exception as exc:
        raise DialError(f"not a peer id: {peer_id!r}") from exc


async def dial(host, info: PeerInfo, timeout: float) -> None:
    if info.peer_id == host.get_id():
        raise DialError("refusing to dial ourselves")
    try:
        with trio.fail_after(timeout):
            await host.connect(info)
    except trio.TooSlowError:
        raise DialError(f"connecting to {info.peer_id} took longer than {timeout:.0f} s") from None
    except PeerError:
        raise
    except Exception as exc:
        raise DialError(f"cannot connect to {info.peer_id}: {type(exc).__name__}: {exc}") from exc


async def open_stream(host, peer_id: str, protocol_id: str):
    """A negotiated stream (dialling first if needed); RemoteError(UNSUPPORTED) if the peer
    does not serve the protocol, DialError for everything else that goes wrong."""
    pid = parse_peer_id(peer_id)
    for attempt in (1, 2):
        try:
            return await host.new_stream(pid, [TProtocol(protocol_id)])
        except Exception as exc:
            if "not supported" in str(exc.__cause__ or ""):
                raise RemoteError(ErrorCode.UNSUPPORTED, f"peer does not serve {protocol_id}") from exc
            # py-libp2p's new_stream does not redial when the only connections it knows are
            # closed ones not yet forgotten ("No valid connections"): dial once ourselves.
            if attempt == 1 and "connections available" in str(exc):
                try:
                    await host.get_network().dial_peer(pid)
                    continue
                except Exception:
                    pass
            raise DialError(f"cannot open {protocol_id} to {peer_id}: {type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")


async def bootstrap_loop(host, addrs: list[str], interval: float, timeout: float) -> None:
    """Dial every bootstrap address now, and again every `interval` seconds while not connected."""
    infos = []
    for addr in addrs:
        try:
            infos.append(parse_addr(addr))
        except DialError as exc:
            logger.warning("ignoring bootstrap address: %s", exc)
    while True:
        connected = set(host.get_connected_peers())
        async with trio.open_nursery() as nursery:
            for info in infos:
                if info.peer_id not in connected and info.peer_id != host.get_id():
                    nursery.start_soon(try_dial, host, info, timeout)
        await trio.sleep(interval)


async def try_dial(host, info: PeerInfo, timeout: float) -> None:
    try:
        await dial(host, info, timeout)
    except DialError as exc:
        logger.info("peer unreachable: %s", exc)


class ConnectionEvents(INotifee):
    """Turns libp2p's per-connection notifications into per-peer events (a peer may hold two
    connections after a simultaneous dial)."""

    def __init__(self, emit: Callable):
        self.emit = emit
        self.count: dict[str, int] = {}

    async def connected(self, network, conn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        self.count[peer] = self.count.get(peer, 0) + 1
        if self.count[peer] == 1:
            try:
                addr = str(conn.get_transport_addresses()[0])
            except Exception:
                addr = ""
            self.emit(PeerConnected(peer, addr))

    async def disconnected(self, network, conn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        left = self.count.get(peer, 1) - 1
        if left > 0:
            self.count[peer] = left
            return
        self.count.pop(peer, None)
        self.emit(PeerDisconnected(peer))

    async def opened_stream(self, network, stream) -> None:
        pass

    async def closed_stream(self, network, stream) -> None:
        pass

    async def listen(self, network, multiaddr) -> None:
        pass

    async def listen_close(self, network, multiaddr) -> None:
        pass
