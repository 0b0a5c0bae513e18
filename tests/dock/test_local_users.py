"""Other users on the machine (issue 11, case 14): the home is private, the control socket's
fallback folder is checked before it is trusted, the control server serves only its own uid,
a bounded number of clients, and drops idle ones. Real files, real sockets, real processes of
another uid (the tests run as root, so os.chown and subprocess(user=...) simulate the other user)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import msgpack
import pytest

from dock.control.remote import RemoteDock
from dock.control.server import ControlServer
from dock.control.wire import recv_frame, send_frame
from dock.dock import Dock
from dock.errors import StoreError
from dock.home import DockHome, control_socket_path
from tests.helpers import run_cli, wait_until

OTHER_UID = 12345
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="simulating another user needs root")
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by any uid (the venv's interpreter may sit in /root)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_new_home_is_private(tmp_path):
    home = tmp_path / "home"
    with Dock.open(home) as dock:
        dock.identity  # noqa: B018 - creates identity.key
        assert dock.list() == []
    assert _mode(home) == 0o700
    for folder in ("blobs", "blobs/tmp", "cache", "cache/unpacked"):
        assert _mode(home / folder) == 0o700, folder
    for name in ("dock.duckdb", "owner.lock", "identity.key"):
        assert _mode(home / name) == 0o600, name
    if (home / "dock.duckdb.wal").exists():
        assert _mode(home / "dock.duckdb.wal") == 0o600


def test_existing_open_home_is_tightened_at_open(tmp_path):
    home = tmp_path / "home"
    with Dock.open(home):
        pass
    os.chmod(home, 0o755)
    os.chmod(home / "dock.duckdb", 0o644)
    os.chmod(home / "blobs", 0o777)
    os.chmod(home / "owner.lock", 0o666)
    with Dock.open(home) as dock:
        assert dock.list() == []  # still a working dock
    assert _mode(home) == 0o700 and _mode(home / "blobs") == 0o700
    assert _mode(home / "dock.duckdb") == 0o600 and _mode(home / "owner.lock") == 0o600


def _long_home(tmp_path: Path) -> Path:
    home = tmp_path / ("h" * 100)  # control.sock would not fit in sun_path: the fallback folder is used
    assert len(str(home / "control.sock")) > 108
    return home


@needs_root
@pytest.mark.parametrize("impostor", ["other-owner", "symlink", "open-mode", "not-a-dir"])
def test_socket_folder_made_by_someone_else_is_refused(tmp_path, monkeypatch, impostor):
    run_dir = tmp_path / "run"
    if impostor == "other-owner":
        run_dir.mkdir(mode=0o700)
        os.chown(run_dir, OTHER_UID, OTHER_UID)
        words = f"owned by uid {OTHER_UID}, not by you"
    elif impostor == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        run_dir.symlink_to(tmp_path / "elsewhere")
        words = "symbolic link"
    elif impostor == "open-mode":
        run_dir.mkdir()
        os.chmod(run_dir, 0o777)
        words = "its mode is 0777; it must be 0700"
    else:
        run_dir.write_text("")
        words = "not a directory"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    home = _long_home(tmp_path)
    with pytest.raises(StoreError, match=words) as raised:
        control_socket_path(home)
    assert str(run_dir) in str(raised.value)
    with pytest.raises(StoreError, match=words):  # the client that connects checks it too
        RemoteDock(DockHome(home))
    result = run_cli(home, "list", check=False)  # the CLI: a clear error, no listing
    assert result.returncode != 0 and str(run_dir) in result.stderr and words.split(";")[0] in result.stderr
    # the honest path: a folder that does not exist yet is created private and used
    fresh = tmp_path / "fresh-run"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(fresh))
    path = control_socket_path(home)
    assert path.parent == fresh and _mode(fresh) == 0o700 and os.stat(fresh).st_uid == os.geteuid()


IMPOSTOR_SERVER = r"""
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[2]))  # listen as the other user
s.listen(1)
print("ready", flush=True)
conn, _ = s.accept()
conn.recv(4096)
conn.close()
"""


@needs_root
def test_client_refuses_a_socket_served_by_another_uid(tmp_path, monkeypatch):
    """The folder is ours and private, yet a socket in it is another user's: SO_PEERCRED says so."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    home = _long_home(tmp_path)
    path = control_socket_path(home)
    proc = subprocess.Popen([SYSTEM_PYTHON, "-c", IMPOSTOR_SERVER, str(path), str(OTHER_UID)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match=f"served by uid {OTHER_UID}, not by you"):
            RemoteDock(DockHome(home))
    finally:
        proc.kill()
        proc.wait()


def _methods(home: Path) -> dict:
    return {"ping": lambda: {"pid": os.getpid(), "home": str(home)}, "stats": lambda: {"records": 0}}


@pytest.fixture
def served(tmp_path):
    """A real ControlServer on the home's socket path; yields (server, home)."""
    home = tmp_path / "home"
    home.mkdir()
    servers = []

    def start(**kw) -> ControlServer:
        server = ControlServer(_methods(home), control_socket_path(home), **kw)
        server.start()
        servers.append(server)
        return server

    yield start, home
    for server in servers:
        server.stop()


def _raw_client(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))  # blocking: waits in the backlog rather than failing with EAGAIN
    sock.settimeout(10)
    return sock


