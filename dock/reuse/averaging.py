"""AveragingReuser: combine every learnware's output on each row, without any user labels.

Modes (the reference's names):
  "mean"           regression: the (weighted) mean of the outputs.
  "vote_by_label"  classification: each learnware votes for one label (argmax of score columns,
                   or the label it returned); the most votes wins. Ties go to the label voted by
                   the earliest learnware in the list (search lists the best match first), where
                   the reference takes the smallest label number, which is arbitrary.
  "vote_by_prob"   classification: the mean of class probabilities (score columns that are not
                   probabilities go through a softmax; labels count as one-hot).
Difference from the reference: `predict` returns labels in both vote modes; the averaged
probabilities are `predict_proba(X)` (the reference's vote_by_prob `predict` returned them).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dock.reuse.base import (
    ReuseError,
    check_items,
    check_learnwares,
    infer_n_classes,
    keyword_data,
    output_to_labels,
    output_to_probs,
    predict_all,
    regression_columns,
)

MODES = ("mean", "vote_by_label", "vote_by_prob")


def _weights(weights, m: int) -> np.ndarray:
    if weights is None:
        return np.full(m, 1.0 / m)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (m,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ReuseError(f"weights must be {m} non-negative numbers with a positive sum, got {weights!r}")
    return w / w.sum()


def vote(labels: np.ndarray, n_classes: int, weights: np.ndarray) -> np.ndarray:
    """Weighted plurality of label columns (n, m); ties to the earliest voter's label."""
    n, m = labels.shape
    counts = np.zeros((n, n_classes))
    first = np.full((n, n_classes), m)
    rows = np.arange(n)
    for j in range(m):
        counts[rows, labels[:, j]] += weights[j]
        first[rows, labels[:, j]] = np.minimum(first[rows, labels[:, j]], j)
    best = counts.max(axis=1, keepdims=True)
    tied = counts >= best - 1e-12
    return np.where(tied, first, m + 1).argmin(axis=1)


class AveragingReuser:
    """`AveragingReuser(learnware_list, mode="mean")`; `weights` (e.g. a mixture's) are optional."""

    def __init__(self, learnware_list: Sequence | None = None, mode: str = "mean", weights=None):
        if mode not in MODES:
            raise ReuseError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.learnware_list = check_learnwares(learnware_list)
        self.mode = mode
        self.weights = _weights(weights, len(self.learnware_list))

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        X = check_items(keyword_data(X, user_data, "X", "user_data"), self.learnware_list)
        outputs = predict_all(self.learnware_list, X)
        if self.mode == "mean":
            cols = [regression_columns(o) for o in outputs]
            if len({c.shape[1] for c in cols}) != 1:
                raise ReuseError(f"mode 'mean' needs outputs of one width, got {[c.shape for c in outputs]}")
            mean = np.tensordot(self.weights, np.stack(cols), axes=1)
            return mean[:, 0] if all(o.ndim == 1 for o in outputs) or mean.shape[1] == 1 else mean
        n_classes = infer_n_classes(self.learnware_list, outputs)
        if self.mode == "vote_by_label":
            labels = np.stack([output_to_labels(o) for o in outputs], axis=1)
            if labels.min() < 0:
                raise ReuseError(f"a learnware returned the negative label {int(labels.min())}")
            return vote(labels, n_classes, self.weights)
        return self._mean_probs(outputs, n_classes).argmax(axis=1)

    def predict_proba(self, X=None, *, user_data=None) -> np.ndarray:
        """(n, C) class probabilities: the weighted mean of the learnwares' (vote_by_prob)."""
        if self.mode == "mean":
            raise ReuseError("predict_proba needs a classification mode ('vote_by_label' or 'vote_by_prob')")
        X = check_items(keyword_data(X, user_data, "X", "user_data"), self.learnware_list)
        outputs = predict_all(self.learnware_list, X)
        return self._mean_probs(outputs, infer_n_classes(self.learnware_list, outputs))

    def _mean_probs(self, outputs, n_classes: int) -> np.ndarray:
        probs = np.stack([output_to_probs(o, n_classes) for o in outputs])
        return np.tensordot(self.weights, probs, axes=1)
