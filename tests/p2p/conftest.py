"""Fixtures for the network tests: real hosts on 127.0.0.1 port 0, each in its own trio thread."""

from __future__ import annotations

import time

import pytest


def wait_until(condition, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"):
    """Poll `condition()` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def make_node():
    """Factory for started P2PNodes; every node is stopped at teardown, even on failure."""
    from p2p import P2PNode

    nodes = []

    def make(*, topics=(), validator=None, start=True, **kwargs):
        node = P2PNode(**kwargs)
        for topic in topics:
            node.subscribe(topic, validator)
        nodes.append(node)
        if start:
            node.start()
        return node

    yield make
    for node in nodes:
        node.stop()


def connect_line(nodes):
    """Connect nodes[i] -> nodes[i + 1] (a line topology)."""
    for left, right in zip(nodes, nodes[1:], strict=False):
        left.connect(right.addrs[0])


def wait_topic_mesh(nodes, topic: str, timeout: float = 10.0):
    """Wait until each node knows its line neighbours subscribe to `topic`."""
    for left, right in zip(nodes, nodes[1:], strict=False):
        wait_until(lambda a=left, b=right: b.peer_id in a.topic_peers(topic), timeout, message="subscription seen")
        wait_until(lambda a=left, b=right: a.peer_id in b.topic_peers(topic), timeout, message="subscription seen")
