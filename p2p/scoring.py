"""GossipSub v1.1 peer scoring on py-libp2p 0.8.1's PeerScorer, with what it leaves out filled in.

What py-libp2p 0.8.1 has (pubsub/score.py, pubsub/gossipsub.py): decayed counters P1-P4 per
topic, P5 behaviour penalties, P7 IP colocation (exact IP and /24), thresholds for publish,
gossip, graylist and PX, and gates for publish (Pubsub.push_msg), gossip emission, GRAFT and
mesh selection. Every weight defaults to 0 and every threshold to -inf: scoring is off.

What it lacks, and where it is added:

* parameters: `ScoringConfig` below (documented in docs/PROTOCOL.md section 3);
* graylisting proper (the spec: a graylisted peer's RPCs are ignored): `_GuardedGossipSub`
  ignores the control part, `host._Pubsub` the messages and subscriptions;
* invalid messages: py-libp2p counts every failed validation, "ignore" included; here only a
  validator's "reject" counts (p2p/gossip.py TopicGate calls `count_invalid`);
* a score that survives a reconnect: py-libp2p forgets a peer's counters when it disconnects, so
  an attacker would reset its score by reconnecting. `LwScorer.remove_peer` keeps the counters of
  a peer with penalties until they have decayed away;
* IP colocation: py-libp2p reads the peer's IP from an attribute our yamux connections do not
  have, so it never counts; the node records the IP itself on connect (`track_ip`), skipping the
  addresses in `ip_colocation_whitelist` (loopback by default: see ScoringConfig).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.score import PeerScorer, ScoreParams, TopicScoreParams

from .libp2p_fixes import hits

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Weights are per event, decays per 1 s heartbeat (0.999: half-life ~11.5 min)."""

    first_delivery_weight: float = 1.0  # P2: +1 per first delivery of a valid message ...
    first_delivery_cap: float = 20.0  # ... counting at most 20 of them (decay 0.995/s)
    invalid_message_weight: float = 10.0  # P4: -10 per message a validator rejected ...
    invalid_message_cap: float = 1000.0
    behaviour_weight: float = 1.0  # P5: -1 per penalty point above the threshold
    behaviour_threshold: float = 10.0  # small accidents (a GRAFT in backoff) cost nothing
    penalty_decay: float = 0.999  # P4 and P5
    ip_colocation_weight: float = 10.0  # P7: -10 x (peers on one IP above the threshold)^2
    ip_colocation_threshold: int = 10
    # Loopback peers are exempt: they run on this machine (tests, several docks of one user), and
    # the colocation defence is against Sybils behind one remote address. Set () to count them too.
    ip_colocation_whitelist: tuple[str, ...] = ("127.0.0.1", "::1")
    gossip_threshold: float = -10.0  # below: no IHAVE gossip to or from the peer
    publish_threshold: float = -50.0  # below: its messages are dropped before validation
    graylist_threshold: float = -80.0  # below: every RPC from it is ignored
    accept_px_threshold: float = 10.0

    def __post_init__(self) -> None:
        if not self.graylist_threshold < self.publish_threshold < self.gossip_threshold <= 0:
            raise ValueError("need graylist_threshold < publish_threshold < gossip_threshold <= 0")
        if not 0 < self.penalty_decay <= 1:
            raise ValueError("penalty_decay must be in (0, 1]")

    def params(self) -> ScoreParams:
        # py-libp2p subtracts P4, P5 and P7 (weight x counter), so their weights are positive here.
        return ScoreParams(
            p2_first_message_deliveries=TopicScoreParams(self.first_delivery_weight, self.first_delivery_cap, 0.995),
            p4_invalid_messages=TopicScoreParams(
                self.invalid_message_weight, self.invalid_message_cap, self.penalty_decay
            ),
            p5_behavior_penalty_weight=self.behaviour_weight,
            p5_behavior_penalty_decay=self.penalty_decay,
            p5_behavior_penalty_threshold=self.behaviour_threshold,
            p7_ip_colocation_weight=self.ip_colocation_weight,
            p7_ip_colocation_threshold=self.ip_colocation_threshold,
            publish_threshold=self.publish_threshold,
            gossip_threshold=self.gossip_threshold,
            graylist_threshold=self.graylist_threshold,
            accept_px_threshold=self.accept_px_threshold,
        )


@functools.lru_cache(maxsize=4096)
def peer_id_of(text: str) -> ID:
    return ID.from_base58(text)


class LwScorer(PeerScorer):
    def __init__(self, config: ScoringConfig):
        super().__init__(config.params())
        self.config = config
        self.topics: tuple[str, ...] = ()  # the topics we subscribe to (the node keeps it current)
        self._departed: set[ID] = set()

    # P4 counts only a validator's "reject"; py-libp2p calls this for "ignore" too.
    def on_invalid_message(self, peer: ID, topic: str) -> None:
        pass

    def count_invalid(self, peer: ID, topic: str) -> None:
        super().on_invalid_message(peer, topic)

    def add_peer_ip(self, peer: ID, ip_str: str) -> None:
        if ip_str in self.config.ip_colocation_whitelist:
            return
        super().add_peer_ip(peer, ip_str)

    def _penalised(self, peer: ID) -> bool:
        invalid = sum(self.invalid_messages.get(peer, {}).values())
        return invalid > 0.5 or self.behavior_penalty.get(peer, 0.0) > 0.5

    def remove_peer(self, peer: ID) -> None:
        if self._penalised(peer):
            self.remove_peer_ip(peer)  # keep the penalties: reconnecting must not wipe them
            self._departed.add(peer)
            return
        super().remove_peer(peer)

    def on_heartbeat(self, dt_seconds: float = 1.0) -> None:
        super().on_heartbeat(dt_seconds)
        for peer in [p for p in self._departed if not self._penalised(p)]:
            self._departed.discard(peer)
            super().remove_peer(peer)

    def peer_score(self, peer: ID) -> float:
        return self.score(peer, list(self.topics))

    def graylisted(self, peer: ID) -> bool:
        return self.peer_score(peer) < self.params.graylist_threshold

    def below_publish(self, peer: ID) -> bool:
        return self.peer_score(peer) < self.params.publish_threshold


class _GuardedGossipSub(GossipSub):
    """GossipSub whose control messages from a graylisted peer are ignored (spec v1.1)."""

    guard = None  # the PeerGuard, set by host.build

    async def handle_rpc(self, rpc, sender_peer_id: ID) -> None:
        hits["gossipsub_guarded_rpcs"] += 1
        scorer = self.scorer
        if isinstance(scorer, LwScorer) and scorer.graylisted(sender_peer_id):
            if self.guard is not None:
                self.guard.ignored_low_score(str(sender_peer_id), "control message")
            return
        await super().handle_rpc(rpc, sender_peer_id)

    def remove_peer(self, peer_id: ID) -> None:
        # py-libp2p's remove_peer leaves the peer's rate-limit timestamps behind: after churn,
        # one entry per peer that ever connected.
        super().remove_peer(peer_id)
        table = getattr(self, "message_rate_limits", None)
        if isinstance(table, dict):
            table.pop(peer_id, None)
