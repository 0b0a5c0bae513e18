"""GossipSub interoperability with js-libp2p: a real `lwdock node` process and interop/js/gossip.mjs, a
js-libp2p node (identify + @libp2p/gossipsub, StrictSign, message id `from || seqno`) written from
docs/PROTOCOL.md sections 2, 3 and 6.

  (a) the js node joins the records topic; then `lwdock submit` (through the daemon's control
      socket) makes the lwdock node publish a record, which the js node receives over gossip and
      verifies (GossipSub signature by the library, message id rule, envelope signature);
  (b) the js node publishes a record envelope signed with its own node key (its spec built in js:
      zstd raw blocks around msgpack), and the lwdock node stores it (`lwdock list --json`);
  (c) the js node publishes garbage (not msgpack, a bad signature, a body missing a key, a valid
      record over the 512 KiB limit): the lwdock node rejects it, counts the rejections against
      the js peer, stays up, and still stores the js node's next record.

Needs node + npm and `npm ci --prefix interop/js`. Skipped only when node/npm are absent; with them
present but node_modules missing, it fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import run_cli as cli
from tests.helpers import start_node, stop_node, wait_until

from .dock.fixtures import fitted_iris_model, reference_files, write_zip

JS = Path(__file__).resolve().parent.parent / "interop" / "js"


@pytest.fixture
def js_gossip() -> list[str]:
    """`node interop/js/gossip.mjs`; skips (before any lwdock process is started) only without node/npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are absent: the js-libp2p interop node cannot run (install Node.js >= 20 and npm)")
    if not (JS / "node_modules" / "@libp2p" / "gossipsub").is_dir():  # a failure, not a skip
        pytest.fail(f"{JS / 'node_modules'} is missing or stale: run `npm ci --prefix interop/js` (setup.sh does)")
    return [node, str(JS / "gossip.mjs")]


@pytest.fixture
def empty_lwdock_node(tmp_path):
    """A `lwdock node` on 127.0.0.1 with an empty dock; yields (status, home, process, log path)."""
    home = tmp_path / "home"
    log_path = tmp_path / "node.log"
    proc, status = start_node(home, log_path=log_path)
    try:
        yield status, home, proc, log_path
    finally:
        stop_node(proc)


class JsProcess:
    """The js node as a subprocess; its JSON stdout lines are collected by a thread."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(
            argv, cwd=JS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.events: list[dict] = []
        self.raw: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def event(self, name: str) -> dict | None:
        for e in self.events:
            if e.get("event") == name:
                return e
        summary = next((e for e in self.events if e.get("event") == "summary"), None)
        if summary is not None and name != "summary":
            raise AssertionError(f"js node ended before {name!r}: {summary}")
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_js_libp2p_gossipsub_receives_publishes_and_is_validated(js_gossip, empty_lwdock_node, tmp_path):
    status, home, node_proc, log_path = empty_lwdock_node
    model, X, _y = fitted_iris_model()
    zip_path = write_zip(tmp_path / "iris.zip", reference_files(model=model, X=X))
    js = JsProcess([*js_gossip, status["addrs"][0], "--garbage", "--timeout-ms", "30000"])

    def context() -> str:
        stderr = js.proc.stderr.read() if js.proc.poll() is not None else "(running)"
        return f"js stdout:\n{''.join(js.raw)}\njs stderr:\n{stderr}\nnode log:\n{log_path.read_text()[-4000:]}"

    try:
        try:
            ready = wait_until(lambda: js.event("ready"), 15, "the js node to join the records mesh")
            # (a) the lwdock node publishes a record after the js node joined
            learnware_id = cli(home, "submit", str(zip_path)).stdout.strip()
            received = wait_until(lambda: js.event("gossip-record"), 10, "the record gossiped to the js node")
            have = wait_until(lambda: js.event("gossip-have"), 10, "the node's 'have' announcement")
            # (b) + (c): the js node's own records are stored (it checks by sync), garbage is sent
            published = wait_until(lambda: js.event("published"), 10, "the js node's own record")
            garbage = wait_until(lambda: js.event("garbage"), 15, "the js node's garbage")
            after = wait_until(lambda: js.event("synced-after-garbage"), 10, "a record stored after the garbage")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{context()}") from None

        # (a) received over gossip: from the lwdock node, the documented message id, a verified envelope
        assert ready["protocols"] and all(p.startswith("/meshsub/1.") for p in ready["protocols"]), ready
        assert received["id"] == learnware_id and received["name"] == "iris-lr"
        assert received["publisher"] == received["from"] == status["peer_id"], received
        assert received["signed"] and received["msgIdRule"], received
        assert learnware_id in have["ids"] and have["msgIdRule"], have
        assert have["addrs"] and all(a.endswith(f"/p2p/{status['peer_id']}") for a in have["addrs"]), have

        # (b) the js node's records are in the lwdock node's catalogue, published by the js peer
        js_peer = ready["self"]
        listed = {r["id"]: r for r in json.loads(cli(home, "list", "--json").stdout)}
        for record_id in (published["id"], after["id"]):
            assert record_id in listed, (record_id, list(listed), context())
            assert listed[record_id]["publisher"] == js_peer and listed[record_id]["local"] is False
            assert listed[record_id]["stat_spec_types"] == ["RKMETableSpecification"]
        assert listed[published["id"]]["name"] == published["name"]
        assert listed[learnware_id]["local"] is True

        # (c) the garbage: rejected, counted against the js peer, not stored; the node is still up
        assert [g["what"] for g in garbage["sent"]] == [
            "not msgpack",
            "bad signature",
            'record body without "model"',
            "valid record, envelope > 512 KiB",
        ]
        assert garbage["oversize"]["id"] not in listed and garbage["oversize"]["envelopeBytes"] > 512 * 1024
        assert len(listed) == 3, list(listed)
        assert node_proc.poll() is None, context()
        st = json.loads(cli(home, "status", "--json").stdout)
        # The three records-validator rejections, and all four at the p2p layer (the oversize one is
        # refused by its size gate before the records validator sees it).
        assert st["rejected_by_peer"].get(js_peer, 0) >= 3, st
        assert st["gossip_rejected"] >= 4, st
        assert st["records_stored"] >= 2 and js_peer in st["peers"], st

        # the js node ends cleanly when told (stdin closed)
        js.proc.stdin.close()
        summary = wait_until(lambda: js.event("summary"), 10, "the js node's summary")
        assert summary["ok"] and js.proc.wait(10) == 0, context()
    finally:
        js.stop()
