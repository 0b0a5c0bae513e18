"""`learnware.reuse` on lwdock: the four reusers with the reference's signatures and return shapes.

They are lwdock's reusers (dock/reuse/), which accept the reference's keywords natively
(`predict(user_data=)`, `EnsemblePruningReuser.fit(val_X, val_y, maxgen=)`, `FeatureAugmentReuser.fit(
x_train=, y_train=)`). Two return shapes differ natively and are the reference's here:

* AveragingReuser(mode="vote_by_prob").predict returns the averaged class probabilities (n, C), as
  the reference does (lwdock's native predict returns labels and has predict_proba for these).
* JobSelectorReuser.predict returns each routed row's raw learnware output: class scores (n, C) when
  the learnwares return score columns (the reference stitches raw outputs), labels otherwise.

HeteroMapAlignLearnware, FeatureAlignLearnware and their base AlignLearnware (reuse/hetero.py) wrap
lwdock's column alignment (dock/reuse/align.py) in the reference's interface; an aligned learnware
has predict, so the reusers here take it like any learnware; JobSelectorReuser routes rows among aligned
learnwares by each one's spec in its own feature space (reuse/aligned_routing.py).
"""

from __future__ import annotations

import numpy as np

from dock.reuse.averaging import AveragingReuser as _Averaging
from dock.reuse.base import ReuseError, check_learnwares, keyword_data, task_of
from dock.reuse.ensemble_pruning import EnsemblePruningReuser as _EnsemblePruning
from dock.reuse.feature_augment import FeatureAugmentReuser as _FeatureAugment
from dock.reuse.job_selector import JobSelectorReuser as _JobSelector

from .aligned_routing import AlignedRouting
from .hetero import AlignLearnware, FeatureAlignLearnware, HeteroMapAlignLearnware


class BaseReuser:
    """The reference's base: holds learnware_list; subclasses implement predict(user_data)."""

    def __init__(self, learnware_list: list | None = None):
        self.learnware_list = check_learnwares(learnware_list)

    def reset(self, **kwargs) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)

    def predict(self, user_data):
        raise NotImplementedError("The predict method is not implemented!")


class AveragingReuser(_Averaging):
    def __init__(self, learnware_list: list | None = None, mode: str = "mean"):
        super().__init__(learnware_list, mode=mode)

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        """Labels for "vote_by_label", values for "mean", averaged probabilities (n, C) for "vote_by_prob"."""
        data = keyword_data(X, user_data, "X", "user_data")
        if self.mode == "vote_by_prob":
            return self.predict_proba(data)
        return super().predict(data)


class EnsemblePruningReuser(_EnsemblePruning):
    """fit(val_X, val_y, maxgen=500) and predict(user_data=) are lwdock's own signatures (they accept the
    reference's keywords); mode defaults to "classification" as in the reference."""

    def __init__(self, learnware_list: list | None = None, mode: str = "classification"):
        if mode not in ("regression", "classification"):
            raise ValueError(f"Mode must be one of ['regression', 'classification'], but got {mode}")
        super().__init__(learnware_list, mode=mode)


class FeatureAugmentReuser(_FeatureAugment):
    """fit(x_train, y_train) and predict(user_data=) are lwdock's own signatures (keyword compatible)."""

    def __init__(self, learnware_list: list | None = None, mode: str | None = None):
        if mode not in ("classification", "regression"):
            raise AssertionError("Mode must be either 'classification' or 'regression'")
        super().__init__(learnware_list, mode=mode)


class JobSelectorReuser(_JobSelector):
    """The reference's JobSelectorReuser. Over aligned learnwares (HeteroMapAlignLearnware,
    FeatureAlignLearnware: other feature spaces than the user's) rows are routed by each learnware's
    own spec in its own space (reuse/aligned_routing.py); otherwise lwdock's selector."""

    def __init__(self, learnware_list: list | None = None, herding_num: int = 1000, use_herding: bool = True):
        items = check_learnwares(learnware_list)
        self._aligned: AlignedRouting | None = None
        if any(isinstance(lw, AlignLearnware) for lw in items):
            self._aligned = AlignedRouting(items)
            self.learnware_list, self.herding_num, self.use_herding = items, herding_num, use_herding
            self.mode, self.seed, self.last_weights = task_of(items), 0, None
            self._embedded, self.dim = False, self._aligned.user_dim
            return
        super().__init__(items, herding_num=herding_num, use_herding=use_herding)

    def job_selector(self, X) -> np.ndarray:
        if self._aligned is not None:
            return self._aligned.route(X) if len(self.learnware_list) > 1 else np.zeros(
                len(self._aligned.check(X)), dtype=np.int64)
        return super().job_selector(X)

    select = job_selector

    def _assemble(self, parts, n: int) -> np.ndarray:
        widths = {out.shape[1] if out.ndim == 2 else 0 for _, out in parts}
        if len(widths) == 1 and widths != {0} and widths != {1}:  # score columns: the raw outputs, stitched
            width = widths.pop()
            table = np.zeros((n, width), dtype=np.result_type(*[out.dtype for _, out in parts]))
            for rows, out in parts:
                table[rows] = out
            return table
        return super()._assemble(parts, n)

__all__ = ["AlignLearnware", "AveragingReuser", "BaseReuser", "EnsemblePruningReuser", "FeatureAlignLearnware",
           "FeatureAugmentReuser", "HeteroMapAlignLearnware", "JobSelectorReuser", "ReuseError"]
