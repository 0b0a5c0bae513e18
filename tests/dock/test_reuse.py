"""The four reusers on classification and regression, with in-process stand-in learnwares.

The stand-ins have what a LoadedLearnware has (predict, semantic_spec, get_stat_spec) but run in
this process, so these tests exercise the reusers' logic fast; test_reuse_loaded.py runs the
same reusers on learnwares in real worker processes.
"""

from __future__ import annotations

import numpy as np
import pytest

from dock.reuse import AveragingReuser, EnsemblePruningReuser, FeatureAugmentReuser, JobSelectorReuser, ReuseError
from specs import generate_stat_spec


class Stub:
    def __init__(self, fn, X_train, task="Classification", out_dim=3, ident="stub"):
        self.fn, self.id = fn, ident
        self.semantic_spec = {"Task": {"Values": [task]}, "Output": {"Dimension": out_dim}}
        self._spec = generate_stat_spec(type="table", X=X_train, K=16)

    def predict(self, X):
        return self.fn(np.asarray(X))

    def get_stat_spec(self, spec_type=None):
        return self._spec


def blobs(seed=0):
    """Three well separated 2-D clusters, class = cluster."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    y = rng.integers(0, 3, 300)
    return centres[y] + rng.normal(size=(300, 2)) * 0.7, y, centres


@pytest.fixture(scope="module")
def classifiers():
    """Learnware k knows only cluster k's region well: inside it, it predicts k; outside, garbage (k+1)."""
    X, y, centres = blobs()

    def make(k):
        def fn(Z):
            near = np.linalg.norm(Z - centres[k], axis=1) < 3
            return np.where(near, k, (k + 1) % 3)
        return Stub(fn, X[y == k], ident=f"cls{k}")

    return [make(k) for k in range(3)], X, y


@pytest.fixture(scope="module")
def regressors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    good = Stub(lambda Z: Z @ np.array([1.0, -2.0, 0.5]) + 3.0, X, "Regression", 1, "good")
    biased = Stub(lambda Z: Z @ np.array([1.0, -2.0, 0.5]) + 5.0, X + 4.0, "Regression", 1, "biased")
    return [good, biased], X, y


def test_averaging_vote_by_label_and_tie_break(classifiers):
    lws, X, y = classifiers
    pred = AveragingReuser(lws, mode="vote_by_label").predict(X)
    # In cluster k: learnware k says k, k-1 says k too (its garbage label), k+1 says k+2: 2 votes to 1.
    assert np.mean(pred == y) == 1.0
    a = Stub(lambda Z: np.zeros(len(Z), int), X, ident="a")
    b = Stub(lambda Z: np.full(len(Z), 2), X, ident="b")
    assert set(AveragingReuser([b, a], mode="vote_by_label").predict(X[:5])) == {2}  # tie: the first learnware
    assert set(AveragingReuser([b, a], mode="vote_by_label", weights=[1, 2]).predict(X[:5])) == {0}


