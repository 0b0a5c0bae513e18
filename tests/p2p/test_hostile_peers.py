"""Hostile peers: garbage on every protocol, floods, invalid gossip, connection churn.

Every attack is followed by the honest path: the attacked node accepts a NEW peer, gossips with
it both ways and answers its request.
"""

from __future__ import annotations

import random
import signal
import socket
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trio

from p2p import ErrorCode, GossipMessage, PeerError, ProtocolLimits, RemoteError
from p2p.framing import encode_frame
from p2p.node import NodeConfig
from tests.p2p.conftest import wait_until

TOPIC = "/lwdock/test/1"
ECHO = "/lwdock/test-echo/1.0.0"
ROOT = Path(__file__).resolve().parents[2]


def echo(peer_id: str, data: bytes) -> bytes:
    return data[::-1]


def _valid_rpc() -> bytes:
    from libp2p.pubsub.pb import rpc_pb2

    rpc = rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=TOPIC * 4)])
    return rpc.SerializeToString()


GARBAGE = {
    "3-bytes": b"\x02\xff\xff",  # a frame of 2 bytes that no protobuf parses
    "3-bytes-endless-varint": b"\xde\xad\xbe",
    "huge-varint-length": b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f" + b"x" * 64,
    "truncated-protobuf": encode_frame(_valid_rpc()[:-5]),
    "valid-length-random": encode_frame(random.Random(11).randbytes(200)),
}
PROTOCOLS = (
    "/meshsub/1.0.0",
    "/meshsub/1.1.0",
    "/meshsub/1.2.0",
    "/ipfs/id/1.0.0",
    "/ipfs/id/push/1.0.0",
    "/ipfs/ping/1.0.0",
    ECHO,
)


def raw_attack(attacker, victim, protocol: str, payload: bytes) -> None:
    """Open `protocol` to the victim by hand, write `payload`, read until the victim gives up."""
    from p2p import peers

    async def go() -> None:
        stream = await peers.open_stream(attacker._host, victim.peer_id, protocol)  # redials if need be
        await stream.write(payload)
        with trio.move_on_after(3):
            try:
                await stream.close_write()
                while await stream.read(65536):
                    pass
            except Exception:  # reset or EOF: the victim is done with us
                pass
        try:
            await stream.reset()
        except Exception:
            pass

    attacker._call(go)


def assert_serves_a_new_honest_peer(make_node, victim, victim_events) -> None:
    honest = make_node(topics=[TOPIC])
    honest_events = honest.open_event_queue()
    honest.connect(victim.addrs[0])
    wait_until(lambda: victim.peer_id in honest.topic_peers(TOPIC) and honest.peer_id in victim.topic_peers(TOPIC),
               15, message="the honest peer and the victim see each other's subscription")
    assert honest.request(victim.peer_id, ECHO, b"still here") == b"ereh llits"
    expect_message(honest, victim, victim_events, b"to the victim from " + honest.peer_id.encode())
    expect_message(victim, honest, honest_events, b"from the victim to " + honest.peer_id.encode())


def expect_message(sender, receiver, receiver_events, data: bytes, timeout: float = 15.0) -> None:
    """Publish until it arrives (the first publish may race the mesh), within a deadline."""
    got: list[bytes] = []

    def arrived() -> bool:
        while not receiver_events.empty():
            event = receiver_events.get_nowait()
            if isinstance(event, GossipMessage):
                got.append(event.data)
        if data in got:
            return True
        sender.publish(TOPIC, data)
        return False

    wait_until(arrived, timeout, interval=0.3, message=f"{data[:30]!r} delivered")


@pytest.fixture
def victim(make_node):
    node = make_node(topics=[TOPIC])
    node.set_handler(ECHO, echo, ProtocolLimits(max_request=1024))
    return node, node.open_event_queue()


