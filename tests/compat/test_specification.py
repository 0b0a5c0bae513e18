"""dock.compat.learnware.specification: the reference's keywords, empty construction + in-place load,
accessors, and what is refused; the hetero market says it is not there yet."""

from __future__ import annotations

import numpy as np
import pytest

from dock.compat.learnware.specification import (
    RKMETableSpecification,
    generate_rkme_table_spec,
    generate_semantic_spec,
    generate_stat_spec,
)
from specs import SpecError
from specs.table import RKMETableSpecification as NativeTable


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(300, 5))


def test_the_reference_keywords_and_defaults(X, tmp_path):
    spec = generate_stat_spec(type="table", X=X, reduced_set_size=50, steps=2, step_size=0.05, reduce=True,
                              cuda_idx=-1)
    # Private by default (unlike the reference): at most ceil(sqrt(300)) = 18 points, not 50.
    assert isinstance(spec, NativeTable) and spec.gamma == 0.1 and spec.get_z().shape == (18, 5)
    assert spec.get_beta().sum() == pytest.approx(1.0) and spec.num_points == 300
    plain = generate_stat_spec(type="table", X=X, reduced_set_size=50, privacy="none")
    assert plain.get_z().shape == (50, 5)  # the reference's plain fit, asked for by name
    assert generate_rkme_table_spec(X[:30], reduce=False).get_z().shape == (30, 5)  # the rows themselves
    with pytest.raises(SpecError, match="too few for a private spec"):
        generate_rkme_table_spec(X[:30])  # 30 rows: never a silent copy of them
    assert generate_rkme_table_spec(X[:30], privacy="none").get_z().shape[0] == 20  # the reference's cap: 2/3
    spec = plain
    with pytest.raises(SpecError, match="nonnegative_beta=False"):
        generate_rkme_table_spec(X, nonnegative_beta=False)
    with pytest.raises(TypeError, match="not supported"):
        generate_stat_spec(type="video", X=X)
    spec.save(tmp_path / "stat.json")
    empty = RKMETableSpecification()
    with pytest.raises(SpecError, match="empty"):
        empty.get_z()
    assert empty.load(tmp_path / "stat.json") is True and empty.get_z().shape == (50, 5)
    assert RKMETableSpecification.load(tmp_path / "stat.json").dim == 5  # lwdock's classmethod use
    assert sorted(empty.get_states()) == ["beta", "gamma", "num_points", "type", "z"]
    assert empty.herding(7).shape == (7, 5)
    assert empty.dist(spec) == pytest.approx(0.0, abs=1e-9)


def test_dist_uses_one_kernel_whatever_the_other_gamma(X):
    a = generate_rkme_table_spec(X[:150], gamma=0.1, reduced_set_size=20)
    b = generate_rkme_table_spec(X[150:], gamma=0.5, reduced_set_size=20)
    native = NativeTable(b.z, b.beta, 0.1)  # b's points under a's kernel
    assert a.dist(b) == pytest.approx(a.dist(native))
    assert a.dist(b, omit_term1=True) == pytest.approx(a.dist(b) - a.inner_prod(a))


def test_generate_semantic_spec_builds_the_reference_dict():
    spec = generate_semantic_spec(name="n", scenarios="Education", license="MIT", data_type="Table")
    assert spec["Scenario"] == {"Type": "Tag", "Values": ["Education"]}
    assert spec["Task"] == {"Type": "Class", "Values": []} and spec["Description"] == {"Type": "String", "Values": ""}
    assert "Input" not in spec


def test_market_names_hetero_and_easy_unknown_refused(tmp_path, monkeypatch):
    from dock.compat.learnware.market import HeteroSearcher, instantiate_learnware_market

    monkeypatch.setenv("LWDOCK_HOME", str(tmp_path))
    from dock.compat.learnware.config import C

    C.reset()
    with pytest.raises(ValueError, match="name nope is not supported"):
        instantiate_learnware_market(market_id="h", name="nope")
    hetero = instantiate_learnware_market(market_id="h", name="hetero", rebuild=True,
                                          organizer_kwargs={"auto_update": True})
    assert len(hetero) == 0 and isinstance(hetero.learnware_searcher, HeteroSearcher)
    market = instantiate_learnware_market(market_id="e", name="easy", rebuild=True)
    assert len(market) == 0 and market.get_learnware_ids() == []
    assert str(market.dock.home.root).startswith(str(tmp_path))
    C.reset()


def test_generate_rkme_image_spec_is_private_by_default():
    """lwdock's image spec through the reference's name: private like the native one (specs/image.py),
    under 50 images refused unless allow_small, privacy="none" the plain fit."""
    pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    from dock.compat.learnware.specification import generate_rkme_image_spec
    from specs.errors import SmallTableError

    images = load_digits().images
    spec = generate_rkme_image_spec(images[:200], reduced_set_size=50)
    assert spec.privacy["method"] == "private" and spec.z.shape[0] <= 15
    with pytest.raises(SmallTableError, match="30 images are too few"):
        generate_rkme_image_spec(images[:30])
    assert generate_rkme_image_spec(images[:30], allow_small=True).privacy["small"] == 1
    plain = generate_rkme_image_spec(images[:200], reduced_set_size=50, privacy="none")
    assert plain.privacy is None and plain.z.shape[0] == 50
