"""RKMEImageSpecification: generation on digit images, JSON and wire round trips, refusal of other
embedders and of reference image specs, torch-free loading, and that class subsets are told apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import specs
from specs import SpecError, generate_stat_spec, load_spec, spec_from_bytes
from specs.image import RKMEImageSpecification

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target  # (1797, 8, 8) in 0..16


@pytest.fixture(scope="module")
def low(digits):
    X, y = digits
    return generate_stat_spec("image", X=X[y < 5], K=30, seed=0)


def test_generation_records_embedder_shape_and_range(digits, low):
    X, y = digits
    assert isinstance(low, RKMEImageSpecification) and low.kind == "image"
    assert low.z.shape == (30, 128) and low.dim == 128 and low.num_points == int((y < 5).sum())
    assert low.embedder.startswith("lwdock-randconv-v1:") and len(low.embedder) == len("lwdock-randconv-v1:") + 16
    assert low.meta == {"shape": [8, 8], "range": [0.0, 16.0], "integer": False}
    assert abs(low.beta.sum() - 1) < 1e-12 and low.dist(low) == pytest.approx(0, abs=1e-12)
    # Same images with an explicit channel axis, scaled to 0-255: the same features (per-image
    # standardisation), so the same spec up to float rounding.
    again = generate_stat_spec("RKMEImageSpecification", X=(X[y < 5] * 15)[:, None].astype(np.uint8), K=30)
    assert again.meta["shape"] == [1, 8, 8] and again.meta["integer"]
    assert low.dist(again) < 1e-3 * low.inner_prod(low)
    # RGB of another size works (channels first) and maps to the same feature space.
    rgb = np.random.default_rng(0).random((60, 3, 12, 10))  # >= 50: the default private spec's minimum
    assert generate_stat_spec("image", X=rgb, K=5).dim == 128


def test_deterministic(digits, low):
    X, y = digits
    again = generate_stat_spec("image", X=X[y < 5], K=30, seed=0)
    np.testing.assert_allclose(again.z, low.z, atol=1e-9)
    assert again.embedder == low.embedder and again.gamma == low.gamma


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((5, 64)), r"shape \(5, 64\) is not allowed"),
        (np.zeros((5, 2, 8, 8)), "2 channels is not allowed"),
        (np.zeros((0, 8, 8)), "no images"),
        (np.full((3, 8, 8), np.nan), "NaN or infinity"),
        (np.array([["a"] * 4] * 2), "must be numbers"),
    ],
)
def test_bad_images_are_refused(X, message):
    with pytest.raises(SpecError, match=message):
        generate_stat_spec("image", X=X)


def test_class_subsets_are_far_and_random_halves_close(digits, low):
    X, y = digits
    high = generate_stat_spec("image", X=X[y >= 5], K=30)
    perm = np.random.default_rng(0).permutation(len(X))
    h1 = generate_stat_spec("image", X=X[perm[:900]], K=30)
    h2 = generate_stat_spec("image", X=X[perm[900:]], K=30)
    zero = generate_stat_spec("image", X=X[y == 0], K=30)
    one = generate_stat_spec("image", X=X[y == 1], K=30)

    def score(a, b):  # the dock's score: share of a's embedding that b explains
        return max(0.0, 1 - a.dist(b) / a.inner_prod(a))

    assert score(h1, h2) > 0.98
    assert score(low, high) < score(h1, h2) - 0.05
    assert score(zero, one) < 0.2


def test_json_round_trip(tmp_path, low):
    path = tmp_path / "stat.json"
    low.save(path)
    d = json.loads(path.read_text())
    assert d["type"] == "RKMEImageSpecification" and d["lwdock"]["embedder"] == low.embedder
    back = load_spec(str(path))
    assert isinstance(back, RKMEImageSpecification)
    np.testing.assert_array_equal(back.z, low.z)
    np.testing.assert_allclose(back.beta, low.beta, rtol=1e-12)  # renormalised on load: last bit may move
    assert (back.gamma, back.embedder, back.meta, back.num_points) == (low.gamma, low.embedder, low.meta,
                                                                        low.num_points)
    assert RKMEImageSpecification.load(path).dist(low) == pytest.approx(0, abs=1e-12)


def test_wire_round_trip(low):
    data = low.to_bytes()
    back = spec_from_bytes(data)
    assert isinstance(back, RKMEImageSpecification)
    assert (back.embedder, back.meta, back.gamma) == (low.embedder, low.meta, low.gamma)
    np.testing.assert_allclose(back.z, low.z, rtol=1e-6, atol=1e-6)
    assert back.dist(low) < 1e-6 * low.inner_prod(low)
    assert len(data) < 30 * 128 * 4 + 1000  # float32 points plus a small envelope


def test_other_embedder_or_kind_is_never_compared(low, digits):
    d = low.to_json_dict()
    d["lwdock"]["embedder"] = "lwdock-randconv-v2:0000000000000000"
    other = load_spec(d)
    with pytest.raises(SpecError, match="different embedders"):
        low.dist(other)
    with pytest.raises(SpecError, match="different embedders"):
        other.inner_prod(low)
    table = generate_stat_spec("table", X=digits[0][:200].reshape(200, -1), K=5)
    for a, b in ((low, table), (table, low)):
        with pytest.raises(SpecError, match="cannot compare"):
            a.dist(b)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("lwdock"), "reference \\(Beimingwu\\) image spec"),
        (lambda d: d["lwdock"].pop("embedder"), "no lwdock.embedder"),
        (lambda d: d["lwdock"].update(embedder=""), "embedder: '' is not allowed"),
        (lambda d: d["lwdock"]["input"].update(shape=[2, 8, 8]), "2 channels is not allowed"),
        (lambda d: d["lwdock"]["input"].update(range=[3, 1]), "input.range"),
        (lambda d: d.update(z=np.zeros((30, 5)).tolist()), None),  # dimension is free; compat_key has it
    ],
)
def test_bad_json_is_refused(low, edit, message):
    d = json.loads(json.dumps(low.to_json_dict()))
    edit(d)
    if message is None:
        assert load_spec(d).dim == 5
        return
    with pytest.raises(SpecError, match=message):
        load_spec(d)


def test_wire_without_embedder_is_refused(low):
    from specs.wire import pack_spec, unpack_spec

    w = unpack_spec(low.to_bytes())
    del w["e"]
    with pytest.raises(SpecError, match="embedder"):
        spec_from_bytes(pack_spec(w))


def test_probe_inputs_are_images_of_the_recorded_shape(low):
    imgs = low.probe_inputs(7, seed=0)
    assert imgs.shape == (7, 8, 8) and imgs.min() >= 0 and imgs.max() <= 16
    np.testing.assert_array_equal(imgs, low.probe_inputs(7, seed=0))


def test_loading_and_comparing_do_not_import_torch(tmp_path, low):
    path = tmp_path / "s.json"
    low.save(path)
    code = ("import json, sys, specs\n"
            f"s = specs.load_spec({str(path)!r}); b = specs.spec_from_bytes(s.to_bytes()); s.dist(b)\n"
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT)))
    assert "torch" not in loaded
    assert specs.known_spec_types()[:1] == ["RKMEImageSpecification"]


def test_embed_maps_raw_images_into_the_specs_space(digits, low):
    X, y = digits
    F = low.embed(X[y < 5][:50])
    assert F.shape == (50, 128)
    d = low.to_json_dict()
    d["lwdock"]["embedder"] = "lwdock-randconv-v0:ffffffffffffffff"
    with pytest.raises(SpecError, match="the installed one is"):
        load_spec(d).embed(X[:2])
