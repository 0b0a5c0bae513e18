"""A reference-made image spec (its points are K images, compared under the reference's NNGP kernel)
imports, stores, travels and ranks reference image learnwares; malformed ones are refused, saying why;
such specs are never compared with lwdock's conv-feature specs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dock.search.engine import SearchIndex, search
from dock.search.query import UserInfo
from specs import SpecError, load_spec, spec_from_bytes
from specs.image import RKMEImageSpecification
from specs.ref_image import REFERENCE_NNGP, is_reference_image
from tests.dock.test_search_stat import catalogue_with, lid


@pytest.fixture(scope="module")
def digit_images():
    """sklearn digits as the reference would hold them: 1x32x32 (each pixel repeated 4x4), standardised."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.kron(X.reshape(-1, 1, 8, 8), np.ones((1, 1, 4, 4)))
    return (images - images.mean()) / images.std(), y


def reference_image_spec_json(images: np.ndarray, classes, first: int = 0, per_class: int = 3,
                              labels=None) -> dict:
    """The reference's file layout (what its save() writes): K images as z, beta, its model_config; no
    gamma, no num_points, no lwdock key. The points are real images, beta uniform (the reference's
    reduce=False form: the RKME of the images themselves)."""
    z = np.concatenate([images[labels == c][first:first + per_class] for c in classes])
    return {"RKME_IMAGE_VERSION": 1, "msg": None, "z": z.astype(np.float32).tolist(),
            "beta": np.full(len(z), 1.0 / len(z)).tolist(), "n_models": 16,
            "model_config": {"k": 2, "mu": 0, "sigma": None, "net_width": 128, "net_depth": 3},
            "type": "RKMEImageSpecification"}


def test_reference_image_specs_load_and_rank_each_other(tmp_path, digit_images):
    images, y = digit_images
    path = tmp_path / "stat.json"
    path.write_text(json.dumps(reference_image_spec_json(images, range(5), labels=y)))
    spec_low = load_spec(str(path))
    assert isinstance(spec_low, RKMEImageSpecification) and is_reference_image(spec_low)
    assert spec_low.embedder == f"{REFERENCE_NNGP}:1x32x32:d3k3" and spec_low.dim == 1024
    spec_high = load_spec(reference_image_spec_json(images, range(5, 10), labels=y))
    query = load_spec(reference_image_spec_json(images, range(5), first=3, labels=y))  # other images, same digits
    assert query.dist(spec_low) < query.dist(spec_high) / 2
    cat = catalogue_with(tmp_path, [spec_high, spec_low])
    result = search(SearchIndex.from_catalogue(cat), cat, UserInfo(stat_info={query.type: query}), limit=5)
    assert result.info["kernel"] == "reference-nngp"
    assert [m.id for m in result.single] == [lid(1), lid(0)]
    assert result.single[0].score > 0.97 and result.single[1].score < result.single[0].score - 0.02
    assert result.single[0].mmd2 == pytest.approx(query.dist(spec_low), rel=1e-4)
    cat.close()
    # the spec travels: wire form and JSON keep its kernel, geometry and points
    again = spec_from_bytes(spec_low.to_bytes())
    assert again.embedder == spec_low.embedder and again.meta == spec_low.meta
    assert again.dist(query) == pytest.approx(spec_low.dist(query), rel=1e-4)
    assert RKMEImageSpecification.from_json_dict(spec_low.to_json_dict()).embedder == spec_low.embedder


def test_a_query_of_all_digits_is_explained_by_a_mixture_of_both_halves(tmp_path, digit_images):
    images, y = digit_images
    low = load_spec(reference_image_spec_json(images, range(5), labels=y))
    high = load_spec(reference_image_spec_json(images, range(5, 10), labels=y))
    query = load_spec(reference_image_spec_json(images, range(10), first=3, labels=y))
    cat = catalogue_with(tmp_path, [high, low])
    result = search(SearchIndex.from_catalogue(cat), cat, UserInfo(stat_info={query.type: query}), limit=5)
    cat.close()
    mix = result.multiple
    assert mix is not None and sorted(mix.ids) == [lid(0), lid(1)] and min(mix.weights) > 0.3
    assert mix.score > result.single[0].score and mix.mmd2 < 0.7 * result.single[0].mmd2
    # the mixture's MMD^2 is the reference kernel's MMD^2 to the weighted union of both specs
    weight = dict(zip(mix.ids, mix.weights, strict=True))
    union = RKMEImageSpecification(np.vstack([high.z, low.z]),
                                   np.concatenate([weight[lid(0)] * high.beta, weight[lid(1)] * low.beta]),
                                   1.0, embedder=low.embedder, meta=low.meta)
    assert mix.mmd2 == pytest.approx(query.dist(union), rel=1e-3)


