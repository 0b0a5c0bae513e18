"""What a P2PNode reports: plain frozen dataclasses, safe to hand to any thread."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GossipMessage:
    """A message accepted on a subscribed topic (also what a topic validator is shown).

    `source` is the publisher (the message's signed `from`); `forwarder` the peer that handed it
    to us, the one to hold responsible for an invalid message. `msg_id` = from || seqno.
    """

    topic: str
    data: bytes
    source: str
    forwarder: str
    seqno: int
    msg_id: bytes


@dataclass(frozen=True, slots=True)
class PeerConnected:
    peer_id: str
    addr: str  # the remote multiaddr of the connection, "" when libp2p does not know it


@dataclass(frozen=True, slots=True)
class PeerDisconnected:
    peer_id: str


Event = GossipMessage | PeerConnected | PeerDisconnected
