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

from .errors import DialError, ErrorCode, PeerError, RemoteError, unreachable
from .events import PeerConnected, PeerDisconnected
from .libp2p_fixes import hits

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
            network = host.get_network()
            listed = network.get_connections(info.peer_id)
            if listed and not any(is_live(c) for c in listed):
                # host.connect returns at once when the swarm still lists a closed connection
                host.get_peerstore().add_addrs(info.peer_id, info.addrs, 120)
                for conn in await network.dial_peer(info.peer_id):
                    await conn.event_started.wait()
            else:
                await host.connect(info)
    except trio.TooSlowError:
        raise DialError(f"connecting to {info.peer_id} took longer than {timeout:.0f} s") from None
    except PeerError:
        raise
    except Exception as exc:
        raise DialError(unreachable(info.peer_id, exc)) from exc


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
            raise DialError(unreachable(peer_id, exc)) from exc
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


def is_live(conn) -> bool:
    """A connection that is neither closed nor closing (py-libp2p keeps closed ones listed for a
    while, and a yamux session can be shut down under a SwarmConn that has not noticed yet)."""
    if getattr(conn, "is_closed", False):
        return False
    muxed = getattr(conn, "muxed_conn", None)
    if muxed is None:
        return True  # still upgrading
    if getattr(muxed, "is_closed", False):
        return False
    shutting = getattr(muxed, "event_shutting_down", None)
    return not (shutting is not None and shutting.is_set())


class ConnectionEvents(INotifee):
    """Turns libp2p's per-connection notifications into per-peer events (a peer may hold two
    connections after a simultaneous dial): PeerConnected when the first live connection to a
    peer opens, PeerDisconnected when its last one closes.

    `refuse(peer) -> bool` is asked first: a refused (banned) peer gets no event and
    `drop(peer)` closes its connection. `gone(peer_id)` runs after PeerDisconnected, for cleanup.

    It also keeps its own table of every connection, which `live_peers` and `close_peer` use
    instead of the swarm's: py-libp2p 0.8.1's Swarm.close_peer awaits each close, then pops the
    peer's whole entry, so a connection that peer opened meanwhile drops out of the swarm's table
    while it stays open and served (invisible to peers(), and beyond the reach of a disconnect).
    """

    def __init__(self, emit: Callable, refuse: Callable = lambda peer: False, drop: Callable = lambda peer: None,
                 gone: Callable = lambda peer_id: None, seen: Callable = lambda peer_id, addr: None):
        self.emit = emit
        self.refuse = refuse
        self.drop = drop
        self.gone = gone
        self.seen = seen  # (peer_id, remote multiaddr) of every new connection: IP colocation
        self.live: set[str] = set()
        self.conns: dict[str, set] = {}

    def live_peers(self) -> set[str]:
        """Peer ids with at least one live connection."""
        return {peer for peer, conns in list(self.conns.items()) if any(is_live(c) for c in conns)}

    async def close_peer(self, peer: str) -> None:
        """Close every connection to `peer`, each on its own (see the class docstring)."""
        for conn in list(self.conns.get(peer, ())):
            try:
                with trio.move_on_after(10):
                    await conn.close()
            except Exception as exc:
                logger.debug("closing a connection to %s: %s", peer[:16], exc)

    async def close_all(self) -> None:
        async with trio.open_nursery() as nursery:
            for peer in list(self.conns):
                nursery.start_soon(self.close_peer, peer)

    async def connected(self, network, conn) -> None:
        peer_id = conn.muxed_conn.peer_id
        peer = str(peer_id)
        self.conns.setdefault(peer, set()).add(conn)
        hits["connection_table"] += 1
        if self.refuse(peer):
            logger.info("refusing a connection from banned peer %s", peer[:16])
            self.drop(peer)
            return
        try:
            addr = conn.get_transport_addresses()[0]
        except Exception:
            addr = None
        if addr is not None:
            self.seen(peer_id, addr)
        if peer not in self.live:
            self.live.add(peer)
            self.emit(PeerConnected(peer, str(addr or "")))

    async def disconnected(self, network, conn) -> None:
        peer_id = conn.muxed_conn.peer_id
        peer = str(peer_id)
        mine = self.conns.get(peer, set())
        mine.discard(conn)
        mine.difference_update([c for c in mine if not is_live(c)])
        if not mine:
            self.conns.pop(peer, None)
        if mine or any(c is not conn and is_live(c) for c in network.get_connections(peer_id)):
            return
        if peer in self.live:
            self.live.discard(peer)
            self.emit(PeerDisconnected(peer))
        self.gone(peer_id)

    async def opened_stream(self, network, stream) -> None:
        pass

    async def closed_stream(self, network, stream) -> None:
        pass

    async def listen(self, network, multiaddr) -> None:
        pass

    async def listen_close(self, network, multiaddr) -> None:
        pass