def test_reference_specs_meet_only_reference_specs(digit_images):
    images, y = digit_images
    spec = load_spec(reference_image_spec_json(images, range(10), labels=y))
    conv = RKMEImageSpecification(spec.z, spec.beta, spec.gamma, embedder="lwdock-randconv-v1:0123456789abcdef",
                                  meta=spec.meta)
    with pytest.raises(SpecError, match="different embedders"):
        spec.dist(conv)
    with pytest.raises(SpecError, match="different embedders"):
        conv.dist(spec)
    assert spec.dist(spec) == pytest.approx(0.0, abs=1e-9)  # the honest path still works


def test_a_users_images_are_put_in_the_reference_space(digit_images):
    """embed(): the reference's preprocessing (resize to 32, standardise per channel, ZCA for colour)."""
    images, y = digit_images
    spec = load_spec(reference_image_spec_json(images, range(10), labels=y))
    from sklearn.datasets import load_digits

    raw = load_digits().images[:40, None]  # (40, 1, 8, 8): resized to 32x32 on the way
    points = spec.embed(raw)
    assert points.shape == (40, 1024)
    assert abs(points.mean()) < 1e-6 and points.std() == pytest.approx(1.0, rel=0.02)
    colour = np.random.default_rng(0).random((30, 3, 16, 16))
    rgb = RKMEImageSpecification(np.zeros((2, 3072)), [0.5, 0.5], 1.0, embedder=f"{REFERENCE_NNGP}:3x32x32:d3k3",
                                 meta={"shape": [3, 32, 32], "range": [0.0, 1.0]})
    assert rgb.embed(colour).shape == (30, 3072)
    with pytest.raises(SpecError, match=r"expected at least 2 images \(N, 1, height, width\)"):
        spec.embed(np.zeros((5, 3, 32, 32)))


def test_a_spec_claiming_the_reference_kernel_must_hold_its_images():
    """However it arrives (wire, peer), a spec naming the reference kernel is checked against it."""
    from specs.ref_image import embedder_id

    meta = {"shape": [1, 32, 32], "range": [0.0, 1.0]}
    with pytest.raises(SpecError, match="5 values per point, but embedder"):
        RKMEImageSpecification(np.zeros((2, 5)), [0.5, 0.5], 1.0, embedder=embedder_id(1, 32, 3, 3), meta=meta)
    with pytest.raises(SpecError, match="cannot be pooled"):
        RKMEImageSpecification(np.zeros((2, 1024)), [0.5, 0.5], 1.0, embedder="reference-nngp-v1:1x32x32:d6k3",
                               meta=meta)
    with pytest.raises(SpecError, match="not a reference image kernel id"):
        RKMEImageSpecification(np.zeros((2, 1024)), [0.5, 0.5], 1.0, embedder="reference-nngp-v1:32", meta=meta)
    ok = RKMEImageSpecification(np.zeros((2, 1024)), [0.5, 0.5], 1.0, embedder=embedder_id(1, 32, 3, 3), meta=meta)
    assert spec_from_bytes(ok.to_bytes()).dist(ok) == pytest.approx(0.0, abs=1e-9)


def test_a_fit_refuses_what_is_not_images():

    with pytest.raises(SpecError, match=r"X: shape \(10, 64\) is not allowed; expected images"):
        RKMEImageSpecification.fit_reference(np.zeros((10, 64)))
    with pytest.raises(SpecError, match="NaN or inf"):
        RKMEImageSpecification.fit_reference(np.full((4, 8, 8), np.nan))
    spec = RKMEImageSpecification.fit_reference(np.random.default_rng(0).random((12, 3, 8, 8)), K=3, sample_size=12)
    assert spec.embedder.endswith(":3x32x32:d3k3") and spec.z.shape == (3, 3072)  # and images do fit


