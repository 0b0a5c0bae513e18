"""lwdock's reading of the reference's image kernel against the reference's own numbers.

tests/compat/data/reference_image_spec.json.gz was made ONCE by the real reference (learnware 0.3.2,
torch CPU) with tests/compat/data/make_reference_image_fixture.py: a spec its
RKMEImageSpecification.generate_stat_spec_from_data made and saved (K=2, digits 0-4), and the inner
products / MMDs the reference computes between that spec and three specs of digit images the script
and `reference_digit_specs` below build the same way: as the reference runs (float32) and with its
kernel module cast to float64."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from specs import SpecError, load_spec
from specs.ref_image import is_reference_image
from specs.ref_image_kernel import nngp_kernel

FIXTURE = Path(__file__).parent / "data" / "reference_image_spec.json.gz"


@pytest.fixture(scope="module")
def reference():
    with gzip.open(FIXTURE, "rt") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def specs(reference):
    """The reference-made spec and the fixture script's digit specs, loaded by lwdock."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    imgs = np.kron(X.reshape(-1, 1, 8, 8), np.ones((1, 1, 4, 4)))
    imgs = (imgs - imgs.mean()) / imgs.std()
    out = {"made": load_spec(reference["spec"])}
    for name, classes, first in (("low", range(5), 0), ("high", range(5, 10), 0), ("query", range(5), 3)):
        z = np.concatenate([imgs[y == c][first:first + 3] for c in classes]).astype(np.float32)
        out[name] = load_spec({"type": "RKMEImageSpecification", "z": z.tolist(),
                               "beta": np.full(len(z), 1.0 / len(z)).tolist()})
    return out


def test_a_file_the_reference_saved_loads_as_a_reference_image_spec(reference, specs):
    made = specs["made"]
    assert set(reference["spec"]) >= {"RKME_IMAGE_VERSION", "z", "beta", "model_config", "type"}
    assert is_reference_image(made) and made.z.shape == (2, 1024) and made.meta["shape"] == [1, 32, 32]
    np.testing.assert_allclose(made.beta, reference["spec"]["beta"], rtol=1e-6)


def test_inner_products_match_the_reference(reference, specs):
    numbers = reference["numbers"]
    for a in specs:
        for b in specs:
            ours = specs[a].inner_prod(specs[b])
            # the reference's kernel in float64 differs from ours only by its float32-rounded constants
            assert ours == pytest.approx(numbers[f"inner64.{a}.{b}"], rel=1e-6), (a, b)
            assert ours == pytest.approx(numbers[f"inner.{a}.{b}"], rel=1e-5), (a, b)  # as the reference runs


def test_mmd_and_ranking_match_the_reference(reference, specs):
    numbers = reference["numbers"]
    query = specs["query"]
    ours = {name: query.dist(spec) for name, spec in specs.items()}
    for name, value in ours.items():
        assert value == pytest.approx(numbers[f"dist.query.{name}"], abs=2e-6), name
    reference_order = sorted(ours, key=lambda n: numbers[f"dist.query.{n}"])
    assert sorted(ours, key=ours.get) == reference_order == ["query", "low", "high", "made"]


def test_the_kernel_refuses_what_the_reference_cannot_compare():
    with pytest.raises(ValueError, match="square images"):
        nngp_kernel(np.zeros((1, 1, 32, 16)))
    with pytest.raises(ValueError, match="cannot be pooled 3 times"):
        nngp_kernel(np.zeros((1, 1, 12, 12)))
    with pytest.raises(ValueError, match="image shapes differ"):
        nngp_kernel(np.zeros((1, 1, 32, 32)), np.zeros((1, 3, 32, 32)))
    K = nngp_kernel(np.ones((2, 1, 32, 32)))  # and what it can, it does: symmetric, positive
    assert K.shape == (2, 2) and np.allclose(K, K.T) and (K > 0).all()
    with pytest.raises(SpecError, match="not a reference image kernel id"):
        from specs.ref_image import geometry

        geometry("reference-nngp-v1:1x32")


