"""The reference-style workflow script (tests/compat/scripts/workflow_easy.py) runs unchanged but for
the import prefix, in a fresh dock home: market add/search/update/delete, stat and semantic search,
the four reusers through predict(user_data=...)."""

from __future__ import annotations

import re

import pytest

from tests.compat.reference_script import SCRIPTS, as_reference, result_lines, run_script

SCRIPT = SCRIPTS / "workflow_easy.py"


def test_the_script_differs_from_a_reference_script_only_by_the_import_prefix():
    assert re.search(r"^from learnware\.market import", as_reference(SCRIPT), re.M)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    proc = run_script(SCRIPT, tmp_path_factory)
    return result_lines(proc.stdout), proc.stderr


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