def test_averaging_vote_by_prob_accepts_probabilities_logits_and_labels(classifiers):
    _, X, y = classifiers
    onehot = np.eye(3)[y]
    probs = Stub(lambda Z: onehot[: len(Z)] * 0.8 + 0.2 / 3, X, ident="p")
    logits = Stub(lambda Z: np.log(onehot[: len(Z)] * 0.8 + 0.2 / 3) + 7.0, X, ident="l")  # softmax undoes it
    labels = Stub(lambda Z: (y[: len(Z)] + 1) % 3, X, ident="w")  # always wrong, one-hot vote
    reuser = AveragingReuser([probs, logits, labels], mode="vote_by_prob")
    proba = reuser.predict_proba(X)
    assert proba.shape == (300, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(reuser.predict(X) == y) == 1.0  # 0.8 + 0.8 beats 1.0 for the wrong label


def test_averaging_mean_regression(regressors):
    lws, X, y = regressors
    pred = AveragingReuser(lws, mode="mean").predict(X)
    assert pred.shape == (200,)
    np.testing.assert_allclose(pred, y + 1.0)


def test_job_selector_routes_rows_to_the_right_learnware(classifiers):
    lws, X, y = classifiers
    reuser = JobSelectorReuser(lws, herding_num=60)
    route = reuser.job_selector(X)
    assert np.mean(route == y) > 0.95  # row of cluster k -> learnware k
    assert np.mean(reuser.predict(X) == y) > 0.95
    assert reuser.last_weights is not None and np.isclose(reuser.last_weights.sum(), 1.0)
    assert np.mean(JobSelectorReuser(lws, use_herding=False, use_weights=False).predict(X) == y) > 0.95


def test_job_selector_regression(regressors):
    lws, X, y = regressors
    far = X + 4.0  # where the biased learnware's spec lives
    pred = JobSelectorReuser(lws, herding_num=60).predict(np.vstack([X, far]))
    np.testing.assert_allclose(pred[:200], y)  # near the good learnware's data: its values
    assert np.mean(np.isclose(pred[200:], far @ np.array([1.0, -2.0, 0.5]) + 5.0)) > 0.9


def test_ensemble_pruning_drops_the_harmful_learnware(classifiers):
    lws, X, y = classifiers
    always_wrong = Stub(lambda Z: np.full(len(Z), 1), X, ident="bad")
    pool = [always_wrong, always_wrong, *lws]
    reuser = EnsemblePruningReuser(pool, mode="classification").fit(X[:30], y[:30])
    assert reuser.selected and 0 not in reuser.selected[:1]
    assert np.mean(reuser.predict(X) == y) > 0.95
    assert np.mean(AveragingReuser(pool, mode="vote_by_label").predict(X) == y) < 0.9  # pruning mattered


def test_ensemble_pruning_regression(regressors):
    lws, X, y = regressors
    reuser = EnsemblePruningReuser(lws).fit(X[:20], y[:20])  # mode from the semantic specs
    assert reuser.mode == "regression" and reuser.selected == [0]
    np.testing.assert_allclose(reuser.predict(X), y)


def test_feature_augment_classification_learns_to_trust_outputs(classifiers):
    lws, X, y = classifiers
    noise = np.random.default_rng(3).normal(size=(300, 5))  # features that say nothing
    wrapped = [Stub(lambda Z, f=lw.fn: f(Z[:, :2]), np.hstack([X, noise]), ident=lw.id) for lw in lws]
    Xn = np.hstack([X, noise])
    reuser = FeatureAugmentReuser(wrapped, mode="classification").fit(Xn[:20], y[:20])
    assert np.mean(reuser.predict(Xn) == y) > 0.9


def test_feature_augment_regression_corrects_a_biased_learnware(regressors):
    lws, X, y = regressors
    reuser = FeatureAugmentReuser(lws[1:]).fit(X[:15], y[:15])  # only the biased one
    pred = reuser.predict(X)
    assert np.mean((pred - y) ** 2) < 0.05 < np.mean((lws[1].predict(X) - y) ** 2)


def test_single_class_labels_and_one_learnware(classifiers):
    lws, X, y = classifiers
    fa = FeatureAugmentReuser(lws).fit(X[y == 0][:5], np.zeros(5, int))
    assert set(fa.predict(X[:10])) == {0}
    assert np.array_equal(JobSelectorReuser(lws[:1]).predict(X[:10]), lws[0].predict(X[:10]))


@pytest.mark.parametrize("make, message", [
    (lambda lws: AveragingReuser([]), "empty"),
    (lambda lws: AveragingReuser(None), "list of loaded"),
    (lambda lws: AveragingReuser([object()]), "no predict"),
    (lambda lws: AveragingReuser(lws, mode="median"), "mode must be one of"),
    (lambda lws: AveragingReuser(lws, weights=[1, -1, 0]), "non-negative"),
    (lambda lws: EnsemblePruningReuser(lws).predict(np.zeros((2, 2))), "before fit"),
    (lambda lws: FeatureAugmentReuser(lws).predict(np.zeros((2, 2))), "before fit"),
    (lambda lws: AveragingReuser(lws, mode="vote_by_label").predict(np.zeros(4)), "2-D"),
    (lambda lws: AveragingReuser(lws, mode="vote_by_label").predict([[np.nan, 1.0]]), "NaN"),
    (lambda lws: JobSelectorReuser(lws).predict(np.zeros((3, 5))), "columns"),
    (lambda lws: EnsemblePruningReuser(lws).fit(np.zeros((4, 2)), [0, 1]), "one value per row"),
])
def test_bad_inputs_are_clear_errors(classifiers, make, message):
    lws, _, _ = classifiers
    with pytest.raises(ReuseError, match=message):
        make(lws)


def test_wrong_output_shape_is_an_error_naming_the_learnware(classifiers):
    lws, X, _ = classifiers
    short = Stub(lambda Z: np.zeros(len(Z) - 1, int), X, ident="short")
    with pytest.raises(ReuseError, match=r"#1 \(short\) returned shape \(9,\) for 10 rows"):
        AveragingReuser([lws[0], short], mode="vote_by_label").predict(X[:10])
    fitted = FeatureAugmentReuser(lws).fit(X[:20], np.arange(20) % 3)
    with pytest.raises(ReuseError, match="columns but the reuser was fitted on 2"):
        fitted.predict(np.zeros((3, 4)))


def test_reusers_are_found_by_name():
    from dock.reuse import known_reusers, reuser_class

    assert reuser_class("JobSelectorReuser") is JobSelectorReuser
    assert {"AveragingReuser", "EnsemblePruningReuser", "FeatureAugmentReuser", "JobSelectorReuser"} <= set(
        known_reusers())
    with pytest.raises(ReuseError, match="no reuser named 'Nope'"):
        reuser_class("Nope")


class _ItemModel:
    """A learnware-shaped object (semantic_spec + predict) for the raw-item checks below."""

    def __init__(self, data: str, label: int):
        self.semantic_spec = {"Data": {"Values": [data]}, "Task": {"Values": ["Classification"]},
                              "Output": {"Dimension": 3}}
        self.label = label

    def predict(self, X):
        return np.full(len(X), self.label, dtype=np.int64)


def test_averaging_and_pruning_take_raw_images_and_documents():
    """They only pass X on to the learnwares: images and strings must get through (they used to be
    refused as 'not a 2-D table'), and still be checked for what such learnwares take."""
    from dock.reuse import AveragingReuser, EnsemblePruningReuser, ReuseError

    images = np.random.default_rng(0).random((6, 8, 8))
    imagers = [_ItemModel("Image", 1), _ItemModel("Image", 1), _ItemModel("Image", 2)]
    assert AveragingReuser(imagers, mode="vote_by_label").predict(images).tolist() == [1] * 6
    pruned = EnsemblePruningReuser(imagers, mode="classification").fit(images, np.ones(6, dtype=int))
    assert pruned.predict(images).tolist() == [1] * 6
    with pytest.raises(ReuseError, match=r"images of shape \(4, 4\), but the reuser was fitted on \(8, 8\)"):
        pruned.predict(np.zeros((2, 4, 4)))
    with pytest.raises(ReuseError, match="non-empty images"):
        AveragingReuser(imagers, mode="vote_by_label").predict(np.zeros((3, 64)))

    docs = np.array(["a goal in extra time", "rates rose again", "bake until golden"])
    readers = [_ItemModel("Text", 0), _ItemModel("Text", 2)]
    assert AveragingReuser(readers, mode="vote_by_label", weights=[0.8, 0.2]).predict(docs).tolist() == [0] * 3
    with pytest.raises(ReuseError, match="list of strings"):
        AveragingReuser(readers, mode="vote_by_label").predict(np.zeros((3, 2)))