@pytest.mark.parametrize("change, message", [
    ({"z": np.zeros((3, 5)).tolist()}, r"z has shape \(3, 5\), not K images"),
    ({"z": np.zeros((2, 5, 32, 32)).tolist()}, "not K images"),
    ({"z": np.zeros((2, 1, 28, 28)).tolist()}, "holds 28x28 images but the reference's kernel takes 32x32"),
    ({"z": np.zeros((2, 1, 32, 16)).tolist()}, "holds 32x16 images"),
    ({"model_config": {"net_depth": 6}}, "cannot be pooled 6 times"),
    ({"model_config": {"net_depth": "3"}}, "must be integers"),
    ({"model_config": [3]}, "model_config"),
    ({"RKME_IMAGE_VERSION": 2}, "RKME_IMAGE_VERSION: 2 is not a version"),
    ({"beta": None}, "beta is missing"),
    ({"beta": [0.9, 0.9]}, "must sum to 1"),
    ({"beta": [1.5, -0.5]}, "must be >= 0"),
    ({"z": [[[[float("nan")] * 32] * 32]] * 2}, "finite"),
    ({"type": "RKMETextSpecification"}, "not allowed here"),
    ({"z": np.zeros((129, 1, 32, 32)).tolist(), "beta": [1 / 129] * 129}, "129 points is not allowed"),
])
def test_malformed_reference_image_specs_are_refused(digit_images, change, message):
    images, y = digit_images
    good = reference_image_spec_json(images, [0], per_class=2, labels=y)
    assert is_reference_image(load_spec(good))  # the unchanged file loads
    bad = {**good, **change}
    with pytest.raises(SpecError, match=message):
        RKMEImageSpecification.from_json_dict(bad)


def test_a_reference_image_learnware_is_stored_and_found(tmp_path, digit_images):
    """The case issue 15 names: a Beimingwu image learnware (a reference-made spec) imports and ranks."""
    from sklearn.datasets import load_digits

    from dock import Dock

    images, y = digit_images
    with Dock.open(tmp_path / "home") as dock:
        ids = _submit_beimingwu_learnwares(dock, tmp_path, images, y)
        stored = dock.get_stat_specs(ids["low"])["RKMEImageSpecification"]
        assert is_reference_image(stored)
        query = load_spec(reference_image_spec_json(images, range(5), first=3, labels=y))
        found = dock.search(UserInfo(stat_info={query.type: query}))
        assert [m.id for m in found.single] == [ids["low"], ids["high"]]
        # a user's own images (not a reference-made file): fitted in the reference's space, same ranking
        mine = RKMEImageSpecification.fit_reference(np.kron(load_digits().images[y >= 5][:150], np.ones((4, 4))), K=10,
                                        sample_size=150)
        found = dock.search(UserInfo(stat_info={mine.type: mine}))
        assert [m.id for m in found.single] == [ids["high"], ids["low"]]
        with dock.load(ids["low"]) as lw:
            assert lw.predict(images[:4]).shape == (4,)


def test_search_stat_with_reference_image_finds_beimingwu_learnwares_from_the_users_images(tmp_path, digit_images):
    """`lwdock search --stat IMAGES.npy --reference-image`: the user's own images become a query in the
    reference's space, so reference image learnwares rank by the reference's kernel; a spec or a table
    given with the flag is refused, saying what to give, and the honest call still works after."""
    from sklearn.datasets import load_digits

    from dock import Dock
    from tests.helpers import run_cli

    images, y = digit_images
    with Dock.open(tmp_path / "home") as dock:
        ids = _submit_beimingwu_learnwares(dock, tmp_path, images, y)
    mine = tmp_path / "mine.npy"
    np.save(mine, np.kron(load_digits().images[y >= 5][:120], np.ones((4, 4))))
    spec_file = tmp_path / "stat.json"
    spec_file.write_text(json.dumps(reference_image_spec_json(images, range(5), labels=y)))
    refused = run_cli(tmp_path / "home", "search", "--stat", str(spec_file), "--reference-image", "--json",
                      check=False)
    assert refused.returncode != 0 and "not an images file" in refused.stderr
    found = json.loads(run_cli(tmp_path / "home", "search", "--stat", str(mine), "--reference-image",
                               "--json").stdout)
    assert [m["id"] for m in found["single"]] == [ids["high"], ids["low"]]


def _submit_beimingwu_learnwares(dock, tmp_path, images, y) -> dict[str, str]:
    """Two Beimingwu image learnwares in `dock`, their specs made the reference's way: "low" on
    digits 0-4, "high" on 5-9; name -> id."""
    from tests.dock.fixtures import model_source, package_files, semantic, write_zip

    sem = semantic(name="reference image learnware", out_dim=2)
    sem["Data"]["Values"] = ["Image"]
    del sem["Input"]
    source = model_source("return (np.asarray(X).reshape(len(X), -1).mean(axis=1) > 0).astype(int)",
                          output_shape=(1,))
    ids = {}
    for name, classes in (("low", range(5)), ("high", range(5, 10))):
        files = package_files(source, images[:10], sem, {"input_shape": [1, 32, 32], "output_shape": [1]},
                              spec=reference_image_spec_json(images, classes, labels=y))
        files["learnware.yaml"] = files["learnware.yaml"].replace(b"RKMETableSpecification",
                                                                  b"RKMEImageSpecification")
        ids[name] = dock.submit(write_zip(tmp_path / f"ref_image_{name}.zip", files))
    return ids
