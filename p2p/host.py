"""Building the libp2p host and GossipSub, with py-libp2p 0.8.1's defaults corrected.

Everything version-specific lives here, so a libp2p upgrade is reviewed in one file:

* security: Noise only. `new_host` would also offer TLS, SECIO and *plaintext*; we pass our own
  `sec_opt`, so a peer that cannot speak Noise fails negotiation and is never connected.
* muxer: yamux only (`new_host` adds mplex as a fallback).
* GossipSub silent drops (DESIGN.md "Measured facts"): the per-peer outbound RpcQueue is 32 deep,
  the subscription channel has 32 slots, and a 10 msg/s per-peer-per-topic rate limit also
  applies to our own publishes. `_Pubsub` enlarges every peer queue as it is created, delivers
  messages straight to our callback (no 32-slot channel), and the router's rate limit is a
  parameter (default 1000/s, not 10).
* yamux over Noise (cancel-safe frame writes, hostile frames), exclusive listen (no
  SO_REUSEPORT: a busy port fails start()) and logging: p2p/libp2p_fixes.py; bulk throughput:
  p2p/libp2p_speed.py; both installed, after checking their targets, by p2p/libp2p_patches.py.
* hostile bytes: an exception out of any inbound stream handler (e.g. protobuf's DecodeError on
  3 garbage bytes in a pubsub RPC) ended the swarm service and with it the node.
  `install_stream_guard` wraps the host's one entry point for inbound streams (through the
  network's public `set_stream_handler`): the stream is reset, the peer penalised (and, on a
  gossip stream, disconnected), the node goes on. Messages whose processing raises are caught
  the same way in `_Pubsub.push_msg` (pubsub runs them as tasks whose failure would end it).
* scoring and graylisting: see p2p/scoring.py; `_Pubsub` drops messages from peers below the
  publish threshold and subscriptions from graylisted ones, and rate-limits gossip per peer.
* logging: `quiet_libp2p_logging` (p2p/libp2p_fixes.py) runs at import, so that no libp2p log
  line reaches stderr through Python's last-resort handler (under a TUI it corrupts the screen).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import Ed25519PrivateKey as LibKey
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID

from . import libp2p_patches
from .guard import PeerGuard
from .identity import Identity
from .libp2p_fixes import CancelSafeYamux, hits, quiet_libp2p_logging
from .scoring import LwScorer, ScoringConfig, _GuardedGossipSub

# /meshsub/1.3+ and 2.0 are experimental in py-libp2p 0.8.1; js-libp2p and go-libp2p speak 1.2/1.1.
GOSSIP_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)

_forwarder: contextvars.ContextVar = contextvars.ContextVar("lwdock_p2p_forwarder", default=None)


quiet_libp2p_logging()


@dataclass(frozen=True, slots=True)
class GossipConfig:
    degree: int = 6  # D, D_lo, D_hi: the GossipSub spec's defaults
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval: int = 1  # seconds; py-libp2p's constructor default is 120
    rate_limit: float | None = 1000.0  # messages per second per forwarding peer per topic; None = off
    peer_queue_size: int = 10_000  # outbound RPCs queued per peer (py-libp2p: 32)
    max_message_size: int = 512 * 1024  # largest `data` we publish or accept (the RPC limit is 1 MiB)
    seen_ttl: int = 120  # seconds a message id is remembered for de-duplication
    scoring: ScoringConfig = field(default_factory=ScoringConfig)  # GossipSub v1.1 peer scoring

    def __post_init__(self) -> None:
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise ValueError("need 0 < degree_low <= degree <= degree_high")
        if self.heartbeat_interval < 1 or self.peer_queue_size < 32 or self.seen_ttl < 1:
            raise ValueError("heartbeat_interval >= 1, peer_queue_size >= 32, seen_ttl >= 1")
        if not 0 < self.max_message_size <= 1024 * 1024 - 4096:
            raise ValueError("max_message_size must leave room in a 1 MiB pubsub RPC")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 or None")


class _RoomyQueues(dict):
    """pubsub.peer_queues, enlarging each RpcQueue as Pubsub stores it (it builds them with the
    32-deep default inside `_handle_new_peer`, before anything is queued on them)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __setitem__(self, peer_id, queue) -> None:
        queue._queue.max_size = max(queue._queue.max_size, self.size)
        hits["pubsub_roomy_queues"] += 1
        super().__setitem__(peer_id, queue)


