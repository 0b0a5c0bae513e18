"""Fitting a reduced kernel mean embedding (RKME): K weighted points whose embedding approximates
the data's.

Objective (the squared MMD to the data, minus the constant data-data term):
    J(z, beta) = beta' K_zz beta - 2 beta' c(z),   c_i(z) = mean_x k(z_i, x).
Algorithm:
  1. z <- k-means centres (own seeded k-means++ and Lloyd: deterministic, numpy only, so
     fitting does not pull in scikit-learn).
  2. A few rounds of
       beta <- argmin over the simplex of J (solve_simplex_qp, warm-started), kept only if it
               does not raise J;
       z    <- a few preconditioned gradient steps with backtracking, each accepted only if J
               does not increase.
     So J never increases from the k-means start.
The data is visited in row chunks (kernel block K x chunk), so 100k x 64 data needs no n x n
or K x n matrix in memory at once.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .blas_threads import blas_single_thread
from .kernels import gaussian_kernel, sq_dists
from .limits import check_shape
from .simplex_active_set import active_set_start
from .simplex_qp import solve_simplex_qp

# Kernel block size (elements) per data chunk: 4M float64 = 32 MB.
_CHUNK_ELEMS = 4_000_000
# k-means runs on at most this many rows: the init only needs to be decent, the MMD steps
# then see every row.
KMEANS_MAX_ROWS = 20_000
KMEANS_ITERS = 10
# Fits of tables up to this many numbers (rows x columns) hold BLAS to one thread: their matrix
# products are small (K x n x d, K <= 100), and a second BLAS thread on a busy 2-core machine made a
# ~1,000-row private fit 5-10x SLOWER (threads spin-waiting for a core), never faster when idle.
SINGLE_THREAD_MAX_ELEMS = 4_000_000


@contextmanager
def small_fit_threads(X: np.ndarray):
    """Hold BLAS to one thread while fitting X if X is small (SINGLE_THREAD_MAX_ELEMS)."""
    if X.size > SINGLE_THREAD_MAX_ELEMS:
        yield
        return
    with blas_single_thread():
        yield


# Backtracking on the z step: start at the full preconditioned step, halve at most this often.
_MAX_HALVINGS = 6


def kmeans_plus_plus(X: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): indices of K rows, spread out."""
    n = X.shape[0]
    x2 = np.einsum("ij,ij->i", X, X)  # row norms once, not once per centre (matters for wide X)

    def d2_to(i: int) -> np.ndarray:
        return np.maximum(x2 + x2[i] - 2.0 * (X @ X[i]), 0.0)

    idx = np.empty(K, dtype=np.int64)
    idx[0] = rng.integers(n)
    d2 = d2_to(idx[0])
    for k in range(1, K):
        total = d2.sum()
        # All remaining rows coincide with chosen centres (fewer distinct rows than K): any row does.
        p = d2 / total if total > 0 else None
        idx[k] = rng.choice(n, p=p)
        np.minimum(d2, d2_to(idx[k]), out=d2)
    return idx


def kmeans_centres(X: np.ndarray, K: int, seed: int) -> np.ndarray:
    """K centres from k-means++ then KMEANS_ITERS Lloyd steps, on a seeded subsample of rows."""
    rng = np.random.default_rng(seed)
    if X.shape[0] > KMEANS_MAX_ROWS:
        X = X[np.sort(rng.choice(X.shape[0], KMEANS_MAX_ROWS, replace=False))]
    centres = X[kmeans_plus_plus(X, K, rng)].copy()
    for _ in range(KMEANS_ITERS):
        labels = sq_dists(X, centres).argmin(axis=1)
        counts = np.bincount(labels, minlength=K)
        # Cluster sums as one (K x n) one-hot product: np.add.at was 10x slower on ~1,000 rows.
        sums = (labels[None, :] == np.arange(K)[:, None]).astype(X.dtype) @ X
        filled = counts > 0  # an empty cluster keeps its old centre
        new = centres.copy()
        new[filled] = sums[filled] / counts[filled, None]
        if np.array_equal(new, centres):
            break
        centres = new
    return centres


