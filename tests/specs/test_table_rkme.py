"""RKME table spec: fitting, the kernel-scale policy, comparison, sampling, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from specs import RKMETableSpecification, SpecError, generate_stat_spec
from specs.kernels import gaussian_kernel, mmd2


@pytest.fixture(scope="module", autouse=True)
def plain_fits():
    """This file tests the RKME fit itself: table fits here are the plain method (privacy "none"),
    the private default has its own tests (tests/specs/test_spec_privacy.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("specs.privacy.DEFAULT_METHOD", "none")
        yield


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def spec100(digits):
    return RKMETableSpecification.fit(digits[0], K=100, seed=0)


def mmd2_to_data(spec, X) -> float:
    """Exact MMD^2 between the spec's embedding and X's empirical one, under the spec's gamma."""
    g = spec.gamma
    b = spec.beta
    return float(
        b @ gaussian_kernel(spec.z, spec.z, g) @ b
        - 2 * b @ gaussian_kernel(spec.z, X, g).mean(axis=1)
        + gaussian_kernel(X, X, g).mean()
    )


def test_fit_shapes_and_simplex(digits, spec100):
    X = digits[0]
    assert spec100.z.shape == (100, 64) and spec100.z.dtype == np.float64
    assert spec100.beta.shape == (100,) and spec100.beta.min() >= 0
    assert abs(spec100.beta.sum() - 1) < 1e-12
    assert spec100.num_points == len(X) and spec100.dim == 64
    assert spec100.type == "RKMETableSpecification" and spec100.kind == "table" and spec100.version == 1
    # The gamma sits on the 2 ** (k/4) grid.
    k = 4 * math.log2(spec100.gamma)
    assert abs(k - round(k)) < 1e-9
    assert RKMETableSpecification.fit(X[:30], K=100).z.shape == (30, 64)  # K capped at n


def test_deterministic_for_a_seed(digits, spec100):
    again = RKMETableSpecification.fit(digits[0], K=100, seed=0)
    np.testing.assert_array_equal(again.z, spec100.z)
    np.testing.assert_array_equal(again.beta, spec100.beta)
    assert again.gamma == spec100.gamma
    other = RKMETableSpecification.fit(digits[0], K=100, seed=1)
    assert other.gamma == spec100.gamma  # gamma depends on the data only
    assert not np.array_equal(other.z, spec100.z)


def test_fidelity_small_and_improves_with_k(digits, spec100):
    X = digits[0]
    m10 = mmd2_to_data(RKMETableSpecification.fit(X, K=10, seed=0), X)
    m100 = mmd2_to_data(spec100, X)
    # Baseline: 100 uniformly weighted random rows, the obvious "sketch" of the same size.
    rows = X[np.random.default_rng(0).choice(len(X), 100, replace=False)]
    uniform = RKMETableSpecification(rows, np.full(100, 0.01), spec100.gamma)
    m_rows = mmd2_to_data(uniform, X)
    assert m100 < m10, (m10, m100)
    assert m100 < 0.2 * m_rows, f"RKME K=100 MMD^2 {m100:.3g} vs random 100 rows {m_rows:.3g}"
    assert 0 <= m100 < 1e-3, m100


def _halves_vs_disjoint(X, y, K, gamma=None):
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(X))
    h1, h2 = X[perm[: len(X) // 2]], X[perm[len(X) // 2 :]]
    fit = lambda A: RKMETableSpecification.fit(A, K=K, seed=0, gamma=gamma)  # noqa: E731
    disjoint = fit(X[y < 5]).dist(fit(X[y >= 5]))
    halves = fit(h1).dist(fit(h2))
    return disjoint, halves


def test_policy_separates_disjoint_classes_from_random_halves(digits):
    disjoint, halves = _halves_vs_disjoint(*digits, K=100)
    assert disjoint >= 5 * halves, (
        f"disjoint {{0..4}} vs {{5..9}}: {disjoint:.4g}; random halves: {halves:.4g}"
    )


def test_reference_fixed_gamma_cannot_tell_them_apart(digits):
    # Why the policy exists: at gamma = 0.1 on raw pixels both distances are ~2/K (no overlap at all).
    disjoint, halves = _halves_vs_disjoint(*digits, K=50, gamma=0.1)
    assert disjoint < 1.2 * halves, f"disjoint {disjoint:.4g}; random halves: {halves:.4g}"


def test_dist_matches_a_slow_direct_computation():
    rng = np.random.default_rng(3)
    a = RKMETableSpecification(rng.normal(size=(4, 3)), rng.dirichlet(np.ones(4)), 0.7)
    b = RKMETableSpecification(rng.normal(size=(6, 3)) + 0.5, rng.dirichlet(np.ones(6)), 0.3)

    def k(x, y, g):
        return math.exp(-g * sum((xi - yi) ** 2 for xi, yi in zip(x, y, strict=True)))

    def inner(p, q, g):  # sum_ij p.beta_i q.beta_j k(p.z_i, q.z_j), one term at a time
        return sum(
            p.beta[i] * q.beta[j] * k(p.z[i], q.z[j], g)
            for i in range(len(p.beta))
            for j in range(len(q.beta))
        )

    def slow(p, q, g):
        return inner(p, p, g) - 2 * inner(p, q, g) + inner(q, q, g)

    # float64 throughout (specs/kernels.py): 1e-10 leaves orders of magnitude above the rounding of
    # either summation order, on any CPU or BLAS.
    assert a.dist(b) == pytest.approx(slow(a, b, 0.7), rel=1e-10, abs=1e-14)  # the query's gamma
    assert b.dist(a) == pytest.approx(slow(a, b, 0.3), rel=1e-10, abs=1e-14)
    assert a.dist(b, gamma=0.3) == pytest.approx(b.dist(a), rel=1e-12)  # one gamma: symmetric
    assert a.dist(b, gamma=0.05) == pytest.approx(slow(a, b, 0.05), rel=1e-10, abs=1e-14)
    assert a.dist(a) == pytest.approx(0.0, abs=1e-12)  # float64: rounding may leave a few ulps, not 0 exactly
    assert a.inner_prod(b) == pytest.approx(inner(a, b, 0.7), rel=1e-10)


def test_dist_symmetric_when_gammas_equal(digits, spec100):
    X = digits[0]
    other = RKMETableSpecification.fit(X[::2], K=50, seed=0, gamma=spec100.gamma)
    assert spec100.dist(other) == pytest.approx(other.dist(spec100), rel=1e-12)
    assert spec100.dist(other) == pytest.approx(
        mmd2(spec100.z, spec100.beta, other.z, other.beta, spec100.gamma)
    )


def test_dist_refuses_mismatches(spec100):
    small = RKMETableSpecification(np.zeros((2, 4)), [0.5, 0.5], 1.0)
    with pytest.raises(SpecError, match="dimension mismatch: 64 vs 4"):
        spec100.dist(small)
    with pytest.raises(SpecError, match="cannot compare RKMETableSpecification with str"):
        spec100.dist("spec")
    with pytest.raises(SpecError, match="gamma: -1"):
        spec100.dist(spec100, gamma=-1)


@pytest.mark.parametrize(
    "X, fragments",
    [
        ([["a", "b"], ["c", "d"]], ["X must be numeric"]),
        ([[1, 2], [3]], ["X must be numeric"]),
        (np.array([[1 + 1j, 2], [3, 4]]), ["numeric", "complex"]),
        (np.arange(5.0), ["shape (5,)", "reshape(-1, 1)"]),
        (np.zeros((3, 2, 2)), ["shape (3, 2, 2)", "2-D", "reshape(len(X), -1)"]),
        (np.zeros((1, 3)), ["1 row(s)", "at least 2 rows"]),
        (np.zeros((0, 3)), ["0 row(s)"]),
        (np.zeros((4, 0)), ["0 columns"]),
        (np.array([[1.0, np.nan], [2, 3], [np.inf, 1], [0, 0]]), ["in 2 of 4 rows", "row 0", "impute"]),
        (None, ["X: missing"]),
        (np.float64(3.0), ["single value", "2-D"]),
        (np.array([[1.0, None], [2, 3]], dtype=object), ["NaN or inf", "1 of 2 rows", "row 0"]),
    ],
)
def test_bad_data_is_refused_with_a_helpful_message(X, fragments):
    with pytest.raises(SpecError) as e:
        RKMETableSpecification.fit(X, K=5)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))


