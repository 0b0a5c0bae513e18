"""P2PNode: a libp2p host in its own thread with its own trio loop, behind a thread-safe API.

Thread contexts (the contract the dock and the TUI rely on):

* Every public method may be called from any thread *except* the node's own thread (listeners
  and validators run there; a blocking call from them raises RuntimeError instead of
  deadlocking). Calls cross into trio only with the loop's token (`trio.from_thread`).
  From asyncio (Textual), call them in a worker thread: `await asyncio.to_thread(node.request, ...)`
  or a Textual `@work(thread=True)`.
* Listeners (`add_listener`) and topic validators run on the node thread: they must be quick and
  never block. `open_event_queue()` gives a thread-safe queue fed by such a listener.
* Request handlers (`set_handler`) run in worker threads, at most `max_concurrent` at a time per
  protocol, so they may do blocking work (DuckDB, search) but must be thread-safe.

Hostile peers (p2p/guard.py, p2p/scoring.py): whatever a peer sends costs that peer (a reset
stream, a dropped connection, a lower score, a ban), never the node; and should anything still
escape into the node's loop, the loop logs it and restarts its networking on the same addresses.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import multiaddr
import trio
from libp2p.custom_types import TProtocol
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.tools.anyio_service import background_trio_service

from . import defences, peer_info, peers
from . import host as host_builder
from .errors import DialError, NodeNotRunning, PeerError, RequestTimeout
from .events import Event, PeerConnected, PeerDisconnected
from .gossip import TopicGate, Validator, to_message
from .guard import GuardConfig, PeerGuard
from .identity import Identity
from .listen_check import listen_failure, quiet_listen_failure_log
from .node_thread import NodeThread, _deep_copy
from .reqresp import Handler, ProtocolLimits, RequestServer, close_quietly, reset_quietly, send_request

logger = logging.getLogger(__name__)

DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)


class StreamHandlerSource(Protocol):
    """What set_handler takes besides a request handler: a maker of raw trio stream handlers
    (e.g. transfer.BlobServer's), marked by `is_stream_handler = True`."""

    is_stream_handler: bool

    def bind(self, stats: dict) -> Callable: ...


@dataclass(frozen=True, slots=True)
class NodeConfig:
    listen: tuple[str, ...] = DEFAULT_LISTEN
    bootstrap: tuple[str, ...] = ()  # full multiaddrs with /p2p/<peer id>
    enable_mdns: bool = False  # LAN discovery; off by default and in tests
    gossip: host_builder.GossipConfig = field(default_factory=host_builder.GossipConfig)
    connect_timeout: float = 10.0
    bootstrap_interval: float = 30.0  # how often lost bootstrap peers are dialled again
    stop_timeout: float = 10.0  # a shutdown that takes longer is cut short
    guard: GuardConfig = field(default_factory=GuardConfig)  # penalties, bans, rate limits
    nickname: str = ""  # sent in identify's agent_version (p2p/peer_info.py); "" sends none
    ping_interval: float = 15.0  # how often connected peers' round-trip times are measured
    max_restarts: int = 5  # networking restarts after a crash, within restart_window; then it stays down
    restart_window: float = 600.0


class P2PNode(NodeThread):
    def __init__(self, identity: Identity | None = None, config: NodeConfig | None = None):
        super().__init__()
        self.identity = identity or Identity.generate()
        self.config = config or NodeConfig()
        self.peer_id: str = self.identity.peer_id
        self._addrs: list[str] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._topics: dict[str, Validator | None] = {}
        self._handlers: dict[str, tuple[Handler | StreamHandlerSource, ProtocolLimits | None]] = {}
        self._stats: dict = {"gossip_delivered": 0, "gossip_rejected": 0, "gossip_ignored": 0, "events_dropped": 0,
                             "networking": "up", "restarts": 0, "last_crash": ""}
        # libp2p's host, pubsub and router and the loop's nursery: set by _main inside the trio loop and
        # used only while it runs. Any: libp2p's annotations lack what lwdock uses (router.scorer, ...).
        self._host: Any = None
        self._pubsub: Any = None
        self._nursery: Any = None
        # Outside the trio loop on purpose: bans and penalties survive a restart of the networking.
        self._guard = PeerGuard(self.config.guard)
        self._bound_listen: list[str] | None = None
        self._router: Any = None
        self._connections: peers.ConnectionEvents | None = None
        self._book: peer_info.PeerBook | None = None

    async def _main(self, listen: list[str], bootstrap: list[str]) -> None:
        self._stop_event = trio.Event()
        self._scope = trio.CancelScope()
        with self._scope:
            host, router, pubsub = host_builder.build(
                self.identity, listen, self.config.gossip, self._deliver, self.config.enable_mdns, self._guard
            )
            self._host, self._pubsub, self._router = host, pubsub, router
            peer_info.install()
            host.lwdock_agent_version = peer_info.agent_version(self.config.nickname)
            self._book = peer_info.PeerBook(host)
            defences.wire_guard(self._guard, router.scorer, self._drop_peer)
            host_builder.install_stream_guard(host, self._guard, self._drop_peer)
            self._connections = peers.ConnectionEvents(
                self._on_connection_event, self._guard.banned, self._drop_peer, self._peer_gone, self._seen_addr
            )
            host.get_network().register_notifee(self._connections)
            quiet_listen_failure_log()  # a failed listen is raised below as a ListenError, not logged twice
            async with host.run([multiaddr.Multiaddr(a) for a in listen]):
                bound = host.get_transport_addrs()
                if len(bound) < len(listen):  # py-libp2p logs a failed listen (at debug) and carries on
                    raise listen_failure(listen, set(host.get_network().listeners))
                self._bound_listen = [str(a) for a in bound]
                async with background_trio_service(pubsub), background_trio_service(router):
                    await pubsub.wait_until_ready()
                    for topic, validator in list(self._topics.items()):
                        await self._subscribe(topic, validator)
                    for protocol_id, (handler, limits) in list(self._handlers.items()):
                        self._install_handler(protocol_id, handler, limits)
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        if bootstrap:
                            cfg = self.config
                            nursery.start_soon(
                                peers.bootstrap_loop, host, bootstrap, cfg.bootstrap_interval, cfg.connect_timeout
                            )
                        nursery.start_soon(self._ping_loop)
                        self._addrs = [str(a) for a in host.get_addrs()]
                        self._token = trio.lowlevel.current_trio_token()
                        if self.config.enable_mdns:
                            peerDiscovery.register_peer_discovered_handler(self._on_discovered)
                        self._ready.set()
                        if self._state != "running":  # stop() came while we were restarting
                            self._stop_event.set()
                        try:
                            await self._stop_event.wait()
                        finally:
                            peerDiscovery.unregister_peer_discovered_handler(self._on_discovered)
                            nursery.cancel_scope.cancel()
                            # py-libp2p's shutdown leaves connections we dialled open (their
                            # sockets outlive the loop): the peer would list us as a ghost.
                            with trio.CancelScope(shield=True), trio.move_on_after(5):
                                await self._connections.close_all()

    # ---- hostile peers (p2p/defences.py) ---------------------------------------------------------

    def _drop_peer(self, peer: str) -> None:
        """Close every connection to `peer`, soon (never from inside the caller: the caller may
        be one of that connection's own tasks). Runs on the node thread."""
        nursery = self._nursery
        if nursery is None:
            return
        try:
            nursery.start_soon(self._live_connections().close_peer, peer)
        except RuntimeError:
            pass  # the nursery is closing: the node is stopping anyway

    def _seen_addr(self, peer_id, addr) -> None:
        defences.record_ip(self._router.scorer, peer_id, addr)

    def _on_connection_event(self, event: Event) -> None:
        book = self._book
        if isinstance(event, PeerConnected) and book is not None:
            book.connected(event.peer_id, event.addr)
            try:
                if self._nursery is not None:
                    self._nursery.start_soon(book.introduce, event.peer_id)
            except RuntimeError:
                pass  # the loop is closing: no introduction needed
        elif isinstance(event, PeerDisconnected) and book is not None:
            book.gone(event.peer_id)
            logger.info("disconnected from %s", event.peer_id)
        self._emit(event)

    async def _ping_loop(self) -> None:
        while True:
            await trio.sleep(self.config.ping_interval)
            if self._book is not None and self._connections is not None:
                await self._book.refresh(sorted(self._connections.live_peers()))

    def peer_details(self) -> list[dict]:
        """Live peers for people: [{peer_id, addr, latency_ms (None until measured), nickname}];
        addr and nickname come from the peer (escape them before printing)."""
        if self._restarting() or self._book is None:
            return [{"peer_id": p, "addr": "", "latency_ms": None, "nickname": ""} for p in self.peers()]
        return self._call_sync(lambda: self._book.details(self._live_connections().live_peers()))

    def _peer_gone(self, peer_id) -> None:
        if self._pubsub is not None:
            defences.forget_pubsub_peer(self._pubsub, self._router.scorer, peer_id)

    # ---- peers -------------------------------------------------------------------------------

    @property
    def addrs(self) -> list[str]:
        """Listen addresses as full multiaddrs ending in /p2p/<peer id>."""
        return list(self._addrs)

    def connect(self, addr: str, timeout: float | None = None) -> str:
        """Dial a full multiaddr (.../p2p/<peer id>); returns the peer id once connected."""
        info = peers.parse_addr(addr)
        if self._guard.banned(str(info.peer_id)):
            raise DialError(f"peer {info.peer_id} is banned: {self._guard.books[str(info.peer_id)].ban_reason}")
        self._call(peers.dial, self._host, info, timeout or self.config.connect_timeout)
        return str(info.peer_id)

    def _on_discovered(self, info) -> None:
        # py-libp2p calls this on zeroconf's thread (mDNS); hop into trio with the loop's token.
        # `peerDiscovery` is process-wide, so every mDNS-enabled node in the process hears it.
        token = self._token
        if token is None or info.peer_id == self._host.get_id():
            return
        args = (peers.try_dial, self._host, info, self.config.connect_timeout)
        try:
            if threading.current_thread() is self._thread:
                self._nursery.start_soon(*args)
            else:
                trio.from_thread.run_sync(self._nursery.start_soon, *args, trio_token=token)
        except (trio.RunFinishedError, RuntimeError):
            pass

    def _live_connections(self) -> peers.ConnectionEvents:
        """The running loop's connection tracker (set by _main; None only before or after it runs)."""
        if self._connections is None:
            raise NodeNotRunning("the p2p node is not running (start() it first, or it has stopped)")
        return self._connections

    def disconnect(self, peer_id: str) -> None:
        """Close every connection to `peer_id` (a no-op when there is none)."""
        self._call(self._live_connections().close_peer, str(peers.parse_peer_id(peer_id)))

    def peers(self) -> list[str]:
        """Peer ids we hold a live (open, not closing) connection to."""
        if self._restarting():
            return []
        return self._call_sync(lambda: sorted(str(p) for p in self._live_connections().live_peers()))

    def topic_peers(self, topic: str) -> list[str]:
        """Live-connected peers that told us they subscribe to `topic`."""
        if self._restarting():
            return []

        def live_subscribers() -> list[str]:
            live = self._live_connections().live_peers()
            return sorted(str(p) for p in self._pubsub.peer_topics.get(topic, ()) if str(p) in live)

        return self._call_sync(live_subscribers)

    def stats(self) -> dict:
        """Counters: gossip_* (delivered, rejected, ignored, rejected_by_peer), events_dropped,
        networking ("up", "restarting" after a crash, "down" after max_restarts crashes),
        restarts and last_crash, libp2p_patches ({"version": py-libp2p's, "speed": "on" or
        "off: <why>" (its fast paths), "fixes": "on"}), and one dict per served protocol id (requests, errors, busy,
        too_large, timeouts, rate_limited)."""
        if self._restarting():
            stats = _deep_copy(self._stats)
            if stats["networking"] == "up":
                stats["networking"] = "restarting"
            return stats
        return self._call_sync(lambda: _deep_copy(self._stats))

    def peer_penalties(self) -> dict[str, dict]:
        """Peers that misbehaved (or are banned), keyed by peer id; honest peers are left out.

        Each value: {"score": float (GossipSub v1.1 score; below -80 the peer is graylisted),
        "malformed_frames": int (handler failures on its bytes: its stream was reset, a gossip
        connection closed), "invalid_messages": int (gossip a topic validator rejected),
        "rate_limited": int (requests and gossip messages over its rate), "ignored_low_score":
        int (RPC parts dropped because its score was below the publish/graylist threshold),
        "graylisted": bool, "banned": bool (disconnected and refused), "banned_for_s": float
        (seconds the ban still runs), "ban_reason": str ("" or why it was banned), "last_offence":
        str (what it last did, for the user)}. Strings come from the peer's bytes in part: escape
        them before printing.
        """
        if self._restarting():
            return self._guard.penalties()
        return self._call_sync(self._guard.penalties)

    # ---- events ------------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """`callback(event)` runs on the node thread for every event: be quick, never block."""
        with self._lock:
            self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Callable[[Event], None]) -> None:
        with self._lock:
            self._listeners = [c for c in self._listeners if c is not callback]

    def open_event_queue(self, maxsize: int = 10_000) -> queue.Queue:
        """A thread-safe queue of every event. When a slow consumer lets it fill, further events
        are dropped, counted in stats()["events_dropped"] and logged."""
        q: queue.Queue = queue.Queue(maxsize)

        def put(event: Event) -> None:
            try:
                q.put_nowait(event)
            except queue.Full:
                self._stats["events_dropped"] += 1
                if self._stats["events_dropped"] % 1000 == 1:
                    logger.warning("p2p event queue full (%d): dropping events", maxsize)

        self.add_listener(put)
        return q

    def _emit(self, event: Event) -> None:
        for callback in self._listeners:
            try:
                callback(event)
            except Exception:
                logger.exception("p2p event listener %r failed", callback)

    def _deliver(self, msg, forwarder) -> None:
        if forwarder is None or forwarder == self._host.get_id():
            return  # our own publish: not an event
        for topic in msg.topicIDs:
            if topic in self._topics:
                self._stats["gossip_delivered"] += 1
                self._emit(to_message(topic, msg, forwarder))

    # ---- gossip ------------------------------------------------------------------------------

    def subscribe(self, topic: str, validator: Validator | None = None) -> None:
        """Join `topic`; accepted messages arrive as GossipMessage events. `validator(msg)` runs on
        the node thread before a message is delivered or forwarded and returns True/"accept",
        False/"reject" or "ignore". Subscribing before start() is allowed (and joins at start)."""
        with self._lock:
            self._topics[topic] = validator
            if self._state == "new":
                return
        self._call(self._subscribe, topic, validator)

    async def _subscribe(self, topic: str, validator: Validator | None) -> None:
        gate = TopicGate(topic, validator, self._host.get_id(), self.config.gossip.max_message_size, self._stats,
                         self._on_reject)
        self._pubsub.set_topic_validator(topic, gate, False)
        await self._pubsub.subscribe(topic)
        self._router.scorer.topics = tuple(self._pubsub.topic_ids)

    def _on_reject(self, forwarder, topic: str) -> None:
        self._router.scorer.count_invalid(forwarder, topic)
        self._guard.invalid_message(str(forwarder), topic)

    def unsubscribe(self, topic: str) -> None:
        with self._lock:
            self._topics.pop(topic, None)
            if self._state == "new":
                return
        self._call(self._unsubscribe, topic)

    async def _unsubscribe(self, topic: str) -> None:
        await self._pubsub.unsubscribe(topic)
        self._router.scorer.topics = tuple(self._pubsub.topic_ids)

    def publish(self, topic: str, data: bytes) -> None:
        """Sign and send `data` on `topic` (not delivered back to ourselves as an event)."""
        limit = self.config.gossip.max_message_size
        if len(data) > limit:
            raise PeerError(f"gossip message of {len(data)} bytes exceeds max_message_size={limit}")
        self._call(self._pubsub.publish, topic, bytes(data))

    # ---- request/response --------------------------------------------------------------------

    def set_handler(self, protocol_id: str, handler: Handler | StreamHandlerSource,
                    limits: ProtocolLimits | None = None) -> None:
        """Serve `protocol_id`: `handler(peer_id, request) -> bytes | Iterable[bytes]` runs in a
        worker thread; raise RequestRefused(msg) to answer with an error. Allowed before start()."""
        with self._lock:
            self._handlers[protocol_id] = (handler, limits)
            if self._state == "new":
                return
        self._call_sync(self._install_handler, protocol_id, handler, limits)

    def _install_handler(self, protocol_id: str, handler, limits: ProtocolLimits | None) -> None:
        counters = ("requests", "errors", "busy", "too_large", "timeouts", "rate_limited")
        stats = self._stats.setdefault(protocol_id, dict.fromkeys(counters, 0))
        limits = limits or ProtocolLimits()
        if getattr(handler, "is_stream_handler", False):
            serve = handler.bind(stats)  # a raw trio stream handler, e.g. transfer.BlobServer
        else:
            serve = RequestServer(protocol_id, handler, limits, stats, self._guard.malformed).handle
        serve = defences.rate_limited(self._guard, protocol_id, serve, limits, stats)
        self._host.set_stream_handler(TProtocol(protocol_id), serve)

    def remove_handler(self, protocol_id: str) -> None:
        with self._lock:
            self._handlers.pop(protocol_id, None)
            if self._state == "new":
                return
        self._call_sync(self._host.remove_stream_handler, TProtocol(protocol_id))

    def request(
        self,
        peer_id: str,
        protocol_id: str,
        data: bytes,
        *,
        timeout: float = 30.0,
        idle_timeout: float = 10.0,
        max_response: int = 16 * 1024 * 1024,
    ) -> bytes:
        """Send one request and return the response body. `timeout` bounds the whole exchange
        (dial included), `idle_timeout` each silence. Raises RemoteError (the peer answered with
        an error), RequestTimeout, DialError or ProtocolViolation."""
        return self._call(self._request, peer_id, protocol_id, bytes(data), timeout, idle_timeout, max_response)

    async def _request(self, peer_id, protocol_id, data, timeout, idle_timeout, max_response) -> bytes:
        try:
            with trio.fail_after(timeout):
                stream = await self._open_stream(peer_id, protocol_id)
                try:
                    body = await send_request(stream, data, min(idle_timeout, timeout), max_response)
                except BaseException:
                    await reset_quietly(stream)
                    raise
                await close_quietly(stream)
                return body
        except trio.TooSlowError:
            raise RequestTimeout(f"{protocol_id} to {peer_id} took longer than {timeout:.1f} s") from None

    async def _open_stream(self, peer_id: str, protocol_id: str):
        return await peers.open_stream(self._host, peer_id, protocol_id)

    # ---- blobs (protocol in transfer.py) -------------------------------------------------------

    def serve_blobs(self, open_blob, protocol_id: str | None = None, max_concurrent: int = 4) -> None:
        """Serve blobs: `open_blob(blob_id) -> binary file | (file, sha256) | None`, called in a
        worker thread. See transfer.py for the protocol."""
        from .transfer import BlobServer

        for served_id, handler in BlobServer(open_blob, max_concurrent).handlers(protocol_id):
            self.set_handler(served_id, handler)  # the piece protocol and the legacy one, one slot pool

    def fetch_blob(self, peer_id: str, blob_id: str, partial_path, **options):
        """Download blob `blob_id` from `peer_id` into `partial_path`, resuming from its current
        size; see transfer.fetch_blob for the options and guarantees."""
        from .transfer import fetch_blob

        return self._call(lambda: fetch_blob(self, peer_id, blob_id, partial_path, **options))
