"""Maximum K and dimension, enforced before allocation; K x K work done in bounded memory."""

from __future__ import annotations

import tracemalloc

import msgpack
import numpy as np
import pytest

from specs import RKMETableSpecification, SpecError, load_spec, spec_from_bytes
from specs.kernels import gaussian_kernel, mmd2, weighted_kernel_sum
from specs.limits import MAX_DIM, MAX_POINTS, MAX_VALUES
from specs.wire import MAX_DECOMPRESSED_BYTES, pack_spec


def _wire(K: int, d: int, z: bytes | None = None) -> bytes:
    """A compact spec claiming K points of dimension d (zeros compress to almost nothing)."""
    return pack_spec({"t": "RKMETableSpecification", "v": 1, "g": 0.5, "n": K, "k": K, "d": d,
                      "z": bytes(K * d * 4) if z is None else z, "b": np.full(K, 1 / K, "<f4").tobytes()})


def test_large_k_on_the_wire_is_refused_before_allocation():
    small = _wire(1, 1)
    for K, d, words in ((MAX_POINTS + 1, 2, "K=1001 points is not allowed"),
                        (2, MAX_DIM + 1, "dimension 8193 is not allowed"),
                        (600, 1000, "values is not allowed")):
        data = _wire(K, d, z=b"")  # the shape is checked before the payload's length
        assert len(data) < len(small) + 4096
        with pytest.raises(SpecError, match=words):
            spec_from_bytes(data)
    # the K=25,000 (a MemoryError traceback before): a clear error, under a small budget
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match="K=25000 points is not allowed"):
            spec_from_bytes(_wire(25_000, 4))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak
    # and a frame declaring more than the budget is refused before it is inflated
    with pytest.raises(SpecError, match="declared size"):
        spec_from_bytes(pack_spec({"t": "x", "pad": bytes(MAX_DECOMPRESSED_BYTES + 1)}))
    # a frame that declares no size is held to the budget while it is inflated
    import zstandard

    undeclared = zstandard.ZstdCompressor(write_content_size=False).compress(
        msgpack.packb({"t": "x", "pad": bytes(MAX_DECOMPRESSED_BYTES + 1)}))
    assert zstandard.frame_content_size(undeclared) == -1
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match=f"larger than {MAX_DECOMPRESSED_BYTES} bytes"):
            spec_from_bytes(undeclared)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_DECOMPRESSED_BYTES, peak
    with pytest.raises(SpecError, match="not a valid zstd frame"):  # cut short
        spec_from_bytes(pack_spec({"t": "x", "pad": bytes(1000)})[:-5])
    # the honest path at the cap: K x d = MAX_VALUES round-trips
    rng = np.random.default_rng(0)
    d = 1024
    K = MAX_VALUES // d  # 512 points of 1024 features
    spec = RKMETableSpecification(rng.normal(size=(K, d)), np.full(K, 1 / K), 0.01)
    assert spec_from_bytes(spec.to_bytes()).z.shape == (K, d)


def test_large_k_in_json_and_fit_is_refused():
    K = MAX_POINTS + 1
    doc = {"type": "RKMETableSpecification", "z": [[0.0, 1.0]] * K, "beta": [1 / K] * K, "gamma": 0.1}
    with pytest.raises(SpecError, match="K=1001 points is not allowed"):
        load_spec(doc)
    wide = {"type": "RKMETableSpecification", "z": [[0.0] * (MAX_DIM + 1)], "beta": [1.0], "gamma": 0.1}
    with pytest.raises(SpecError, match="dimension 8193 is not allowed"):
        load_spec(wide)
    X = np.random.default_rng(0).normal(size=(K + 10, 3))
    with pytest.raises(SpecError, match="K=1001 points is not allowed"):
        RKMETableSpecification.fit(X, K=K, rounds=0, privacy="none")  # private fits cap K at sqrt(n)
    assert RKMETableSpecification.fit(X, K=20, rounds=0, privacy="none").z.shape == (20, 3)  # honest fit
    assert load_spec({**doc, "z": [[0.0, 1.0]] * 10, "beta": [0.1] * 10}).z.shape == (10, 2)


def test_kernel_sums_are_blockwise_and_exact():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(300, 5)), rng.normal(size=(200, 5))
    a, b = rng.dirichlet(np.ones(300)), rng.dirichlet(np.ones(200))
    dense = a @ gaussian_kernel(A, B, 0.3) @ b
    assert weighted_kernel_sum(A, a, B, b, 0.3) == pytest.approx(dense, rel=1e-10)
    # 3000 points: a dense K x K kernel is 72 MB; blockwise stays near one 8 MiB slab
    Z = rng.normal(size=(3000, 4))
    w = np.full(3000, 1 / 3000)
    tracemalloc.start()
    try:
        value = mmd2(Z, w, Z[::-1], w, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value == pytest.approx(0.0, abs=1e-9)  # the same points in another order
    assert peak < 40 * 1024 * 1024, peak
