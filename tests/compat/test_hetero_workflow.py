"""The reference-style hetero workflow (tests/compat/scripts/workflow_hetero.py) runs unchanged but for
the import prefix, in a fresh dock home: Ridge learnwares of two input widths on diabetes, a "hetero"
market, a user of a third width found and aligned with HeteroMapAlignLearnware(...).align(user_spec,
X[:100], y[:100]), the mixture the market proposes (`get_multiple_results()[0]`), averaging and
ensemble pruning over its aligned learnwares."""

from __future__ import annotations

import re

import pytest

from tests.compat.reference_script import SCRIPTS, as_reference, result_lines, run_script

SCRIPT = SCRIPTS / "workflow_hetero.py"


def test_the_script_differs_from_a_reference_script_only_by_the_import_prefix():
    assert re.search(r"^from learnware\.reuse import", as_reference(SCRIPT), re.M)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return {key: values for key, *values in result_lines(run_script(SCRIPT, tmp_path_factory).stdout)}


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


def test_a_mixture_of_aligned_learnwares_is_proposed_when_it_explains_more(results):
    # learnwares of low and of high body mass index, for a user of every body mass index: the mixture
    # (get_multiple_results()[0], as the reference's hetero workflow reuses it) takes both groups,
    # its members carry their column pairings for align(), and it scores above the best single
    count, widths, groups, paired, beats_single = results["multiple"]
    assert count == "1" and set(widths.split(",")) <= {"7", "8"} and len(widths.split(",")) >= 2
    assert groups == "high,low" and paired == str(len(widths.split(","))) and beats_single == "True"
    # a user of low body mass index only: the singles are found, no mixture is proposed
    assert results["low_user"] == ["4", "0"]


def test_job_selector_routes_user_rows_among_aligned_learnwares(results):
    # the mixture's members take 7 or 8 columns, the user's rows 6: rows are routed by each aligned
    # learnware's own spec in its own space (dock/compat/learnware/reuse/aligned_routing.py)
    mean = float(results["mean_rmse"][0])
    assert float(results["job_selector_rmse"][0]) < 0.9 * mean, results["job_selector_rmse"]
    agreement, used = results["job_selector_routing"]
    assert float(agreement) > 0.7 and int(used) >= 2  # most rows go to a learnware of their own BMI group
    # FeatureAlignLearnware (no labels) routes the same way: the same alignment, the same specs
    assert float(results["job_selector_feature"][0]) < mean and float(results["job_selector_feature"][1]) > 0.9
    # refused: learnwares wrapped but not aligned yet, with the reason
    assert results["job_selector_unaligned"] == ["refused", "ReuseError", "True"]


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
