"""A reference-made image spec (its points are K images) is read in pixel space: reference queries rank
reference image learnwares, and such specs are never compared with lwdock's conv-feature specs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dock.search.engine import SearchIndex, search
from dock.search.query import UserInfo
from specs import SpecError, load_spec, spec_from_bytes
from specs.image import REFERENCE_PIXELS, RKMEImageSpecification
from tests.dock.test_search_stat import catalogue_with, lid


@pytest.fixture(scope="module")
def digit_images():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.kron(X.reshape(-1, 1, 8, 8), np.ones((1, 1, 2, 2)))  # (N, 1, 16, 16), as a resize would
    return images, y


def reference_image_spec_json(images: np.ndarray, K: int = 20, seed: int = 0) -> dict:
    """The reference's file layout: z = K images (K, C, H, W), beta, num_points, type; no gamma, no lwdock key.
    (Points picked by k-means in pixel space: our own stand-in for its image-space optimisation.)"""
    from sklearn.cluster import KMeans

    flat = images.reshape(len(images), -1)
    centres = KMeans(n_clusters=K, n_init=3, random_state=seed).fit(flat).cluster_centers_
    return {"type": "RKMEImageSpecification", "z": centres.reshape(K, *images.shape[1:]).tolist(),
            "beta": np.full(K, 1.0 / K).tolist(), "num_points": len(images), "n_models": 16}


def test_reference_image_specs_load_and_rank_each_other(tmp_path, digit_images):
    images, y = digit_images
    low, high = images[y <= 4], images[y >= 5]
    path = tmp_path / "stat.json"
    path.write_text(json.dumps(reference_image_spec_json(low[::2])))
    spec_low = load_spec(str(path))
    assert isinstance(spec_low, RKMEImageSpecification)
    assert spec_low.embedder == f"{REFERENCE_PIXELS}:1x16x16" and spec_low.dim == 256
    assert spec_low.meta["shape"] == [1, 16, 16]
    spec_high = load_spec(reference_image_spec_json(high[::2]))
    query = load_spec(reference_image_spec_json(low[1::2], seed=1))  # other images of the same digits
    cat = catalogue_with(tmp_path, [spec_high, spec_low])
    result = search(SearchIndex.from_catalogue(cat), cat, UserInfo(stat_info={query.type: query}), limit=5)
    assert result.single[0].id == lid(1) and result.single[0].score > 0.5
    assert result.single[1].score < result.single[0].score - 0.2
    cat.close()
    # the spec travels: wire form and JSON keep its feature space and input shape
    again = spec_from_bytes(spec_low.to_bytes())
    assert again.embedder == spec_low.embedder and again.meta == spec_low.meta
    assert RKMEImageSpecification.from_json_dict(spec_low.to_json_dict()).embedder == spec_low.embedder


def test_pixel_space_specs_meet_only_pixel_space_specs(digit_images):
    images, y = digit_images
    spec = load_spec(reference_image_spec_json(images[:300]))
    conv = RKMEImageSpecification(spec.z, spec.beta, spec.gamma, embedder="lwdock-randconv-v1:0123456789abcdef",
                                  meta=spec.meta)
    with pytest.raises(SpecError, match="different embedders"):
        spec.dist(conv)
    assert spec.embed(images[:5]).shape == (5, 256)  # the user's images of the recorded shape, flattened
    with pytest.raises(SpecError, match="resize them"):
        spec.embed(np.zeros((2, 1, 8, 8)))


def test_a_reference_file_whose_points_are_not_images_is_refused():
    bad = {"type": "RKMEImageSpecification", "z": np.zeros((3, 5)).tolist(), "beta": [1 / 3] * 3}
    with pytest.raises(SpecError, match=r"z has shape \(3, 5\)"):
        load_spec(bad)
    five_channels = {"type": "RKMEImageSpecification", "z": np.zeros((2, 5, 4, 4)).tolist(), "beta": [0.5, 0.5]}
    with pytest.raises(SpecError, match="not K images"):
        load_spec(five_channels)


def test_a_reference_image_learnware_is_stored_and_found(tmp_path, digit_images):
    """The case issue 15 names: a Beimingwu image learnware (a reference-made spec) imports and ranks."""
    from dock import Dock
    from tests.dock.fixtures import model_source, package_files, semantic, write_zip

    images, y = digit_images
    sem = semantic(name="reference image learnware", out_dim=2)
    sem["Data"]["Values"] = ["Image"]
    del sem["Input"]
    source = model_source("return (np.asarray(X).reshape(len(X), -1).mean(axis=1) > 4).astype(int)",
                          output_shape=(1,))
    files = package_files(source, images[:10], sem, {"input_shape": [1, 16, 16], "output_shape": [1]},
                          spec=reference_image_spec_json(images[y <= 4][::2]))
    files["learnware.yaml"] = files["learnware.yaml"].replace(b"RKMETableSpecification", b"RKMEImageSpecification")
    zip_path = write_zip(tmp_path / "ref_image.zip", files)
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(zip_path)
        stored = dock.get_stat_specs(learnware_id)["RKMEImageSpecification"]
        assert stored.embedder.startswith(REFERENCE_PIXELS)
        query = load_spec(reference_image_spec_json(images[y <= 4][1::2], seed=1))
        found = dock.search(UserInfo(stat_info={query.type: query}))
        assert found.single[0].id == learnware_id and found.single[0].score > 0.5
        with dock.load(learnware_id) as lw:
            assert lw.predict(images[:4]).shape == (4,)
