"""`lwdock node --mdns`: two real node processes with no bootstrap address find each other on the
local network by multicast DNS and connect; a bad `mdns` setting in config.toml is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import run_cli, wait_until

from .test_daemon import _daemon_up


def _start(home, *args) -> subprocess.Popen:
    env = dict(os.environ, LWDOCK_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "dock.cli", "node", *args], env=env,
                            stderr=subprocess.DEVNULL, text=True)


def _peers(home) -> list[str]:
    return json.loads(run_cli(home, "status", "--json").stdout)["peers"]


def test_two_nodes_find_each_other_by_mdns(tmp_path):
    homes = [tmp_path / "a", tmp_path / "b"]
    (homes[1]).mkdir()
    (homes[1] / "config.toml").write_text("mdns = true\n")  # one by flag, one by config
    procs = [_start(homes[0], "--mdns"), _start(homes[1])]
    try:
        for home, proc in zip(homes, procs, strict=True):
            wait_until(lambda h=home, p=proc: _daemon_up(h) or p.poll() is not None, 30, "a node's control socket")
            assert proc.poll() is None
        ids = [json.loads(run_cli(h, "status", "--json").stdout)["peer_id"] for h in homes]
        # zeroconf announces, then browses: ~8-10 s on this machine
        wait_until(lambda: ids[1] in _peers(homes[0]) and ids[0] in _peers(homes[1]), 60, "mDNS discovery both ways")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)


def test_a_bad_mdns_setting_in_config_is_refused(tmp_path):
    home = tmp_path / "c"
    home.mkdir()
    (home / "config.toml").write_text('mdns = "yes"\n')
    bad = run_cli(home, "node", check=False)
    assert bad.returncode != 0 and "'mdns' must be true or false" in bad.stderr
