"""`lwdock list` imports only what listing needs (issue 16: the whole process <= 0.5 s on a 1M
catalogue, of which Python's start and the imports were 0.72 s before the heavy ones went lazy).

Each run is a real `lwdock` process (the console script's entry, tui.launcher:main) on a real dock
home; it reports the modules it ended up with. A new top-level import of numpy, rich, the search,
the runtime, the network, textual, torch, ... on the listing path makes this fail, naming the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What `lwdock list --limit 50 --json` may import: the standard library plus these.
ALLOWED_THIRD_PARTY = {"duckdb", "_duckdb", "msgpack", "_cython_3_3_0", "cython_runtime", "_distutils_hack",
                       "sitecustomize"}
# Heavy or unrelated to a listing: each was on the path before (numpy via the runtime and the
# store, rich via the output module, msgpack's users, the control server) or must never be.
FORBIDDEN_PREFIXES = ("numpy", "rich", "textual", "torch", "sklearn", "scipy", "libp2p", "trio", "zstandard",
                      "pandas", "tui.app", "tui.screens", "tui.widgets", "tui.backend",
                      "dock.runtime", "dock.search.engine", "dock.network", "dock.package",
                      "dock.control.server", "dock.reuse", "specs.table", "specs.api", "specs.kernels", "p2p.host")

PROBE = """
import contextlib, io, json, sys
from tui.launcher import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "stdout": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _modules_of(argv: list[str], home: Path) -> tuple[dict, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LWDOCK_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report, set(report["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(FORBIDDEN_PREFIXES)
                  and (m in FORBIDDEN_PREFIXES or m.startswith(tuple(p + "." for p in FORBIDDEN_PREFIXES))))


def _third_party(modules: set[str]) -> list[str]:
    project = {"dock", "specs", "p2p", "tui", "__main__"}
    tops = {m.split(".")[0] for m in modules if not m.startswith(("_sysconfigdata", "__editable__"))}
    return sorted(tops - set(sys.stdlib_module_names) - project - ALLOWED_THIRD_PARTY)


@pytest.fixture
def dock_with_a_record(tmp_path):
    """A real dock home holding one signed record from a peer (a listing that renders a row)."""
    from dock import Dock
    from dock.network.bulk_ingest import ingest_page
    from dock.network.signed_records import decode_envelope
    from p2p import Identity
    from tests.dock.test_network_trust import _fake_id, record

    home = tmp_path / "home"
    signed = decode_envelope(record(Identity.generate(), _fake_id("listed"), name="listed"))
    with Dock.open(home) as dock:
        assert ingest_page(dock, [signed], None)[0] == ["stored"]
    return home, signed.id


def test_lwdock_list_imports_nothing_heavy(dock_with_a_record):
    home, learnware_id = dock_with_a_record
    report, modules = _modules_of(["list", "--limit", "50", "--json"], home)
    assert report["code"] == 0
    listed = json.loads(report["stdout"])
    assert [r["id"] for r in listed["records"]] == [learnware_id] and listed["total"] == 1
    assert _heavy(modules) == [], "lwdock list imported what listing does not need (make it lazy)"
    assert _third_party(modules) == [], "lwdock list imported a third-party package not on its allowed list"
    # the honest path still imports what it needs: the store and the listing
    assert {"duckdb", "dock.store.catalogue", "dock.store.listing"} <= modules


def test_the_import_check_sees_heavy_imports(dock_with_a_record):
    """The same probe on a command that needs the search and numpy reports them: the check above
    can fail."""
    home, _ = dock_with_a_record
    report, modules = _modules_of(["search", "iris", "--json"], home)
    assert report["code"] == 0
    assert "numpy" in _heavy(modules) and "dock.search.engine" in _heavy(modules)
