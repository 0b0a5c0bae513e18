"""RKME table spec on disk and on the wire: the reference's JSON, our compact binary, hostile bytes."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
import zstandard

from specs import RKMETableSpecification, SpecError, load_spec, spec_from_bytes
from specs.wire import pack_spec


@pytest.fixture(scope="module", autouse=True)
def plain_fits():
    """This file tests the RKME fit itself: table fits here are the plain method (privacy "none"),
    the private default has its own tests (tests/specs/test_spec_privacy.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("specs.privacy.DEFAULT_METHOD", "none")
        yield


@pytest.fixture(scope="module")
def spec():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 6)), rng.normal(3, 1, size=(100, 6))])
    return RKMETableSpecification.fit(X, K=25, seed=0)


def test_json_round_trip_is_exact(spec, tmp_path):
    d = spec.to_json_dict()
    assert d["type"] == "RKMETableSpecification"
    assert d["lwdock"] == {"version": 1, "kernel": "gaussian", "gamma_policy": "median-grid4"}
    assert set(d) == {"type", "z", "beta", "gamma", "num_points", "lwdock"}
    back = RKMETableSpecification.from_json_dict(json.loads(json.dumps(d)))
    np.testing.assert_array_equal(back.z, spec.z)
    np.testing.assert_allclose(back.beta, spec.beta, rtol=1e-15)
    assert (back.gamma, back.num_points, back.version) == (spec.gamma, spec.num_points, 1)
    path = tmp_path / "stat.json"
    spec.save(path)
    for loaded in (RKMETableSpecification.load(path), load_spec(path), load_spec(str(path)), load_spec(d)):
        np.testing.assert_array_equal(loaded.z, spec.z)
        # Two arrays with the same values go through BLAS separately: 0 up to float64 rounding.
        assert loaded.dist(spec) == pytest.approx(0.0, abs=1e-12)


def test_reads_a_reference_style_file(tmp_path):
    # As Beimingwu's RKMETableSpecification.save writes it: no "lwdock" key, maybe "cuda_idx",
    # a QP solution with a -1e-12 weight and a sum off by rounding.
    ref = {
        "type": "RKMETableSpecification",
        "cuda_idx": -1,
        "gamma": 0.1,
        "num_points": 1000,
        "z": [[0.5, 1.0, -2.0], [1.5, 0.0, 3.25]],
        "beta": [1.0000000001, -1e-12],
    }
    path = tmp_path / "rkme.json"
    path.write_text(json.dumps(ref, separators=(",", ":")))
    spec = load_spec(path)
    assert isinstance(spec, RKMETableSpecification)
    assert spec.gamma == 0.1 and spec.num_points == 1000 and spec.version == 1
    np.testing.assert_array_equal(spec.z, ref["z"])
    assert spec.beta[1] == 0.0 and spec.beta.sum() == pytest.approx(1.0, abs=1e-15)
    del ref["gamma"], ref["num_points"]  # the reference's defaults
    spec = RKMETableSpecification.from_json_dict(ref)
    assert spec.gamma == 0.1 and spec.num_points == 0


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"type": "RKMEImageSpecification"}, "type: 'RKMEImageSpecification' is not allowed"),
        ({"z": None}, "z: shape ()"),
        ({"z": [[1.0, 2.0], [3.0]]}, "z and beta must be numeric"),
        ({"beta": [0.3, 0.3]}, "beta: sum 0.6"),
        ({"gamma": "wide"}, "gamma: 'wide'"),
        ({"lwdock": {"kernel": "laplacian"}}, "lwdock.kernel: 'laplacian'"),
        ({"lwdock": {"version": 0}}, "version: 0"),
    ],
)
def test_bad_json_refused(change, fragment):
    d = {"type": "RKMETableSpecification", "z": [[0.0, 1.0], [1.0, 0.0]], "beta": [0.5, 0.5], "gamma": 1.0}
    d.update(change)
    with pytest.raises(SpecError) as e:
        RKMETableSpecification.from_json_dict(d)
    assert fragment in str(e.value)


