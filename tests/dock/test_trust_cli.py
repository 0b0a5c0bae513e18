"""`lwdock trust` / `untrust`: the user's trust list, embedded and through a running daemon, and
the [budgets] table of config.toml."""

from __future__ import annotations

import json

import pytest

from dock.daemon import NodeDaemon
from dock.errors import DockError
from dock.network.budgets import Budgets
from p2p import Identity
from tests.helpers import run_cli


def _trust_cycle(home):
    friend = Identity.generate().peer_id
    added = json.loads(run_cli(home, "trust", friend, "--note", "lab server", "--json").stdout)
    assert added["id"] == friend and added["note"] == "lab server"
    listed = json.loads(run_cli(home, "trust", "--list", "--json").stdout)
    assert [e["id"] for e in listed] == [friend]
    bad = run_cli(home, "trust", "not-a-peer-id", check=False)
    assert bad.returncode != 0 and "is not a peer id" in bad.stderr
    run_cli(home, "untrust", friend)
    assert json.loads(run_cli(home, "trust", "--list", "--json").stdout) == []
    again = run_cli(home, "untrust", friend, check=False)
    assert again.returncode != 0 and "not on the trust list" in again.stderr


def test_trust_list_embedded(tmp_path):
    _trust_cycle(tmp_path / "home")


def test_trust_list_through_the_daemon(tmp_path):
    home = tmp_path / "home"
    daemon = NodeDaemon(home, offline=True)
    daemon.start()
    try:
        _trust_cycle(home)
        status = json.loads(run_cli(home, "status", "--json").stdout)
        assert status["mode"] == "daemon"
    finally:
        daemon.stop()


def test_budgets_from_config_refuse_nonsense_with_the_key_named():
    assert Budgets.from_config({"max_records": 10, "per_peer_window": 60}).max_records == 10
    with pytest.raises(DockError, match="max_records must be a positive number"):
        Budgets.from_config({"max_records": 0})
    with pytest.raises(DockError, match="unknown budget"):
        Budgets.from_config({"max_recrods": 10})
    with pytest.raises(DockError, match="per_peer must be a positive number"):
        Budgets.from_config({"per_peer": True})


def test_a_daemon_reads_its_budgets_from_config_toml(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('listen = ["/ip4/127.0.0.1/tcp/0"]\n[budgets]\nmax_records = 7\n')
    daemon = NodeDaemon(home)
    daemon.start()
    try:
        assert daemon.network.budgets.max_records == 7
    finally:
        daemon.stop()
    (home / "config.toml").write_text("[budgets]\nmax_records = -1\n")
    with pytest.raises(DockError, match=r"\[budgets\]: max_records"):
        NodeDaemon(home).start()