def solve_beta(Kzz: np.ndarray, c: np.ndarray, w0: np.ndarray | None = None) -> np.ndarray:
    """The simplex-QP weights for points with Gram matrix Kzz and data terms c: an exact active-set
    proposal (small K; specs/simplex_active_set.py) certified and, if needed, polished by FISTA;
    w0 is FISTA's warm start when there is no proposal."""
    start = active_set_start(Kzz, c)
    return solve_simplex_qp(Kzz, c, w0=w0 if start is None else start)


def data_terms(z: np.ndarray, X: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """c_i = mean_x k(z_i, x) (K,) and m_i = mean_x k(z_i, x) x (K, d), in row chunks of X."""
    K, n = z.shape[0], X.shape[0]
    chunk = max(1, _CHUNK_ELEMS // max(K, 1))
    c = np.zeros(K)
    m = np.zeros_like(z)
    for start in range(0, n, chunk):
        Xc = X[start : start + chunk]
        Kc = gaussian_kernel(z, Xc, gamma)
        c += Kc.sum(axis=1)
        m += Kc @ Xc
    return c / n, m / n


class _State:
    """z with everything J and its gradient need, computed once per candidate z."""

    def __init__(self, z: np.ndarray, X: np.ndarray, gamma: float):
        self.z = z
        self.c, self.m = data_terms(z, X, gamma)
        self.Kzz = gaussian_kernel(z, z, gamma)

    def objective(self, beta: np.ndarray) -> float:
        return float(beta @ self.Kzz @ beta - 2.0 * beta @ self.c)

    def descent_direction(self, beta: np.ndarray) -> np.ndarray:
        """-grad_i J / (4 gamma beta_i c_i): a mean-shift pull towards the data near z_i plus a
        push away from the other points, weighted by beta.

        grad_i J = 4 gamma beta_i [(c_i z_i - m_i) - sum_k beta_k K_ik (z_i - z_k)]. The raw
        gradient scales with beta_i and c_i, which differ by orders of magnitude between points;
        dividing them out (a positive diagonal preconditioner, so still a descent direction)
        makes a unit step meaningful: with no other points it is exactly a mean-shift step.
        Points with beta_i = 0 do not affect J; they move by the same formula, which lets the
        next beta round give them weight where they became useful.
        """
        Kb = self.Kzz @ beta
        repulsion = self.z * Kb[:, None] - self.Kzz @ (beta[:, None] * self.z)
        safe_c = np.maximum(self.c, 1e-12 * max(float(self.c.max()), 1e-300))
        return (self.m - self.z * self.c[:, None] + repulsion) / safe_c[:, None]


def fit_rkme(
    X: np.ndarray, K: int, gamma: float, seed: int = 0, rounds: int = 3, z_steps: int = 3
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fit (z, beta) to X (n, d) float64, finite. Returns z (K, d), beta (K,), and a small log.

    The log holds the objective J after init and at the end (add the constant
    mean_xx' k(x, x') to get the MMD^2 to the data) and the number of accepted z steps.
    """
    K = min(K, X.shape[0])
    check_shape(K, X.shape[1], "fit")  # before the K x K and K x n kernels are built
    with small_fit_threads(X):
        return _fit_rkme(X, K, gamma, seed, rounds, z_steps)


def _fit_rkme(X: np.ndarray, K: int, gamma: float, seed: int, rounds: int, z_steps: int):
    state = _State(kmeans_centres(X, K, seed), X, gamma)
    beta = solve_beta(state.Kzz, state.c)
    J = state.objective(beta)
    log = {"J_init": J, "z_steps_accepted": 0}
    for _ in range(rounds):
        for _ in range(z_steps):
            direction = state.descent_direction(beta)
            eta = 1.0
            for _ in range(_MAX_HALVINGS + 1):
                trial = _State(state.z + eta * direction, X, gamma)
                J_trial = trial.objective(beta)
                if J_trial <= J:
                    state, J = trial, J_trial
                    log["z_steps_accepted"] += 1
                    break
                eta *= 0.5
            else:
                break  # no step lowers J along this direction: z is (locally) done this round
        beta_new = solve_beta(state.Kzz, state.c, w0=beta)
        J_new = state.objective(beta_new)
        if J_new <= J:
            beta, J = beta_new, J_new
    log["J_final"] = J
    return state.z, beta, log