@pytest.mark.parametrize("garbage", list(GARBAGE), ids=list(GARBAGE))
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_garbage_costs_the_attacker_never_the_node(make_node, victim, protocol, garbage):
    node, events = victim
    attacker = make_node(topics=[TOPIC])
    attacker.connect(node.addrs[0])
    raw_attack(attacker, node, protocol, GARBAGE[garbage])
    assert node.running and node.stats()["restarts"] == 0
    if protocol.startswith("/meshsub/") and garbage not in ("3-bytes-endless-varint", "huge-varint-length"):
        # A malformed gossip RPC costs the attacker its connection, and is on its record. (An
        # unfinished varint is an EOF; a huge length py-libp2p refuses itself: the stream only.)
        wait_until(lambda: attacker.peer_id not in node.peers(), 10, message="the attacker disconnected")
        assert node.peer_penalties()[attacker.peer_id]["malformed_frames"] >= 1
    assert_serves_a_new_honest_peer(make_node, node, events)


YAMUX = struct.Struct(">BBHII")  # version, type, flags, stream id, length
CONNECTION_GARBAGE = {
    "tcp-before-multistream": ("tcp", b"\xde\xad\xbe"),
    "noise-handshake-garbage": ("tcp", b"\x13/multistream/1.0.0\n\x07/noise\n" + b"\x00\x20" + b"A" * 32),
    "noise-bad-mac": ("noise", b"\x00\x20" + b"B" * 32),
    "yamux-unknown-type": ("yamux", YAMUX.pack(0, 9, 0, 1, 0)),
    "yamux-bad-version": ("yamux", YAMUX.pack(7, 0, 0, 1, 0)),
    "yamux-huge-data-frame": ("yamux", YAMUX.pack(0, 0, 2, 77, 2**31) + b"z" * 100),
    # legal yamux (go-yamux discards it too): the bytes are dropped, the connection stays
    "yamux-data-for-unknown-stream": ("yamux-legal", YAMUX.pack(0, 0, 0, 1001, 5) + b"hello"),
    "multistream-garbage": ("stream", b"\x05hello\xff\xff\xff"),
}


@pytest.mark.parametrize("attack", list(CONNECTION_GARBAGE))
def test_garbage_below_the_protocols_costs_the_connection_only(make_node, victim, attack):
    """Raw TCP, Noise, yamux and multistream-select garbage (the transport readers of
    p2p/libp2p_fixes.py and py-libp2p's negotiation)."""
    node, events = victim
    layer, payload = CONNECTION_GARBAGE[attack]
    if layer == "tcp":
        port = int(node.addrs[0].split("/")[4])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(5)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    else:
        attacker = make_node()
        attacker.connect(node.addrs[0])

        async def send() -> None:
            from libp2p.peer.id import ID

            conn = attacker._host.get_network().get_connections(ID.from_base58(node.peer_id))[0]
            if layer == "noise":
                await conn.muxed_conn.secured_conn.conn._raw.write(payload)
            elif layer.startswith("yamux"):
                await conn.muxed_conn.secured_conn.write(payload)
            else:
                stream = await conn.muxed_conn.open_stream()
                await stream.write(payload)

        attacker._call(send)
        if layer in ("noise", "yamux"):
            wait_until(lambda: attacker.peer_id not in node.peers(), 10, message="the attacker's connection closed")
    assert node.running and node.stats()["restarts"] == 0
    assert_serves_a_new_honest_peer(make_node, node, events)


def test_garbage_answer_to_our_identify_is_contained(make_node, victim):
    """The victim identifies every peer that connects: a peer answering with garbage."""
    from libp2p.custom_types import TProtocol

    node, events = victim
    attacker = make_node()

    async def garbage_identify(stream) -> None:
        await stream.write(GARBAGE["valid-length-random"])
        await stream.close()

    attacker._call_sync(attacker._host.set_stream_handler, TProtocol("/ipfs/id/1.0.0"), garbage_identify)
    attacker.connect(node.addrs[0])
    wait_until(lambda: node._call_sync(lambda: _identified(node, attacker)), 10, message="the victim tried identify")
    assert node.running and node.stats()["restarts"] == 0
    assert_serves_a_new_honest_peer(make_node, node, events)


