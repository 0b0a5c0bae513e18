"""Shared test helpers: waiting for a condition with a deadline, and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll `condition` until it returns something truthy (returned) or `timeout` passes (fails
    the test naming `what`). The only sleep is this bounded polling interval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_cli(home: Path, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    """`lwdock ARGS` as a subprocess with LWDOCK_HOME=home; fails the test on a non-zero exit if `check`."""
    env = dict(os.environ, LWDOCK_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "dock.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"lwdock {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def start_node(home: Path, *args: str, log_path: Path | None = None, timeout: float = 60
               ) -> tuple[subprocess.Popen, dict]:
    """A real `lwdock node --listen /ip4/127.0.0.1/tcp/0 ARGS` process for `home`, logging to
    `log_path` (default: next to the home); returns it with its `lwdock status --json` once it
    answers as a daemon with a listen address. The caller kills it (see stop_node)."""
    import json

    log_path = log_path or home.parent / f"{home.name}.log"
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "dock.cli", "node", "--listen", "/ip4/127.0.0.1/tcp/0", *args],
                                env=dict(os.environ, LWDOCK_HOME=str(home)), stdout=log, stderr=log)

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"lwdock node exited: {log_path.read_text()}")
        result = run_cli(home, "status", "--json", check=False)
        if result.returncode == 0:
            status = json.loads(result.stdout)
            return status if status["mode"] == "daemon" and status["addrs"] else None
        return None

    try:
        return proc, wait_until(ready, timeout, f"the lwdock node of {home.name}")
    except BaseException:
        stop_node(proc)
        raise


def stop_node(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
