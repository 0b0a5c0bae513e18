"""FeatureAugmentReuser: the learnwares' outputs become extra features for a linear model that
is fitted on the user's few labelled rows.

Features = [standardised X, s * learnware outputs]: class probabilities per learnware (one-hot
when it returns labels) for classification, standardised predicted values for regression.
The block scale s = output_weight * sqrt(d / k) (d raw features, k output columns) gives the
outputs output_weight times the total weight of the raw features, so a regularised model
with a handful of labels leans on the learnwares first and on the raw features as labels
accumulate. On the digits-market protocol (mean of seeds 0-2, 10/20/30/100 labels) output_weight
1 lost to training from scratch at 10 and 20 labels (0.666/0.795 vs 0.689/0.812); 3 and 10 both
won at 10-30 labels, 3 also at 100 (0.949 vs 0.942 for 10), so 3 is the default.
Classification: LogisticRegression (multinomial, C=1). Regression: RidgeCV (efficient leave-one-
out over a grid of penalties). The reference's version uses LogisticRegressionCV, which fails
when a class has fewer labelled rows than folds, and an argument scikit-learn removed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dock.reuse.base import (
    CLASSIFICATION,
    REGRESSION,
    ReuseError,
    check_labels,
    check_learnwares,
    check_table,
    infer_n_classes,
    keyword_data,
    labels_for_task,
    output_to_probs,
    predict_all,
    regression_columns,
    task_of,
)

RIDGE_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def _scaler(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = A.mean(axis=0)
    std = A.std(axis=0)
    # Constant columns (common with few rows) keep unit scale instead of dividing by zero.
    return mean, np.where(std > 1e-12, std, 1.0)


class FeatureAugmentReuser:
    """`FeatureAugmentReuser(learnware_list, mode="classification")`; `fit(X, y)`, `predict(X)`."""

    def __init__(self, learnware_list: Sequence | None = None, mode: str | None = None, output_weight: float = 3.0):
        self.learnware_list = check_learnwares(learnware_list)
        if mode not in (None, CLASSIFICATION, REGRESSION):
            raise ReuseError(f"mode must be 'classification' or 'regression', got {mode!r}")
        if not output_weight > 0:
            raise ReuseError(f"output_weight must be > 0, got {output_weight!r}")
        self.mode = mode or task_of(self.learnware_list)
        self.output_weight = float(output_weight)
        self.augment_reuser: Any = None  # the fitted linear model (the reference's attribute name)
        self.n_classes: int | None = None
        self.dim: int | None = None
        # (offset, scale) pairs and the one label of a one-class fit: set by fit, read after it
        self._x_scale: Any = None
        self._out_scale: Any = None
        self._constant: int | None = None

    def _output_block(self, outputs: list[np.ndarray]) -> np.ndarray:
        if self.mode == CLASSIFICATION:
            assert self.n_classes is not None  # set by fit before any output block is built
            return np.hstack([output_to_probs(o, self.n_classes) for o in outputs])
        return np.hstack([regression_columns(o) for o in outputs])

    def _augment(self, X: np.ndarray, outputs: list[np.ndarray], fitting: bool) -> np.ndarray:
        out = self._output_block(outputs)
        if fitting:
            self._x_scale = _scaler(X)
            # Probabilities are already on a common scale; regression values are standardised.
            self._out_scale = _scaler(out) if self.mode == REGRESSION else (np.zeros(out.shape[1]), 1.0)
        elif out.shape[1] != self._out_scale[0].shape[0]:
            raise ReuseError(f"the learnwares now return {out.shape[1]} output columns, "
                             f"{self._out_scale[0].shape[0]} at fit time")
        xs = (X - self._x_scale[0]) / self._x_scale[1]
        os_ = (out - self._out_scale[0]) / self._out_scale[1]
        block = self.output_weight * np.sqrt(X.shape[1] / max(1, out.shape[1]))
        return np.hstack([xs, block * os_])

    def fit(self, X=None, y=None, *, x_train=None, y_train=None) -> FeatureAugmentReuser:
        """Fit on labelled rows X, y (the reference's keywords x_train, y_train are accepted too)."""
        from sklearn.linear_model import LogisticRegression, RidgeCV

        X = check_table(keyword_data(X, x_train, "X", "x_train"))
        y = check_labels(keyword_data(y, y_train, "y", "y_train"), len(X))
        self.mode, y = labels_for_task(self.mode, y)
        outputs = predict_all(self.learnware_list, X)
        if self.mode == CLASSIFICATION:
            self.n_classes = infer_n_classes(self.learnware_list, outputs, y)
        self.dim = X.shape[1]
        A = self._augment(X, outputs, fitting=True)
        self._constant = None
        if self.mode == CLASSIFICATION:
            if len(np.unique(y)) == 1:  # nothing to separate: every row gets the one label seen
                self._constant = int(y[0])
                self.augment_reuser = "constant"
                return self
            self.augment_reuser = LogisticRegression(C=1.0, max_iter=2000).fit(A, y)
        else:
            self.augment_reuser = RidgeCV(alphas=RIDGE_ALPHAS).fit(A, y.astype(np.float64))
        return self

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        if self.augment_reuser is None:
            raise ReuseError("FeatureAugmentReuser.predict called before fit(X, y)")
        X = check_table(keyword_data(X, user_data, "X", "user_data"), dim=self.dim)
        if self._constant is not None:
            return np.full(len(X), self._constant, dtype=np.int64)
        outputs = predict_all(self.learnware_list, X)
        if self.mode == CLASSIFICATION:
            # A label beyond fit's classes can only be one the model never saw: clip it in.
            assert self.n_classes is not None  # set by fit for classification
            outputs = [o if o.ndim == 2 and o.shape[1] > 1 else np.minimum(o, self.n_classes - 1) for o in outputs]
        return self.augment_reuser.predict(self._augment(X, outputs, fitting=False))
