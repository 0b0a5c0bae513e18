"""The reference-style hetero workflow (tests/compat/scripts/workflow_hetero.py) runs unchanged but for
the import prefix, in a fresh dock home: Ridge learnwares of two input widths on diabetes, a "hetero"
market, a user of a third width found and aligned with HeteroMapAlignLearnware(...).align(user_spec,
X[:100], y[:100]), averaging and ensemble pruning over the aligned learnwares."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "compat" / "scripts" / "workflow_hetero.py"
PREFIX = "dock.compat.learnware"


def test_the_script_differs_from_a_reference_script_only_by_the_import_prefix():
    as_reference = SCRIPT.read_text(encoding="utf-8").replace(PREFIX, "learnware")
    assert not re.search(r"^\s*(from|import)\s+(dock|specs|p2p|tui)\b", as_reference, re.M)
    assert re.search(r"^from learnware\.reuse import", as_reference, re.M)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["LWDOCK_HOME"] = str(tmp_path_factory.mktemp("home"))
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-W", "ignore", str(SCRIPT)], capture_output=True, text=True, env=env,
                          cwd=tmp_path_factory.mktemp("cwd"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            key, *values = line.split()[1:]
            rows[key] = values
    return rows


def test_the_hetero_market_finds_learnwares_of_both_other_widths(results):
    assert results["added"] == ["4"]
    assert results["found"] == ["4", "7,8"]  # the user has 6 columns: every match is heterogeneous
    assert results["paired"] == ["4"]  # each carries the search's column pairing for align()
    assert results["deleted"] == ["0"]


def test_aligned_learnwares_beat_the_mean_predictor(results):
    mean = float(results["mean_rmse"][0])
    for key in ("single_rmse", "averaging_rmse", "pruning_rmse", "positional_rmse"):
        assert float(results[key][0]) < 0.9 * mean, (key, results[key], mean)
    # the specs-only alignment (no labels) carries the learnware's knowledge too
    assert float(results["feature_rmse"][0]) < mean, results["feature_rmse"]
    # the few-label correction is no worse than fitting the user's 100 rows alone, within noise
    assert float(results["single_rmse"][0]) < 1.1 * float(results["own_rmse"][0])


def test_refusals_and_fallbacks_say_what_happened(results):
    assert results["unaligned"][0] == "refused" and "aligned_before" in results["unaligned"][1]
    # no names anywhere: the user's column i is the learnware's input i (docs/COMPAT.md)
    assert results["positional_rmse"][1] == "True"


def test_bad_arguments_are_refused_with_the_reason():
    import numpy as np

    from dock.compat.learnware.learnware import Learnware
    from dock.compat.learnware.reuse import FeatureAlignLearnware, HeteroMapAlignLearnware
    from dock.compat.learnware.specification import Specification, generate_rkme_table_spec
    from dock.errors import ReuseError

    semantic = {"Input": {"Dimension": 3, "Description": {"0": "age", "1": "weight", "2": "height"}}}
    lw = Learnware("lw", {}, Specification(semantic_spec=semantic))
    with pytest.raises(ReuseError, match="is not a Learnware"):
        FeatureAlignLearnware(object())
    with pytest.raises(AssertionError, match="'classification' or 'regression'"):
        HeteroMapAlignLearnware(lw, mode="ranking")
    aligned = FeatureAlignLearnware(lw)
    with pytest.raises(ReuseError, match="table RKME"):
        aligned.align({"not": "a spec"})
    user_spec = generate_rkme_table_spec(np.random.default_rng(0).normal(size=(60, 2)))
    with pytest.raises(ReuseError, match="3 column names for a user table of 2 columns"):
        aligned.align(user_spec, user_columns=["age", "weight", "height"])
    with pytest.raises(ReuseError, match="must be aligned"):
        aligned.predict(np.zeros((2, 2)))
    # the honest call gets past the names and reaches the learnware's spec, which this one lacks
    with pytest.raises(ReuseError, match="has no table RKME"):
        aligned.align(user_spec, user_columns=["age", "weight"])