def test_a_reference_script_loads_the_file_and_gets_the_reference_numbers(tmp_path, reference, specs):
    """`spec = RKMEImageSpecification(); spec.load(path)` with only the import prefix changed."""
    from dock.compat.learnware.specification import RKMEImageSpecification

    path = tmp_path / "made.json"
    path.write_text(json.dumps(reference["spec"]))
    spec = RKMEImageSpecification()
    spec.load(str(path))
    assert spec.get_z().shape == (2, 1, 32, 32)  # images, as the reference's get_z returns
    numbers = reference["numbers"]
    assert specs["query"].dist(spec) == pytest.approx(numbers["dist.query.made"], abs=2e-6)
    assert spec.inner_prod(spec) == pytest.approx(numbers["inner.made.made"], rel=1e-5)
    assert spec.dist(spec, omit_term1=True) == pytest.approx(-numbers["inner.made.made"], rel=1e-5)
    # saved again, the file keeps the reference's layout and numbers
    spec.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert np.asarray(again["z"]).shape == (2, 1, 32, 32) and "lwdock" not in again
    assert load_spec(str(tmp_path / "again.json")).dist(spec) == pytest.approx(0.0, abs=1e-9)


def _plain_nngp(x, y, depth=3, kernel_size=3):
    """The module docstring's recipe for ONE pair, written the slow obvious way (conv2d with a ones
    kernel, explicit pools), to hold the batched kernel's shortcuts to it."""
    import math

    import torch
    import torch.nn.functional as F

    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    maps = torch.stack([(x * y).mean(0), (x * x).mean(0), (y * y).mean(0)])[:, None]  # xy, xx, yy
    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    for _ in range(depth):
        maps = F.conv2d(maps, ones, padding=kernel_size // 2) * math.sqrt(2.0) / kernel_size**2 + 0.1
        xy, xx, yy = maps[0], maps[1], maps[2]
        v = xx * yy
        theta = torch.acos((xy / v.sqrt()).clamp(-1.0, 1.0))
        xy = ((v - xy * xy).clamp(min=0.0).sqrt() + (math.pi - theta) * xy) / (2.0 * math.pi)
        maps = F.avg_pool2d(torch.stack([xy, xx / 2.0, yy / 2.0]), 2)
    return float(maps[0].mean())


def test_the_batched_kernel_is_the_plain_recipe_in_every_block(monkeypatch):
    """Blocks of pairs, symmetric self blocks, per-image variance maps, fused pool+conv, one torch
    thread: the same numbers as the plain per-pair recipe, whatever the block size, and the caller's
    torch thread count is left as it was."""
    import torch

    import specs.ref_image_kernel as kernel

    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 3, 32, 32))
    Y = rng.standard_normal((4, 3, 32, 32)) + 0.5
    threads = torch.get_num_threads()
    monkeypatch.setattr(kernel, "PAIR_BLOCK_PIXELS", 2 * 9 * 32 * 32)  # 2 rows a block: 5 blocks
    blocked = nngp_kernel(X)
    monkeypatch.undo()
    whole = nngp_kernel(X)  # one block
    cross = nngp_kernel(X, Y)
    assert torch.get_num_threads() == threads
    np.testing.assert_allclose(blocked, whole, rtol=1e-12)
    np.testing.assert_array_equal(blocked, blocked.T)
    # not the self path: its diagonal goes through acos(~1) (error ~ sqrt(eps)) where the self path is exact
    np.testing.assert_allclose(nngp_kernel(X, X.copy()), whole, rtol=1e-7)
    for i, j in ((0, 0), (0, 8), (7, 2), (8, 8)):  # the plain recipe's own diagonal has acos(~1) too
        assert whole[i, j] == pytest.approx(_plain_nngp(X[i], X[j]), rel=1e-12 if i != j else 1e-7), (i, j)
    for i, j in ((0, 0), (8, 3), (4, 1)):
        assert cross[i, j] == pytest.approx(_plain_nngp(X[i], Y[j]), rel=1e-12), (i, j)
    assert not np.allclose(cross[:4], whole[:4, :4], rtol=1e-3)  # different sets, different numbers
