"""EnsemblePruningReuser: use a few labelled rows to choose which learnwares to combine.

The search (no geatpy, which the reference needs and which has no Python 3.11 build):
  * Greedy forward selection: start empty, repeatedly add the learnware that most improves the
    ensemble's score on the labelled rows (accuracy of the vote for classification, minus the
    mean squared error of the average for regression); ties go to the earlier learnware, so the
    search's ranking is the prior.
  * The subset *size* is chosen by cross-validation: the greedy path is built on the training
    folds and each prefix scored on the held-out fold (KFold, shuffled, repeated 3 times; with
    few labels a fold may lack classes, so it is not stratified). The final subset is the
    prefix of that size of the greedy path on all labelled rows.
All learnwares predict the labelled rows once; the search itself then only combines arrays.
The pruned ensemble predicts by vote (classification; ties to the earliest learnware chosen)
or by mean (regression), like AveragingReuser.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dock.reuse.averaging import vote
from dock.reuse.base import (
    CLASSIFICATION,
    REGRESSION,
    ReuseError,
    check_items,
    check_labels,
    check_learnwares,
    infer_n_classes,
    keyword_data,
    labels_for_task,
    output_to_labels,
    predict_all,
    regression_columns,
    task_of,
)

CV_FOLDS = 5
CV_REPEATS = 3


class EnsemblePruningReuser:
    """`EnsemblePruningReuser(learnware_list, mode="classification")`; `fit(X, y)`, `predict(X)`.

    mode None reads the task from the learnwares' semantic specs, else from y at fit time.
    After fit, `selected` holds the chosen indices into learnware_list, in the order chosen.
    """

    def __init__(self, learnware_list: Sequence | None = None, mode: str | None = None, seed: int = 0):
        self.learnware_list = check_learnwares(learnware_list)
        if mode not in (None, CLASSIFICATION, REGRESSION):
            raise ReuseError(f"mode must be 'classification' or 'regression', got {mode!r}")
        self.mode = mode or task_of(self.learnware_list)
        self.seed = seed
        self.selected: list[int] | None = None
        self.n_classes: int | None = None
        self.item_shape: tuple | None = None  # one item's shape at fit: a row (d,), an image (H, W)...

    # ---------------------------------------------------------------- scoring

    def _columns(self, outputs: list[np.ndarray]) -> np.ndarray:
        """(m, n) labels for classification, (m, n, k) values for regression."""
        if self.mode == CLASSIFICATION:
            return np.stack([output_to_labels(o) for o in outputs])
        cols = [regression_columns(o) for o in outputs]
        if len({c.shape[1] for c in cols}) != 1:
            raise ReuseError(f"regression outputs of different widths: {[o.shape for o in outputs]}")
        return np.stack(cols)

    def _combine(self, cols: np.ndarray, subset: list[int]) -> np.ndarray:
        if self.mode == CLASSIFICATION:
            labels = cols[subset].T
            assert self.n_classes is not None  # set by fit for classification
            return vote(labels, self.n_classes, np.full(len(subset), 1.0 / len(subset)))
        return cols[subset].mean(axis=0)

    def _score(self, cols: np.ndarray, y: np.ndarray, subset: list[int]) -> float:
        pred = self._combine(cols, subset)
        if self.mode == CLASSIFICATION:
            return float(np.mean(pred == y))
        return -float(np.mean((pred - y.reshape(len(y), -1)) ** 2))

    def _greedy_path(self, cols: np.ndarray, y: np.ndarray) -> list[int]:
        """The order in which greedy forward selection adds every learnware."""
        chosen: list[int] = []
        rest = list(range(cols.shape[0]))
        while rest:
            scores = [self._score(cols, y, chosen + [j]) for j in rest]
            j = rest[int(np.argmax(scores))]  # argmax: first of equals, i.e. the earlier learnware
            chosen.append(j)
            rest.remove(j)
        return chosen

    def _cv_size(self, cols: np.ndarray, y: np.ndarray) -> int:
        from sklearn.model_selection import KFold

        m, n = cols.shape[0], len(y)
        if m == 1 or n < 4:
            return 1 if n < 4 else m
        totals = np.zeros(m)
        for rep in range(CV_REPEATS):
            folds = KFold(n_splits=min(CV_FOLDS, n), shuffle=True, random_state=self.seed + rep)
            for train, held in folds.split(np.arange(n)):
                path = self._greedy_path(cols[:, train], y[train])
                for k in range(m):
                    totals[k] += self._score(cols[:, held], y[held], path[: k + 1]) * len(held)
        return int(np.argmax(totals)) + 1  # first best: the smallest subset among equals

    # ---------------------------------------------------------------- API

    def fit(self, X=None, y=None, maxgen: int | None = None, *, val_X=None, val_y=None) -> EnsemblePruningReuser:
        """Choose the subset on labelled rows X, y (the reference's val_X, val_y). maxgen, the reference's
        bound on its evolutionary search's generations, is accepted and checked but has nothing to bound
        here: greedy forward selection with a cross-validated size is deterministic and finite."""
        if maxgen is not None and not (isinstance(maxgen, int) and maxgen >= 1):
            raise ReuseError(f"maxgen must be a positive int, got {maxgen!r}")
        X = check_items(keyword_data(X, val_X, "X", "val_X"), self.learnware_list)
        y = check_labels(keyword_data(y, val_y, "y", "val_y"), len(X))
        outputs = predict_all(self.learnware_list, X)
        self.mode, y = labels_for_task(self.mode, y)
        if self.mode == CLASSIFICATION:
            self.n_classes = infer_n_classes(self.learnware_list, outputs, y)
        else:
            y = y.astype(np.float64)
        cols = self._columns(outputs)
        size = self._cv_size(cols, y)
        self.selected = self._greedy_path(cols, y)[:size]
        self.item_shape = X.shape[1:]
        return self

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        if self.selected is None:
            raise ReuseError("EnsemblePruningReuser.predict called before fit(X, y)")
        X = check_items(keyword_data(X, user_data, "X", "user_data"), self.learnware_list, item_shape=self.item_shape)
        chosen = [self.learnware_list[i] for i in self.selected]
        outputs = predict_all(chosen, X)
        if self.mode == CLASSIFICATION:
            # Classes seen at predict time may exceed fit's (a learnware's rare class): widen.
            self.n_classes = max(self.n_classes or 0, infer_n_classes(chosen, outputs))
        cols = self._columns(outputs)
        pred = self._combine(cols, list(range(len(chosen))))
        return pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred
