"""JobSelectorReuser over aligned learnwares (HeteroMapAlignLearnware / FeatureAlignLearnware).

lwdock's JobSelector routes each user row to the learnware whose RKME it resembles most, by a kNN on
points herded from the specs, all in ONE feature space. Aligned learnwares take the user's rows but
their specs live in their own spaces (7 and 8 columns for a user of 6): the native selector refuses
them ("different dimensions", or the user's rows of the wrong width). Here each row is scored in each
learnware's own space instead:

    r_i(x) = mu_i(T_i x) / |mu_i|^2,   mu_i(v) = sum_j beta_ij k_i(z_ij, v)

T_i is the learnware's alignment (the user's row as its input: paired columns copied or rescaled,
missing ones imputed, dock/reuse/align.py), k_i the Gaussian kernel of its own spec's gamma, or of
the median-heuristic gamma when that one is degenerate for the spec's own points (the search's rule,
dock/search/query.py `query_gamma`: the reference's gamma 0.1 on standardised columns is flat). mu_i is
the learnware's kernel mean embedding evaluated at the row (a smoothed density of its training
rows there); dividing by |mu_i|^2, its average over its own distribution, makes learnwares of
different widths and gammas comparable: r ~ 1 where the row is as typical as the learnware's own
rows, ~ 0 far from them. A row goes to the learnware with the largest r. Imputed inputs sit where
the learnware's rows are, so a learnware the user feeds little looks more typical than it is; the
reference routes in its learned common space instead (docs/COMPAT.md).

A plain learnware (not aligned) may be mixed in when its spec has the user's width: T is then the
identity.
"""

from __future__ import annotations

import numpy as np

from dock.errors import ReuseError
from dock.reuse.base import check_table
from dock.reuse.job_selector import stat_spec_of


def _transform(lw):
    """The user's rows -> the learnware's input, for an aligned learnware (None for a plain one)."""
    from .hetero import AlignLearnware, FeatureAlignLearnware, HeteroMapAlignLearnware

    if isinstance(lw, HeteroMapAlignLearnware):
        inner = lw.feature_align_learnware
        if inner is None or inner.align_model is None:
            raise ReuseError(f"learnware {str(lw.id)[:12]} is not aligned: call align(user_spec, X, y) before "
                             "JobSelectorReuser")
        return inner.transform
    if isinstance(lw, FeatureAlignLearnware):
        if lw.align_model is None:
            raise ReuseError(f"learnware {str(lw.id)[:12]} is not aligned: call align(user_spec) before "
                             "JobSelectorReuser")
        return lw.transform
    if isinstance(lw, AlignLearnware):
        raise ReuseError(f"{type(lw).__name__} has no alignment JobSelectorReuser can route by")
    return None


class AlignedRouting:
    """Routes user rows among aligned learnwares (see the module docstring)."""

    def __init__(self, learnwares: list):
        self.transforms = [_transform(lw) for lw in learnwares]
        widths = {len(lw.user_columns) for lw in learnwares if getattr(lw, "user_columns", None) is not None}
        if len(widths) != 1:
            raise ReuseError(f"the aligned learnwares were aligned to tables of different widths {sorted(widths)}: "
                             "align every one to the same user table")
        self.user_dim = widths.pop()
        from dock.search.query import query_gamma

        self.specs = [stat_spec_of(lw) for lw in learnwares]
        self.gammas = [query_gamma(s)[0] for s in self.specs]
        for lw, transform, spec in zip(learnwares, self.transforms, self.specs, strict=True):
            if transform is None and int(spec.dim) != self.user_dim:
                raise ReuseError(f"learnware {str(lw.id)[:12]} takes {spec.dim} columns, the aligned ones a user "
                                 f"table of {self.user_dim}: align it too (HeteroMapAlignLearnware)")
        self.self_terms = [self._embedding(s, g, np.asarray(s.z, np.float64)) @ self._beta(s)
                           for s, g in zip(self.specs, self.gammas, strict=True)]

    @staticmethod
    def _beta(spec) -> np.ndarray:
        return np.clip(np.asarray(spec.beta, np.float64), 0.0, None)

    def _embedding(self, spec, gamma: float, V: np.ndarray) -> np.ndarray:
        """mu(v) for each row v of V under the spec's kernel."""
        from specs.kernels import gaussian_kernel

        return gaussian_kernel(V, np.asarray(spec.z, np.float64), gamma) @ self._beta(spec)

    def check(self, X) -> np.ndarray:
        return check_table(X, dim=self.user_dim)

    def scores(self, X) -> np.ndarray:
        """(n, m): r_i of each row for each learnware."""
        X = self.check(X)
        columns = []
        for transform, spec, gamma, norm in zip(self.transforms, self.specs, self.gammas, self.self_terms,
                                                strict=True):
            V = X if transform is None else np.asarray(transform(X), np.float64)
            columns.append(self._embedding(spec, gamma, V) / max(float(norm), 1e-300))
        return np.column_stack(columns)

    def route(self, X) -> np.ndarray:
        return self.scores(X).argmax(axis=1)
