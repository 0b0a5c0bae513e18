"""`lwdock node` as a real separate process: control socket, CLI and Dock.connect() through it,
one owner per home, clean shutdown on SIGTERM, recovery after SIGKILL, garbage on the socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dock import Dock, DockBusyError
from dock.control.remote import RemoteDock
from dock.home import control_socket_path
from tests.helpers import run_cli as cli
from tests.helpers import wait_until

from .fixtures import fitted_iris_model, reference_files, write_zip


def _daemon_up(home: Path) -> bool:
    path = control_socket_path(home)
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


@pytest.fixture
def node(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, LWDOCK_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "dock.cli", "node"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _daemon_up(home) or proc.poll() is not None, 30, "the daemon's control socket")
        assert proc.poll() is None, proc.stderr.read()
        yield home, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_cli_and_connect_go_through_the_daemon(node, tmp_path):
    home, proc = node
    model, X, y = fitted_iris_model()
    zip_path = write_zip(tmp_path / "iris.zip", reference_files(model=model, X=X))

    status = json.loads(cli(home, "status", "--json").stdout)
    assert status["mode"] == "daemon" and status["pid"] == proc.pid and status["records"] == 0

    learnware_id = cli(home, "submit", str(zip_path)).stdout.strip()
    assert [r["id"] for r in json.loads(cli(home, "list", "--json").stdout)] == [learnware_id]

    with pytest.raises(DockBusyError, match=f"pid {proc.pid}"):
        Dock.open(home)  # the daemon owns the DuckDB file: an embedded open is refused, by name

    with Dock.connect(home) as dock:
        assert isinstance(dock, RemoteDock)
        from dock import UserInfo
        from specs import generate_stat_spec

        spec = generate_stat_spec(type="table", X=X)
        result = dock.search(UserInfo(stat_info={spec.type: spec}))
        assert result.single[0].id == learnware_id and result.single[0].mmd2 is not None
        assert dock.get(learnware_id[:8]).name == "iris-lr"
        with dock.load(learnware_id) as learnware:  # the worker runs here, the daemon only unpacked
            np.testing.assert_array_equal(learnware.predict(X).reshape(-1), model.predict(X))
        with pytest.raises(Exception, match="no learnware"):
            dock.get("ffffffff")


def test_second_node_on_the_same_home_exits_with_a_clear_message(node):
    home, proc = node
    second = cli(home, "node", check=False)
    assert second.returncode != 0
    assert "in use by another process" in second.stderr and f"pid {proc.pid}" in second.stderr


def test_garbage_on_the_control_socket_does_not_hurt_the_daemon(node):
    home, proc = node
    for payload in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x05hello", b"\x00\x00\x00\x01\xc1", b"GET / HTTP/1.0\r\n\r\n"):
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(control_socket_path(home)))
            raw.sendall(payload)
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(5)
            try:
                while raw.recv(4096):  # the daemon answers or drops the connection; either is fine
                    pass
            except ConnectionResetError:
                pass
    assert proc.poll() is None
    assert json.loads(cli(home, "status", "--json").stdout)["mode"] == "daemon"


def test_sigterm_shuts_down_cleanly_then_commands_run_embedded(node):
    home, proc = node
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not control_socket_path(home).exists()
    assert json.loads(cli(home, "status", "--json").stdout)["mode"] == "embedded"


def test_sigkill_leaves_a_home_that_reopens_clean(node, tmp_path):
    home, proc = node
    cli(home, "submit", str(write_zip(tmp_path / "iris.zip", reference_files())))
    proc.kill()
    proc.wait(10)
    with Dock.open(home) as dock:  # lock released by the kernel; stale socket is ignored
        assert len(dock.list()) == 1 and list(dock.home.blob_tmp.iterdir()) == []