def test_array_likes_accepted_and_bad_parameters_refused():
    class Frame:  # what a pandas DataFrame offers numpy
        def __array__(self, dtype=None, copy=None):
            return np.arange(20.0).reshape(10, 2)

    assert RKMETableSpecification.fit(Frame(), K=3).z.shape == (3, 2)
    assert RKMETableSpecification.fit([[1, 0], [0, 1], [1, 1]], K=2).dim == 2
    for bad in ({"K": 0}, {"K": "10"}, {"K": 2.5}, {"seed": -1}, {"gamma": 0}, {"gamma": float("nan")}):
        with pytest.raises(SpecError, match=next(iter(bad))):
            RKMETableSpecification.fit(np.eye(3), **bad)


def test_constant_and_duplicate_data_fit():
    spec = RKMETableSpecification.fit(np.ones((50, 4)), K=10)
    assert spec.gamma == 0.25  # median and mean distances are 0: 1/d
    assert abs(spec.beta.sum() - 1) < 1e-12 and np.isfinite(spec.z).all()
    X = np.repeat(np.eye(3), 20, axis=0)  # 3 distinct rows, K > 3
    assert abs(RKMETableSpecification.fit(X, K=8).beta.sum() - 1) < 1e-12


def test_sample(spec100, digits):
    S = spec100.sample(500, seed=0)
    assert S.shape == (500, 64) and np.isfinite(S).all()
    np.testing.assert_array_equal(S, spec100.sample(500, seed=0))
    assert spec100.sample(0).shape == (0, 64)
    # Plausible: much closer to the data than the data is to a shifted copy of itself.
    X = digits[0]
    close = RKMETableSpecification.fit(S, K=50, gamma=spec100.gamma)
    assert spec100.dist(close) < 0.25 * spec100.dist(
        RKMETableSpecification.fit(X + 4, K=50, gamma=spec100.gamma)
    )
    # A constant feature stays constant (pixel 0 of every digit is 0).
    assert (S[:, 0] == 0).all()
    with pytest.raises(SpecError, match="n: -1"):
        spec100.sample(-1)
    one = RKMETableSpecification([[1e6, 1.0]], [1.0], 1e-12)  # no spread known: no noise guessed
    np.testing.assert_array_equal(one.sample(3), [[1e6, 1.0]] * 3)


