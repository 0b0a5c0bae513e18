"""Submission checks: a good learnware passes; each kind of bad one fails the check that names it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dock.errors import CheckError
from dock.package.submission_checks import check_outputs, check_package
from tests.dock.fixtures import build_package, model_source, package_files, reference_files, semantic

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))


def _check(tmp_path, predict_body: str, *, sem=None, kwargs=None, output_shape=(1,), timeout=20.0, **kw):
    files = package_files(model_source(predict_body, output_shape=output_shape), X, sem or semantic(), kwargs)
    pkg, folder = build_package(tmp_path, files)
    return check_package(pkg, folder, timeout=timeout, **kw)


def test_reference_zip_passes(tmp_path):
    pkg, folder = build_package(tmp_path, reference_files())
    report = check_package(pkg, folder)
    assert report["checks"] == ["semantic", "stat_spec", "model_load", "predict"]
    assert report["input_shape"] == (4,) and report["output_shape"] == (1,)
    assert report["probe_output_shape"] == (1,)


def test_probability_outputs_pass(tmp_path):
    body = "p = np.abs(X[:, :3]) + 1e-3\nreturn p / p.sum(axis=1, keepdims=True)"
    assert _check(tmp_path, body, output_shape=(3,))["output_shape"] == (3,)


def test_regression_passes(tmp_path):
    assert _check(tmp_path, "return X[:, 0] * 2", sem=semantic(out_dim=1, task="Regression"))["checks"]


@pytest.mark.parametrize("body, output_shape, message", [
    ("raise RuntimeError('cannot predict today')", (1,), "cannot predict today"),
    ("return np.zeros((len(X), 2))", (1,), r"row has shape \(2,\) but the model declares "
                                           r"output_shape \(1,\)"),
    ("return np.zeros((len(X), 2))", (2,), "2 columns but the semantic spec says Output.Dimension = 3"),
    ("return np.full(len(X), 5)", (1,), r"labels must be integers in \[0, 3\); got e.g. \[5.0\]"),
    ("return np.full(len(X), 0.5)", (1,), r"labels must be integers in \[0, 3\)"),
    ("return np.full(len(X), -1)", (1,), r"labels must be integers in \[0, 3\)"),
    ("return np.zeros(len(X) - 1, dtype=int)", (1,), "lengths must match"),
    ("return np.full(len(X), np.nan)", (1,), "NaN or infinity"),
    ("return np.array(['a'] * len(X))", (1,), "outputs must be numbers"),
    ("return 'nope'", (1,), "returned a str"),
    ("time.sleep(3600)", (1,), "did not answer within 2s"),
])
def test_bad_predictions_fail_the_predict_check(tmp_path, body, output_shape, message):
    with pytest.raises(CheckError, match=message) as info:
        _check(tmp_path, body, output_shape=output_shape, timeout=2.0)
    assert info.value.check == "predict"


def test_model_load_failures(tmp_path):
    with pytest.raises(CheckError) as info:
        _check(tmp_path, "return X", kwargs={"input_shape": (5,)})
    assert info.value.check == "model_load" and "input_shape is (5,)" in info.value.reason
    with pytest.raises(CheckError) as info:
        _check(tmp_path / "b", "return X", kwargs={"no_such_arg": 1})
    assert info.value.check == "model_load" and "no_such_arg" in info.value.reason
    with pytest.raises(CheckError) as info:
        _check(tmp_path / "c", "return X", kwargs={"input_shape": "four"})
    assert info.value.check == "model_load" and "not a tuple of non-negative ints" in info.value.reason


def test_spec_dimension_must_match_input(tmp_path):
    with pytest.raises(CheckError) as info:
        _check(tmp_path, "return X[:, 0]", sem=semantic(dim=5))
    assert info.value.check == "stat_spec"
    assert "dimension 4 but the semantic spec says Input.Dimension = 5" in info.value.reason


def test_semantic_and_stat_spec_checks_on_a_tampered_package(tmp_path):
    pkg, folder = build_package(tmp_path, reference_files())
    bad_sem = {**pkg.semantic_spec, "License": {"Type": "Class", "Values": ["WTFPL"]}}
    with pytest.raises(CheckError) as info:
        check_package(dataclasses.replace(pkg, semantic_spec=bad_sem), folder)
    assert info.value.check == "semantic" and "WTFPL" in info.value.reason
    with pytest.raises(CheckError) as info:
        check_package(dataclasses.replace(pkg, stat_specs={}), folder)
    assert info.value.check == "stat_spec" and "no statistical specification" in info.value.reason


def test_check_outputs_accepts_integral_float_labels():
    sem = semantic()
    assert check_outputs(np.array([0.0, 1.0, 2.0]), 3, (1,), sem) == (1,)
    assert check_outputs(np.array([True, False]), 2, None, sem) == (1,)
    with pytest.raises(CheckError, match="1-D labels or 2-D scores"):
        check_outputs(np.zeros((2, 3, 1)), 2, None, sem)
