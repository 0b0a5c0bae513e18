"""Statistical search against a slow reference: MMD^2 by a direct double loop, on real DuckDB
catalogues (records inserted straight into `Catalogue`, no zips, for speed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dock.search.engine as search_mod
from dock.errors import SearchError
from dock.records import LearnwareRecord
from dock.search.engine import SearchIndex, search
from dock.search.query import UserInfo
from dock.search.scores import score_from_mmd2
from dock.store.catalogue import Catalogue
from specs import RKMETableSpecification, generate_semantic_spec


def semantic_for(name="m", description="d", dim=3, task="Classification", library="Scikit-learn",
                 scenarios=("Nature",), license="MIT", data="Table"):  # noqa: A002 (the field's name)
    return generate_semantic_spec(
        name=name, description=description, data_type=data, task_type=task, library_type=library,
        scenarios=list(scenarios), license=license, input_description={"Dimension": dim, "Description": {}},
        output_description={"Dimension": 2, "Description": {}},
    )


def lid(i: int) -> str:
    return f"{i:064x}"


def catalogue_with(tmp_path, specs, semantics=None) -> Catalogue:
    """A real catalogue holding one learnware per spec (ids lid(0), lid(1), ...)."""
    cat = Catalogue(tmp_path / "c.duckdb")
    for i, spec in enumerate(specs):
        sem = semantics[i] if semantics else semantic_for(name=f"m{i}", dim=spec.dim)
        cat.insert(LearnwareRecord(id=lid(i), semantic_spec=sem, model_config={}, size=1), [spec], None)
    return cat


def random_spec(rng, k=7, d=3, gamma=None, shift=0.0, scale=1.0):
    z = rng.normal(size=(k, d)) * scale + shift
    beta = rng.dirichlet(np.ones(k))
    return RKMETableSpecification(z, beta, gamma if gamma is not None else float(rng.choice([0.25, 0.5, 1.0])))


def inner_double_loop(a, b, gamma):
    """The slow reference: <mu_a, mu_b> summed over every pair of points, no matrix algebra."""
    x, wx, y, wy = a.z.tolist(), a.beta.tolist(), b.z.tolist(), b.beta.tolist()
    return sum(wx[i] * wy[j] * math.exp(-gamma * sum((p - q) ** 2 for p, q in zip(x[i], y[j], strict=True)))
               for i in range(len(x)) for j in range(len(y)))


def mmd2_double_loop(a, b, gamma):
    return inner_double_loop(a, a, gamma) - 2 * inner_double_loop(a, b, gamma) + inner_double_loop(b, b, gamma)


def run(cat, query, limit=50, semantic=None):
    return search(SearchIndex.from_catalogue(cat), cat, UserInfo(semantic_spec=semantic,
                  stat_info={query.type: query}), limit=limit)


def test_single_ranking_matches_the_double_loop_reference(tmp_path):
    rng = np.random.default_rng(1)
    # Varying K, gammas and positions: the query's gamma must be used for every comparison.
    specs = [random_spec(rng, k=int(rng.integers(1, 9)), shift=rng.normal() * 2) for _ in range(15)]
    cat = catalogue_with(tmp_path, specs)
    query = random_spec(rng, k=6, gamma=0.5)
    result = run(cat, query)
    reference = {lid(i): mmd2_double_loop(query, s, 0.5) for i, s in enumerate(specs)}
    self_q = inner_double_loop(query, query, 0.5)
    assert [m.id for m in result.single] == sorted(reference, key=reference.get)
    for m in result.single:
        assert m.mmd2 == pytest.approx(reference[m.id], abs=2e-6)
        assert m.score == pytest.approx(score_from_mmd2(reference[m.id], self_q), abs=1e-5)
        assert 0.0 <= m.score <= 1.0 and m.semantic_spec["Name"]["Values"].startswith("m")
    assert result.info["mode"] == "exact"
    cat.close()


def test_query_gamma_is_used_on_both_sides(tmp_path):
    rng = np.random.default_rng(2)
    z, beta = rng.normal(size=(6, 3)), rng.dirichlet(np.ones(6))
    # The same embedding stored under two different gammas must be ranked identically.
    specs = [RKMETableSpecification(z, beta, 0.1), RKMETableSpecification(z, beta, 4.0)]
    cat = catalogue_with(tmp_path, specs)
    query = random_spec(rng, k=5, gamma=1.0)
    first, second = run(cat, query).single
    # Two float32 paths (other gamma groups, other offsets): equal to float32 precision over sums of
    # terms up to 1, the 2e-6 the index is held to against the float64 reference, not bit for bit.
    assert first.mmd2 == pytest.approx(second.mmd2, abs=2e-6)
    assert first.mmd2 == pytest.approx(query.dist(specs[0]), abs=2e-6)  # a.dist(b) uses a.gamma
    assert first.mmd2 != pytest.approx(specs[0].dist(query), abs=1e-3)  # not the learnware's gamma
    cat.close()


def test_float32_index_is_accurate_on_data_with_large_offsets(tmp_path):
    rng = np.random.default_rng(3)
    specs = [random_spec(rng, k=8, d=4, shift=1000.0 + rng.normal(), gamma=0.5) for _ in range(6)]
    cat = catalogue_with(tmp_path, specs)
    query = random_spec(rng, k=8, d=4, shift=1000.0, gamma=0.5)
    for m in run(cat, query).single:
        i = int(m.id, 16)
        assert m.mmd2 == pytest.approx(mmd2_double_loop(query, specs[i], 0.5), abs=5e-5)
    cat.close()


def _clustered_market(rng, n, d=5, k=12):
    """n learnwares around n/5 well separated centres: a clear top 5 for every query."""
    centres = rng.normal(size=(n // 5, d)) * 6
    specs = []
    for i in range(n):
        z = centres[i // 5] + rng.normal(size=(k, d)) * 0.7 + rng.normal(size=d) * 0.3
        specs.append(RKMETableSpecification(z, rng.dirichlet(np.ones(k) * 5), 0.125))
    return specs, centres


def test_prefilter_agrees_with_exact_search(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    specs, centres = _clustered_market(rng, 300)
    cat = catalogue_with(tmp_path, specs)
    index = SearchIndex.from_catalogue(cat)
    for c in (0, 17, 42):
        query = RKMETableSpecification(centres[c] + rng.normal(size=(20, 5)) * 0.7, np.full(20, 0.05), 0.125)
        info = UserInfo(stat_info={query.type: query})
        exact = search(index, cat, info, limit=10)
        monkeypatch.setattr(search_mod, "EXACT_MAX_POINTS", 0)
        monkeypatch.setattr(search_mod, "PREFILTER_MIN", 30)
        approx = search(index, cat, info, limit=10)
        monkeypatch.undo()
        assert exact.info["mode"] == "exact" and approx.info["mode"] == "prefilter"
        assert approx.info["prefilter_gamma"] == 0.125 and approx.info["candidates"] == 30
        # The near matches (the query's cluster) come back identical, scores and all; far ones
        # (MMD^2 ~ no overlap, near-ties) may differ in order, which is what a prefilter trades.
        # The two paths sum the same float32 kernel values in different blocks: equal to float32's
        # precision, not bit for bit (a 2.98e-8 difference was seen on another CPU).
        assert [m.id for m in approx.single[:5]] == [m.id for m in exact.single[:5]]
        assert [m.mmd2 for m in approx.single[:5]] == pytest.approx([m.mmd2 for m in exact.single[:5]],
                                                                    rel=1e-4, abs=1e-5)
        assert {int(m.id, 16) // 5 for m in exact.single[:5]} == {c}
    cat.close()


def test_prefilter_gamma_is_the_octave_below():
    assert search_mod.prefilter_gamma(0.125) == 0.125
    assert search_mod.prefilter_gamma(0.125 * 2 ** 0.75) == 0.125
    assert search_mod.prefilter_gamma(0.1) == 0.0625


def test_learnwares_added_and_removed_after_the_first_search(tmp_path):
    rng = np.random.default_rng(5)
    specs = [random_spec(rng, shift=5.0 * i, gamma=0.5) for i in range(4)]
    cat = catalogue_with(tmp_path, specs)
    index = SearchIndex.from_catalogue(cat)
    query = random_spec(rng, shift=100.0, gamma=0.5)
    info = UserInfo(stat_info={query.type: query})
    assert search(index, cat, info).single[0].mmd2 > 0.5  # nothing near the query yet
    near = RKMETableSpecification(query.z + 0.01, query.beta, 0.5)
    record = LearnwareRecord(id=lid(99), semantic_spec=semantic_for(name="new"), model_config={}, size=1)
    cat.insert(record, [near], None)
    index.add(record, [near])  # what Dock.submit does
    top = search(index, cat, info).single[0]
    assert top.id == lid(99) and top.score > 0.99
    cat.delete(lid(99))
    index.remove(lid(99))  # what Dock.remove does
    assert lid(99) not in [m.id for m in search(index, cat, info).single]
    # Writes that bypass the hooks are caught up by the count check.
    cat.insert(record, [near], None)
    assert search(index, cat, info).single[0].id == lid(99)
    cat.delete(lid(0))
    assert lid(0) not in [m.id for m in search(index, cat, info).single]
    cat.close()


def test_compaction_after_many_removals_keeps_results_exact(tmp_path):
    rng = np.random.default_rng(6)
    specs = [random_spec(rng, k=5, shift=rng.normal() * 3, gamma=0.5) for _ in range(40)]
    cat = catalogue_with(tmp_path, specs)
    index = SearchIndex.from_catalogue(cat)
    query = random_spec(rng, gamma=0.5)
    for i in range(0, 40, 2):
        cat.delete(lid(i))
        index.remove(lid(i))
    result = search(index, cat, UserInfo(stat_info={query.type: query}), limit=40)
    assert sorted(int(m.id, 16) for m in result.single) == list(range(1, 40, 2))
    for m in result.single:
        assert m.mmd2 == pytest.approx(query.dist(specs[int(m.id, 16)]), abs=2e-6)
    cat.close()


def test_bad_statistical_queries_get_clear_errors(tmp_path):
    rng = np.random.default_rng(7)
    cat = catalogue_with(tmp_path, [random_spec(rng, d=3) for _ in range(3)])
    index = SearchIndex.from_catalogue(cat)
    wrong_dim = random_spec(rng, d=5)
    with pytest.raises(SearchError, match=r"5-feature.*dimensions available: 3"):
        search(index, cat, UserInfo(stat_info={wrong_dim.type: wrong_dim}))
    empty = random_spec(rng, d=3)
    empty.z, empty.beta = np.zeros((0, 3)), np.zeros(0)
    with pytest.raises(SearchError, match="bad statistical spec"):
        search(index, cat, UserInfo(stat_info={empty.type: empty}))
    with pytest.raises(SearchError, match="bad statistical spec"):
        search(index, cat, UserInfo(stat_info={"RKMETableSpecification": {"type": "RKMETableSpecification"}}))
    ok = random_spec(rng, d=3)
    with pytest.raises(SearchError, match="one statistical spec"):
        search(index, cat, UserInfo(stat_info={"a": ok, "b": ok}))
    with pytest.raises(SearchError, match="Input says 4"):
        search(index, cat, UserInfo(semantic_spec={"Input": {"Dimension": 4}}, stat_info={ok.type: ok}))
    with pytest.raises(SearchError, match="limit"):
        search(index, cat, UserInfo(stat_info={ok.type: ok}), limit=0)
    # A spec given as the reference's JSON dict is accepted.
    as_dict = search(index, cat, UserInfo(stat_info={ok.type: ok.to_json_dict()}))
    assert len(as_dict.single) == 3
    cat.close()


def test_empty_catalogue_returns_no_matches(tmp_path):
    cat = Catalogue(tmp_path / "c.duckdb")
    spec = random_spec(np.random.default_rng(8))
    result = search(SearchIndex.from_catalogue(cat), cat, UserInfo(stat_info={spec.type: spec}))
    assert result.single == [] and result.multiple is None
    cat.close()


def test_adding_to_a_built_index_extends_caches_instead_of_rebuilding():
    from dock.search.stat_group import StatGroup

    rng = np.random.default_rng(9)
    specs = [random_spec(rng, k=6, d=4, shift=rng.normal(), gamma=0.5) for _ in range(30)]
    group = StatGroup("k", 4)
    for i, s in enumerate(specs[:29]):
        group.add(i, s.z, s.beta, s.gamma)
    feat, _ = group.rff_features(0.5)
    before = feat.copy()
    group.self_terms(0.5, group.live_slots())
    group.add(29, specs[29].z, specs[29].beta, specs[29].gamma)
    after, norms = group.rff_features(0.5)
    np.testing.assert_array_equal(after[:29], before)  # old rows untouched: nothing recomputed
    fresh = StatGroup("k", 4)  # the new row equals what a full build computes
    for i, s in enumerate(specs):
        fresh.add(i, s.z, s.beta, s.gamma)
    np.testing.assert_allclose(after[29], fresh.rff_features(0.5)[0][29], atol=1e-3)
    assert norms[29] == pytest.approx(float(after[29] @ after[29]), rel=1e-5)
    # Self-terms: cached for old slots, computed on demand for the new one.
    assert np.isnan(group._self[0.5][29])
    assert group.self_terms(0.5, np.array([29]))[0] == pytest.approx(
        inner_double_loop(specs[29], specs[29], 0.5), abs=1e-6)


def test_an_unreadable_stored_spec_leaves_that_learnware_out_of_statistical_search_only(tmp_path, caplog):
    """Stored specs were checked on the way in; a damaged one (disk, bug, a hand edit) must not
    make every search fail: the others rank as before, it stays findable by its name."""
    rng = np.random.default_rng(5)
    specs = [random_spec(rng) for _ in range(4)]
    cat = catalogue_with(tmp_path, specs)
    with cat._lock:
        cat._con.execute("UPDATE stat_specs SET spec_bytes = '\\x00\\x01'::BLOB WHERE learnware_id = ?", [lid(2)])
    query = random_spec(rng, gamma=0.5)
    with caplog.at_level("WARNING"):
        result = run(cat, query)
    assert sorted(m.id for m in result.single) == sorted([lid(0), lid(1), lid(3)])
    assert any(lid(2) in r.getMessage() and "cannot be read" in r.getMessage() for r in caplog.records)
    by_text = search(SearchIndex.from_catalogue(cat), cat, UserInfo(semantic_spec=semantic_for(name="m2")), limit=5)
    assert [m.id for m in by_text.single][:1] == [lid(2)]
