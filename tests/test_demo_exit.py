"""`lwdock demo` in a real terminal (a pty at 80x24), ended the ways a user ends it: the terminal
closing (SIGHUP) or a `kill` (SIGTERM), while the UI runs or while the network is still being
built. Each time its temporary folder and its two node processes are gone afterwards, and the data
files (and what the user saved) stay in the output folder the UI named."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]


def _node_pids_under(folder: Path) -> list[int]:
    """Processes whose LWDOCK_HOME lies in `folder` (the demo's `lwdock node` children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"LWDOCK_HOME={folder}".encode() in environ:
            pids.append(int(entry.name))
    return pids


class Terminal:
    """A pty of 80x24 whose output is drained (a full pty would block the app) and kept."""

    def __init__(self, columns: int = 80, rows: int = 24):
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def close(self) -> None:
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def zip_cache(demo_xdg_cache):
    """The demo's zips, built once per session (never the user's real cache: tests/conftest.py)."""
    return demo_xdg_cache


@pytest.mark.parametrize("how", ["SIGHUP in the UI", "SIGTERM in the UI", "SIGTERM while building"])
def test_demo_folder_and_nodes_are_removed_when_the_demo_is_ended(how, tmp_path, zip_cache):
    sig = signal.SIGHUP if how.startswith("SIGHUP") else signal.SIGTERM
    temp, output = tmp_path / "tmp", tmp_path / "out"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), LWDOCK_DEMO_OUTPUT=str(output), XDG_CACHE_HOME=str(zip_cache),
               PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("LWDOCK_HOME", None)
    terminal = Terminal()
    proc = subprocess.Popen([sys.executable, "-m", "tui.launcher", "demo"], stdin=terminal.slave,
                            stdout=terminal.slave, stderr=terminal.slave, env=env, cwd=tmp_path,
                            start_new_session=True)
    try:
        root = wait_until(lambda: next(iter(temp.glob("lwdock-demo-*")), None), 60, "the demo's temporary folder")
        if how.endswith("building"):
            wait_until(lambda: (root / "alice").exists(), 120, "the demo building its nodes")
        else:
            wait_until(lambda: "Welcome" in terminal.text(), 240, "the demo's UI with its welcome")
            assert len(_node_pids_under(root)) == 2  # alice and bob run
        proc.send_signal(sig)
        wait_until(lambda: proc.poll() is not None, 60, f"the demo to exit after {sig.name}")
        assert proc.returncode == 128 + sig, terminal.text()[-2000:]
        assert not root.exists(), "the demo's temporary folder must be removed"
        assert _node_pids_under(root) == []  # no node left running
        assert "Traceback" not in terminal.text()
        if not how.endswith("building"):
            # the data files stay where the UI said (its status line and welcome name the folder)
            assert sorted(p.name for p in output.glob("*.csv")) == ["digits_0-5.csv", "iris.csv"]
            # the status line names the folder (the welcome toast covers its right half for a while)
            assert f"demo files and saves: {str(output)[:12]}" in terminal.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        terminal.close()
