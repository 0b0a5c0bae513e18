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
