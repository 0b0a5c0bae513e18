"""The active-set start of the RKME weight QP (specs/simplex_active_set.py): on kernel Gram matrices
it lands on FISTA's optimum (or better), FISTA then certifies it in one iteration; degenerate and too
large problems give None (the fit falls back to FISTA alone) and never a wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from specs.kernels import gaussian_kernel
from specs.rkme_fit import data_terms, solve_beta
from specs.simplex_active_set import MAX_POINTS, active_set_start
from specs.simplex_qp import solve_simplex_qp


def kernel_qp(k: int, n: int, d: int, gamma: float, seed: int):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n // 2, d)), rng.normal(2.0, 0.5, size=(n - n // 2, d))])
    z = X[rng.choice(n, k, replace=False)] + 0.05 * rng.normal(size=(k, d))
    return gaussian_kernel(z, z, gamma), data_terms(z, X, gamma)[0]


@pytest.mark.parametrize("seed", range(6))
def test_active_set_matches_fista_and_is_certified_at_once(seed):
    H, c = kernel_qp(k=8 + 7 * seed, n=400, d=3 + seed, gamma=0.2 + 0.3 * seed, seed=seed)
    w = active_set_start(H, c)
    assert w is not None and w.min() >= 0 and abs(w.sum() - 1) < 1e-12
    _, plain = solve_simplex_qp(H, c, return_info=True)
    polished, info = solve_simplex_qp(H, c, w0=w, return_info=True)
    assert info["objective"] <= plain["objective"] + 1e-9 * max(1.0, abs(plain["objective"]))
    assert info["iterations"] <= 2 < plain["iterations"]  # certified, where FISTA alone iterates
    assert np.abs(polished - solve_beta(H, c)).max() < 1e-6


def test_duplicate_points_and_large_problems_fall_back_safely():
    H, c = kernel_qp(k=10, n=200, d=2, gamma=1.0, seed=0)
    P = np.r_[np.arange(10), [0, 0, 3]]  # three exact duplicates: H_SS may be singular
    Hd, cd = H[np.ix_(P, P)], c[P]
    w = solve_beta(Hd, cd)  # whatever the start did, the answer is FISTA-certified
    _, ref = solve_simplex_qp(Hd, cd, return_info=True)
    assert float(w @ Hd @ w - 2 * cd @ w) <= ref["objective"] + 1e-9
    big = np.eye(MAX_POINTS + 1)
    assert active_set_start(big, np.full(MAX_POINTS + 1, 0.5)) is None
    assert abs(solve_beta(big, np.full(MAX_POINTS + 1, 0.5)).sum() - 1) < 1e-12
