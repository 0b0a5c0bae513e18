"""Quadratic programme on the probability simplex: minimise w'Hw - 2c'w s.t. w >= 0, sum(w) = 1.

Used for RKME weights (H = K_zz, c = mean_x K_zx) and, later, for the weights of a mixture of
learnwares in search (H = inner products between learnware embeddings, c = their inner products
with the user's embedding). Both H are kernel Gram matrices: PSD only up to rounding, often
badly conditioned (close points), n from 1 to ~1000.

Method: FISTA (accelerated projected gradient, Beck & Teboulle 2009) with
  * an exact Euclidean projection onto the simplex (sort-based, Held et al. 1974 / Duchi et al.
    2008), so every iterate is feasible;
  * step 1/L with L = 2 lambda_max(H), estimated by power iteration and doubled by
    backtracking whenever the estimate proves too small, so a rough estimate is safe;
  * function-value adaptive restart (O'Donoghue & Candes 2015): a step that raises the
    objective is discarded and momentum reset, so the objective of the returned iterate never
    exceeds that of the start and convergence is fast once the support is found;
  * stopping on the Frank-Wolfe duality gap g'w - min(g), an upper bound on f(w) - f* for
    convex f, i.e. a certificate; and, because that gap is first order in the distance to the
    optimum while f is second order, also stopping when even a momentum-free step no longer
    lowers f (numerically optimal).
Only numpy; one H @ w product per iteration (H @ y follows by linearity).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SpecError


def project_to_simplex(v) -> np.ndarray:
    """Euclidean projection of v onto {w : w >= 0, sum(w) = 1}."""
    v = np.asarray(v, dtype=np.float64)
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    idx = np.arange(1, v.size + 1)
    # rho = last index where u_k > (cumsum_k - 1) / k; at least index 1 always satisfies it.
    rho = np.nonzero(u * idx > css)[0][-1]
    theta = css[rho] / (rho + 1.0)
    return np.maximum(v - theta, 0.0)


def _lambda_max_estimate(H: np.ndarray, iters: int = 30) -> float:
    """Power-iteration estimate of the largest eigenvalue (from below; backtracking fixes the rest)."""
    n = H.shape[0]
    # Ones is close to the top eigenvector of a nonnegative Gram matrix; the small ramp keeps the
    # start from being orthogonal to it for other H. Deterministic: no rng.
    v = np.ones(n) + np.linspace(0.0, 0.1, n)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        hv = H @ v
        nrm = np.linalg.norm(hv)
        if nrm == 0.0 or not math.isfinite(nrm):
            break
        lam = float(v @ hv)
        v = hv / nrm
    return max(abs(lam), float(np.abs(np.diag(H)).max()), 1e-12)


def _check_inputs(H, c) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(H, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise SpecError(f"H: shape {H.shape} is not allowed; H must be a non-empty square (n, n) matrix")
    if c.shape != (H.shape[0],):
        raise SpecError(f"c: shape {c.shape} does not match H {H.shape}; expected ({H.shape[0]},)")
    if not (np.isfinite(H).all() and np.isfinite(c).all()):
        raise SpecError("H and c must be finite (found NaN or inf)")
    return H, c


def solve_simplex_qp(H, c, iters: int = 5000, tol: float = 1e-9, w0=None, return_info: bool = False):
    """Minimise w'Hw - 2c'w over the probability simplex; return w (n,) float64.

    iters  : iteration cap (each costs one H @ w).
    tol    : stop when the duality gap (>= f(w) - f*) falls below tol * max(1, |f(w)|).
    w0     : optional warm start (projected onto the simplex first).
    return_info : also return {"iterations", "gap", "objective"}.
    The result is exactly feasible: w >= 0 and renormalised to sum 1.
    """
    H, c = _check_inputs(H, c)
    n = H.shape[0]
    H = 0.5 * (H + H.T)  # the objective only sees the symmetric part; gradients assume symmetry
    if n == 1:
        w = np.ones(1)
        info = {"iterations": 0, "gap": 0.0, "objective": float(H[0, 0] - 2 * c[0])}
        return (w, info) if return_info else w

    w = np.full(n, 1.0 / n) if w0 is None else project_to_simplex(np.asarray(w0, dtype=np.float64))
    Hw = H @ w
    f = float(w @ Hw - 2.0 * c @ w)
    L = 2.0 * _lambda_max_estimate(H)
    y, Hy, t = w, Hw, 1.0
    gap = math.inf
    iterations = 0
    restarted = False
    for iterations in range(1, iters + 1):  # noqa: B007 (the count is reported after the loop)
        # Certificate at the current iterate: f(w) - f* <= g'w - min g for convex f.
        g_w = 2.0 * (Hw - c)
        gap = float(g_w @ w - g_w.min())
        if gap <= tol * max(1.0, abs(f)):
            break
        g = 2.0 * (Hy - c)
        while True:
            w_new = project_to_simplex(y - g / L)
            Hw_new = H @ w_new
            step = w_new - y
            # Quadratic f: f(w_new) = f(y) + g'step + step'H step exactly, so the sufficient-decrease
            # test of backtracking reduces to step'H step <= (L/2)|step|^2.
            curv = float(step @ (Hw_new - Hy))
            if curv <= 0.5 * L * float(step @ step) * (1.0 + 1e-9) + 1e-300:
                break
            L *= 2.0
        f_new = float(w_new @ Hw_new - 2.0 * c @ w_new)
        if f_new > f:
            if restarted:
                # Even a plain projected-gradient step from w (valid L) no longer descends: w is
                # optimal to rounding (the gap can sit above tol while f - f* is ~1e-16).
                break
            # Restart: discard the step, drop momentum; the next (plain projected) step descends.
            y, Hy, t, restarted = w, Hw, 1.0, True
            continue
        restarted = False
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        mom = (t - 1.0) / t_new
        y = w_new + mom * (w_new - w)
        Hy = Hw_new + mom * (Hw_new - Hw)
        w, Hw, f, t = w_new, Hw_new, f_new, t_new

    w = np.maximum(w, 0.0)
    w /= w.sum()
    if return_info:
        return w, {"iterations": iterations, "gap": gap, "objective": float(w @ H @ w - 2.0 * c @ w)}
    return w