def _identified(node, attacker) -> bool:
    from libp2p.peer.id import ID

    return ID.from_base58(attacker.peer_id) not in node._host._identify_inflight


def test_a_message_that_breaks_pubsub_costs_its_forwarder(make_node, victim):
    """A well-framed RPC whose message carries an unparseable public key: py-libp2p's signature
    check raises in a pubsub task, which used to end pubsub (and the node's networking)."""
    from libp2p.pubsub.pb import rpc_pb2

    node, events = victim
    attacker = make_node()
    attacker.connect(node.addrs[0])
    message = rpc_pb2.Message(from_id=b"\x12\x20" + bytes(32), data=b"x", seqno=bytes(8), topicIDs=[TOPIC],
                              signature=b"s" * 64, key=b"not a key")
    raw_attack(attacker, node, "/meshsub/1.1.0", encode_frame(rpc_pb2.RPC(publish=[message]).SerializeToString()))
    wait_until(lambda: node.peer_penalties().get(attacker.peer_id, {}).get("malformed_frames"), 10,
               message="the message counted against its forwarder")
    assert node.running and node.stats()["restarts"] == 0
    assert_serves_a_new_honest_peer(make_node, node, events)


def test_repeat_offender_is_banned_and_refused(make_node, victim):
    node, events = victim
    attacker = make_node()
    for _ in range(3):
        wait_until(lambda: _connects(attacker, node), 10, message="the attacker connected")
        raw_attack(attacker, node, "/meshsub/1.1.0", GARBAGE["3-bytes"])
        wait_until(lambda: attacker.peer_id not in node.peers() and node.peer_id not in attacker.peers(), 10,
                   message="the attacker disconnected")
    record = node.peer_penalties()[attacker.peer_id]
    assert record["banned"] and record["malformed_frames"] == 3 and record["banned_for_s"] > 500
    assert record["ban_reason"] == "3 malformed frames" and "/meshsub/1.1.0" in record["last_offence"]
    # refused: a new connection is closed at once and never listed
    _connects(attacker, node)
    wait_until(lambda: node.peer_id not in attacker.peers(), 10, message="the banned attacker's connection closed")
    assert attacker.peer_id not in node.peers()
    with pytest.raises(PeerError, match="banned: 3 malformed frames"):
        node.connect(attacker.addrs[0])  # nor do we dial it
    assert_serves_a_new_honest_peer(make_node, node, events)


def _connects(client, server) -> bool:
    try:
        client.connect(server.addrs[0])
        return True
    except Exception:
        return False


def test_a_flooding_peer_is_rate_limited_while_others_are_served(make_node):
    server, flooder, other = make_node(), make_node(), make_node()
    server.set_handler(ECHO, echo, ProtocolLimits(rate=2, burst=5))
    for client in (flooder, other):
        client.connect(server.addrs[0])
    refusals = []
    for _ in range(20):
        try:
            flooder.request(server.peer_id, ECHO, b"flood")
        except RemoteError as exc:
            refusals.append(exc)
    assert len(refusals) >= 10
    assert all(e.code == ErrorCode.BUSY and "rate limit: at most 2 requests/s" in e.message for e in refusals)
    assert other.request(server.peer_id, ECHO, b"mine") == b"enim"  # another peer's bucket is its own
    assert server.peer_penalties()[flooder.peer_id]["rate_limited"] == len(refusals)
    assert other.peer_id not in server.peer_penalties()
    assert server.stats()[ECHO]["rate_limited"] == len(refusals)
    # the bucket refills: after a pause the flooder is served again
    wait_until(lambda: _served(flooder, server), 5, interval=0.3, message="the flooder served again")


