"""The py-libp2p patches (p2p/libp2p_patches.py) are really in use, and a missing target is caught.

A patch that an upgrade silently disables would leave every other test green: here a live
connection between two real hosts must run through each patched path (counted in
libp2p_fixes.hits), and a simulated rename must either stop the node (a correctness target) or
switch the fast paths off visibly (a performance target).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from p2p import GossipMessage, PeerDisconnected

from .conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]

CORRECTNESS_HITS = ("yamux_headers_checked", "yamux_shielded_writes", "exclusive_listen", "stream_guard",
                    "pubsub_guarded_messages", "pubsub_direct_deliveries", "pubsub_roomy_queues",
                    "gossipsub_guarded_rpcs", "ghost_peer_cleanups", "connection_table")
SPEED_HITS = ("noise_sessions_sped_up", "noise_buffered_reads", "noise_batched_writes", "yamux_fast_data_frames",
              "yamux_fast_stream_reads", "yamux_windows_opened")


def test_a_live_connection_runs_through_every_patched_path(make_node, tmp_path):
    from p2p.libp2p_fixes import CancelSafeYamux, hits
    from p2p.libp2p_speed import FastYamux, _FastSecureSession, _FastYamuxStream

    before = dict(hits)
    data = os.urandom(3 * 1024 * 1024)
    blob_id = hashlib.sha256(data).hexdigest()
    (tmp_path / "blob").write_bytes(data)
    provider, fetcher = make_node(topics=["t"]), make_node(topics=["t"])
    provider.serve_blobs(lambda wanted: open(tmp_path / "blob", "rb") if wanted == blob_id else None)
    events = fetcher.open_event_queue()
    fetcher.connect(provider.addrs[0])
    wait_until(lambda: provider.peer_id in fetcher.topic_peers("t"), message="subscription seen")
    wait_until(lambda: fetcher.peer_id in provider.topic_peers("t"), message="subscription seen")

    result = fetcher.fetch_blob(provider.peer_id, blob_id, tmp_path / "copy")
    assert result.size == len(data) and (tmp_path / "copy").read_bytes() == data

    def gossip_arrived() -> bool:
        provider.publish("t", b"hello")
        while not events.empty():
            if isinstance(event := events.get_nowait(), GossipMessage) and event.data == b"hello":
                return True
        return False

    wait_until(gossip_arrived, message="gossip delivered")
    conns = fetcher._connections.conns[provider.peer_id]
    muxed = next(iter(conns)).muxed_conn
    assert type(muxed) is FastYamux and isinstance(muxed, CancelSafeYamux)
    assert type(muxed.secured_conn) is _FastSecureSession
    for stream in muxed.streams.values():
        assert type(stream) is _FastYamuxStream

    fetcher.disconnect(provider.peer_id)
    wait_until(lambda: any(isinstance(e, PeerDisconnected) for e in _drain(events)) or not fetcher.peers(),
               message="disconnected")
    wait_until(lambda: hits["ghost_peer_cleanups"] > before.get("ghost_peer_cleanups", 0), message="peer forgotten")
    unused = [name for name in CORRECTNESS_HITS + SPEED_HITS if hits[name] <= before.get(name, 0)]
    assert unused == [], f"patched paths a live connection did not go through: {unused}"
    assert fetcher.stats()["libp2p_patches"] == {"version": "0.8.1", "speed": "on", "fixes": "on"}


def _drain(events) -> list:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def _run(prelude: str, body: str) -> subprocess.CompletedProcess:
    """A fresh process (the patches are process-wide, installed once): `prelude` damages libp2p
    the way an upgrade might, then `body` runs with p2p imported."""
    code = textwrap.dedent(prelude) + "\nimport logging, sys\nlogging.basicConfig(stream=sys.stderr)\n"
    code += "from p2p import P2PNode, PeerError\n" + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env)


def test_a_missing_correctness_target_stops_the_node_with_its_name():
    done = _run(
        """
        from libp2p.pubsub.pubsub import Pubsub
        del Pubsub._forget_all_subscriptions  # as if an upgrade had renamed it
        """,
        """
        for attempt in (1, 2):  # refused every time, not only the first
            node = P2PNode()
            try:
                node.start()
            except PeerError as exc:
                print("REFUSED", exc)
            else:
                print("STARTED")
                node.stop()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("REFUSED") == 2 and "STARTED" not in done.stdout
    assert "libp2p.pubsub.pubsub.Pubsub._forget_all_subscriptions is gone" in done.stdout
    assert "ghost peers" in done.stdout and "libp2p==0.8.1" in done.stdout


