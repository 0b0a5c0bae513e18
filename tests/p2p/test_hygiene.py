"""Security and process hygiene: plaintext is refused; libp2p never writes to our stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from p2p import DialError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plaintext_node(make_node, monkeypatch):
    """A node whose host offers only /plaintext/2.0.0 (built by swapping new_host's sec_opt)."""
    from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

    import p2p.host

    real_new_host = p2p.host.new_host

    def plaintext_new_host(*, key_pair, sec_opt, **kwargs):
        return real_new_host(key_pair=key_pair, sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)}, **kwargs)

    monkeypatch.setattr(p2p.host, "new_host", plaintext_new_host)
    node = make_node()
    monkeypatch.setattr(p2p.host, "new_host", real_new_host)
    return node


def test_plaintext_peer_cannot_connect_either_way(make_node, plaintext_node):
    secure, witness = make_node(), make_node()
    with pytest.raises(DialError):
        plaintext_node.connect(secure.addrs[0], timeout=5)
    with pytest.raises(DialError):
        secure.connect(plaintext_node.addrs[0], timeout=5)
    assert secure.peers() == [] and plaintext_node.peers() == []
    secure.set_handler("/t/echo", lambda peer, data: data)
    witness.connect(secure.addrs[0])  # the secure node stays up and serves others
    assert witness.request(secure.peer_id, "/t/echo", b"fine") == b"fine"


def test_no_libp2p_output_on_stderr_and_root_logging_untouched():
    # A TUI owns the terminal: a node that connects, fails a dial, serves and disconnects must
    # print nothing and must not configure the root logger behind the program's back.
    code = """
import logging, sys
from p2p import P2PNode, RemoteError, DialError
a, b = P2PNode(), P2PNode()
a.start(); b.start()
b.connect(a.addrs[0])
try:
    b.request(a.peer_id, "/not/served", b"")
except RemoteError:
    pass
try:
    b.connect("/ip4/127.0.0.1/tcp/1/p2p/" + a.peer_id, timeout=3)
except DialError:
    pass
a.stop(); b.stop()
print("root handlers:", len(logging.getLogger().handlers))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() == "root handlers: 0"


def test_libp2p_records_reach_a_configured_root_handler():
    # The other half of the bargain: when the entry point configures logging, libp2p's warnings
    # are not swallowed (they propagate to the program's handlers).
    code = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(name)s:%(message)s")
import p2p.host
logging.getLogger("libp2p.test").warning("hello from libp2p")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "libp2p.test:hello from libp2p" in done.stdout and done.stderr == ""
