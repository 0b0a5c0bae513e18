"""P2PNode lifecycle, bootstrap and threading rules."""

from __future__ import annotations

import pytest

from p2p import ListenError, NodeNotRunning, P2PNode, PeerError
from p2p.node import NodeConfig
from tests.p2p.conftest import wait_until

ECHO = "/lwdock/test-echo/1.0.0"


def test_lifecycle_errors_are_clear(make_node):
    node = P2PNode()
    with pytest.raises(NodeNotRunning):
        node.peers()
    node.stop()  # stopping a node that never started is a no-op
    running = make_node()
    running.stop()
    running.stop()  # idempotent
    with pytest.raises(NodeNotRunning):
        running.request(node.peer_id, ECHO, b"")


def test_blocking_call_from_a_listener_raises_instead_of_deadlocking(make_node):
    a, b = make_node(), make_node()
    seen: list[BaseException] = []

    def listener(event):
        try:
            a.peers()
        except RuntimeError as exc:
            seen.append(exc)

    a.add_listener(listener)
    a.connect(b.addrs[0])
    wait_until(lambda: seen, message="listener ran")
    assert "node thread" in str(seen[0])


def test_bootstrap_list_connects_at_start(make_node):
    from p2p import Identity

    a, b = make_node(), make_node()
    nobody = "/ip4/127.0.0.1/tcp/9/p2p/" + Identity.generate().peer_id  # unreachable: must not block the rest
    c = make_node(config=NodeConfig(bootstrap=(a.addrs[0], nobody, b.addrs[0], "not-a-multiaddr")))
    wait_until(lambda: c.peers() == sorted([a.peer_id, b.peer_id]), message="bootstrap connections")


def test_start_failure_is_reported_not_hung(make_node):
    taken = make_node()
    port = taken.addrs[0].split("/")[4]
    clash = P2PNode()
    with pytest.raises(ListenError) as refused:  # the node says which address and why, nothing of trio
        clash.start(listen=[f"/ip4/127.0.0.1/tcp/{port}"], timeout=20)
    assert str(refused.value) == f"cannot listen on /ip4/127.0.0.1/tcp/{port}: address already in use"
    assert not clash.running
    with pytest.raises(PeerError, match="starts once"):
        clash.start()


def test_same_identity_same_peer_id_across_restarts(tmp_path, make_node):
    from p2p import load_or_create_identity

    key = tmp_path / "identity.key"
    first = make_node(identity=load_or_create_identity(key))
    peer_id, addr_port = first.peer_id, first.addrs[0]
    first.stop()
    second = make_node(identity=load_or_create_identity(key))
    assert second.peer_id == peer_id and second.addrs[0].endswith("/p2p/" + peer_id)
    other = make_node()
    assert other.connect(second.addrs[0]) == peer_id
    assert addr_port  # the first node had listened too
