"""JobSelectorReuser: send each of the user's rows to the one learnware whose training data it
looks like, and let that learnware predict it. No user labels are needed.

How a row is routed:
  1. Pseudo-samples: for each learnware, `herding_num` points drawn from its RKME by kernel
     herding (each step picks, from a pool of the spec's own points and samples around them,
     the point that brings the herd's kernel mean closest to the RKME's), labelled with the
     learnware's index. Nothing of the developers' data is needed beyond the specs.
  2. Mixture weights: how much of the user's data each learnware's distribution explains, the
     QP on the simplex between the user's kernel mean embedding (all rows, or a seeded sample
     of them) and the learnwares' RKMEs, as the search's mixture does.
  3. A k-nearest-neighbour classifier on the pseudo-samples; its neighbour votes are
     multiplied by the mixture weights (floored, so a learnware the QP zeroed can still win a
     row that clearly belongs to it) and the row goes to the argmax.
Why kNN: on the digits-market protocol (benchmarks/digits_market.py; 30 users, the mixture of
an in-process search) routing by kNN on herded points scored 0.972, logistic regression on the
same points 0.919, a boosted-tree selector (sklearn's HistGradientBoosting; the reference uses
LightGBM) 0.61 on so few pseudo-samples, a Parzen rule on the RKMEs 0.95; kNN on the spec's points
z alone 0.963 and on plain samples 0.968. kNN also costs the least (no training). Distances are
raw Euclidean: the geometry the RKME kernels themselves use.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from dock.reuse.base import (
    CLASSIFICATION,
    REGRESSION,
    ReuseError,
    check_learnwares,
    check_table,
    keyword_data,
    output_to_labels,
    regression_columns,
    task_of,
)

SPEC_TYPE = "RKMETableSpecification"
HERDING_POOL = 1000  # candidate samples per learnware for herding, besides its K points
WEIGHT_FLOOR = 0.02
MAX_USER_ROWS_FOR_WEIGHTS = 2000


def stat_spec_of(lw, spec_type: str = SPEC_TYPE):
    """The learnware's table RKME, else its only spec of another kind (an image or text RKME,
    whose points live in its embedder's feature space)."""
    getter = getattr(lw, "get_stat_spec", None)
    spec = None
    if callable(getter):
        try:
            spec = getter(spec_type)
        except TypeError:  # a getter without the type argument
            spec = getter()
    specs = getattr(lw, "stat_specs", None) or {}
    if spec is None:
        spec = specs.get(spec_type)
    if spec is None and len(specs) == 1:
        spec = next(iter(specs.values()))
    if spec is None:
        raise ReuseError(f"learnware {getattr(lw, 'id', lw)!s:.12} has no {spec_type}; "
                         "JobSelectorReuser routes rows by the learnwares' RKME specs")
    return spec


def herd(spec, n: int, *, pool: int = HERDING_POOL, seed: int = 0) -> np.ndarray:
    """n points whose empirical kernel mean greedily tracks the spec's embedding (kernel herding).

    Candidates: the spec's points z and `pool` samples around them. Step t picks the candidate c
    maximising mu(c) - (1/(t+1)) sum_{s<=t} k(c, x_s); one kernel row per step, so the cost is
    n x (K + pool) kernel values, not the (K + pool)^2 of a full Gram matrix.
    """
    from specs.kernels import gaussian_kernel

    cand = np.vstack([spec.z, spec.sample(pool, seed=seed)])
    target = gaussian_kernel(cand, spec.z, spec.gamma) @ spec.beta
    sq_norms = np.einsum("ij,ij->i", cand, cand)
    herd_sum = np.zeros(len(cand))
    picks = np.empty(n, dtype=np.int64)
    for t in range(n):
        i = int(np.argmax(target - herd_sum / (t + 1)))
        picks[t] = i
        d2 = np.maximum(sq_norms + sq_norms[i] - 2.0 * (cand @ cand[i]), 0.0)
        herd_sum += np.exp(-spec.gamma * d2)
    return cand[picks]


