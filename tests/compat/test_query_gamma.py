"""Reference-made specs as queries (issue 15 item 3): a table spec fitted with the reference's gamma 0.1
ranks the digits learnwares like an lwdock-made spec, and a mixture is reported only when its clipped
score beats the best single's."""

from __future__ import annotations

import numpy as np
import pytest

from dock.search.engine import SearchIndex, search
from dock.search.query import QUERY_FLAT_LIMIT, QUERY_SHARP_LIMIT, UserInfo, query_gamma, rescaled_query_spec
from dock.search.scores import mixture_is_worth_it
from specs import RKMETableSpecification
from tests.dock.test_search_stat import catalogue_with, lid

REFERENCE_GAMMA = 0.1
WINDOWS = (0, 2, 4, 6, 8)  # learnware i knows the six digits lo..lo+5 (mod 10), as in the seed's market


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def _window(lo):
    return {(lo + k) % 10 for k in range(6)}


def _reference_spec(X, gamma=REFERENCE_GAMMA):
    """What the reference's generate_stat_spec(type="table", X=X) makes: 100 points, gamma fixed."""
    return RKMETableSpecification.fit(X, K=100, gamma=gamma)


@pytest.fixture(scope="module")
def reference_market(digits):
    X, y = digits
    return [_reference_spec(X[np.isin(y, sorted(_window(lo)))]) for lo in WINDOWS]


def _search(cat, query):
    return search(SearchIndex.from_catalogue(cat), cat, UserInfo(stat_info={query.type: query}), limit=5)


def test_reference_gamma_query_finds_the_right_learnware_first(tmp_path, digits, reference_market):
    X, y = digits
    user = X[y <= 4]  # digits 0-4: only the 0-5 learnware knows them all
    reference_query = _reference_spec(user)
    assert query_gamma(reference_query)[1] is not None  # the stored 0.1 is degenerate on digits
    cat = catalogue_with(tmp_path, reference_market)
    result = _search(cat, reference_query)
    assert result.single[0].id == lid(0) and result.single[0].score > 0.5
    assert result.info["gamma"] != pytest.approx(REFERENCE_GAMMA)
    # the same ranking as an lwdock-made spec of the same rows, under its own median-heuristic gamma
    # (the runners-up 8-3 and 2-7 are within 0.02 of each other: their order is noise, not a rule)
    native = _search(cat, RKMETableSpecification.fit(user))
    assert native.single[0].id == result.single[0].id
    native_scores = {m.id: m.score for m in native.single}
    assert all(abs(m.score - native_scores[m.id]) < 0.05 for m in result.single)
    # a mixture, if any, is reported only because it beats the best single on the shown score
    if result.multiple is not None:
        assert result.multiple.score > result.single[0].score
    assert reference_query.gamma == REFERENCE_GAMMA  # the caller's spec is not changed
    cat.close()


def test_a_sensible_gamma_is_kept_as_given(digits):
    X, _ = digits
    own = RKMETableSpecification.fit(X[:400])
    assert query_gamma(own) == (own.gamma, None)
    assert rescaled_query_spec(own) is own
    # a gamma 4x the median heuristic's is a deliberate choice, not degenerate: kept
    sharper = RKMETableSpecification(own.z, own.beta, own.gamma * 4)
    assert query_gamma(sharper) == (sharper.gamma, None)
    # but far too sharp, or far too flat, is re-estimated
    for factor in (QUERY_SHARP_LIMIT * 16, QUERY_FLAT_LIMIT / 4):
        off = RKMETableSpecification(own.z, own.beta, own.gamma * factor)
        gamma, why = query_gamma(off)
        assert why is not None and gamma == pytest.approx(own.gamma, rel=0.5)


def test_two_far_apart_clusters_are_not_mistaken_for_a_degenerate_gamma():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(size=(6, 3)) * 0.5, rng.normal(size=(6, 3)) * 0.5 + 8.0])
    spec = RKMETableSpecification(z, np.full(12, 1 / 12), 0.5)
    assert query_gamma(spec) == (0.5, None)


def test_a_one_point_spec_keeps_its_gamma():
    one = RKMETableSpecification(np.ones((1, 3)), np.ones(1), 0.1)
    assert query_gamma(one) == (0.1, None)


def test_mixture_with_a_zero_score_is_not_worth_it():
    # unclipped, 3.0 -> 1.5 halves the residual; clipped, both score 0 and nothing is explained
    assert not mixture_is_worth_it(1.5, 3.0, 1.0)
    # the honest path: a mixture that raises the shown score clearly is still reported
    assert mixture_is_worth_it(0.1, 0.6, 1.0)
    # from a score of 0 (residual 1.2) to 0.5 (residual 0.5): the gain counts from the clipped 0
    assert mixture_is_worth_it(0.5, 1.2, 1.0)
