"""dock/reuse/preview.py on a real embedded dock: the sample (seeded, every class kept), accuracy and
RMSE measured in real worker processes, a model that rejects the rows is one line on its own entry
while the others are measured, and cancelling stops between candidates."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.reuse.preview import FAILED, MEASURED, make_sample, preview_result, sample_rows
from specs import generate_stat_spec

from .fixtures import fitted_iris_model, model_source, package_files, reference_files, semantic, write_zip

# Rejects more rows than the submission checks send: fine at submit, refuses the user's 150.
PICKY = """
if len(X) > 60:
    raise ValueError(f"X has {len(X)} rows, but this model takes at most 60")
return np.zeros(len(X))
"""
FIRST_COLUMN = "return np.asarray(X)[:, 0]"  # a "regressor" of the sepal length


def test_sample_is_seeded_stratified_and_keeps_a_rare_class():
    y = np.array([0] * 900 + [1] * 99 + [2])
    picked = sample_rows(y, 200, seed=0)
    assert len(picked) == 200 and len(set(picked)) == 200
    counts = np.bincount(y[picked], minlength=3)
    assert counts[2] == 1 and abs(counts[0] - 180) <= 1 and abs(counts[1] - 20) <= 1  # shares kept
    assert np.array_equal(picked, sample_rows(y, 200, seed=0))
    assert not np.array_equal(picked, sample_rows(y, 200, seed=1))
    assert np.array_equal(sample_rows(y, 5000), np.arange(len(y)))  # fewer rows than asked: all of them
    regression = make_sample(np.zeros((1000, 2)), np.linspace(0, 1, 1000), "Regression", 100)
    assert regression.rows == 100 and not regression.stratified


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory):
    """A dock home holding the three learnwares, submitted (checks run in workers) once for the
    module; each test opens its own copy."""
    folder = tmp_path_factory.mktemp("preview-market")
    model, X, _ = fitted_iris_model()
    zips = {
        "good": write_zip(folder / "good.zip", reference_files(model, X, semantic(name="iris good"))),
        "picky": write_zip(folder / "picky.zip", package_files(model_source(PICKY), X,
                                                               semantic(name="iris picky"))),
        "reg": write_zip(folder / "reg.zip", package_files(
            model_source(FIRST_COLUMN), X, semantic(out_dim=1, task="Regression", name="iris sepal"))),
    }
    with Dock.open(folder / "home") as opened:
        for path in zips.values():
            opened.submit(path)
    return folder / "home"


@pytest.fixture
def dock(seeded_home, tmp_path):
    shutil.copytree(seeded_home, tmp_path / "home")
    with Dock.open(tmp_path / "home") as opened:
        yield opened


def _search(dock):
    _, X, y = fitted_iris_model()
    spec = generate_stat_spec(type="table", X=X)
    return dock.search(UserInfo(stat_info={spec.type: spec}), limit=5), X, y


def test_each_candidate_is_measured_or_says_why_in_one_line(dock):
    result, X, y = _search(dock)
    seen = []
    sample, entries = preview_result(dock, result, X, y, top=5, on_entry=seen.append)
    by_name = {e.name: e for e in entries}
    assert [e.name for e in seen] == [e.name for e in entries]  # one call per entry, as it is made
    assert sample.rows == len(y) == 150 and sample.describe() == "all 150 labelled rows"
    good = by_name["iris good"]
    assert good.status == MEASURED and good.metric == "accuracy" and good.value > 0.9
    assert good.similarity is not None and good.similarity > 0.5
    picky = by_name["iris picky"]
    assert picky.status == FAILED and picky.value is None and picky.cell() == "rejected the data"
    assert picky.message.startswith("the model rejected the data: X has 150 rows")
    assert "\n" not in picky.message and "Traceback" not in picky.message
    sepal = by_name["iris sepal"]  # its own task: regression, scored by RMSE against the class labels
    truth = np.sqrt(np.mean((X[:, 0] - y) ** 2))
    assert sepal.status == MEASURED and sepal.metric == "rmse" and abs(sepal.value - truth) < 1e-6
    assert sepal.to_dict()["rmse"] == sepal.value and "r2" in sepal.to_dict()


def test_cancelling_stops_between_candidates(dock):
    result, X, y = _search(dock)
    made = []
    _, entries = preview_result(dock, result, X, y, top=5, on_entry=made.append, is_cancelled=lambda: bool(made))
    assert len(entries) == 1 == len(made)
    _, again = preview_result(dock, result, X, y, top=5)  # and the next preview runs every one
    assert len(again) == 3
