"""The reuse job against the dock.reuse contract, with stand-in learnwares and reusers (no worker
processes): a list of loaded learnwares in, `predict(X)`, `fit(X, y)` for the label-hungry ones."""

from __future__ import annotations

import numpy as np
import pytest

from dock.reuse import evaluate as reuse_evaluation
from tui.reuse_job import CHOICES, offered_reusers, run_reuse, save_predictions
from tui.viewmodels import ReuseTarget


class FakeRecord:
    task_type = "Classification"
    input_dim = None  # no declared Input.Dimension: the reuse's column check has nothing to compare


class FakeLearnware:
    record = FakeRecord()

    def __init__(self, shift: int):
        self.shift, self.closed = shift, False

    def predict(self, X):
        return (X[:, 0].astype(int) + self.shift) % 3

    def close(self):
        self.closed = True


class FakeBackend:
    def __init__(self):
        self.loaded = []

    def load(self, learnware_id):
        self.loaded.append(FakeLearnware(int(learnware_id)))
        return self.loaded[-1]


class FakePruning:
    """Learns which learnware is right from the labels (as EnsemblePruningReuser would)."""

    def __init__(self, learnwares):
        self.learnwares, self.best = learnwares, None

    def fit(self, X, y):
        self.fit_rows = len(X)
        self.best = max(self.learnwares, key=lambda lw: np.mean(lw.predict(X) == y))

    def predict(self, X):
        return self.best.predict(X)


@pytest.fixture
def data(tmp_path):
    X = np.arange(60, dtype=float).reshape(-1, 1) % 3
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "\n".join(f"{x:g},{(x + 1) % 3:g}" for x in X[:, 0]) + "\n")
    return path


def test_a_reuser_that_needs_labels_is_fitted_on_half_and_scored_on_the_other(data, monkeypatch):
    only_pruning = {"EnsemblePruningReuser": FakePruning}
    monkeypatch.setattr(reuse_evaluation, "reuser_class", only_pruning.get)
    target = ReuseTarget(("0", "1", "2"), ("a", "b", "c"), (0.5, 0.3, 0.2), "Classification")
    offered, missing = offered_reusers(target)
    choice = next(c for c in offered if c.key == "ensemble_pruning")
    assert "JobSelectorReuser" in missing
    steps = []
    backend = FakeBackend()
    outcome = run_reuse(backend, target, choice, data, "y", lambda d, t, s: steps.append(s))
    assert outcome.metrics == {"accuracy": 1.0} and "held-out half (30 rows)" in outcome.scored_on
    assert all(lw.closed for lw in backend.loaded) and len(backend.loaded) == 3
    assert steps[0].startswith("reading") and any("fitting on 30" in s for s in steps) and steps[-1] == "done"


def test_a_label_hungry_reuser_without_labels_is_a_clear_error(data, monkeypatch):
    from dock.errors import DataFileError

    monkeypatch.setattr(reuse_evaluation, "reuser_class", lambda name: FakePruning)
    choice = next(c for c in CHOICES if c.key == "ensemble_pruning")
    with pytest.raises(DataFileError, match="label column"):
        run_reuse(FakeBackend(), ReuseTarget(("0", "1"), ("a", "b")), choice, data, None, lambda *a: None)


def test_direct_reuse_of_a_mixture_runs_its_first_member_only(data):
    backend = FakeBackend()
    outcome = run_reuse(backend, ReuseTarget(("1", "0"), ("b", "a"), (0.7, 0.3)), CHOICES[0], data, "y",
                        lambda *a: None)
    assert len(backend.loaded) == 1 and outcome.metrics["accuracy"] == 1.0


def test_regression_metrics_and_saved_csv(tmp_path):
    pred, y = np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0])
    metrics = reuse_evaluation._metrics(pred, y, "Regression")
    outcome = reuse_evaluation.ReuseEvaluation("direct", 3, pred, y, "Regression", metrics, "all rows", 0.1)
    assert outcome.metrics["mae"] == pytest.approx(0.5 / 3) and outcome.metrics["r2"] < 1
    path = save_predictions(outcome, tmp_path)
    assert path.read_text().splitlines() == ["prediction,label", "1,1", "2,2", "3.5,3"]
