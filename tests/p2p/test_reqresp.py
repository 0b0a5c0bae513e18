"""Request/response: framing, limits, timeouts, bounded concurrency, hostile bytes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import trio

from p2p import ErrorCode, P2PNode, ProtocolLimits, RemoteError, RequestRefused, RequestTimeout
from p2p.errors import ResponseTooLarge
from p2p.framing import encode_frame
from tests.p2p.conftest import wait_until

ECHO = "/lwdock/test-echo/1.0.0"


def echo(peer_id: str, data: bytes) -> bytes:
    return data[::-1]


@pytest.fixture
def pair(make_node):
    server, client = make_node(), make_node()
    server.set_handler(ECHO, echo, ProtocolLimits(max_request=1024))
    client.connect(server.addrs[0])
    return server, client


def raw_exchange(client: P2PNode, server: P2PNode, protocol: str, payload: bytes, half_close: bool = True) -> bytes:
    """Open a stream by hand, write arbitrary bytes, return whatever comes back before the end."""
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID

    async def go() -> bytes:
        stream = await client._host.new_stream(ID.from_base58(server.peer_id), [TProtocol(protocol)])
        await stream.write(payload)
        if half_close:
            await stream.close_write()
        got = b""
        with trio.move_on_after(5):
            try:
                while chunk := await stream.read(65536):
                    got += chunk
            except Exception:  # EOF or reset: the server is done with us
                pass
        await stream.reset()
        return got

    return client._call(go)


def test_round_trip_and_streamed_body(pair):
    server, client = pair
    assert client.request(server.peer_id, ECHO, b"hello") == b"olleh"
    assert client.request(server.peer_id, ECHO, b"") == b""
    big = bytes(range(256)) * 12_000  # ~3 MB, sent as a stream of chunks from a generator

    def chunks(peer, data):
        return (big[i : i + 500_000] for i in range(0, len(big), 500_000))

    server.set_handler("/lwdock/test-stream/1", chunks)
    assert client.request(server.peer_id, "/lwdock/test-stream/1", b"") == big
    with pytest.raises(ResponseTooLarge):
        client.request(server.peer_id, "/lwdock/test-stream/1", b"", max_response=1_000_000)
    assert server.stats()[ECHO]["requests"] == 2


def test_oversized_request_gets_too_large_and_node_stays_up(pair):
    server, client = pair
    with pytest.raises(RemoteError) as err:
        client.request(server.peer_id, ECHO, b"x" * 5_000_000, timeout=20)
    assert err.value.code == ErrorCode.TOO_LARGE
    assert client.request(server.peer_id, ECHO, b"still up") == b"pu llits"
    assert server.stats()[ECHO]["too_large"] == 1


def test_handler_errors_map_to_error_codes(pair):
    server, client = pair

    def refuse(peer, data):
        raise RequestRefused("no such record")

    def crash(peer, data):
        raise KeyError("secret detail")

    server.set_handler("/t/refuse", refuse)
    server.set_handler("/t/crash", crash)
    with pytest.raises(RemoteError, match="no such record") as err:
        client.request(server.peer_id, "/t/refuse", b"")
    assert err.value.code == ErrorCode.REFUSED
    with pytest.raises(RemoteError) as err:
        client.request(server.peer_id, "/t/crash", b"")
    assert err.value.code == ErrorCode.INTERNAL and "secret" not in err.value.message
    with pytest.raises(RemoteError) as err:
        client.request(server.peer_id, "/t/not-served", b"")
    assert err.value.code == ErrorCode.UNSUPPORTED


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 12,  # a varint that never ends
        encode_frame(b"x" * 10)[:5],  # a frame cut short, then EOF
        b"\x85\x80\x80\x80\x01" + b"y" * 100,  # a huge announced length
        b"\x07" + bytes(range(255, 0, -1)) * 4,  # a valid frame followed by trailing junk
    ],
    ids=["endless-varint", "truncated-frame", "huge-length", "trailing-junk"],
)
def test_garbage_on_a_stream_costs_the_stream_not_the_node(pair, garbage):
    server, client = pair
    reply = raw_exchange(client, server, ECHO, garbage)
    if garbage.startswith(b"\x07"):
        assert reply.endswith(b"\x01\x01")  # the valid first frame was answered; the junk after it ignored
    else:
        assert reply == b"" or reply[1:2] == b"\x02"  # nothing, or an ERROR frame
    assert client.request(server.peer_id, ECHO, b"ok") == b"ko"


def test_silent_sender_is_dropped_by_the_read_timeouts(make_node):
    server, client = make_node(), make_node()
    server.set_handler(ECHO, echo, ProtocolLimits(read_timeout=0.3, request_deadline=0.6))
    client.connect(server.addrs[0])
    started = time.monotonic()
    raw_exchange(client, server, ECHO, b"\x0a" + b"abc", half_close=False)  # 10 announced, 3 sent, then silence
    assert time.monotonic() - started < 3
    wait_until(lambda: server.stats()[ECHO]["errors"] == 1, message="the stalled request counted")
    assert client.request(server.peer_id, ECHO, b"ok") == b"ko"


def test_frozen_handler_times_out_within_the_deadline(pair):
    server, client = pair
    release = threading.Event()
    server.set_handler("/t/frozen", lambda peer, data: release.wait(30) and b"late")
    try:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            client.request(server.peer_id, "/t/frozen", b"", timeout=1.0)
        assert 0.9 < time.monotonic() - started < 2.0
        assert client.request(server.peer_id, ECHO, b"ok") == b"ko"
    finally:
        release.set()


def test_inbound_concurrency_is_bounded(make_node):
    server, client = make_node(), make_node()
    release = threading.Event()
    limits = ProtocolLimits(max_concurrent=2, max_per_peer=2, queue_timeout=0.3)
    server.set_handler("/t/slow", lambda peer, data: release.wait(30) and b"done", limits)
    client.connect(server.addrs[0])
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(client.request, server.peer_id, "/t/slow", b"", timeout=10) for _ in range(3)]
            busy = wait_until(lambda: [f for f in futures if f.done()], message="one request refused")
            with pytest.raises(RemoteError) as err:
                busy[0].result()
            assert err.value.code == ErrorCode.BUSY
            release.set()
            assert sorted(f.result() for f in futures if f is not busy[0]) == [b"done", b"done"]
    finally:
        release.set()


def test_one_peer_cannot_take_every_slot(make_node):
    """max_concurrent=4, so one peer gets at most 2 at once (the default share): its third request
    is refused at once, naming the share, while another peer is still served."""
    server, greedy, other = make_node(), make_node(), make_node()
    release = threading.Event()
    server.set_handler("/t/slow", lambda peer, data: release.wait(30) and b"done",
                       ProtocolLimits(max_concurrent=4, queue_timeout=5))
    server.set_handler(ECHO, echo)
    for client in (greedy, other):
        client.connect(server.addrs[0])
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(greedy.request, server.peer_id, "/t/slow", b"", timeout=20) for _ in range(3)]
            refused = wait_until(lambda: [f for f in futures if f.done()], message="the third request refused")
            with pytest.raises(RemoteError) as err:
                refused[0].result()
            assert err.value.code == ErrorCode.BUSY and "from you (at most 2)" in str(err.value)
            # the greedy peer holds 2 of 4 slots: another peer still gets one, at once
            extra = pool.submit(other.request, server.peer_id, "/t/slow", b"", timeout=20)
            wait_until(lambda: server.stats()["/t/slow"]["requests"] == 3, message="the other peer's request taken")
            release.set()
            assert extra.result() == b"done"
            assert sorted(f.result() for f in futures if f is not refused[0]) == [b"done", b"done"]
    finally:
        release.set()
