"""A bug in a TUI handler, in a real terminal (a pty at 80x24): the user sees one line naming the
log, never a Python traceback; the traceback is in the log; the exit status is 1. Under run_test
(headless) Textual's own behaviour is kept, so tests still fail on such a bug (checked below)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.helpers import wait_until
from tests.test_demo_exit import ROOT, Terminal

# The real app on a real (empty) dock, with one handler that raises: a timer callback after the
# first paint, as a bug in any screen would.
SCRIPT = textwrap.dedent("""
    import sys
    from dock import Dock
    from tui.app import LwdockApp, make_app
    from tui.launcher import configure_logging, report_unexpected

    class Buggy(LwdockApp):
        def on_ready(self):
            self.set_timer(0.3, self.boom)

        def boom(self):
            raise RuntimeError("a handler bug")

    home = sys.argv[1]
    log_path = configure_logging(home)
    dock = Dock.connect(home)
    try:
        app = make_app(dock=dock, log_path=log_path)
        app.__class__ = Buggy
        app.run()
        report_unexpected(app)
        sys.exit(app.return_code or 0)
    finally:
        dock.close()
""")


def test_a_handler_bug_is_one_line_on_screen_and_the_traceback_goes_to_the_log(tmp_path):
    home = tmp_path / "home"
    terminal = Terminal()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(home)], stdin=terminal.slave,
                            stdout=terminal.slave, stderr=terminal.slave, env=env, cwd=tmp_path)
    try:
        wait_until(lambda: proc.poll() is not None, 120, "the app to stop on its bug")
        wait_until(lambda: "lwdock: the terminal UI stopped" in terminal.text(), 10, "the one-line report")
        screen = terminal.text()
        assert proc.returncode == 1
        assert "Traceback" not in screen and 'File "' not in screen, screen[-2000:]
        line = next(x for x in screen.splitlines() if "lwdock: the terminal UI stopped" in x)
        assert "RuntimeError: a handler bug" in line and "the details are in" in line
        logs = "".join(p.read_text() for p in (home / "logs").glob("*.log"))
        assert "unexpected error in the terminal UI" in logs and "Traceback" in logs and "a handler bug" in logs
    finally:
        if proc.poll() is None:
            proc.kill()
        terminal.close()


def test_under_run_test_the_bug_still_fails_the_test(tmp_path):
    import asyncio

    from dock import Dock
    from tui.app import LwdockApp, make_app

    class Buggy(LwdockApp):
        def on_ready(self):
            self.set_timer(0.1, self.boom)

        def boom(self):
            raise RuntimeError("a handler bug")

    async def main(app):
        async with app.run_test() as pilot:
            await pilot.pause(0.5)

    with Dock.open(tmp_path / "home") as dock:
        app = make_app(dock=dock)
        app.__class__ = Buggy
        with pytest.raises(RuntimeError, match="a handler bug"):
            asyncio.run(main(app))
