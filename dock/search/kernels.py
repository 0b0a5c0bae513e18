"""Blocked kernel sums for search: the inner loops of the statistical index, in float32.

Everything here works on *segments*: a learnware's RKME is a run of consecutive rows of a
stacked point matrix Z (float32, stored relative to a group offset), with weights beta. The
quantity every search needs is, for each segment s,

    cross_s = sum_i sum_{j in s} bq_i beta_j exp(-gamma |q_i - z_j|^2)

computed block by block as exp(2 gamma q.z - gamma |q|^2 - gamma |z|^2): one float32 matrix
product per block, a few cheap passes, and a segment sum. That expansion cancels badly in
float32 when |q| and |z| are large next to |q - z| (measured: Gram entries off by 3e-4 on a
market spread over 50 kernel widths), so each query works in its *own* frame, centred on its
mean: block points are shifted (Z + shift) before the product. Then |q| and |z| are small for
exactly the points whose kernel values matter, and far points, where the error is large in the
exponent, have kernel values ~0 anyway. The exponent is -gamma |q - z|^2 up to rounding, so it
never overflows.

Blocks are sized so a (Kq x block) float32 slab stays in L2 cache, and independent blocks run
on a small thread pool: numpy's exp and BLAS both release the GIL. BLAS itself is held to one
thread for the whole search (`blas_single_thread`): on the 2-core target OpenBLAS's own
threading is erratic for these shapes (a (100 x 64) @ (64 x 5000) product took 15 ms with two
BLAS threads and 1.6 ms with one), and two of our threads with one BLAS thread each beat one
thread with two BLAS threads on the whole scan (~165 ms vs ~205 ms for 100 x 1M entries).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from specs.blas_threads import blas_single_thread  # noqa: F401 (the engine's and hetero's)

# Kernel entries per block (Kq x points): 500k float32 = 2 MB.
BLOCK_ENTRIES = 500_000
# Below this many kernel entries a query runs on the calling thread (pool overhead dominates).
PARALLEL_MIN_ENTRIES = 2_000_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="lwdock-search")
        return _pool


def run_blocks(fn, n_items: int, block: int, total_entries: int) -> None:
    """Call fn(start, stop) over [0, n_items) in blocks, in parallel when the work is large.

    fn must write its results into disjoint slices of preallocated arrays (no return values,
    no shared accumulators), which keeps the parallel version trivially correct.
    """
    ranges = [(s, min(n_items, s + block)) for s in range(0, n_items, block)]
    if len(ranges) < 2 or total_entries < PARALLEL_MIN_ENTRIES or _workers() < 2:
        for s, e in ranges:
            fn(s, e)
        return
    for f in [_get_pool().submit(fn, s, e) for s, e in ranges]:
        f.result()






def weighted_kernel_rows(q: np.ndarray, bq: np.ndarray, gamma: float, Z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """v_j = sum_i bq_i exp(-gamma |q_i - (Z_j + shift)|^2) for every row j of Z; float32 (len(Z),).

    q: (Kq, d) float32, centred on the query (see the module docstring); shift: (d,) float32.
    """
    g = np.float32(gamma)
    A = (2.0 * g) * q
    row_term = (-g * np.einsum("ij,ij->i", q, q)).astype(np.float32)[:, None]
    bq32 = bq.astype(np.float32)
    n = Z.shape[0]
    out = np.empty(n, np.float32)
    block = max(1, BLOCK_ENTRIES // max(1, q.shape[0]))

    def one(s: int, e: int) -> None:
        Zb = Z[s:e] + shift
        M = A @ Zb.T
        M += row_term
        M -= g * np.einsum("ij,ij->i", Zb, Zb)
        np.exp(M, out=M)
        np.matmul(bq32, M, out=out[s:e])

    run_blocks(one, n, block, q.shape[0] * n)
    return out


def segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of values over consecutive segments beginning at `starts` (float64 result)."""
    if starts.size == 0:
        return np.zeros(0)
    return np.add.reduceat(values.astype(np.float64, copy=False), starts)


def segment_matrix(starts: np.ndarray, weights: np.ndarray):
    """Sparse (n_segments x n_points) matrix S with S[s, j] = weights[j] for j in segment s.

    S @ F sums weighted rows of F per segment in one pass, ~20x faster than np.add.reduceat
    on a 2-D float array (measured on 8192 x 128 float32 blocks).
    """
    from scipy.sparse import csr_matrix

    n = weights.shape[0]
    indptr = np.append(starts, n)
    return csr_matrix((weights, np.arange(n), indptr), shape=(starts.size, n))


def gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row indices of the concatenated segments [starts[i], starts[i] + lengths[i])."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    seg_first = np.cumsum(lengths) - lengths  # where each segment begins in the output
    return np.repeat(starts - seg_first, lengths) + np.arange(total)


def batched_self_terms(Z: np.ndarray, beta: np.ndarray, gamma: float) -> np.ndarray:
    """b_s' K(z_s, z_s) b_s for a batch of equal-size segments: Z (m, K, d), beta (m, K).

    Each segment is centred on its own mean first: the distances inside one RKME are small
    next to its offset from the group's frame, and centring keeps float32 accurate.
    """
    Zc = Z - Z.mean(axis=1, keepdims=True)
    sq = np.einsum("mkd,mkd->mk", Zc, Zc)
    G = np.matmul(Zc, Zc.transpose(0, 2, 1))
    G *= -2.0
    G += sq[:, :, None]
    G += sq[:, None, :]
    np.maximum(G, 0.0, out=G)
    G *= -np.float32(gamma)
    np.exp(G, out=G)
    b = beta.astype(np.float32)
    return np.einsum("mk,mkl,ml->m", b, G, b).astype(np.float64)