def test_a_reshaped_correctness_target_stops_the_node():
    done = _run(
        """
        from libp2p.transport.tcp import tcp
        tcp._set_reuse_flags = lambda: None  # same name, other parameters
        """,
        """
        try:
            P2PNode().start()
        except PeerError as exc:
            print("REFUSED", exc)
        """,
    )
    assert "REFUSED" in done.stdout, done.stderr
    assert "_set_reuse_flags no longer takes sock" in done.stdout and "exclusive listen" in done.stdout


_TRANSFER = """
import hashlib, os, tempfile, pathlib, shutil
from p2p.libp2p_fixes import hits
from p2p.libp2p_speed import FastYamux
data = os.urandom(2 * 1024 * 1024)
blob_id = hashlib.sha256(data).hexdigest()
tmp = pathlib.Path(tempfile.mkdtemp())
(tmp / "blob").write_bytes(data)
provider, fetcher = P2PNode(), P2PNode()
provider.serve_blobs(lambda wanted: open(tmp / "blob", "rb") if wanted == blob_id else None)
provider.start(); fetcher.start()
try:
    fetcher.connect(provider.addrs[0])
    result = fetcher.fetch_blob(provider.peer_id, blob_id, tmp / "copy")
    assert (tmp / "copy").read_bytes() == data
    muxed = next(iter(fetcher._connections.conns[provider.peer_id])).muxed_conn
    print("MUXER", type(muxed).__name__, isinstance(muxed, FastYamux))
    print("SPEED", fetcher.stats()["libp2p_patches"]["speed"])
    print("FIXES", fetcher.stats()["libp2p_patches"]["fixes"])
    print("HITS", hits["yamux_shielded_writes"] > 0, hits["yamux_headers_checked"] > 0,
          hits["yamux_fast_data_frames"], hits["noise_sessions_sped_up"])
finally:
    fetcher.stop(); provider.stop()
    shutil.rmtree(tmp, ignore_errors=True)  # the blob and its copy (4 MB), not left in /tmp
"""


def test_a_missing_performance_target_falls_back_visibly_and_transfers_still_work():
    done = _run(
        """
        from libp2p.security.noise.io import NoiseTransportReadWriter
        original = NoiseTransportReadWriter.encrypt
        def encrypt(self, plaintext):  # what the fast path calls, with another parameter name
            return original(self, plaintext)
        NoiseTransportReadWriter.encrypt = encrypt
        """,
        _TRANSFER,
    )
    assert done.returncode == 0, done.stderr
    assert "MUXER CancelSafeYamux False" in done.stdout  # py-libp2p's paths, with the fixes
    assert "SPEED off: libp2p.security.noise.io.NoiseTransportReadWriter.encrypt no longer takes data" in done.stdout
    assert "FIXES on" in done.stdout and "HITS True True 0 0" in done.stdout
    assert "fast paths off" in done.stderr and "transfers will be slower" in done.stderr


def test_another_libp2p_version_keeps_the_fixes_and_drops_the_fast_paths():
    done = _run(
        """
        import importlib.metadata
        real = importlib.metadata.version
        importlib.metadata.version = lambda name: "0.9.0" if name == "libp2p" else real(name)
        """,
        _TRANSFER,
    )
    assert done.returncode == 0, done.stderr
    assert "SPEED off: libp2p 0.9.0 is not 0.8.1" in done.stdout and "FIXES on" in done.stdout
    assert "MUXER CancelSafeYamux False" in done.stdout and "HITS True True 0 0" in done.stdout
