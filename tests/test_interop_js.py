"""Interoperability with js-libp2p: a real `lwdock node` process, and interop/js/client.mjs, a js-libp2p
client written from docs/PROTOCOL.md alone (TCP + Noise + yamux), which syncs the records (checking
every envelope's signature), fetches a zip over /lwdock/fetch/1.0.0 and verifies it against its id,
fetches it again over /lwdock/fetch/2.0.0 verifying every piece against the record's root, searches,
and probes the documented edge cases (resume, offset == total, BAD_OFFSET, NOT_FOUND, BAD_REQUEST,
TOO_LARGE, multistream `na`).

Needs node + npm and `npm ci --prefix interop/js` (scripts/setup.sh runs it when npm is present).
Skipped only when node/npm are absent; with them present but node_modules missing, it fails."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli as cli
from tests.helpers import start_node, stop_node

from .dock.fixtures import fitted_iris_model, reference_files, write_zip

JS = Path(__file__).resolve().parent.parent / "interop" / "js"


@pytest.fixture
def js_client() -> list[str]:
    """`node interop/js/client.mjs`; skips (before any lwdock process is started) only without node/npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are absent: the js-libp2p interop client cannot run (install Node.js >= 20 and npm)")
    return [node, str(JS / "client.mjs")]


@pytest.fixture
def lwdock_node(tmp_path):
    """A `lwdock node` process on 127.0.0.1 holding the iris learnware; yields (status, id, zip bytes)."""
    home = tmp_path / "home"
    model, X, _y = fitted_iris_model()
    zip_path = write_zip(tmp_path / "iris.zip", reference_files(model=model, X=X))
    learnware_id = cli(home, "submit", str(zip_path)).stdout.strip()  # submitted before going online
    log_path = tmp_path / "node.log"
    proc, status = start_node(home, log_path=log_path)
    try:
        yield status, learnware_id, zip_path.read_bytes(), log_path
    finally:
        stop_node(proc)


def test_js_libp2p_client_syncs_fetches_and_searches(js_client, lwdock_node):
    if not (JS / "node_modules" / "libp2p").is_dir():  # a failure, not a skip: node and npm are here
        pytest.fail(f"{JS / 'node_modules'} is missing: run `npm ci --prefix interop/js` (scripts/setup.sh does)")
    status, learnware_id, zip_bytes, log_path = lwdock_node
    assert hashlib.sha256(zip_bytes).hexdigest() == learnware_id
    addr = status["addrs"][0]
    assert addr.endswith(f"/p2p/{status['peer_id']}")

    proc = subprocess.run([*js_client, addr, "--probes", "--timeout-ms", "15000"], capture_output=True, text=True,
                          timeout=25, cwd=JS)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = events[-1] if events else {}
    context = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\nnode log:\n{log_path.read_text()[-4000:]}"
    assert summary.get("event") == "summary", context
    assert summary["ok"] and proc.returncode == 0, context

    # the connection: TCP + Noise + yamux, to the peer id in the multiaddr
    assert summary["connected"] == {**summary["connected"], "remotePeer": status["peer_id"], "encryption": "/noise",
                                    "multiplexer": "/yamux/1.0.0"}
    # (a) sync: the one record, its signature checked by the js side, published by the node
    records = [e for e in events if e["event"] == "record"]
    assert [(r["id"], r["name"], r["publisher"], r["size"], r["held"]) for r in records] == [
        (learnware_id, "iris-lr", status["peer_id"], len(zip_bytes), True)]
    assert records[0]["specs"] == ["RKMETableSpecification"]
    # (b) fetch: the whole zip, sha256 == announced == id
    fetch = summary["fetch"]
    assert fetch["id"] == learnware_id and fetch["digest"] == learnware_id and fetch["verified"]
    assert fetch["total"] == fetch["got"] == len(zip_bytes)
    # (b') the same zip over /lwdock/fetch/2.0.0: layer checked against the signed root, every piece verified
    assert summary["fetch_pieces"] == {**summary["fetch_pieces"], "id": learnware_id, "verified": True,
                                       "total": len(zip_bytes), "got": len(zip_bytes), "pieceSize": 256 * 1024}
    # (c) search by name: the learnware, with its (verified) envelope
    assert summary["search"]["single"][0]["id"] == learnware_id
    assert summary["search"]["records"] == [learnware_id]
    # the documented edge cases all behaved as docs/PROTOCOL.md says
    probes = {p["name"]: p["ok"] for p in summary["probes"]}
    assert len(probes) == 8 and all(probes.values()), probes