def mixture_weights(specs: Sequence, X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Simplex weights w minimising the MMD between sum_i w_i RKME_i and the user's rows."""
    from specs import solve_simplex_qp
    from specs.kernels import weighted_kernel_sum
    from specs.table import table_gamma

    if len(X) > MAX_USER_ROWS_FOR_WEIGHTS:
        rows = np.random.default_rng(seed).choice(len(X), MAX_USER_ROWS_FOR_WEIGHTS, replace=False)
        X = X[rows]
    gamma = table_gamma(X)  # one kernel for all terms: the user's scale, as search uses
    # Pair by pair and blockwise (specs.kernels.weighted_kernel_sum): stacking every spec's points
    # into one kernel matrix would cost (sum of K)^2 entries, and sum of K x rows for the cross term.
    gram = np.array([[weighted_kernel_sum(a.z, a.beta, b.z, b.beta, gamma) for b in specs] for a in specs])
    uniform = np.full(len(X), 1.0 / len(X))
    cross = np.array([weighted_kernel_sum(s.z, s.beta, X, uniform, gamma) for s in specs])
    return solve_simplex_qp(gram, cross)


def knn_votes(points: np.ndarray, labels: np.ndarray, X: np.ndarray, k: int, n_labels: int) -> np.ndarray:
    """(len(X), n_labels) fraction of each row's k nearest pseudo-samples carrying each label."""
    from specs.kernels import sq_dists

    k = min(k, len(points))
    votes = np.zeros((len(X), n_labels))
    for start in range(0, len(X), 4096):  # bounded memory: 4096 x len(points) distances at a time
        d2 = sq_dists(X[start : start + 4096], points)
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        block = votes[start : start + 4096]
        np.add.at(block, (np.arange(len(block))[:, None], labels[nearest]), 1.0 / k)
    return votes


class JobSelectorReuser:
    """`JobSelectorReuser(learnware_list, herding_num=200, use_herding=True)`.

    use_herding=False trains the selector on the RKME points z themselves (as the reference's
    flag does); use_weights=False ignores the mixture weights. `mode` ("classification" or
    "regression") defaults to the learnwares' semantic specs; it decides whether outputs are
    read as labels or as values.
    """

    def __init__(self, learnware_list: Sequence | None = None, herding_num: int = 200, use_herding: bool = True,
                 use_weights: bool = True, n_neighbors: int = 5, mode: str | None = None, seed: int = 0):
        self.learnware_list = check_learnwares(learnware_list)
        if mode not in (None, CLASSIFICATION, REGRESSION):
            raise ReuseError(f"mode must be 'classification', 'regression' or None, got {mode!r}")
        if not (isinstance(herding_num, int) and herding_num >= 1):
            raise ReuseError(f"herding_num must be a positive int, got {herding_num!r}")
        self.herding_num = herding_num
        self.use_herding = use_herding
        self.use_weights = use_weights
        self.n_neighbors = n_neighbors
        self.mode = mode or task_of(self.learnware_list)
        self.seed = seed
        self._specs = [stat_spec_of(lw) for lw in self.learnware_list]
        spaces = {(s.type, getattr(s, "embedder", None)) for s in self._specs}
        if len(spaces) != 1:
            raise ReuseError(f"the learnwares' specs live in different feature spaces {sorted(map(str, spaces))}")
        # Image/text specs sketch their embedder's features: rows are routed on the user's
        # items embedded the same way, and each learnware still predicts on the raw items.
        self._embedded = callable(getattr(self._specs[0], "embed", None))
        dims = {s.dim for s in self._specs}
        if len(dims) != 1:
            raise ReuseError(f"the learnwares' specs have different dimensions {sorted(dims)}")
        self.dim = dims.pop()
        self._pseudo: tuple[np.ndarray, np.ndarray] | None = None
        self.last_weights: np.ndarray | None = None

    def _pseudo_samples(self) -> tuple[np.ndarray, np.ndarray]:
        # The herd depends only on the specs, not on the user's rows: built once per reuser.
        if self._pseudo is None:
            parts = [herd(s, self.herding_num, seed=self.seed + i) if self.use_herding else s.z
                     for i, s in enumerate(self._specs)]
            labels = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
            self._pseudo = (np.vstack(parts), labels)
        return self._pseudo

    def _features(self, X) -> np.ndarray:
        if self._embedded:
            from specs import SpecError

            try:
                X = self._specs[0].embed(X)
            except SpecError as exc:
                raise ReuseError(f"cannot embed the user's items like the learnwares' specs: {exc}") from exc
        return check_table(X, dim=self.dim)

    def job_selector(self, X) -> np.ndarray:
        """The index (into learnware_list) of the learnware each row (item) is sent to."""
        X = self._features(X)
        m = len(self.learnware_list)
        if m == 1:
            return np.zeros(len(X), dtype=np.int64)
        points, labels = self._pseudo_samples()
        votes = knn_votes(points, labels, X, self.n_neighbors, m)
        if self.use_weights:
            self.last_weights = mixture_weights(self._specs, X, self.seed)
            votes *= np.maximum(self.last_weights, WEIGHT_FLOOR)
        # Ties (equal weighted votes) go to the earlier learnware: argmax takes the first.
        return votes.argmax(axis=1)

    select = job_selector

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        X = keyword_data(X, user_data, "X", "user_data")
        route = self.job_selector(X)
        X = np.asarray(X) if self._embedded else check_table(X, dim=self.dim)
        used = [i for i in range(len(self.learnware_list)) if (route == i).any()]

        def run(i):
            rows = np.flatnonzero(route == i)
            out = np.asarray(self.learnware_list[i].predict(X[rows]))
            if out.ndim == 0 or out.shape[0] != len(rows):
                raise ReuseError(f"learnware #{i} returned shape {out.shape} for {len(rows)} rows")
            return rows, out

        with ThreadPoolExecutor(max_workers=min(8, len(used)), thread_name_prefix="lwdock-reuse") as pool:
            parts = list(pool.map(run, used))
        return self._assemble(parts, len(X))

    def _assemble(self, parts, n: int) -> np.ndarray:
        if self.mode == CLASSIFICATION:
            result = np.zeros(n, dtype=np.int64)
            for rows, out in parts:
                result[rows] = output_to_labels(out)
            return result
        cols = [(rows, regression_columns(out) if self.mode == REGRESSION else out.reshape(len(rows), -1))
                for rows, out in parts]
        widths = {c.shape[1] for _, c in cols}
        if len(widths) != 1:
            raise ReuseError(f"the learnwares' outputs have different widths {sorted(widths)}; "
                             "pass mode='classification' if they are labels and class scores")
        table = np.zeros((n, widths.pop()), dtype=np.result_type(*[c.dtype for _, c in cols]))
        for rows, c in cols:
            table[rows] = c
        return table[:, 0] if table.shape[1] == 1 else table
