"""Reusing learnwares whose columns differ from the user's (issue 14): align, then run.

    from dock.reuse.align import align, HeteroAlignReuser
    aligned = align(learnware, user_columns, X)            # no labels: from the specs alone
    aligned = align(learnware, user_columns, X, y)          # few labels: + a small fitted correction
    aligned.predict(X_user)                                 # the learnware, fed the user's columns

`align` returns an `AlignedLearnware`: anything a reuser takes (predict, semantic_spec, id,
get_stat_spec), so it also goes inside AveragingReuser / EnsemblePruningReuser / JobSelectorReuser.
`HeteroAlignReuser(learnwares, user_columns=...)` is the reuser form (fit(X, y) optional).

Alignment (no labels, "distribution matching from the specs"):
* columns are paired as the search pairs them (dock/search/hetero_space.py: description embedding +
  value marginals of both RKMEs), or by a mapping the caller gives (`Match.hetero` from a search);
* a paired column is copied; if its spread differs from the learnware's by more than UNIT_RATIO
  (a unit change, e.g. cm vs mm), it is mapped affinely onto the learnware's marginal;
* a learnware input the user lacks is imputed by the CONDITIONAL MEAN under the learnware's spec:
  the spec's points weighted by beta x a Gaussian kernel on the paired columns (each row's nearest
  part of the learnware's distribution), averaged over the missing columns; where every weight
  vanishes, the spec's weighted column mean. Never zero.
With labels (`y`), a correction is chosen by cross-validation among: the aligned learnware as is,
a head (logistic / ridge) on its output, a head on its output + the user's standardised columns,
and the user's columns alone; the winner is refitted on all labelled rows.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from dock.errors import ReuseError
from dock.reuse.base import (
    CLASSIFICATION,
    check_labels,
    check_learnwares,
    check_table,
    infer_n_classes,
    labels_for_task,
    n_classes_of,
    output_to_probs,
    predict_all,
    semantic_of,
    task_of,
)
from dock.search.hetero_space import ColumnMapping, embed, embedder_id, match_columns
from specs.hetero import column_descriptions, column_marginals

log = logging.getLogger(__name__)

UNIT_RATIO = 4.0
SPEC_POINTS = 50
CV_FOLDS = 5
CV_REPEATS = 2
TOP_CANDIDATES = 3  # the CV-best candidates, averaged: steadier than one pick on ~30 rows
BLENDS = (0.25, 0.5, 0.75)  # weight of the learnware(s) in a blend with the columns' own fit
TABLE_SPEC = "RKMETableSpecification"


def _table_spec(lw):
    getter = getattr(lw, "get_stat_spec", None)
    spec = getter(TABLE_SPEC) if callable(getter) else None
    if spec is None:
        spec = (getattr(lw, "stat_specs", None) or {}).get(TABLE_SPEC)
    if spec is None:
        raise ReuseError(f"learnware {str(getattr(lw, 'id', lw))[:12]} has no table RKME: column alignment reads "
                         "its columns' values from it")
    return spec


def user_spec_of(X: np.ndarray | None, user_spec=None):
    """The user's table RKME (fitted here from X when not given). It never leaves this process (only
    its column statistics steer the alignment), so it is the plain fit: a few labelled rows are
    fewer than a private spec needs, and hiding them from oneself protects nothing."""
    if user_spec is not None:
        return user_spec
    if X is None:
        raise ReuseError("give the user's rows X (or their spec) to align columns")
    from specs import generate_stat_spec

    return generate_stat_spec(type="table", X=X, K=min(SPEC_POINTS, len(X)), seed=0, privacy="none")


def map_columns(user_columns: Sequence[str], user_spec, learnware) -> ColumnMapping:
    """The search's column pairing between the user's table and the learnware's input."""
    lw_desc = column_descriptions(semantic_of(learnware))
    if lw_desc is None:
        raise ReuseError(f"learnware {str(getattr(learnware, 'id', learnware))[:12]} does not describe its input "
                         "columns (Input.Description): its columns cannot be matched to yours")
    spec = _table_spec(learnware)
    if len(user_columns) != int(user_spec.dim):
        raise ReuseError(f"{len(user_columns)} column names for a table of {user_spec.dim} columns")
    return match_columns(embed(list(user_columns)), column_marginals(user_spec.z, user_spec.beta),
                         embed(lw_desc), column_marginals(spec.z, spec.beta), embedder_id())


