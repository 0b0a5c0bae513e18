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