class _Pubsub(Pubsub):
    """Pubsub that hands every accepted message to `deliver(msg, forwarder)` on the trio thread,
    and keeps banned, flooding and low-scored peers out (`guard`)."""

    def __init__(self, host, router, deliver: Callable, peer_queue_size: int, guard: PeerGuard, **kwargs):
        super().__init__(host, router, **kwargs)
        self._deliver = deliver
        self._guard = guard
        self.peer_queues = _RoomyQueues(peer_queue_size)
        # Seqnos start at time.time() in py-libp2p, so a node restarted within the seen-cache TTL
        # after publishing more than one message a second reuses seqnos and its new messages are
        # dropped as duplicates. Nanoseconds leave no such window.
        self.counter = time.time_ns()

    async def push_msg(self, msg_forwarder, msg) -> None:
        hits["pubsub_guarded_messages"] += 1
        ours = msg_forwarder == self.my_id
        peer = str(msg_forwarder)
        if not ours and not self._admit(msg_forwarder, peer):
            return
        token = _forwarder.set(msg_forwarder)
        try:
            await super().push_msg(msg_forwarder, msg)
        except Exception as exc:
            if ours:
                raise
            # Runs as a pubsub task: an exception here would end pubsub, and the node with it.
            self._guard.malformed(peer, "gossip message", f"{type(exc).__name__}: {exc}")
        finally:
            _forwarder.reset(token)

    def _admit(self, forwarder, peer: str) -> bool:
        guard = self._guard
        if guard.banned(peer) or not guard.allow_gossip(peer):
            return False
        scorer = self.router.scorer
        if isinstance(scorer, LwScorer) and scorer.below_publish(forwarder):
            guard.ignored_low_score(peer, "message")
            return False
        return True

    def handle_subscription(self, origin_id, sub_message) -> None:
        scorer = self.router.scorer
        if isinstance(scorer, LwScorer) and scorer.graylisted(origin_id):
            self._guard.ignored_low_score(str(origin_id), "subscription")
            return
        super().handle_subscription(origin_id, sub_message)

    def notify_subscriptions(self, publish_message) -> None:
        # Replaces the 32-slot per-topic channel (which drops when full) with a direct call.
        hits["pubsub_direct_deliveries"] += 1
        self._deliver(publish_message, _forwarder.get())


def key_pair_of(identity: Identity) -> KeyPair:
    private = LibKey.from_bytes(identity.seed())
    return KeyPair(private, private.get_public_key())


def build(
    identity: Identity, listen: list[str], gossip: GossipConfig, deliver: Callable, enable_mdns: bool, guard: PeerGuard
):
    """A host (TCP + Noise + yamux) and its GossipSub router and pubsub, not yet running."""
    libp2p_patches.install()  # PeerError if a correctness fix cannot be installed
    key_pair = key_pair_of(identity)
    muxer: type = CancelSafeYamux
    if libp2p_patches.speed_on():
        from .libp2p_speed import FastNoiseTransport as NoiseTransport
        from .libp2p_speed import FastYamux as muxer
    else:
        from libp2p.security.noise.transport import Transport as NoiseTransport
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        # py-libp2p 0.8.1 ignores this class for yamux (libp2p_fixes.install_yamux swaps the name);
        # passed anyway, so a version that honours it needs no swap.
        muxer_opt={YAMUX_PROTOCOL_ID: muxer},
        listen_addrs=[multiaddr.Multiaddr(a) for a in listen],
        enable_mDNS=enable_mdns,
    )
    router = _GuardedGossipSub(
        protocols=list(GOSSIP_PROTOCOLS),
        degree=gossip.degree,
        degree_low=gossip.degree_low,
        degree_high=gossip.degree_high,
        heartbeat_interval=gossip.heartbeat_interval,
        spam_protection_enabled=gossip.rate_limit is not None,
        max_messages_per_topic_per_second=gossip.rate_limit or 1.0,
        # "Adaptive" mode stretches the heartbeat to 30-60 s when it judges the network unhealthy
        # (it does on a fresh, quiet network): predictable beats clever here.
        adaptive_gossip_enabled=False,
    )
    router.scorer = LwScorer(gossip.scoring)
    router.guard = guard
    pubsub = _Pubsub(
        host,
        router,
        deliver=deliver,
        peer_queue_size=gossip.peer_queue_size,
        guard=guard,
        strict_signing=True,  # js-libp2p defaults to StrictSign and rejects unsigned messages
        seen_ttl=gossip.seen_ttl,
    )
    return host, router, pubsub


async def _reset_quietly(stream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        try:
            await stream.reset()
        except Exception:
            pass


def install_stream_guard(host, guard: PeerGuard, drop_peer: Callable[[str], None]) -> None:
    """Contain whatever an inbound stream's handler raises (multistream-select included).

    BasicHost hands every inbound stream to `_swarm_stream_handler` (negotiation, then the
    protocol's handler) through the network's `set_stream_handler`; this puts a guard around it.
    A peer whose handler raised is penalised (`guard.malformed`), its stream reset, and on a
    gossip stream it is disconnected (`drop_peer`): pubsub has lost track of that stream.
    """
    inner = host._swarm_stream_handler

    async def guarded(net_stream) -> None:
        hits["stream_guard"] += 1
        peer = str(net_stream.muxed_conn.peer_id)
        if guard.banned(peer):
            await _reset_quietly(net_stream)
            return
        try:
            await inner(net_stream)
        except Exception as exc:
            protocol = str(net_stream.get_protocol() or "multistream-select")
            guard.malformed(peer, protocol, f"{type(exc).__name__}: {exc}")
            await _reset_quietly(net_stream)
            if protocol in GOSSIP_PROTOCOLS:
                drop_peer(peer)

    host.get_network().set_stream_handler(guarded)