def _served(client, server) -> bool:
    try:
        return client.request(server.peer_id, ECHO, b"ab") == b"ba"
    except RemoteError:
        return False


def test_default_limits_serve_an_honest_burst(make_node):
    """A sync of 50,000 records in pages of 200 is 250 requests, sent back to back: never refused."""
    server, client = make_node(), make_node()
    server.set_handler(ECHO, echo)
    client.connect(server.addrs[0])
    for i in range(250):
        assert client.request(server.peer_id, ECHO, b"page %d" % i) == (b"page %d" % i)[::-1]
    assert server.stats()[ECHO]["rate_limited"] == 0 and server.peer_penalties() == {}


def test_invalid_gossip_graylists_the_sender_and_its_valid_messages_are_ignored(make_node):
    victim = make_node(topics=[TOPIC], validator=lambda m: "reject" if m.data.startswith(b"bad") else "accept")
    events = victim.open_event_queue()
    attacker, honest = make_node(), make_node(topics=[TOPIC])  # attacker publishes by fanout: straight to us
    attacker.connect(victim.addrs[0])
    honest.connect(victim.addrs[0])
    wait_until(lambda: victim.peer_id in attacker.topic_peers(TOPIC), 10, message="attacker sees the topic")
    for i in range(80):
        attacker.publish(TOPIC, b"bad %d" % i)
    wait_until(lambda: victim.peer_penalties().get(attacker.peer_id, {}).get("graylisted"), 15,
               message="the attacker graylisted")
    record = victim.peer_penalties()[attacker.peer_id]
    assert record["invalid_messages"] >= 5 and record["score"] < -80 and not record["banned"]
    ignored = record["ignored_low_score"]
    attacker.publish(TOPIC, b"good from the attacker")
    wait_until(lambda: victim.peer_penalties()[attacker.peer_id]["ignored_low_score"] > ignored, 10,
               message="the attacker's valid message arrived and was ignored")
    expect_message(honest, victim, events, b"good from the honest peer")
    delivered = [e.data for e in _drain(events) if isinstance(e, GossipMessage)]
    assert b"good from the attacker" not in delivered and not any(d.startswith(b"bad") for d in delivered)
    assert honest.peer_id not in victim.peer_penalties()


def _drain(q) -> list:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_ip_colocation_is_counted_except_for_whitelisted_addresses(make_node):
    from p2p.host import GossipConfig
    from p2p.scoring import ScoringConfig

    counted = GossipConfig(scoring=ScoringConfig(ip_colocation_whitelist=(), ip_colocation_threshold=1))
    node = make_node(topics=[TOPIC], config=NodeConfig(gossip=counted))
    default = make_node(topics=[TOPIC])
    sybils = [make_node(topics=[TOPIC]) for _ in range(3)]
    for sybil in sybils:
        sybil.connect(node.addrs[0])
        sybil.connect(default.addrs[0])
    wait_until(lambda: len(node.peers()) == 3 and len(default.peers()) == 3, 10, message="all connected")
    # 3 peers on 127.0.0.1 with a threshold of 1: each scores -10 x (3 - 1)^2 = -40
    scores = node._call_sync(lambda: [node._router.scorer.peer_score(p) for p in node._pubsub.peers])
    assert len(scores) == 3 and all(s < -30 for s in scores)
    # by default loopback is exempt: the same three peers score nothing for colocation
    assert default._call_sync(lambda: [default._router.scorer.peer_score(p) for p in default._pubsub.peers]) == [
        0.0
    ] * 3


