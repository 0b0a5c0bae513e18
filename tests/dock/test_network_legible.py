"""A legible network (issue 13 item 4): peer rows with the records each peer handed us, its
address, round-trip time and nickname; `lwdock peers` / `node --name` / `search --peers` through
real processes; a node's log lines shown once; dial failures in one line of words."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dock import Dock
from dock.errors import DataFileError
from dock.network.service import NetworkService
from tests.helpers import run_cli as cli
from tests.helpers import start_node, stop_node, wait_until

from .fixtures import model_source, package_files, semantic, write_zip


def _zip(tmp_path, name: str):
    X = np.random.default_rng(0).normal(size=(80, 4))
    return write_zip(tmp_path / f"{name}.zip", package_files(model_source("return (X[:, 0] > 0).astype(int)"), X,
                                                                semantic(name=name)))


def _service(tmp_path, name: str, nickname: str = "", bootstrap=()):
    from p2p import NodeConfig, P2PNode

    dock = Dock.open(tmp_path / name)
    service = NetworkService(dock, P2PNode(identity=dock.identity, config=NodeConfig(nickname=nickname)))
    service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=list(bootstrap))
    return service


def test_peer_rows_carry_records_address_latency_and_nickname(tmp_path):
    alice = _service(tmp_path, "alice", "alice")
    alice.dock.submit(_zip(tmp_path, "shared-one"))
    bob = None
    try:
        bob = _service(tmp_path, "bob", "bob", bootstrap=[alice.node.addrs[0]])

        def row_of_alice():
            rows = [r for r in bob.status()["peer_details"] if r["peer_id"] == alice.node.peer_id]
            return rows[0] if rows and rows[0]["records"] and rows[0]["latency_ms"] is not None \
                and rows[0]["nickname"] else None

        row = wait_until(row_of_alice, 30, "bob's row for alice: records synced, ping measured, identified")
        assert row["nickname"] == "alice"
        assert row["records"] == 1  # the one record alice holds, received from alice
        assert row["addr"].startswith("/ip4/127.0.0.1/tcp/")
        assert 0 < row["latency_ms"] < 5000
        # and alice sees bob by his nickname, with no records from him (he published nothing)
        rows = wait_until(lambda: [r for r in alice.status()["peer_details"] if r["nickname"] == "bob"], 30,
                          "alice's row for bob")
        assert rows[0]["records"] == 0
    finally:
        for service in (bob, alice):
            if service is not None:
                service.stop()
                service.dock.close()


def test_a_nickname_is_a_bounded_printable_label():
    from p2p.peer_info import agent_version, check_nickname, nickname_from_agent

    assert nickname_from_agent(agent_version("alice")) == "alice"
    hostile = "lwdock/0.1.0 (name: \x1b]0;owned\x07" + "x" * 300 + ")"
    shown = nickname_from_agent(hostile)
    assert "\x1b" not in shown and "\x07" not in shown and len(shown) <= 32
    assert nickname_from_agent("go-libp2p/0.33 (name: alice)") == ""  # another program's agent: no nickname
    assert nickname_from_agent(None) == ""
    for bad in ("", "x" * 33, "tab\there", "a (b)"):
        with pytest.raises(ValueError):
            check_nickname(bad)
    assert check_nickname("  carol  ") == "carol"


def test_dial_failures_read_as_one_line_of_words():
    from p2p.errors import unreachable

    class SwarmException(Exception):
        pass

    line = unreachable("12D3KooWX", SwarmException("Peer 12D3KooWX recently failed all addresses (negative cache)"))
    assert line.startswith("peer 12D3KooWX is unreachable: it failed on every address")
    assert "SwarmException" not in line and "\n" not in line
    assert unreachable("p", OSError("odd\nsecond line")) == "peer p is unreachable: odd"


def test_node_cli_peers_names_and_search_over_peers(tmp_path):
    # a bad nickname is a usage error before anything starts
    bad = cli(tmp_path / "x", "node", "--name", "x" * 40, check=False)
    assert bad.returncode == 2 and "at most 32 characters" in bad.stderr
    assert not (tmp_path / "x").exists()

    home_a, home_b = tmp_path / "a", tmp_path / "b"
    cli(home_a, "submit", str(_zip(tmp_path, "from-alice")))
    log_a = tmp_path / "a.log"
    proc_a, status_a = start_node(home_a, "--name", "alice", log_path=log_a)
    proc_b = None
    try:
        lonely = cli(home_a, "peers")
        assert lonely.stdout == "" and "no peers" in lonely.stderr
        log_b = tmp_path / "b.log"
        proc_b, _ = start_node(home_b, "--name", "bob", "--bootstrap", status_a["addrs"][0], log_path=log_b)
        wait_until(lambda: f"connected to {status_a['peer_id']} (alice) at /ip4/127.0.0.1/tcp/" in log_b.read_text(),
                   30, "bob's log line saying it connected to alice")
        # each log line once on the terminal (the node also writes it to <home>/logs/node.log)
        wait_until(lambda: "lwdock node ready" in log_b.read_text(), 30, "bob's ready line")
        assert log_b.read_text().count("lwdock node ready") == 1
        assert (home_b / "logs" / "node.log").read_text().count("lwdock node ready") == 1

        def peer_line():
            out = cli(home_b, "peers").stdout
            return out if "(alice)" in out and "1 records received" in out else None

        line = wait_until(peer_line, 30, "`lwdock peers` on bob naming alice with her record")
        assert status_a["peer_id"] in line and "/ip4/127.0.0.1/tcp/" in line and " ms" in line

        found = json.loads(cli(home_b, "search", "--peers", "--json", "from-alice").stdout)
        assert found["single"] and found["peers"]["asked"] == 1
        assert found["peers"]["answered"] == [{"peer_id": status_a["peer_id"], "nickname": "alice"}]
        assert found["peers"]["listed_by"][found["single"][0]["id"]] == [status_a["peer_id"]]
        text = cli(home_b, "search", "--peers", "from-alice")
        assert f"1 of 1 peer(s) answered: {status_a['peer_id']} (alice)" in text.stderr
    finally:
        for proc in (proc_b, proc_a):
            if proc is not None:
                stop_node(proc)


def test_search_stat_names_a_missing_file_with_the_data_file_code(tmp_path):
    missing = tmp_path / "missing.csv"
    result = cli(tmp_path / "home", "search", "--stat", str(missing), check=False)
    assert result.returncode == DataFileError.exit_code != 1
    assert result.stderr.strip().count("\n") == 0 and f"no such file: {missing}" in result.stderr
    # the honest path: an existing data file searches (an empty dock finds nothing, without error);
    # 60 rows: a private query spec needs at least 50
    data = tmp_path / "mine.csv"
    data.write_text("a,b,label\n" + "\n".join(f"{i},{i * 2},{i % 2}" for i in range(60)) + "\n")
    assert cli(tmp_path / "home", "search", "--stat", str(data), check=False).returncode == 0


def test_fetching_from_a_peer_that_went_offline_says_so_in_one_line(tmp_path):
    from dock.errors import NetworkError

    bob = _service(tmp_path, "bob")
    learnware_id = bob.dock.submit(_zip(tmp_path, "gone-soon"))
    alice = _service(tmp_path, "alice", bootstrap=[bob.node.addrs[0]])
    try:
        wait_until(lambda: alice.dock.catalogue.exists(learnware_id), 30, "bob's record at alice")
        wait_until(lambda: bob.node.peer_id in alice.store.providers(learnware_id), 30, "bob known as provider")
        bob.stop()
        bob.dock.close()
        wait_until(lambda: not alice.node.peers(), 30, "alice noticing bob left")
        with pytest.raises(NetworkError) as refused:
            alice.dock.fetch(learnware_id)
        message = str(refused.value)
        assert f"peer {bob.node.peer_id} is unreachable: " in message, message
        assert "SwarmException" not in message and "\n" not in message and "Traceback" not in message
        assert not alice.dock.has_zip(learnware_id)  # nothing stored
        # the honest path afterwards: bob back (he dials alice: her dialler still remembers his
        # failure, as the message says), and the same fetch works
        bob = NetworkService(Dock.open(tmp_path / "bob"))
        bob.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=[alice.node.addrs[0]])
        wait_until(lambda: bob.node.peer_id in alice.node.peers(), 30, "bob back at alice")
        assert alice.dock.fetch(learnware_id).is_file()
    finally:
        for service in (alice, bob):
            if service.node.running:
                service.stop()
            service.dock.close()
