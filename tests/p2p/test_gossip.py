"""GossipSub through P2PNode: bursts arrive whole, validators drop what they reject."""

from __future__ import annotations

import queue

import pytest

from p2p import GossipMessage, PeerConnected, PeerDisconnected, PeerError
from tests.p2p.conftest import connect_line, wait_topic_mesh, wait_until

TOPIC = "/lwdock/test/1"


def drain(q: queue.Queue, kind=GossipMessage) -> list:
    out = []
    while True:
        try:
            event = q.get_nowait()
        except queue.Empty:
            return out
        if isinstance(event, kind):
            out.append(event)


def collect(q: queue.Queue, want: int, timeout: float = 20.0) -> list[GossipMessage]:
    got: list[GossipMessage] = []
    wait_until(lambda: (got.extend(drain(q)), len(got) >= want)[1], timeout, message=f"{want} messages")
    return got


def test_burst_of_100_reaches_every_node_in_a_line(make_node):
    a, b, c = (make_node(topics=[TOPIC]) for _ in range(3))
    queues = {n.peer_id: n.open_event_queue() for n in (a, b, c)}
    connect_line([a, b, c])
    wait_topic_mesh([a, b, c], TOPIC)
    for i in range(100):
        a.publish(TOPIC, b"burst-%03d" % i)
    for node in (b, c):
        got = collect(queues[node.peer_id], 100)
        assert sorted(m.data for m in got) == [b"burst-%03d" % i for i in range(100)]
        assert {m.source for m in got} == {a.peer_id}
        assert all(m.topic == TOPIC and m.msg_id.endswith(m.seqno.to_bytes(8, "big")) for m in got)
    assert {m.forwarder for m in collect(queues[c.peer_id], 0)} <= {b.peer_id}
    assert drain(queues[a.peer_id]) == []  # our own publishes are not echoed back as events
    # The silent-drop fix is in place: peer queues were enlarged from py-libp2p's 32.
    assert all(q._queue.max_size >= 10_000 for q in b._pubsub.peer_queues.values())


def test_validator_rejects_are_neither_delivered_nor_forwarded(make_node):
    seen_by_c: list[bytes] = []

    def b_rule(msg: GossipMessage):
        if msg.data.startswith(b"bad"):
            return "reject"
        if msg.data.startswith(b"meh"):
            return "ignore"
        return True

    def c_rule(msg: GossipMessage):
        seen_by_c.append(msg.data)
        return True

    a = make_node(topics=[TOPIC])
    b = make_node(topics=[TOPIC], validator=b_rule)
    c = make_node(topics=[TOPIC], validator=c_rule)
    qb, qc = b.open_event_queue(), c.open_event_queue()
    connect_line([a, b, c])
    wait_topic_mesh([a, b, c], TOPIC)
    for data in (b"bad-1", b"meh-1", b"good-1", b"bad-2", b"good-2"):
        a.publish(TOPIC, data)
    got_c = collect(qc, 2)
    wait_until(lambda: b.stats()["gossip_rejected"] == 2 and b.stats()["gossip_ignored"] == 1, message="b's verdicts")
    got_b = drain(qb)
    assert sorted(m.data for m in got_c) == [b"good-1", b"good-2"]
    assert sorted(m.data for m in got_b) == [b"good-1", b"good-2"]
    assert all(not d.startswith((b"bad", b"meh")) for d in seen_by_c)  # never even reached c
    assert b.stats()["gossip_rejected_by_peer"] == {a.peer_id: 2}


def test_a_raising_validator_counts_as_reject_and_the_node_stays_up(make_node):
    def broken(msg):
        raise ValueError("validator bug")

    a = make_node(topics=[TOPIC])
    b = make_node(topics=[TOPIC], validator=broken)
    connect_line([a, b])
    wait_topic_mesh([a, b], TOPIC)
    a.publish(TOPIC, b"x")
    wait_until(lambda: b.stats()["gossip_rejected"] == 1, message="reject counted")
    b.set_handler("/ping/1", lambda peer, data: data)
    assert a.request(b.peer_id, "/ping/1", b"alive") == b"alive"


def test_oversized_publish_is_refused(make_node):
    a = make_node(topics=[TOPIC])
    with pytest.raises(PeerError, match="max_message_size"):
        a.publish(TOPIC, b"x" * (a.config.gossip.max_message_size + 1))


def test_peer_events_and_subscribe_after_start(make_node):
    a, b = make_node(), make_node()
    qa = a.open_event_queue()
    a.connect(b.addrs[0])
    event = wait_until(lambda: next(iter(drain(qa, PeerConnected)), None), message="PeerConnected")
    assert event.peer_id == b.peer_id and event.addr.startswith("/ip4/127.0.0.1/tcp/")
    assert a.peers() == [b.peer_id]
    a.subscribe(TOPIC)
    b.subscribe(TOPIC)
    wait_topic_mesh([a, b], TOPIC)
    b.stop()
    gone = wait_until(lambda: next(iter(drain(qa, PeerDisconnected)), None), message="PeerDisconnected")
    assert gone.peer_id == b.peer_id
    wait_until(lambda: a.peers() == [], message="peer list empty")