def _start_peer_process(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    tmp_path.mkdir(exist_ok=True)
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.p2p.blob_provider", str(blob)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    addr = proc.stdout.readline().strip()
    assert addr.startswith("/ip4/127.0.0.1/tcp/"), proc.stderr.read()
    return proc, addr


def _both(first, second) -> None:
    """Run two calls at once (simultaneous dials and hang-ups are where ghosts came from)."""
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            try:
                future.result()
            except PeerError:
                pass  # one of two simultaneous dials may lose


def test_no_ghost_peers_after_churn_and_kills(make_node, tmp_path):
    """Issue 11 case 8: 10-16 stale peers listed after churn. Each round, 4 fresh peers dial the
    hub while it dials them, both sides hang up at once, half reconnect, then all stop; then
    3 peer processes are SIGKILLed. Nothing may stay listed (before the fix, every stopped peer
    that had dialled the hub did)."""
    hub = make_node(topics=[TOPIC])
    for round_ in range(3):
        others = [make_node(topics=[TOPIC]) for _ in range(4)]
        for other in others:
            _both(lambda o=other: o.connect(hub.addrs[0]), lambda o=other: hub.connect(o.addrs[0]))
        wait_until(lambda: len(hub.topic_peers(TOPIC)) == 4, 15, message=f"round {round_}: 4 subscribers")
        for i, other in enumerate(others):
            _both(lambda o=other: o.disconnect(hub.peer_id), lambda o=other: hub.disconnect(o.peer_id))
            if i % 2:
                _both(lambda o=other: o.connect(hub.addrs[0]), lambda o=other: hub.disconnect(o.peer_id))
        for other in others:
            other.stop()
        wait_until(lambda: hub.peers() == [] and hub.topic_peers(TOPIC) == [], 15,
                   message=f"round {round_}: no peer listed once every peer stopped")
    procs = [_start_peer_process(tmp_path / str(i)) for i in range(3)]
    try:
        for _proc, addr in procs:
            hub.connect(addr)
        wait_until(lambda: len(hub.peers()) == 3, 10, message="3 processes connected")
        for proc, _addr in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        wait_until(lambda: hub.peers() == [], 20, message="killed peers no longer listed")
        wait_until(lambda: hub._call_sync(lambda: len(hub._pubsub.peers) + len(hub._pubsub.peer_topics)) == 0, 20,
                   message="pubsub state of the killed peers forgotten")
    finally:
        for proc, _addr in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_a_crash_in_the_loop_restarts_the_networking_on_the_same_address(make_node):
    node = make_node(topics=[TOPIC])
    node.set_handler(ECHO, echo)
    addr = node.addrs[0]

    async def crash() -> None:
        node._nursery.start_soon(_raise)

    node._call(crash)
    wait_until(lambda: node.stats()["restarts"] == 1 and node.running, 15, message="the networking restarted")
    assert "something unexpected" in node.stats()["last_crash"] and node.addrs[0] == addr
    client = make_node(topics=[TOPIC])
    client.connect(addr)
    assert client.request(node.peer_id, ECHO, b"up") == b"pu"


async def _raise() -> None:
    raise RuntimeError("something unexpected")


def test_nonsense_settings_are_refused_with_the_reason():
    from p2p.guard import GuardConfig, PeerGuard
    from p2p.scoring import ScoringConfig

    with pytest.raises(ValueError, match="request_rate must be > 0"):
        GuardConfig(request_rate=0)
    with pytest.raises(ValueError, match="ban_threshold must be < 0"):
        GuardConfig(ban_threshold=5)
    with pytest.raises(ValueError, match="graylist_threshold < publish_threshold"):
        ScoringConfig(graylist_threshold=-10, publish_threshold=-50)
    with pytest.raises(ValueError, match="rate and burst must be >= 0"):
        ProtocolLimits(rate=-1)
    # the books stay bounded: the quietest peers are forgotten first, banned ones kept
    clock = [0.0]
    guard = PeerGuard(GuardConfig(max_tracked_peers=16), clock=lambda: clock[0])
    guard.ban("banned-peer", "test")
    for i in range(100):
        clock[0] += 1
        guard.allow_request(f"peer-{i}", ECHO)
    assert len(guard.books) <= 16 and guard.banned("banned-peer") and "peer-99" in guard.books
