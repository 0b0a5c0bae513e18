"""A fast exact start for small simplex QPs: minimise w'Hw - 2c'w, w >= 0, sum(w) = 1.

Why: the RKME fit solves this QP for the weights beta several times per spec (specs/rkme_fit.py).
FISTA (specs/simplex_qp.py) needs 150-400 iterations on a kernel Gram matrix of ~30 points
(badly conditioned: neighbouring points), ~50 us of numpy overhead each, which was the largest
single cost of a private fit on a ~1,000-row table. For such small problems a primal active-set
method (Lawson-Hanson style, with the sum-to-one constraint) finds the exact support in a few
dozen steps, each one (|S|+1)^2 linear solve.

It is only a proposal: callers hand its result to solve_simplex_qp as the warm start, which
checks the duality-gap certificate on its first iteration and polishes when the proposal is off
(e.g. a singular H_SS from duplicate points). So a bad proposal costs time, never correctness.
"""

from __future__ import annotations

import numpy as np

# Above this many points the (|S|+1)^2 solves stop being cheap next to FISTA's iterations.
MAX_POINTS = 300
_FEASIBLE_EPS = 1e-12


def _solve_on_support(H: np.ndarray, c: np.ndarray, S: np.ndarray) -> np.ndarray | None:
    """w_S of the QP restricted to the support S with only sum(w_S) = 1: the KKT system
    [H_SS 1; 1' 0] [w; m] = [c_S; 1]. None when that system is singular."""
    k = S.size
    A = np.empty((k + 1, k + 1))
    A[:k, :k] = H[np.ix_(S, S)]
    A[:k, k] = 1.0
    A[k, :k] = 1.0
    A[k, k] = 0.0
    b = np.empty(k + 1)
    b[:k] = c[S]
    b[k] = 1.0
    try:
        sol = np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        return None
    return sol[:k] if np.isfinite(sol).all() else None


def active_set_start(H, c) -> np.ndarray | None:
    """Weights w on the simplex minimising w'Hw - 2c'w (to rounding), or None if the problem is
    too large or the method stalls; the caller then warm-starts FISTA some other way."""
    H = np.asarray(H, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n = c.size
    if n == 0 or n > MAX_POINTS:
        return None
    H = 0.5 * (H + H.T)
    # Start at the best vertex: w = e_k minimising H_kk - 2 c_k.
    k0 = int(np.argmin(np.diag(H) - 2.0 * c))
    w = np.zeros(n)
    w[k0] = 1.0
    active = np.zeros(n, dtype=bool)  # the support S
    active[k0] = True
    scale = max(float(np.abs(np.diag(H)).max()), float(np.abs(c).max()), 1e-300)
    for _ in range(4 * n + 10):
        g = H @ w - c  # half the gradient
        level = float(g[active].mean())  # equal on S at a KKT point of the restricted problem
        outside = np.flatnonzero(~active)
        if outside.size == 0:
            return w
        j = outside[np.argmin(g[outside])]
        if g[j] >= level - 1e-12 * scale:
            return w  # no index outside S would lower the objective: optimal
        active[j] = True
        while True:  # solve on S; step back towards w and drop indices that would go negative
            S = np.flatnonzero(active)
            v = _solve_on_support(H, c, S)
            if v is None:
                return None
            if (v > _FEASIBLE_EPS).all():
                w = np.zeros(n)
                w[S] = v
                break
            wS = w[S]
            shrinking = v <= _FEASIBLE_EPS
            ratios = wS[shrinking] / np.maximum(wS[shrinking] - v[shrinking], 1e-300)
            alpha = float(np.clip(ratios.min(), 0.0, 1.0))
            wS = wS + alpha * (v - wS)
            w = np.zeros(n)
            w[S] = np.maximum(wS, 0.0)
            drop = S[wS <= _FEASIBLE_EPS]
            if drop.size == 0:  # rounding: drop the most negative one so the loop progresses
                drop = S[[int(np.argmin(v))]]
            active[drop] = False
            w[drop] = 0.0
            if not active.any():
                return None
            total = w.sum()
            if total <= 0:
                return None
            w /= total
    return None
