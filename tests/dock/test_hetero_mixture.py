"""Mixtures across feature spaces (issue 14): two learnwares with other columns than the user's,
each fitted on one half of the population the user holds, are recommended together, with each
member's column mapping, and the mixture is reused through HeteroAlignReuser in real workers.

Real Dock (DuckDB, persisted index, sandboxed worker processes), the shipped embedder offline.
"""

from __future__ import annotations

import pickle

import numpy as np

from dock.dock import Dock
from dock.search.query import UserInfo
from specs import generate_stat_spec
from specs.hetero import input_block
from tests.dock.test_hetero import LW_COLS, USER_COLS, kaggle, semantic, tables  # noqa: F401 (fixture)

OTHER_COLS = [24, 0, 1, 2, 4, 7, 20, 22, 23, 27, 5, 8, 9, 11, 14]  # every user column, another order


def _pack_half(tmp, tag, X, y, rows, cols, names):
    """A model fitted on all labelled rows, published with the spec of one class's rows only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dock.package.pack import pack_learnware

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[:, cols], y)
    (tmp / f"{tag}.pkl").write_bytes(pickle.dumps(model, protocol=4))
    return pack_learnware(tmp / f"{tag}.zip", model_file=tmp / f"{tag}.pkl", X=X[rows][:, cols],
                          semantic_spec=semantic(tag, "Classification", names, 2), K=40, predict_method="predict_proba")


def test_a_mixture_across_feature_spaces_is_found_and_reused(tmp_path, tables):  # noqa: F811
    from dock.reuse import HeteroAlignReuser

    X, y, names = tables["bc"]
    Xl, yl = X[:340], y[:340]
    a_zip = _pack_half(tmp_path, "malignant", Xl, yl, yl == 0, LW_COLS, [kaggle(names[c]) for c in LW_COLS])
    b_zip = _pack_half(tmp_path, "benign", Xl, yl, yl == 1, OTHER_COLS, [names[c].title() for c in OTHER_COLS])
    Xu, yu = X[340:][:, USER_COLS], y[340:]
    user_names = [names[c] for c in USER_COLS]
    spec = generate_stat_spec(type="table", X=Xu, K=40)
    info = UserInfo(semantic_spec={"Input": input_block(user_names)}, stat_info={spec.type: spec})
    with Dock.open(tmp_path / "home") as dock:
        a_id, b_id = dock.submit(a_zip), dock.submit(b_zip)
        result = dock.search(info)
        assert {m.id for m in result.single} == {a_id, b_id}
        assert all(m.hetero is not None for m in result.single)  # both from other spaces
        mix = result.multiple
        assert mix is not None, "a mixture across feature spaces is no longer proposed"
        assert set(mix.ids) == {a_id, b_id} and len(mix.hetero) == 2
        assert mix.score > result.single[0].score
        assert all(0.0 < w < 1.0 for w in mix.weights)
        by_id = dict(zip(mix.ids, mix.hetero, strict=True))
        right = {(USER_COLS.index(c), OTHER_COLS.index(c)) for c in USER_COLS}
        got = {tuple(p) for p in by_id[b_id]["pairs"]}
        assert got <= right and len(got) >= 8  # no wrong pair; a shifted column may stay unpaired
        assert "hetero" in result.to_dict()["multiple"]
        # A user of A's own space: A is a same-space match (unmarked), also inside a mixture.
        own = generate_stat_spec(type="table", X=X[340:][:, LW_COLS], K=40)
        exact = dock.search(UserInfo(semantic_spec={"Input": input_block([kaggle(names[c]) for c in LW_COLS])},
                                     stat_info={own.type: own}))
        assert next(m for m in exact.single if m.id == a_id).hetero is None
        if exact.multiple is not None and exact.multiple.hetero is not None and a_id in exact.multiple.ids:
            assert exact.multiple.hetero[exact.multiple.ids.index(a_id)] is None
        # Reuse: the members aligned by their own mappings, averaged without labels.
        loaded = [dock.load(i) for i in mix.ids]
        try:
            reuser = HeteroAlignReuser(loaded, user_columns=user_names, user_spec=spec, mappings=mix.hetero)
            pred = np.asarray(reuser.predict(Xu))
        finally:
            for lw in loaded:
                lw.close()
    labels = pred.argmax(1) if pred.ndim == 2 else pred.round()
    majority = max(np.mean(yu == 0), np.mean(yu == 1))
    assert np.mean(labels == yu) > majority + 0.1


# Diabetes, as in tests/compat/scripts/workflow_hetero.py: learnwares of 7 and 8 named columns, each
# fitted on patients of low or of high body mass index; users of 6 described columns.
DIABETES = ["age in years", "sex", "body mass index", "average blood pressure", "total serum cholesterol",
            "low-density lipoproteins", "high-density lipoproteins", "total cholesterol / HDL ratio",
            "log of serum triglycerides level", "blood sugar level"]
DIABETES_LEARNWARES = [(range(0, 7), "low"), (range(2, 10), "high"), (range(0, 7), "high"), (range(2, 10), "low")]
DIABETES_USER = [0, 2, 3, 4, 8, 9]


def test_a_cross_space_mixture_is_judged_on_the_columns_all_its_members_feed(tmp_path):
    """A user of low body mass index only gets no mixture of high-BMI learnwares (the former rule
    shrank the compared columns until body mass index was gone and mixed one low- and two high-BMI
    learnwares); a user of every body mass index gets a mixture of both groups above the best single."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from dock.compat.learnware.specification import generate_rkme_table_spec
    from dock.package.pack import pack_learnware
    from dock.search.hetero_mixture import frame_members

    X_all, y_all = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X_all))
    market, users = order[:220], order[220:]
    low = X_all[market, 2] <= np.median(X_all[market, 2])
    zips, group_of = [], {}
    for i, (cols, group) in enumerate(DIABETES_LEARNWARES):
        cols = list(cols)
        rows = market[low if group == "low" else ~low]
        (tmp_path / f"{i}.pkl").write_bytes(pickle.dumps(Ridge(alpha=0.01).fit(X_all[rows][:, cols], y_all[rows])))
        described = semantic(f"{group} {i}", "Regression", [DIABETES[c] for c in cols], 1)
        zips.append((pack_learnware(tmp_path / f"{i}.zip", model_file=tmp_path / f"{i}.pkl", X=X_all[rows][:, cols],
                                    semantic_spec=described, K=100), group))
    X = X_all[users][:, DIABETES_USER]
    every, low_only = X, X[X[:, 1] <= np.median(X_all[market, 2])]

    def search(dock, X_user, cols=DIABETES_USER):
        spec = generate_rkme_table_spec(X_user, gamma=0.1)  # the compat workflow's user spec
        return dock.search(UserInfo(semantic_spec={"Input": input_block([DIABETES[c] for c in cols])},
                                    stat_info={spec.type: spec}))

    with Dock.open(tmp_path / "home") as dock:
        for zip_path, group in zips:
            group_of[dock.submit(zip_path)] = group
        low_result = search(dock, low_only)
        assert len(low_result.single) == 4 and all(m.hetero is not None for m in low_result.single)
        assert group_of[low_result.single[0].id] == "low"  # the honest single result still comes first
        assert low_result.multiple is None, [group_of[i] for i in low_result.multiple.ids]
        # the frame keeps every column the best match and the first member share: never shrunk below
        pool, _, frame = frame_members(low_result.single, len(DIABETES_USER))
        assert len(frame) >= 2 and all(set(frame) <= {int(u) for u, _ in low_result.single[j].hetero["pairs"]}
                                       for j in pool)
        every_result = search(dock, every)
        mix = every_result.multiple
        assert mix is not None, "no mixture for the user of every body mass index"
        assert {group_of[i] for i in mix.ids} == {"low", "high"}
        assert mix.score > every_result.single[0].score and mix.score <= 1.0
        assert mix.hetero is not None and all(h is not None and h["pairs"] for h in mix.hetero)
        # Users of the 7-column learnwares' width: in another column order every one of them is of
        # another space (the same-space pass is skipped), in their own order they are same-space.
        shuffled, own = [6, 0, 5, 1, 4, 2, 3], list(range(7))
        other = search(dock, X_all[users][:, shuffled], shuffled)
        assert {group_of[m.id] for m in other.single if m.semantic_spec["Input"]["Dimension"] == 7} == {"low", "high"}
        assert all(m.hetero is not None for m in other.single)
        same = search(dock, X_all[users][:, own], own)
        assert sum(m.hetero is None for m in same.single) == 2
        assert all(m.semantic_spec["Input"]["Dimension"] == 8 for m in same.single if m.hetero is not None)