def test_validate_refuses_broken_specs():
    z = np.zeros((3, 2))
    ok = [0.2, 0.3, 0.5]
    cases = [
        (dict(z=np.zeros(3), beta=ok, gamma=1.0), "z: shape (3,)"),
        (dict(z=np.zeros((0, 2)), beta=[], gamma=1.0), "K and d must both be >= 1"),
        (dict(z=z, beta=[0.5, 0.5], gamma=1.0), "beta: shape (2,) does not match z's K=3"),
        (dict(z=z, beta=[0.2, -0.3, 1.1], gamma=1.0), "beta: -0.3"),
        (dict(z=z, beta=[0.2, 0.3, 0.4], gamma=1.0), "beta: sum"),
        (dict(z=z, beta=[np.nan, 0.5, 0.5], gamma=1.0), "finite"),
        (dict(z=z, beta=ok, gamma=0.0), "gamma: 0.0"),
        (dict(z=z, beta=ok, gamma=float("inf")), "gamma: inf"),
        (dict(z=z, beta=ok, gamma=1.0, num_points=-2), "num_points: -2"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(SpecError) as e:
            RKMETableSpecification(**kwargs)
        assert fragment in str(e.value), (fragment, str(e.value))
    nearly = RKMETableSpecification(z, [0.2, 0.3, 0.5004], 1.0)  # within 1e-3: renormalised
    assert abs(nearly.beta.sum() - 1) < 1e-15


def test_generate_stat_spec_api(digits):
    spec = generate_stat_spec("table", X=digits[0][:300], K=20, seed=0)
    assert isinstance(spec, RKMETableSpecification) and spec.z.shape == (20, 64)
    same = generate_stat_spec(type="RKMETableSpecification", X=digits[0][:300], K=20, seed=0)
    np.testing.assert_array_equal(spec.z, same.z)
    assert generate_stat_spec("table", X=digits[0][:300], K=5, gamma=0.01).gamma == 0.01
    # image/text are their own kinds now (tests/specs/test_image_spec.py, test_text_spec.py): a table is
    # not an image array, and numbers are not documents
    with pytest.raises(SpecError, match=r"X: shape \(1797, 64\) is not allowed"):
        generate_stat_spec("image", X=digits[0])
    with pytest.raises(SpecError, match="X: expected a list of strings"):
        generate_stat_spec("text", X=digits[0])
    with pytest.raises(SpecError, match="'tabel' is not known; known kinds: .*RKMETableSpecification"):
        generate_stat_spec("tabel", X=digits[0])
    with pytest.raises(SpecError, match="X: missing"):
        generate_stat_spec("table")
