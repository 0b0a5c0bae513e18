"""What a user sees of an error is one line on stderr and that error's exit code, the same with the
dock embedded and through a running `lwdock node` (real node processes on 127.0.0.1, the real CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dock.errors import REGISTRY
from tests.helpers import run_cli as cli
from tests.helpers import start_node, stop_node

from .fixtures import model_source, package_files, semantic, write_zip

UNKNOWN_ID = "0123456789abcdef" * 4


def _one_line(proc) -> str:
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture
def nodes():
    procs = []
    yield lambda home, *args: procs.append(start_node(home, *args)) or procs[-1][1]
    for proc, _ in procs:
        stop_node(proc)


def test_busy_listen_port_is_one_line_and_its_exit_code(nodes, tmp_path):
    taken = nodes(tmp_path / "a")
    port = taken["addrs"][0].split("/")[4]
    busy = cli(tmp_path / "b", "node", "--listen", f"/ip4/127.0.0.1/tcp/{port}", check=False, timeout=90)
    assert _one_line(busy) == f"error: cannot listen on /ip4/127.0.0.1/tcp/{port}: address already in use"
    assert busy.returncode == REGISTRY["ListenError"].exit_code != 0
    # The failed start left nothing behind: the same home starts on a free port.
    assert nodes(tmp_path / "b")["mode"] == "daemon"


def _learnware_home(tmp_path):
    home = tmp_path / "home"
    X = np.random.default_rng(0).normal(size=(80, 4))
    files = package_files(model_source("return (X[:, 0] > 0).astype(int)"), X, semantic(out_dim=2, name="sign"))
    learnware_id = cli(home, "submit", str(write_zip(tmp_path / "sign.zip", files))).stdout.strip()
    data = tmp_path / "data.csv"
    rows = np.random.default_rng(1).normal(size=(30, 4))
    data.write_text("a,b,c,d,label\n" + "\n".join(",".join(f"{v:.4f}" for v in r) + f",{int(r[0] > 0)}"
                                                  for r in rows) + "\n")
    return home, learnware_id, data


def test_fetch_and_reuse_errors_are_the_same_embedded_and_through_the_node(nodes, tmp_path):
    home, learnware_id, data = _learnware_home(tmp_path)
    cases = {
        "fetch of an unknown id": (["fetch", UNKNOWN_ID], "NotFoundError"),
        "an unknown reuser": (["reuse", learnware_id[:12], learnware_id[:12], "--data", str(data),
                               "--reuser", "majority"], "ReuseError"),
        "one learnware given twice to direct": (["reuse", learnware_id[:12], learnware_id[:12], "--data",
                                                 str(data), "--reuser", "direct"], "ReuseError"),
    }
    embedded = {what: cli(home, *args, check=False) for what, (args, _) in cases.items()}
    assert json.loads(cli(home, "status", "--json").stdout)["mode"] == "embedded"
    nodes(home)
    assert json.loads(cli(home, "status", "--json").stdout)["mode"] == "daemon"
    for what, (args, error) in cases.items():
        daemon = cli(home, *args, check=False)
        assert _one_line(daemon) == _one_line(embedded[what]), what
        assert daemon.returncode == embedded[what].returncode == REGISTRY[error].exit_code, what
    assert "no learnware" in _one_line(embedded["fetch of an unknown id"])
    assert "'majority'" in _one_line(embedded["an unknown reuser"])
    # The honest paths still work through the node: fetch of a local zip, and a reuse run.
    assert cli(home, "fetch", learnware_id[:12]).stdout.strip().endswith(learnware_id + ".zip")
    ran = json.loads(cli(home, "reuse", learnware_id[:12], "--data", str(data), "--label-column", "label",
                         "--json").stdout)
    assert ran["rows"] == 30 and ran["metrics"]["accuracy"] == pytest.approx(1.0)