class AlignedLearnware:
    """A learnware fed the user's columns: `transform` builds its input, `predict` runs it."""

    def __init__(self, learnware, mapping: ColumnMapping, user_marginals: np.ndarray | None = None):
        self.learnware = learnware
        self.mapping = mapping
        spec = _table_spec(learnware)
        self._z = np.asarray(spec.z, np.float64)
        self._beta = np.clip(np.asarray(spec.beta, np.float64), 0, None)
        self._beta /= self._beta.sum()
        self._lw_marg = column_marginals(self._z, self._beta)
        if int(spec.dim) != mapping.learnware_dim:
            raise ReuseError(f"the mapping is for {mapping.learnware_dim} learnware inputs, its spec has {spec.dim}")
        if not mapping.pairs:
            raise ReuseError("no column of yours matches one of the learnware's: nothing to align")
        self._affine = self._unit_changes(user_marginals)
        self._gamma = self._impute_gamma()

    # -- what reusers read ------------------------------------------------------------------
    @property
    def id(self):
        return getattr(self.learnware, "id", None)

    @property
    def semantic_spec(self) -> dict:
        return semantic_of(self.learnware)

    @property
    def record(self):
        return getattr(self.learnware, "record", None)

    def get_stat_spec(self, spec_type: str | None = None):
        """The learnware's RKME seen in the user's columns (for JobSelector's routing): paired columns
        from its points, the user's unpaired columns at the user's own mean (they tell nothing apart)."""
        from specs import RKMETableSpecification

        if spec_type not in (None, TABLE_SPEC):
            return None
        spec = _table_spec(self.learnware)
        if self._user_mean is None:
            raise ReuseError("the aligned learnware's spec in your columns needs your table (align with X)")
        z = np.tile(self._user_mean, (len(self._z), 1))
        for u, l_ in self.mapping.pairs:
            z[:, u] = self._to_user(l_, self._z[:, l_])
        return RKMETableSpecification(z, self._beta, spec.gamma)

    # -- alignment ----------------------------------------------------------------------------
    def _unit_changes(self, user_marginals):
        self._user_mean = None if user_marginals is None else np.asarray(user_marginals)[:, 0]
        affine = {}
        if user_marginals is None:
            return affine
        for u, l_ in self.mapping.pairs:
            su, sl = float(user_marginals[u, 1]), float(self._lw_marg[l_, 1])
            if su > 0 and sl > 0 and max(su / sl, sl / su) > UNIT_RATIO:
                affine[l_] = (float(user_marginals[u, 0]), su, float(self._lw_marg[l_, 0]), sl)
        return affine

    def _to_user(self, l_: int, values: np.ndarray) -> np.ndarray:
        if l_ in self._affine:
            mu, su, ml, sl = self._affine[l_]
            return (values - ml) / sl * su + mu
        return values

    def _impute_gamma(self) -> float:
        from specs.kernels import grid_gamma, median_heuristic_gamma

        cols = self.mapping.learnware_columns
        scale = np.where(self._lw_marg[cols, 1] > 1e-12, self._lw_marg[cols, 1], 1.0)
        self._scale = scale
        return grid_gamma(median_heuristic_gamma(self._z[:, cols] / scale, np.random.default_rng(0)))

    def transform(self, X) -> np.ndarray:
        """The user's rows as the learnware's input (mapping.learnware_dim columns)."""
        X = check_table(X, dim=self.mapping.user_dim)
        out = np.empty((len(X), self.mapping.learnware_dim))
        for u, l_ in self.mapping.pairs:
            col = X[:, u]
            if l_ in self._affine:
                mu, su, ml, sl = self._affine[l_]
                col = (col - mu) / su * sl + ml
            out[:, l_] = col
        missing = self.mapping.missing
        if missing:
            cols = self.mapping.learnware_columns
            d2 = (((out[:, None, cols] - self._z[None, :, cols]) / self._scale) ** 2).sum(-1)  # (n, K)
            logw = np.log(np.maximum(self._beta, 1e-300))[None, :] - self._gamma * d2
            w = np.exp(logw - logw.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            imputed = w @ self._z[:, missing]
            fallback = ~np.isfinite(imputed).all(axis=1)
            imputed[fallback] = self._lw_marg[missing, 0]  # the spec's weighted column mean
            out[:, missing] = imputed
        return out

    def predict(self, X) -> np.ndarray:
        return self.learnware.predict(self.transform(X))

    def close(self) -> None:
        close = getattr(self.learnware, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return (f"<AlignedLearnware {str(self.id)[:12]} {len(self.mapping.pairs)}/{self.mapping.learnware_dim} "
                f"inputs from your columns>")


def align(learnware, user_columns: Sequence[str], X=None, y=None, *, user_spec=None,
          mapping: ColumnMapping | dict | None = None):
    """The learnware aligned to the user's columns (see the module doc). `X` (the user's rows) lets
    the alignment read the user's value statistics; `y` adds the few-label correction
    (returns a fitted HeteroAlignReuser then, which predicts like a learnware)."""
    Xa = None if X is None else check_table(X, dim=len(user_columns))
    if user_spec is None and Xa is None and mapping is None:
        raise ReuseError("give the user's rows X (or their spec) to align columns")
    spec = user_spec_of(Xa, user_spec) if (user_spec is not None or Xa is not None) else None
    if isinstance(mapping, dict):
        mapping = ColumnMapping.from_dict(mapping)
    if mapping is None:
        mapping = map_columns(list(user_columns), spec, learnware)
    marg = column_marginals(spec.z, spec.beta) if spec is not None else None
    aligned = AlignedLearnware(learnware, mapping, marg)
    if y is None:
        return aligned
    reuser = HeteroAlignReuser([aligned], user_columns=list(user_columns))
    return reuser.fit(Xa if Xa is not None else X, y)


class HeteroAlignReuser:
    """Learnwares from other feature spaces on the user's table: each aligned (align()), outputs
    averaged without labels; with fit(X, y), the cross-validated correction of the module doc."""

    def __init__(self, learnware_list: Sequence | None = None, user_columns: Sequence[str] | None = None,
                 mode: str | None = None, user_spec=None, mappings: Sequence | None = None):
        items = check_learnwares(learnware_list)
        self.user_columns = None if user_columns is None else [str(c) for c in user_columns]
        self.user_spec = user_spec
        self._mappings = list(mappings) if mappings is not None else [None] * len(items)
        self._raw = items
        self.learnware_list: list = [lw for lw in items if isinstance(lw, AlignedLearnware)]
        self.mode = mode or task_of(items)
        self.heads: dict[str, Any] = {}
        self.chosen: list[str] = []
        self.choice = "average"

    def _aligned(self, X: np.ndarray) -> list:
        if len(self.learnware_list) == len(self._raw):
            return self.learnware_list
        if self.user_columns is None:
            raise ReuseError("HeteroAlignReuser needs user_columns (your table's column names) to align")
        spec = user_spec_of(X, self.user_spec)
        self.learnware_list = [lw if isinstance(lw, AlignedLearnware) else align(lw, self.user_columns, X,
                                                                                   user_spec=spec, mapping=m)
                               for lw, m in zip(self._raw, self._mappings, strict=True)]
        return self.learnware_list

    def _outputs(self, X: np.ndarray) -> np.ndarray:
        outs = predict_all(self._aligned(X), X)
        if self.mode == CLASSIFICATION:
            c = self._n_classes or infer_n_classes(self.learnware_list, outs)
            return np.hstack([output_to_probs(o, c) for o in outs])
        return np.hstack([o.astype(np.float64).reshape(len(X), -1)[:, :1] for o in outs])

    _n_classes: int | None = None

    def _average(self, F: np.ndarray) -> np.ndarray:
        if self.mode == CLASSIFICATION:
            c = self._n_classes or (F.shape[1] // len(self.learnware_list))
            return F.reshape(len(F), -1, c).mean(axis=1)
        return F.mean(axis=1)

    def fit(self, X, y) -> "HeteroAlignReuser":
        from dock.search.kernels import blas_single_thread

        # ~70 tiny fits: BLAS's own threads only fight each other (and other processes) on 2 cores
        with blas_single_thread():
            return self._fit(X, y)

    def _fit(self, X, y) -> "HeteroAlignReuser":
        from sklearn.model_selection import KFold, StratifiedKFold

        X = check_table(X, dim=len(self.user_columns) if self.user_columns else None)
        y = check_labels(y, len(X))
        self.mode, y = labels_for_task(self.mode, y)
        if self.mode == CLASSIFICATION:
            self._n_classes = max(n_classes_of(self._raw) or 0, int(y.max()) + 1)
        F = self._outputs(X)
        self._mu, self._sd = X.mean(axis=0), np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        Xs = (X - self._mu) / self._sd
        candidates = {"average": None, "head": F, "head+columns": np.hstack([F, Xs]), "columns": Xs,
                      **{f"blend {w}": Xs for w in BLENDS}}
        folds = min(CV_FOLDS, len(X))
        if self.mode == CLASSIFICATION:
            counts = np.bincount(y)
            folds = min(folds, int(counts[counts > 0].min()))
        if folds < 2:
            self.chosen, self.choice = ["average"], "average"
            return self
        scores = {}
        for name in candidates:
            errs = []
            for repeat in range(CV_REPEATS):
                splitter = (StratifiedKFold(folds, shuffle=True, random_state=repeat) if self.mode == CLASSIFICATION
                            else KFold(folds, shuffle=True, random_state=repeat))
                for train, test in splitter.split(X, y):
                    heads = self._fit_heads([name], F[train], Xs[train], y[train])
                    out = self._candidate(name, heads, F[test], Xs[test])
                    errs.append(np.inf if out is None else self._loss(out, y[test]))
            scores[name] = float(np.mean(errs))
        self.cv_losses = scores
        ranked = sorted(scores, key=lambda k: (scores[k], list(candidates).index(k)))
        self.chosen = [k for k in ranked[:TOP_CANDIDATES] if np.isfinite(scores[k])] or ["average"]
        self.choice = " + ".join(self.chosen)
        self.heads = self._fit_heads(self.chosen, F, Xs, y)
        log.info("align reuser: %s chosen by %d-fold CV (losses %s)", self.choice, folds, scores)
        return self

    @staticmethod
    def _features(kind: str, F: np.ndarray, Xs: np.ndarray) -> np.ndarray:
        return {"head": F, "head+columns": np.hstack([F, Xs]), "columns": Xs}[kind]

    @staticmethod
    def _head_kind(name: str) -> str | None:
        """The fitted head a candidate needs (blends use the columns' own fit)."""
        return None if name == "average" else ("columns" if name.startswith("blend") else name)

    def _fit_heads(self, names, F, Xs, y) -> dict:
        heads = {}
        for name in names:
            kind = self._head_kind(name)
            if kind is not None and kind not in heads:
                heads[kind] = self._head(self._features(kind, F, Xs), y)
        return heads

    def _candidate(self, name: str, heads: dict, F: np.ndarray, Xs: np.ndarray) -> np.ndarray | None:
        """A candidate's output: class probabilities (classification) or values."""
        kind = self._head_kind(name)
        if kind is None:
            return self._average(F)
        if heads.get(kind) is None:
            return None
        out = self._scores(heads[kind], self._features(kind, F, Xs))
        if name.startswith("blend"):  # the learnware(s) + the columns' own fit
            w = float(name.split()[1])
            out = (1 - w) * out + w * self._average(F)
        return out

    def _head(self, feats: np.ndarray, y: np.ndarray):
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.mode == CLASSIFICATION:
            if len(np.unique(y)) < 2:
                return None
            return LogisticRegression(C=1.0, max_iter=1000).fit(feats, y)
        return Ridge(alpha=1.0).fit(feats, y)

    def _scores(self, model, feats: np.ndarray) -> np.ndarray:
        """Class probabilities in columns 0..C-1 (classification), else the predicted values."""
        if self.mode != CLASSIFICATION:
            return model.predict(feats)
        probs = np.zeros((len(feats), self._n_classes or 1))
        probs[:, model.classes_] = model.predict_proba(feats)
        return probs

    def _loss(self, out: np.ndarray, y: np.ndarray) -> float:
        """Brier score (classification: smoother than the error rate on 30 rows), else RMSE."""
        if self.mode == CLASSIFICATION:
            onehot = np.zeros_like(out)
            onehot[np.arange(len(y)), y] = 1.0
            return float(np.mean(((out - onehot) ** 2).sum(axis=1)))
        return float(np.sqrt(np.mean((out - y) ** 2)))

    def _final(self, avg: np.ndarray) -> np.ndarray:
        return avg.argmax(axis=1) if self.mode == CLASSIFICATION else avg

    def predict(self, X) -> np.ndarray:
        """Labels (classification) or values (regression) for the user's rows."""
        X = check_table(X, dim=len(self.user_columns) if self.user_columns else None)
        F = self._outputs(X)
        if not self.chosen or self.chosen == ["average"]:
            return self._final(self._average(F))
        Xs = (X - self._mu) / self._sd
        outs = [o for name in self.chosen if (o := self._candidate(name, self.heads, F, Xs)) is not None]
        return self._final(np.mean(outs, axis=0) if outs else self._average(F))
