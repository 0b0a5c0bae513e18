"""The heterogeneous search's fast paths (issue 14, the 2x target) give what the plain formulas give,
the query's gamma rule runs only for the same-space pass, and nothing a query keeps per index row
outlives the record: a replaced record's columns and a removed record are never returned.

Unit parts: plain numpy references. Dock parts: a real Dock with the module fixtures of test_hetero.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dock.dock import Dock
from dock.errors import SearchError
from dock.search import engine
from dock.search.hetero import _Columns, _user_columns, restricted_mmd2
from dock.search.hetero_mixture import _pair_mixture
from dock.search.hetero_space import MIN_PAIR, MIN_TEXT, ColumnMapping, assign, unit_gram
from dock.search.mixture import DenseGram, best_mixture
from dock.search.query import UserInfo
from dock.search.scores import score_from_mmd2, scores_from_mmd2
from specs.hetero import input_block
from specs.kernels import gaussian_kernel, grid_gamma
from tests.dock.test_hetero import LW_COLS, tables, user_query, zips  # noqa: F401 (module fixtures)


class _Spec:
    def __init__(self, z, beta):
        self.z, self.beta = z, beta


def test_unit_gram_is_the_gaussian_kernel_of_its_points():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(70, 6)) * 0.4
    assert np.allclose(unit_gram(points), gaussian_kernel(points, points, 1.0), rtol=1e-12, atol=1e-14)


def test_restricted_mmd2_is_the_mmd_of_the_paired_columns_in_user_spreads():
    rng = np.random.default_rng(1)
    user = _user_columns(_Spec(rng.normal(5.0, 3.0, size=(40, 7)), rng.random(40) / 40), None)
    lw = _Columns(np.zeros((9, 2)), rng.normal(4.0, 2.0, size=(35, 9)), rng.random(35) / 35)
    mapping = ColumnMapping(((3, 0), (0, 2), (6, 5), (1, 8)), (0.9,) * 4, 7, 9)
    u_cols, l_cols = mapping.user_columns, mapping.learnware_columns
    scale = user.marginals[u_cols, 1]
    a, b = user.z[:, u_cols] / scale, lw.z[:, l_cols] / scale
    gamma = grid_gamma(1.0 / (2.0 * len(u_cols)))
    self_q = user.beta @ gaussian_kernel(a, a, gamma) @ user.beta
    expected = self_q - 2.0 * user.beta @ gaussian_kernel(a, b, gamma) @ lw.beta + \
        lw.beta @ gaussian_kernel(b, b, gamma) @ lw.beta
    mmd2, got_self = restricted_mmd2(user, lw, mapping)
    assert mmd2 == pytest.approx(expected, rel=1e-10, abs=1e-14)
    assert got_self == pytest.approx(self_q, rel=1e-12)


def test_assign_keeps_the_pairs_above_both_thresholds_in_learnware_column_order():
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(2)
    for _ in range(20):
        text = rng.random((6, 9))
        combined = 0.6 * text + 0.4 * rng.random((6, 9))
        rows, cols = linear_sum_assignment(-combined)
        want = sorted(((int(r), int(c)) for r, c in zip(rows, cols, strict=True)
                       if text[r, c] >= MIN_TEXT and combined[r, c] >= MIN_PAIR), key=lambda p: p[1])
        got = assign(text, combined, "e")
        assert list(got.pairs) == want
        assert list(got.similarity) == [float(combined[r, c]) for r, c in want]
        assert (got.user_dim, got.learnware_dim, got.embedder) == (6, 9, "e")


def test_score_from_mmd2_in_floats_equals_the_array_version():
    for mmd2 in (0.0, 1e-9, 0.2, 0.99, 1.0, 1.7, float("nan")):
        for self_q in (0.5, 1.0, 3.0):
            want = float(scores_from_mmd2(mmd2, self_q))
            got = score_from_mmd2(mmd2, self_q)
            assert (got == want) or (np.isnan(got) and np.isnan(want))
    with np.errstate(divide="ignore", invalid="ignore"):
        assert score_from_mmd2(0.3, 0.0) == float(scores_from_mmd2(0.3, 0.0))  # numpy's rule kept


def test_the_two_member_closed_form_matches_the_general_mixture():
    rng = np.random.default_rng(3)
    for _ in range(30):
        pts = rng.normal(size=(3, 4))
        G_all = gaussian_kernel(pts, pts, 0.3)  # embeddings of single points: user 0, members 1 and 2
        self_q, cross, G = float(G_all[0, 0]), G_all[0, 1:], G_all[1:, 1:]
        idx, w, value = _pair_mixture(G, cross, self_q)
        ref_idx, ref_w, ref_value = best_mixture(DenseGram(G), cross, self_q)
        assert value == pytest.approx(ref_value, rel=1e-6, abs=1e-9)
        assert dict(zip(idx, w, strict=True)) == pytest.approx(dict(zip(ref_idx, ref_w, strict=True)), abs=1e-5)


def _query(names, spec):
    return UserInfo(semantic_spec={"Input": input_block(names)}, stat_info={spec.type: spec})


def _ids(dock, info) -> list[str]:
    try:
        return [m.id for m in dock.search(info).single]
    except SearchError:
        return []


def test_the_query_gamma_rule_runs_only_for_the_same_space_pass(tmp_path, tables, zips, monkeypatch):  # noqa: F811
    bc_zip, _ = zips
    _, _, user_names, spec = user_query(tables)
    calls = []
    real = engine.rescaled_query_spec
    monkeypatch.setattr(engine, "rescaled_query_spec", lambda s: calls.append(s) or real(s))
    with Dock.open(tmp_path / "home") as dock:
        bc_id = dock.submit(bc_zip)
        first = dock.search(_query(user_names, spec))
        assert [m.id for m in first.single] == [bc_id] and calls == []  # nothing of width 10: no same-space pass
        # The heterogeneous score uses its own gamma per column set, so the spec's does not matter.
        flat = copy.copy(spec)
        flat.gamma = 1e-6
        again = dock.search(_query(user_names, flat))
        assert again.single[0].hetero["pairs"] == first.single[0].hetero["pairs"]
        assert again.single[0].score == pytest.approx(first.single[0].score, rel=1e-12)
        X, _, names = tables["bc"]
        own = first.single[0].semantic_spec["Input"]["Description"]
        from specs import generate_stat_spec

        exact = generate_stat_spec(type="table", X=X[340:][:, LW_COLS], K=40)
        result = dock.search(_query([own[str(i)] for i in range(len(LW_COLS))], exact))
        assert result.single[0].id == bc_id and result.single[0].hetero is None and len(calls) == 1


def test_a_replaced_or_removed_record_is_never_answered_from_what_a_query_kept(tmp_path, tables, zips):  # noqa: F811
    bc_zip, _ = zips
    _, _, user_names, spec = user_query(tables)
    info = _query(user_names, spec)
    with Dock.open(tmp_path / "home") as dock:
        bc_id = dock.submit(bc_zip)
        before = dock.search(info).single[0]
        assert before.hetero["columns"]["mean radius"] == "radius_mean"
        index = dock._search_index
        assert index.row_of[bc_id] in index.columns.points_cache  # its points are held between queries
        # The publisher renames the learnware's first column: the record is replaced (same id).
        sem = dock.get(bc_id).semantic_spec
        assert sem["Input"]["Description"]["0"] == "radius_mean"
        sem["Input"]["Description"]["0"] = "mean radius of the nuclei"
        dock.update_semantic(bc_id, sem)
        after = dock.search(info).single[0]
        assert after.id == bc_id
        assert after.hetero["columns"]["mean radius"] == "mean radius of the nuclei"
        assert after.semantic_spec["Input"]["Description"]["0"] == "mean radius of the nuclei"
        dock.remove(bc_id)
        assert bc_id not in _ids(dock, info)
