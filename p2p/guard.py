"""Per-peer defences: penalties, bans and rate limits, shared by every protocol the node speaks.

A hostile peer may send any bytes on any stream. Whatever it does costs *it* (a reset stream, a
dropped connection, a lower score, at last a ban), never the node. `PeerGuard` keeps the books:

* counters per peer: malformed frames (a protocol handler failed on its bytes), invalid gossip
  (a topic validator said "reject"), rate-limited requests and gossip, RPC parts ignored because
  the peer's score was below the publish or graylist threshold;
* the GossipSub v1.1 score comes from py-libp2p's PeerScorer (see p2p/scoring.py); our own
  offences are fed into it as behaviour penalties (P5), so one number ranks a peer;
* bans: a peer with `max_malformed` malformed frames, or a score below `ban_threshold`, is
  disconnected and refused (new connections closed at once) for `ban_seconds`;
* token buckets per (peer, protocol) for request/response and per peer for gossip messages.

Everything here runs on the node's trio thread: no locks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Penalty, ban and rate-limit settings. Every default is documented in docs/PROTOCOL.md 3-4."""

    max_malformed: int = 3  # malformed frames before a ban (each one already costs the stream/connection)
    malformed_penalty: float = 40.0  # behaviour penalty (P5) per malformed frame
    rate_limited_penalty: float = 2.0  # behaviour penalty per request or gossip message over the rate
    low_score_rpc_penalty: float = 1.0  # behaviour penalty per RPC part ignored for a low score
    ban_threshold: float = -400.0  # a score below this bans the peer
    ban_seconds: float = 600.0  # how long a banned peer is refused
    # Request/response (every protocol installed through P2PNode.set_handler), per (peer, protocol):
    request_rate: float = 50.0  # sustained requests per second
    request_burst: float = 500.0  # bucket size: a burst this large is always served
    # Gossip messages (RPC `publish` entries) per forwarding peer, all topics together:
    gossip_rate: float = 500.0
    gossip_burst: float = 5000.0
    max_tracked_peers: int = 10_000  # books kept for at most this many peers (oldest quiet ones dropped)

    def __post_init__(self) -> None:
        if self.max_malformed < 1 or self.ban_seconds < 0 or self.max_tracked_peers < 16:
            raise ValueError("max_malformed >= 1, ban_seconds >= 0, max_tracked_peers >= 16")
        for name in ("request_rate", "request_burst", "gossip_rate", "gossip_burst"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.ban_threshold >= 0:
            raise ValueError("ban_threshold must be < 0")


class TokenBucket:
    """`rate` tokens per second up to `burst`; take() spends one, False when none is left."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class PeerBook:
    malformed: int = 0
    invalid_messages: int = 0
    rate_limited: int = 0
    ignored_low_score: int = 0
    last_offence: str = ""
    banned_until: float = 0.0  # time.monotonic(); 0 = never banned
    ban_reason: str = ""
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    touched: float = 0.0


class PeerGuard:
    """The books on every peer. `score_of(peer_id_str) -> float` and `penalize(peer_id_str,
    amount)` connect it to the GossipSub scorer; `on_ban(peer_id_str)` disconnects."""

    def __init__(self, config: GuardConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.books: dict[str, PeerBook] = {}
        self.score_of: Callable[[str], float] = lambda peer: 0.0
        self.is_graylisted: Callable[[str], bool] = lambda peer: False
        self.penalize: Callable[[str, float], None] = lambda peer, amount: None
        self.on_ban: Callable[[str], None] = lambda peer: None

    # ---- bookkeeping -------------------------------------------------------------------------

    def book(self, peer: str) -> PeerBook:
        book = self.books.get(peer)
        if book is None:
            if len(self.books) >= self.config.max_tracked_peers:
                self._forget_oldest()
            book = self.books[peer] = PeerBook()
        book.touched = self.clock()
        return book

    def _forget_oldest(self) -> None:
        now = self.clock()
        quiet = [p for p, b in self.books.items() if b.banned_until <= now]
        for peer in sorted(quiet, key=lambda p: self.books[p].touched)[: max(1, len(quiet) // 10)]:
            del self.books[peer]

    # ---- offences ----------------------------------------------------------------------------

    def malformed(self, peer: str, protocol: str, reason: str) -> None:
        """The peer's bytes broke `protocol`'s wire format (its stream was reset already)."""
        book = self.book(peer)
        book.malformed += 1
        book.last_offence = f"malformed {protocol}: {reason}"[:200]
        logger.warning("peer %s sent a malformed frame on %s (%s); %d so far",
                       peer[:16], protocol, reason[:120], book.malformed)
        self.penalize(peer, self.config.malformed_penalty)
        if book.malformed >= self.config.max_malformed:
            self.ban(peer, f"{book.malformed} malformed frames")
        else:
            self.check_score(peer)

    def invalid_message(self, peer: str, topic: str) -> None:
        """A topic validator rejected a message this peer forwarded (counted in P4 by the scorer)."""
        book = self.book(peer)
        book.invalid_messages += 1
        book.last_offence = f"invalid message on {topic}"
        self.check_score(peer)

    def ignored_low_score(self, peer: str, what: str) -> None:
        book = self.book(peer)
        book.ignored_low_score += 1
        self.penalize(peer, self.config.low_score_rpc_penalty)
        if book.ignored_low_score % 100 == 1:
            logger.info("ignoring %s from low-scored peer %s (score %.1f)", what, peer[:16], self.score_of(peer))
        self.check_score(peer)

    def allow_request(self, peer: str, protocol: str, rate: float = 0.0, burst: float = 0.0) -> bool:
        """Spend one token of the peer's bucket for `protocol`; False (and a penalty) when empty.
        `rate`/`burst` of 0 mean the node's defaults (GuardConfig.request_rate/request_burst)."""
        cfg = self.config
        return self._take(peer, protocol, rate or cfg.request_rate, burst or cfg.request_burst)

    def allow_gossip(self, peer: str) -> bool:
        cfg = self.config
        return self._take(peer, "gossip", cfg.gossip_rate, cfg.gossip_burst)

    def _take(self, peer: str, key: str, rate: float, burst: float) -> bool:
        book = self.book(peer)
        now = self.clock()
        bucket = book.buckets.get(key)
        if bucket is None:
            bucket = book.buckets[key] = TokenBucket(rate, burst, now)
        if bucket.take(now):
            return True
        book.rate_limited += 1
        book.last_offence = f"over the rate limit on {key}"
        if book.rate_limited % 100 == 1:
            logger.info("peer %s is over its rate limit on %s (%.0f/s, burst %.0f)", peer[:16], key, rate, burst)
        self.penalize(peer, self.config.rate_limited_penalty)
        self.check_score(peer)
        return False

    # ---- bans --------------------------------------------------------------------------------

    def check_score(self, peer: str) -> None:
        if not self.banned(peer) and self.score_of(peer) < self.config.ban_threshold:
            self.ban(peer, f"score {self.score_of(peer):.0f} below {self.config.ban_threshold:.0f}")

    def ban(self, peer: str, reason: str) -> None:
        book = self.book(peer)
        book.banned_until = self.clock() + self.config.ban_seconds
        book.ban_reason = reason
        logger.warning("banning peer %s for %.0f s: %s", peer[:16], self.config.ban_seconds, reason)
        try:
            self.on_ban(peer)
        except Exception:
            logger.exception("disconnecting banned peer %s failed", peer[:16])

    def banned(self, peer: str) -> bool:
        book = self.books.get(peer)
        return book is not None and book.banned_until > self.clock()

    # ---- report ------------------------------------------------------------------------------

    def penalties(self) -> dict[str, dict]:
        """See P2PNode.peer_penalties for the shape."""
        now = self.clock()
        out = {}
        for peer, book in self.books.items():
            score = self.score_of(peer)
            offended = book.malformed or book.invalid_messages or book.rate_limited or book.ignored_low_score
            if not offended and score >= 0 and book.banned_until <= now:
                continue  # nothing to report about an honest peer
            out[peer] = {
                "score": round(score, 2),
                "malformed_frames": book.malformed,
                "invalid_messages": book.invalid_messages,
                "rate_limited": book.rate_limited,
                "ignored_low_score": book.ignored_low_score,
                "graylisted": self.is_graylisted(peer),
                "banned": book.banned_until > now,
                "banned_for_s": round(max(0.0, book.banned_until - now), 1),
                "ban_reason": book.ban_reason,
                "last_offence": book.last_offence,
            }
        return out
