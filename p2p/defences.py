"""The node's side of p2p/guard.py: wiring the guard to the GossipSub scorer, rate-limited
request handlers, and what is forgotten when a peer goes. Everything runs on the trio thread."""

from __future__ import annotations

import logging

from .errors import ErrorCode, PeerError
from .framing import FramedStream
from .guard import PeerGuard
from .libp2p_fixes import hits
from .reqresp import ProtocolLimits, close_quietly, error_frame, reset_quietly
from .scoring import LwScorer, peer_id_of

logger = logging.getLogger(__name__)


def wire_guard(guard: PeerGuard, scorer: LwScorer, drop_peer) -> None:
    """One score per peer: the guard reads the scorer's and adds its penalties to it (P5)."""
    guard.score_of = lambda peer: scorer.peer_score(peer_id_of(peer))
    guard.is_graylisted = lambda peer: scorer.graylisted(peer_id_of(peer))
    guard.penalize = lambda peer, amount: scorer.penalize_behavior(peer_id_of(peer), amount)
    guard.on_ban = drop_peer


def rate_limited(guard: PeerGuard, protocol_id: str, serve, limits: ProtocolLimits, stats: dict):
    """`serve` behind the per-(peer, protocol) token bucket: over it, the peer is answered BUSY
    before anything is read (the answer's first frame is an ERROR frame, which both the
    request/response and the blob protocols start with) and penalised. Banned peers are reset."""

    async def handle(stream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        if guard.banned(peer):
            await reset_quietly(stream)
            return
        if guard.allow_request(peer, protocol_id, limits.rate, limits.burst):
            await serve(stream)
            return
        stats["rate_limited"] += 1
        rate = limits.rate or guard.config.request_rate
        burst = limits.burst or guard.config.request_burst
        message = f"rate limit: at most {rate:g} requests/s (bursts of {burst:g}) per peer on {protocol_id}"
        try:
            await FramedStream(stream, 5.0).write(error_frame(ErrorCode.BUSY, message), 5.0)
        except PeerError:
            pass
        await close_quietly(stream)

    return handle


def record_ip(scorer: LwScorer, peer_id, addr) -> None:
    """IP colocation (P7): py-libp2p looks for the IP where our connections do not keep it."""
    for protocol in ("ip4", "ip6"):
        try:
            ip = addr.value_for_protocol(protocol)
        except Exception:
            continue
        if ip:
            scorer.add_peer_ip(peer_id, ip)  # skips ScoringConfig.ip_colocation_whitelist
            return


def forget_pubsub_peer(pubsub, scorer: LwScorer, peer_id) -> None:
    """The last connection to a peer closed: forget its pubsub state now. py-libp2p's own
    clean-up counts connections that are closed but not yet removed as alive and keeps the
    peer's subscriptions and queue: those were the ghosts `lwdock status` listed."""
    hits["ghost_peer_cleanups"] += 1
    scorer.remove_peer_ip(peer_id)
    try:
        if peer_id in pubsub.peers:
            del pubsub.peers[peer_id]
            queue = pubsub.peer_queues.pop(peer_id, None)
            if queue is not None:
                queue.close()
            pubsub.router.remove_peer(peer_id)
        pubsub._forget_all_subscriptions(peer_id)
    except Exception:
        logger.exception("cleaning up pubsub state for %s failed", str(peer_id)[:16])