def test_too_many_clients_get_a_clear_error_and_threads_stay_bounded(served):
    start, home = served
    server = start(max_clients=8)
    before = threading.active_count()
    idle = [_raw_client(server.socket_path) for _ in range(8)]
    extra = [_raw_client(server.socket_path) for _ in range(20)]
    for sock in extra:
        frame = recv_frame(sock)
        assert frame["ok"] is False and frame["error"]["type"] == "DockBusyError"
        assert "already serves 8 control clients" in frame["error"]["message"]
        assert recv_frame(sock) is None  # and closed
        sock.close()
    assert threading.active_count() <= before + 8
    with pytest.raises(StoreError, match="already serves 8 control clients"):
        RemoteDock(DockHome(home))  # what a CLI command sees
    for sock in idle[:2]:
        sock.close()
    wait_until(lambda: _ping_ok(server.socket_path), 10, "a free client slot")  # the honest path
    for sock in idle[2:]:
        sock.close()


def _ping_ok(path: Path) -> bool:
    """One ping on a fresh connection; False while the server still refuses (all slots busy)."""
    with _raw_client(path) as sock:
        try:
            send_frame(sock, {"id": 1, "method": "ping", "params": {}})
            reply = recv_frame(sock)
        except OSError:  # refused and closed before our request went out
            return False
        return bool(reply and reply.get("ok"))


def test_idle_clients_are_dropped_and_remote_dock_reconnects(served):
    start, home = served
    server = start(idle_timeout=0.5)
    silent = _raw_client(server.socket_path)
    assert recv_frame(silent) is None  # closed by the server after 0.5 s of silence (10 s deadline)
    silent.close()
    remote = RemoteDock(DockHome(home))
    try:
        sock = remote._sock
        wait_until(lambda: _closed_by_peer(sock), 10, "the idle connection to be dropped")
        assert remote.stats() == {"records": 0}  # reconnected transparently, request sent once
    finally:
        remote.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0]) and sock.recv(1, socket.MSG_PEEK) == b""


OTHER_UID_CLIENT = r"""
import os, socket, sys
os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[2]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.hex())
"""


@needs_root
def test_a_client_of_another_uid_is_refused(served):
    """Even when the socket file is reachable (a loose folder or mode), SO_PEERCRED decides."""
    start, home = served
    open_dir = Path(tempfile.mkdtemp(prefix="lwdock-peercred-"))
    try:
        os.chmod(open_dir, 0o711)
        server = ControlServer(_methods(home), open_dir / "c.sock")
        server.start()
        try:
            os.chmod(server.socket_path, 0o666)  # as if the mode had been left open
            out = subprocess.run([SYSTEM_PYTHON, "-c", OTHER_UID_CLIENT, str(server.socket_path), str(OTHER_UID)],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
            frame = msgpack.unpackb(bytes.fromhex(out)[4:], raw=False)
            assert frame["ok"] is False and f"not uid {OTHER_UID}" in frame["error"]["message"]
            assert _ping_ok(server.socket_path)  # our own uid is still served
        finally:
            server.stop()
    finally:
        import shutil

        shutil.rmtree(open_dir, ignore_errors=True)
