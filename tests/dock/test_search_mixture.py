"""Mixtures: weights recovered on constructed mixtures, the reporting margin, the selection."""

from __future__ import annotations

import numpy as np
import pytest

from dock.search.engine import SearchIndex, search
from dock.search.mixture import best_mixture
from dock.search.query import UserInfo
from dock.search.scores import MIXTURE_MIN_SCORE_GAIN, mixture_is_worth_it
from specs import RKMETableSpecification

from .test_search_stat import catalogue_with, lid, semantic_for

GAMMA = 0.5


def _market(rng, n=8, k=6, d=3):
    """n learnwares around well separated centres (kernel overlap between them ~ 0)."""
    return [RKMETableSpecification(rng.normal(size=(k, d)) * 0.5 + 8.0 * i, rng.dirichlet(np.ones(k)), GAMMA)
            for i in range(n)]


def _mix(specs, weights):
    z = np.concatenate([s.z for s in specs])
    beta = np.concatenate([w * s.beta for s, w in zip(specs, weights, strict=True)])
    return RKMETableSpecification(z, beta, GAMMA)


def _search(cat, query, semantic=None):
    return search(SearchIndex.from_catalogue(cat), cat, UserInfo(semantic_spec=semantic,
                  stat_info={query.type: query}), limit=5)


def test_two_learnware_mixture_is_recovered_with_its_weights(tmp_path):
    specs = _market(np.random.default_rng(0))
    cat = catalogue_with(tmp_path, specs)
    result = _search(cat, _mix([specs[2], specs[5]], [0.3, 0.7]))
    assert result.single[0].id == lid(5)  # the larger part is the best single learnware
    mixture = result.multiple
    assert mixture is not None and mixture.ids == [lid(5), lid(2)]
    assert mixture.weights == pytest.approx([0.7, 0.3], abs=1e-3)
    # float32 kernel sums (terms up to 1) leave ~1e-7 per sum, more over many points, on other CPUs/BLAS;
    # 1e-5 still tells the recovered mixture (0 here) from any wrong one (far above 1e-3).
    assert mixture.mmd2 == pytest.approx(0.0, abs=1e-5) and mixture.score == pytest.approx(1.0, abs=1e-4)
    assert mixture.score > result.single[0].score + MIXTURE_MIN_SCORE_GAIN
    assert [s["Name"]["Values"] for s in mixture.semantic_specs] == ["m5", "m2"]
    cat.close()


def test_three_learnware_mixture(tmp_path):
    specs = _market(np.random.default_rng(1))
    cat = catalogue_with(tmp_path, specs)
    mixture = _search(cat, _mix([specs[1], specs[4], specs[6]], [0.5, 0.3, 0.2])).multiple
    assert mixture.ids == [lid(1), lid(4), lid(6)]
    assert mixture.weights == pytest.approx([0.5, 0.3, 0.2], abs=1e-3)
    cat.close()


def test_no_mixture_when_one_learnware_explains_the_user(tmp_path):
    specs = _market(np.random.default_rng(2))
    cat = catalogue_with(tmp_path, specs)
    assert _search(cat, specs[3]).multiple is None
    # 3% of another source: a mixture fits better, but by less than the reporting margin.
    result = _search(cat, _mix([specs[3], specs[0]], [0.97, 0.03]))
    assert result.single[0].id == lid(3) and result.multiple is None
    cat.close()


def test_mixture_respects_semantic_filters(tmp_path):
    specs = _market(np.random.default_rng(3))
    semantics = [semantic_for(name=f"m{i}", task="Regression" if i == 2 else "Classification") for i in range(8)]
    cat = catalogue_with(tmp_path, specs, semantics)
    result = _search(cat, _mix([specs[2], specs[5]], [0.5, 0.5]), semantic={"Task": {"Values": ["Classification"]}})
    assert lid(2) not in [m.id for m in result.single]
    assert result.multiple is None or lid(2) not in result.multiple.ids
    cat.close()


def test_best_mixture_on_explicit_vectors_matches_brute_force():
    # Embeddings as plain vectors: G = V V', c = V q. The user is 0.6 v1 + 0.4 v3 plus noise.
    rng = np.random.default_rng(4)
    V = rng.normal(size=(10, 30))
    q = 0.6 * V[1] + 0.4 * V[3] + rng.normal(size=30) * 0.01
    order = np.argsort(((V - q) ** 2).sum(1))  # candidates ordered best single first
    V = V[order]
    G, c, self_q = V @ V.T, V @ q, float(q @ q)
    idx, weights, value = best_mixture(G, c, self_q)
    chosen = sorted(order[i] for i in idx)
    assert chosen == [1, 3]
    w = dict(zip((order[i] for i in idx), weights, strict=True))
    assert w[1] == pytest.approx(0.6, abs=0.01) and w[3] == pytest.approx(0.4, abs=0.01)
    residual = q - sum(wt * V[i] for i, wt in zip(idx, weights, strict=True))
    assert value == pytest.approx(float(residual @ residual), rel=1e-6)


def test_margin_rule():
    assert mixture_is_worth_it(0.05, 0.2, 1.0)
    assert not mixture_is_worth_it(0.19, 0.2, 1.0)  # < 10% better: a near tie
    # the best single leaves 0.06 unexplained: a mixture must gain a quarter of it (0.015)
    assert not mixture_is_worth_it(0.05, 0.06, 1.0) and mixture_is_worth_it(0.04, 0.06, 1.0)
    # it leaves 0.01 (score 0.99): 90% of that is worth reporting, 15% (0.0015) is under the floor
    assert mixture_is_worth_it(0.001, 0.01, 1.0)
    assert not mixture_is_worth_it(0.0085, 0.01, 1.0)
