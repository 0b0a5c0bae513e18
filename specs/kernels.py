"""Gaussian kernel, MMD between weighted point sets, and the median heuristic for the kernel scale.

The kernel is k(x, y) = exp(-gamma * |x - y|^2), the reference's (Beimingwu's) form, so specs
written by either side mean the same thing for the same gamma.

Only numpy is used here: this module sits on the search path, which must stay light.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SpecError

# Step of the gamma grid: 2 ** (1/4), i.e. four steps per doubling (see grid_gamma).
GAMMA_GRID_STEPS_PER_OCTAVE = 4


def sq_dists(A, B) -> np.ndarray:
    """Squared Euclidean distances between the rows of A (n, d) and of B (m, d), as (n, m) float64.

    Uses |a|^2 + |b|^2 - 2 a.b (one matrix product, the fast path); cancellation can make
    near-equal rows come out slightly negative, so the result is clipped at 0.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    a2 = np.einsum("ij,ij->i", A, A)
    b2 = np.einsum("ij,ij->i", B, B)
    D = A @ B.T
    D *= -2.0
    D += a2[:, None]
    D += b2[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def gaussian_kernel(A, B, gamma: float) -> np.ndarray:
    """Kernel matrix exp(-gamma |a_i - b_j|^2), shape (len(A), len(B))."""
    D = sq_dists(A, B)
    D *= -float(gamma)
    np.exp(D, out=D)
    return D


# Kernel entries computed at once by weighted_kernel_sum: 1M float64 = 8 MiB, whatever K is.
KERNEL_BLOCK_ENTRIES = 1 << 20


def weighted_kernel_sum(A, a, B, b, gamma: float) -> float:
    """a' K(A, B) b without holding the whole (len(A) x len(B)) kernel matrix.

    Rows of A are taken in blocks so each kernel slab has at most KERNEL_BLOCK_ENTRIES entries:
    the memory of a comparison is bounded whatever K a spec claims (specs are capped anyway,
    see specs/limits.py, but a K x K matrix must never be the cost of looking at one).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cols = min(max(1, B.shape[0]), KERNEL_BLOCK_ENTRIES)
    rows = max(1, KERNEL_BLOCK_ENTRIES // cols)
    total = 0.0
    for s in range(0, A.shape[0], rows):
        for t in range(0, B.shape[0], cols):
            slab = gaussian_kernel(A[s : s + rows], B[t : t + cols], gamma)
            total += float(a[s : s + rows] @ (slab @ b[t : t + cols]))
    return total


def mmd2(z1, b1, z2, b2, gamma: float) -> float:
    """Squared MMD between two weighted embeddings sum_i b1_i k(z1_i, .) and sum_j b2_j k(z2_j, .).

    b1'K11b1 - 2 b1'K12b2 + b2'K22b2, each term computed blockwise (weighted_kernel_sum). The
    exact value is >= 0; rounding can leave a tiny negative when both sides are (nearly) equal,
    which is reported as 0.
    """
    t11 = weighted_kernel_sum(z1, b1, z1, b1, gamma)
    t12 = weighted_kernel_sum(z1, b1, z2, b2, gamma)
    t22 = weighted_kernel_sum(z2, b2, z2, b2, gamma)
    return float(max(t11 - 2.0 * t12 + t22, 0.0))


def median_heuristic_gamma(X, rng: np.random.Generator, max_pairs: int = 20000) -> float:
    """1 / (median squared distance between distinct rows of X), from at most max_pairs pairs.

    With fewer than max_pairs distinct pairs all of them are used (exact); otherwise a seeded
    sample of random pairs i != j (so the result depends only on X and the rng's state).
    Fallbacks, so that the result is always a finite positive number:
      median is 0 (more than half the pairs are duplicates, e.g. categorical data) -> mean;
      mean is 0 too (constant data, or a single row) -> 1 / d.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if n < 2:
        return 1.0 / max(d, 1)
    total_pairs = n * (n - 1) // 2
    if total_pairs <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        i = rng.integers(0, n, size=max_pairs)
        # j = i + offset (mod n) with offset in [1, n-1]: a uniform random other row, never i itself.
        j = (i + rng.integers(1, n, size=max_pairs)) % n
    # Row differences in blocks of ~64K numbers (cache-sized: 8x faster than one 20000 x d block
    # on a ~1,000-row table), so wide data (d in the thousands) stays small too.
    block = max(1, 65_536 // max(d, 1))
    d2 = np.empty(i.size)
    for s in range(0, i.size, block):
        diff = X[i[s : s + block]] - X[j[s : s + block]]
        d2[s : s + block] = np.einsum("ij,ij->i", diff, diff)
    for stat in (np.median(d2), d2.mean()):
        if stat > 0 and math.isfinite(stat):
            return 1.0 / float(stat)
    return 1.0 / max(d, 1)


def grid_gamma(gamma: float) -> float:
    """Round gamma to the nearest power of 2 ** (1/4) (in log scale).

    Specs fitted on similar data then share exactly the same gamma, so a search engine can
    group the catalogue by gamma and cache per-gamma terms (b'Kb of each learnware). The
    rounding changes gamma by at most a factor 2 ** (1/8) (9%), well inside the median
    heuristic's own sampling noise on real data.
    """
    if not (gamma > 0 and math.isfinite(gamma)):
        raise SpecError(f"gamma: {gamma!r} is not allowed; gamma must be finite and > 0")
    s = GAMMA_GRID_STEPS_PER_OCTAVE
    return float(2.0 ** (round(s * math.log2(gamma)) / s))