def test_missing_keys_and_bad_files(tmp_path):
    with pytest.raises(SpecError, match="beta: missing"):
        RKMETableSpecification.from_json_dict({"type": "RKMETableSpecification", "z": [[1.0]]})
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "bad.json")
    with pytest.raises(SpecError, match='"type" key'):
        load_spec({"z": [[1.0]], "beta": [1.0]})
    with pytest.raises(SpecError, match="known kinds: .*RKMETableSpecification"):
        load_spec({"type": "RKMEVideoSpecification"})
    with pytest.raises(SpecError, match="a path or a dict"):
        load_spec(42)


def test_binary_round_trip(spec):
    data = spec.to_bytes()
    assert isinstance(data, bytes) and len(data) < len(json.dumps(spec.to_json_dict()))
    for back in (RKMETableSpecification.from_bytes(data), spec_from_bytes(data)):
        np.testing.assert_allclose(back.z, spec.z, rtol=1e-6, atol=1e-6)  # float32 on the wire
        np.testing.assert_allclose(back.beta, spec.beta, rtol=1e-6, atol=1e-8)
        assert abs(back.beta.sum() - 1) < 1e-12  # renormalised after the float32 round trip
        assert (back.gamma, back.num_points, back.version) == (spec.gamma, spec.num_points, spec.version)
        assert back.dist(spec) < 1e-10
    raw = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(data), raw=False)
    assert set(raw) == {"t", "v", "g", "n", "k", "d", "z", "b"}
    assert raw["t"] == "RKMETableSpecification" and (raw["k"], raw["d"]) == spec.z.shape
    assert len(raw["z"]) == spec.z.size * 4 and len(raw["b"]) == spec.z.shape[0] * 4


def test_binary_refuses_values_float32_cannot_hold():
    with pytest.raises(SpecError, match="float32 range"):
        RKMETableSpecification([[1e39, 0.0]], [1.0], 1.0).to_bytes()


def _wire(spec, **change):
    K, d = spec.z.shape
    w = {
        "t": spec.type, "v": 1, "g": spec.gamma, "n": 10, "k": K, "d": d,
        "z": spec.z.astype("<f4").tobytes(), "b": spec.beta.astype("<f4").tobytes(),
    }  # fmt: skip
    w.update(change)
    return pack_spec({k: v for k, v in w.items() if v is not None})


def test_garbage_and_hostile_bytes_are_refused(spec):
    good = spec.to_bytes()
    z32 = spec.z.astype("<f4").tobytes()
    cases = [
        (b"", "zstd"),
        (b"garbage bytes", "zstd"),
        (np.random.default_rng(0).bytes(300), "zstd"),
        (good[: len(good) // 2], "zstd"),  # truncated
        ("text", "expected bytes"),
        (zstandard.ZstdCompressor().compress(b"\xc1\xc1"), "msgpack"),  # 0xc1: never used in msgpack
        (zstandard.ZstdCompressor().compress(msgpack.packb([1, 2])), '"t"'),
        (_wire(spec, z=z32[:-4]), "expected K*d*4"),  # one float short
        (_wire(spec, z=z32 + b"\0\0\0\0"), "expected K*d*4"),
        (_wire(spec, b=b"\0" * 3), "expected K*4"),
        (_wire(spec, z=[1.0, 2.0]), "z has list bytes"),
        (_wire(spec, k=-3), "k: -3"),
        (_wire(spec, d="6"), "d: '6'"),
        (_wire(spec, g=None), "missing keys ['g']"),
        (_wire(spec, g=-1.0), "gamma: -1.0"),
        (_wire(spec, t="RKMEVideoSpecification"), "not known"),
    ]
    for data, fragment in cases:
        with pytest.raises(SpecError) as e:
            spec_from_bytes(data)
        assert fragment in str(e.value), (fragment, str(e.value))
    with pytest.raises(SpecError, match="is not 'RKMETableSpecification'"):
        RKMETableSpecification.from_bytes(_wire(spec, t="Other"))


def test_decompression_is_capped(spec):
    with pytest.raises(SpecError, match="larger than 100 bytes"):
        spec_from_bytes(spec.to_bytes(), max_size=100)
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (65 * 1024 * 1024))  # ~2 KB on the wire
    assert len(bomb) < 10_000
    with pytest.raises(SpecError, match="larger than"):
        spec_from_bytes(bomb)
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()  # no declared size
    sneaky = stream.compress(b"\0" * (65 * 1024 * 1024)) + stream.flush()
    with pytest.raises(SpecError, match="larger than"):
        spec_from_bytes(sneaky)
