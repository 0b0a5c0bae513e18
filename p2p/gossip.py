"""Topic validators and message delivery: the glue between py-libp2p's pubsub and our events.

All of this runs on the node's trio thread (py-libp2p calls validators there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from libp2p.peer.id import ID

from .events import GossipMessage

logger = logging.getLogger(__name__)

Verdict = bool | Literal["accept", "reject", "ignore"]
Validator = Callable[[GossipMessage], Verdict]


def to_message(topic: str, msg, forwarder) -> GossipMessage:
    return GossipMessage(
        topic=topic,
        data=bytes(msg.data),
        source=str(ID(msg.from_id)),
        forwarder=str(forwarder) if forwarder is not None else "",
        seqno=int.from_bytes(msg.seqno, "big"),
        msg_id=bytes(msg.from_id) + bytes(msg.seqno),  # the network's message-id rule
    )


class TopicGate:
    """The validator py-libp2p runs for one topic: size limit, then the caller's validator.

    "reject" and "ignore" both drop the message (it is neither delivered nor forwarded). A
    reject (an oversized message, a validator's "reject" or exception) is held against the
    forwarding peer: counted, and `on_reject(forwarder, topic)` lowers its GossipSub score (P4
    invalid messages). An "ignore" costs the peer nothing: validators must return "ignore" for
    messages that are well-formed but unwanted here (local policy, quotas, duplicates).
    """

    def __init__(self, topic: str, validator: Validator | None, self_id, max_size: int, stats: dict,
                 on_reject: Callable | None = None):
        self.topic = topic
        self.validator = validator
        self.self_id = self_id
        self.max_size = max_size
        self.stats = stats
        self.on_reject = on_reject

    def __call__(self, forwarder, msg) -> bool:
        if forwarder == self.self_id:
            return True  # our own publish: the caller checked it before publishing
        if len(msg.data) > self.max_size:
            logger.info("dropped a %d-byte message on %s from %s (limit %d bytes)",
                        len(msg.data), self.topic, str(forwarder)[:16], self.max_size)
            self._count_reject(forwarder)
            return False
        if self.validator is None:
            return True
        try:
            verdict = self.validator(to_message(self.topic, msg, forwarder))
        except Exception:
            logger.exception("validator for topic %r raised; treating the message as rejected", self.topic)
            verdict = False
        if verdict is True or verdict == "accept":
            return True
        if verdict == "ignore":
            self.stats["gossip_ignored"] += 1
        else:
            self._count_reject(forwarder)
        return False

    def _count_reject(self, forwarder) -> None:
        self.stats["gossip_rejected"] += 1
        per_peer = self.stats.setdefault("gossip_rejected_by_peer", {})
        key = str(forwarder)
        per_peer[key] = per_peer.get(key, 0) + 1
        if self.on_reject is not None:
            self.on_reject(forwarder, self.topic)
