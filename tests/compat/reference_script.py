"""Running a reference-style script (tests/compat/scripts/) as its users would: the script text checked
to differ from a script for the `learnware` package only by the import prefix, then run in a fresh
dock home, in a fresh working folder, with a minimal environment; its "RESULT key values..." lines
parsed for the tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "tests" / "compat" / "scripts"
PREFIX = "dock.compat.learnware"


def as_reference(script: Path) -> str:
    """The script as it would read for the reference package; asserts that nothing of lwdock is
    imported except through the prefix."""
    source = script.read_text(encoding="utf-8").replace(PREFIX, "learnware")
    assert not re.search(r"^\s*(from|import)\s+(dock|specs|p2p|tui)\b", source, re.M), script.name
    return source


def run_script(script: Path, tmp_path_factory, timeout: float = 600) -> subprocess.CompletedProcess:
    """The script run to its end (asserted) in a fresh LWDOCK_HOME."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env["LWDOCK_HOME"] = str(tmp_path_factory.mktemp("home"))
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path_factory.mktemp("tmp"))  # the scripts' mkdtemp folders, removed by pytest
    proc = subprocess.run([sys.executable, "-W", "ignore", str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path_factory.mktemp("cwd"), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def result_lines(stdout: str) -> list[list[str]]:
    """Each "RESULT key v1 v2 ..." line as [key, v1, v2, ...], in order."""
    return [line.split()[1:] for line in stdout.splitlines() if line.startswith("RESULT ")]
