"""Mixtures: the few learnwares whose weighted embedding best matches the user's.

Minimise |mu_u - sum_i w_i mu_i|^2 over w on the simplex, i.e. w'Gw - 2c'w + |mu_u|^2 with
G_ij = <mu_i, mu_j> and c_i = <mu_u, mu_i> (all under the user's gamma), over the top
MIXTURE_CANDIDATES single matches, by greedy forward selection:

* start from the best single learnware;
* at each step score *every* remaining candidate at once by the exact line search on the
  segment between the current mixture m and it, f(a) = |(1 - a) m + a mu_j - mu_u|^2, whose
  minimiser and decrease are closed-form in G and c (a matrix-vector product; the reference
  solves a QP per trial instead);
* add the best and re-solve the simplex QP on the chosen set exactly (every support of at most
  SMALL_QP learnwares is tried: exact, and faster than an iterative solver at this size);
* stop at MIXTURE_MAX_SIZE learnwares or when no candidate lowers the residual.

The line search only needs the columns of G of the learnwares already chosen, so G is built
column by column (`LazyGram`): at most MIXTURE_MAX_SIZE kernel products of (all candidates'
points x one candidate's points) instead of the full (16 K)^2 Gram matrix, ~3x less work.
Weights below MIN_WEIGHT are dropped and the rest re-solved: a 1% component is noise, not advice.
"""

from __future__ import annotations

import numpy as np

from dock.search.kernels import segment_matrix

MIXTURE_CANDIDATES = 16
MIXTURE_MAX_SIZE = 5
MIN_WEIGHT = 0.01
SMALL_QP = 6


class LazyGram:
    """G of m candidates (stacked float32 points in the query's frame), a column at a time.

    The query's frame keeps float32 accurate for the candidates near the query, the ones a
    mixture can use. The diagonal is given (the index's cached, per-segment-centred self-terms),
    so a one-learnware "mixture" has exactly the single match's MMD^2.
    """

    def __init__(self, Z: np.ndarray, beta: np.ndarray, starts: np.ndarray, gamma: float, diagonal: np.ndarray):
        g = np.float32(gamma)
        self.Zs = Z * np.sqrt(2.0 * g)  # exponent = 2g z.z' - g|z|^2 - g|z'|^2: 2g folded in here
        self.half = (g * np.einsum("ij,ij->i", Z, Z)).astype(np.float32)
        self.beta = beta.astype(np.float32)
        self.bounds = np.append(starts, Z.shape[0])
        self.S = segment_matrix(starts, self.beta)
        self.diagonal = np.asarray(diagonal, np.float64)
        m = starts.size
        self.G = np.full((m, m), np.nan)
        self.done = np.zeros(m, bool)

    def column(self, j: int) -> np.ndarray:
        if not self.done[j]:
            lo, hi = int(self.bounds[j]), int(self.bounds[j + 1])
            K = self.Zs @ self.Zs[lo:hi].T
            K -= self.half[:, None]
            K -= self.half[None, lo:hi]
            np.exp(K, out=K)
            col = (self.S @ (K @ self.beta[lo:hi])).astype(np.float64)
            col[j] = self.diagonal[j]
            self.G[:, j] = col
            self.done[j] = True
        return self.G[:, j]

    def sub(self, idx: list[int]) -> np.ndarray:
        for j in idx:
            self.column(j)
        block = self.G[np.ix_(idx, idx)]
        return 0.5 * (block + block.T)


class DenseGram:
    """The same interface over a full matrix (tests, small callers)."""

    def __init__(self, G: np.ndarray):
        self.G = np.asarray(G, np.float64)
        self.diagonal = np.diag(self.G).copy()

    def column(self, j: int) -> np.ndarray:
        return self.G[:, j]

    def sub(self, idx: list[int]) -> np.ndarray:
        return self.G[np.ix_(idx, idx)]


def small_simplex_qp(H: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact argmin of w'Hw - 2c'w on the simplex for a few variables (<= SMALL_QP): try every
    support, smallest first, and return the first whose equality-constrained optimum is >= 0
    and satisfies the KKT conditions. 31 tiny solves for 5 variables, ~0.2 ms, against ~2 ms
    for the iterative solver, whose generality is wasted at this size."""
    from itertools import combinations

    n = len(c)
    best: np.ndarray | None = None
    best_f = np.inf
    for size in range(1, n + 1):
        for support in combinations(range(n), size):
            idx = list(support)
            A = np.zeros((size + 1, size + 1))
            A[:size, :size] = H[np.ix_(idx, idx)]
            A[:size, size] = A[size, :size] = 1.0
            sol = np.linalg.lstsq(A, np.append(c[idx], 1.0), rcond=None)[0]
            if (sol[:size] < -1e-12).any():
                continue
            w = np.zeros(n)
            w[idx] = np.maximum(sol[:size], 0.0)
            w /= w.sum()
            grad = H @ w - c
            f = float(w @ H @ w - 2 * c @ w)  # kept in case rounding defeats every KKT test
            if grad.min() >= grad[idx].max() - 1e-10 * max(1.0, abs(grad).max()):
                return w
            if f < best_f:
                best, best_f = w, f
    assert best is not None  # a one-variable support (w = 1) is always feasible, with a finite f
    return best


def _solve(gram, c, idx, self_query):
    idx = list(idx)
    while True:
        H = gram.sub(idx)
        w = np.ones(1) if len(idx) == 1 else _qp(H, c[idx])
        keep = w >= MIN_WEIGHT
        if keep.all() or not keep.any():
            return idx, w, max(float(w @ H @ w - 2.0 * c[idx] @ w + self_query), 0.0)
        idx = [i for i, k in zip(idx, keep, strict=True) if k]


def _qp(H, c):
    if len(c) <= SMALL_QP:
        return small_simplex_qp(H, c)
    from specs import solve_simplex_qp

    return solve_simplex_qp(H, c)


def best_mixture(gram, c: np.ndarray, self_query: float):
    """(indices into the candidates, weights (descending), residual MMD^2) by greedy selection.

    gram: a LazyGram or DenseGram of the candidates, ordered best single first; c: their
    cross terms with the user. May return a single index (no mixture lowers the residual).
    """
    if isinstance(gram, np.ndarray):
        gram = DenseGram(gram)
    m = len(c)
    chosen, w = [0], np.ones(1)
    value = max(float(gram.diagonal[0] - 2 * c[0] + self_query), 0.0)
    while len(chosen) < min(MIXTURE_MAX_SIZE, m):
        Gw = np.column_stack([gram.column(j) for j in chosen]) @ w  # <m, mu_j> for every j
        mm = float(w @ Gw[chosen])  # |m|^2
        qm = float(c[chosen] @ w)  # <mu_u, m>
        ab = Gw - mm - c + qm  # <m - mu_u, mu_j - m>
        bb = np.maximum(gram.diagonal - 2 * Gw + mm, 1e-300)  # |mu_j - m|^2
        alpha = np.clip(-ab / bb, 0.0, 1.0)
        decrease = -(2 * alpha * ab + alpha**2 * bb)
        decrease[chosen] = -np.inf
        j = int(np.argmax(decrease))
        if not decrease[j] > 1e-12 * max(value, 1e-12):
            break
        idx, w_new, v_new = _solve(gram, c, chosen + [j], self_query)
        if v_new >= value:
            break
        chosen, w, value = idx, w_new, v_new
    order = np.argsort(-np.asarray(w), kind="stable")
    return [chosen[i] for i in order], [float(w[i]) for i in order], value
