"""The reusers on learnwares running in real worker processes (numpy-only models: fast starts).

Classification: three nearest-centroid digit recognisers, each knowing 5 of the 10 digits.
Regression: two linear models, each fitted where one half of the inputs lives.
The workers start once per module and are shared by the tests.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from dock.errors import RunnerError
from dock.records import LearnwareRecord
from dock.reuse import AveragingReuser, EnsemblePruningReuser, FeatureAugmentReuser, JobSelectorReuser
from dock.runtime.loaded import LoadedLearnware
from dock.runtime.worker import ModelWorker
from specs import generate_stat_spec

SOURCE = textwrap.dedent('''
    import numpy as np
    from learnware.model.base import BaseModel

    class Centroids(BaseModel):
        def __init__(self, centroids, labels, input_shape=(64,), output_shape=(1,)):
            super().__init__(input_shape=input_shape, output_shape=output_shape)
            self.c, self.labels = np.asarray(centroids), np.asarray(labels)

        def predict(self, X):
            if X.shape[1] == 63:
                raise ValueError("this model refuses 63 columns")
            d = ((X[:, None, :] - self.c[None]) ** 2).sum(-1)
            return self.labels[d.argmin(1)]

    class Linear(BaseModel):
        def __init__(self, coef, intercept, input_shape=(4,), output_shape=(1,)):
            super().__init__(input_shape=input_shape, output_shape=output_shape)
            self.coef, self.intercept = np.asarray(coef), intercept

        def predict(self, X):
            return X @ self.coef + self.intercept
''')


def _loaded(folder, class_name, kwargs, X_train, task, out_dim, ident) -> LoadedLearnware:
    config = {"class_name": class_name, "kwargs": kwargs}
    sem = {"Task": {"Type": "Class", "Values": [task]}, "Output": {"Dimension": out_dim}}
    record = LearnwareRecord(id=ident * 64, semantic_spec=sem, model_config=config, size=0)
    worker = ModelWorker(folder, config, timeout=30, memory_limit_mb=1024)
    worker.start()
    return LoadedLearnware(record, worker, {"RKMETableSpecification": generate_stat_spec(X=X_train, K=30)})


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("centroids")
    (folder / "__init__.py").write_text(SOURCE)
    X, y = load_digits(return_X_y=True)
    train, test = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    classifiers = []
    for n, classes in enumerate([(0, 1, 2, 3, 4), (3, 4, 5, 6, 7), (5, 6, 7, 8, 9)]):
        rows = train & np.isin(y, classes)
        cents = [X[rows & (y == c)].mean(0).tolist() for c in classes]
        classifiers.append(_loaded(folder, "Centroids", {"centroids": cents, "labels": list(classes)},
                                   X[rows], "Classification", 10, "abc"[n]))
    rng = np.random.default_rng(0)
    Xr = np.vstack([rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 5.0])
    yr = np.where(Xr[:, 0] < 2.5, Xr @ [1.0, 2.0, 0.0, -1.0], Xr @ [-1.0, 0.0, 3.0, 1.0] + 2.0)
    regressors = [
        _loaded(folder, "Linear", {"coef": [1.0, 2.0, 0.0, -1.0], "intercept": 0.0}, Xr[:100], "Regression", 1, "d"),
        _loaded(folder, "Linear", {"coef": [-1.0, 0.0, 3.0, 1.0], "intercept": 2.0}, Xr[100:], "Regression", 1, "e"),
    ]
    yield classifiers, X[test], y[test], regressors, Xr, yr
    for lw in classifiers + regressors:
        lw.close()


def _acc(pred, y) -> float:
    return float(np.mean(pred == y))


def test_classification_reusers_on_worker_learnwares(market):
    lws, X, y, *_ = market
    singles = [_acc(lw.predict(X), y) for lw in lws]
    assert max(singles) < 0.55  # none knows more than half the digits
    vote = _acc(AveragingReuser(lws, mode="vote_by_label").predict(X), y)
    routed = _acc(JobSelectorReuser(lws).predict(X), y)
    assert routed > 0.8 and routed > max(singles) + 0.25
    assert vote > max(singles)
    labelled = np.arange(len(y)) < 40
    pruned = EnsemblePruningReuser(lws).fit(X[labelled], y[labelled])
    augmented = FeatureAugmentReuser(lws).fit(X[labelled], y[labelled])
    assert _acc(pruned.predict(X[~labelled]), y[~labelled]) > max(singles)
    # With 40 labels over 10 classes both beat every single learnware (the digits-market
    # benchmark compares them with training from scratch).
    assert _acc(augmented.predict(X[~labelled]), y[~labelled]) > max(singles) + 0.1


def test_regression_reusers_on_worker_learnwares(market):
    *_, lws, X, y = market
    mse = {name: float(np.mean((pred - y) ** 2)) for name, pred in [
        ("mean", AveragingReuser(lws, mode="mean").predict(X)),
        ("job", JobSelectorReuser(lws).predict(X)),
        ("prune", EnsemblePruningReuser(lws).fit(X[::10], y[::10]).predict(X)),
        ("augment", FeatureAugmentReuser(lws).fit(X[::5], y[::5]).predict(X)),
        ("single", lws[0].predict(X)),
        ("other", lws[1].predict(X)),
    ]}
    assert mse["job"] < 1e-6  # each row went to the model of its own half
    worst = max(mse["single"], mse["other"])
    assert mse["augment"] < min(mse["single"], mse["other"]) and mse["prune"] < worst and mse["mean"] < worst


def test_a_failing_learnware_is_an_error_for_that_call_only(market):
    lws, X, y, *_ = market
    reuser = AveragingReuser(lws, mode="vote_by_label")
    with pytest.raises(RunnerError, match=r"learnware #0 \(aaaaaaaaaaaa\).*refuses 63 columns"):
        reuser.predict(X[:5, :63])
    assert all(lw._worker.running for lw in lws)  # an exception in the model is data: workers live on
    assert reuser.predict(X[:5]).shape == (5,)
