"""solve_simplex_qp against scipy's SLSQP, and the awkward cases (n = 1, singular, indefinite by rounding)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from specs import SpecError, solve_simplex_qp
from specs.kernels import gaussian_kernel
from specs.simplex_qp import project_to_simplex


def objective(H, c, w):
    return float(w @ H @ w - 2 * c @ w)


def slsqp(H, c):
    n = len(c)
    res = minimize(
        lambda w: objective(H, c, w),
        np.full(n, 1.0 / n),
        jac=lambda w: 2 * (H @ w) - 2 * c,
        bounds=[(0.0, None)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    return res.x


def on_simplex(w):
    return w.min() >= 0 and abs(w.sum() - 1) < 1e-12


@pytest.mark.parametrize("seed", range(12))
def test_matches_slsqp_on_random_problems(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    rank = int(rng.integers(1, n + 1))  # rank-deficient half the time: ties between optima
    A = rng.normal(size=(n, rank))
    H = A @ A.T + (1e-3 * np.eye(n) if seed % 2 else 0)
    c = rng.normal(size=n) * rng.uniform(0.1, 3)
    w = solve_simplex_qp(H, c)
    ref = slsqp(H, c)
    assert on_simplex(w)
    f, f_ref = objective(H, c, w), objective(H, c, ref)
    assert f <= f_ref + 1e-7 * max(1, abs(f_ref)), (f, f_ref)
    if seed % 2:  # strictly convex: the minimiser is unique
        np.testing.assert_allclose(w, ref, atol=1e-4)


def test_kernel_gram_problem_like_rkme():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    z = X[:40]
    H, c = gaussian_kernel(z, z, 0.2), gaussian_kernel(z, X, 0.2).mean(axis=1)
    w, info = solve_simplex_qp(H, c, return_info=True)
    assert on_simplex(w)
    assert objective(H, c, w) <= objective(H, c, slsqp(H, c)) + 1e-8
    assert info["objective"] == pytest.approx(objective(H, c, w))


def test_edge_cases():
    np.testing.assert_array_equal(solve_simplex_qp([[2.0]], [5.0]), [1.0])
    # H = 0: a linear objective, optimum at the vertex of the largest c.
    np.testing.assert_allclose(
        solve_simplex_qp(np.zeros((4, 4)), [0.1, 0.9, 0.3, 0.2]), [0, 1, 0, 0], atol=1e-12
    )
    # Identical points (singular H), slightly non-symmetric and slightly indefinite by rounding.
    H = np.ones((5, 5)) + 1e-15 * np.arange(25).reshape(5, 5)
    w = solve_simplex_qp(H, np.ones(5))
    assert on_simplex(w)
    # Warm start outside the simplex is projected first.
    assert on_simplex(solve_simplex_qp(np.eye(3), [1.0, 0.0, 0.0], w0=[5.0, -1.0, 2.0]))


def test_larger_problem_converges():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 8))
    z = X[rng.choice(2000, 500, replace=False)]
    H, c = gaussian_kernel(z, z, 0.1), gaussian_kernel(z, X, 0.1).mean(axis=1)
    w, info = solve_simplex_qp(H, c, return_info=True)
    assert on_simplex(w)
    assert info["iterations"] < 5000  # stopped by its certificate or stall test, not the cap


def test_projection():
    rng = np.random.default_rng(2)
    for _ in range(50):
        v = rng.normal(size=int(rng.integers(1, 20))) * 3
        p = project_to_simplex(v)
        assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
        # Optimality (KKT): p = max(v - theta, 0), so v - p = theta on the support and v <= theta off it.
        theta = (v - p)[p > 0].mean()
        assert np.allclose((v - p)[p > 0], theta) and (v[p == 0] <= theta + 1e-12).all()


@pytest.mark.parametrize(
    "H, c, fragment",
    [
        (np.ones((2, 3)), np.ones(2), "square"),
        (np.ones((2, 2)), np.ones(3), "does not match"),
        (np.array([[1.0, np.nan], [0, 1]]), np.ones(2), "finite"),
        (np.zeros((0, 0)), np.zeros(0), "non-empty"),
    ],
)
def test_bad_inputs(H, c, fragment):
    with pytest.raises(SpecError, match=fragment):
        solve_simplex_qp(H, c)
