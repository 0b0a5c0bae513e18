"""The reference-style workflow script (tests/compat/scripts/workflow_easy.py) runs unchanged but for
the import prefix, in a fresh dock home: market add/search/update/delete, stat and semantic search,
the four reusers through predict(user_data=...)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "compat" / "scripts" / "workflow_easy.py"
PREFIX = "dock.compat.learnware"


def test_the_script_differs_from_a_reference_script_only_by_the_import_prefix():
    source = SCRIPT.read_text(encoding="utf-8")
    as_reference = source.replace(PREFIX, "learnware")
    # nothing of lwdock is imported except through the prefix
    assert not re.search(r"^\s*(from|import)\s+(dock|specs|p2p|tui)\b", as_reference, re.M)
    assert re.search(r"^from learnware\.market import", as_reference, re.M)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["LWDOCK_HOME"] = str(tmp_path_factory.mktemp("home"))
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-W", "ignore", str(SCRIPT)], capture_output=True, text=True, env=env,
                          cwd=tmp_path_factory.mktemp("cwd"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return lines, proc.stderr


def _rows(results, key):
    return [row[1:] for row in results[0] if row[0] == key]


def test_market_add_and_semantic_search(results):
    assert _rows(results, "bad_semantic") == [["None", "-1", "0"]]  # refused, nothing stored
    assert _rows(results, "added") == [["5"]]
    exact, typo = _rows(results, "semantic")
    assert exact == ["learnware_4", "5", "True"]  # the exact name first
    assert typo[:2] == ["laernwaer", "5"]  # the typo still finds the learnware_N names


def test_stat_search_with_reference_loaded_specs(results):
    rows = _rows(results, "stat_self")
    assert len(rows) == 5 and all(row[1] == "True" and float(row[2]) > 0.95 for row in rows)
    top = _rows(results, "user_top")[0]
    assert top[0] == "True" and float(top[1]) > 0.5  # a gamma-0.1 digits 0-4 spec finds the 0-5 learnware
    assert _rows(results, "user_multiple") == [["0", "None"]]  # 0-5 explains 0-4 alone: no mixture
    assert _rows(results, "spec_access") == [["RKMETableSpecification", "learnware_0", "PickleLoadedModel"]]


def test_the_four_reusers_with_the_reference_shapes(results):
    assert _rows(results, "shapes") == [["(10,)", "(10,)"]]  # class scores, as the reference returns
    accuracy = {row[0]: float(row[1]) for row in _rows(results, "acc")}
    assert set(accuracy) == {"job_selector", "averaging", "ensemble_pruning", "feature_augment"}
    assert all(value > 0.9 for value in accuracy.values()), accuracy


def test_update_conflict_and_delete(results):
    assert _rows(results, "updated") == [["True", "renamed", "digits", "model"]]
    assert _rows(results, "readd_conflict") == [["None", "-1"]]
    assert "already in the dock with another semantic spec" in results[1]
    assert _rows(results, "deleted") == [["0", "[]"]]
