"""Heterogeneous feature spaces (issue 14): search finds learnwares with other columns, the
column mapping is right on a known case, reuse aligns and runs in a real worker, peers return
hetero matches, and a malformed `lwdock.columns` field is refused.

Real components: packed zips in a real Dock (DuckDB, worker processes), the shipped text
embedder loaded offline, real libp2p hosts on 127.0.0.1 for the peer search.
"""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from dock.dock import Dock
from dock.errors import PackageError, SearchError
from dock.search.query import UserInfo
from specs import SpecError, generate_semantic_spec, generate_stat_spec, validate_semantic_spec
from specs.hetero import FIELD, input_block
from tests.helpers import run_cli, wait_until

# The learnware's columns (breast cancer, renamed Kaggle-style) and the user's (another subset).
LW_COLS = [0, 1, 2, 3, 6, 7, 10, 12, 13, 20, 21, 22, 23, 26, 27]
USER_COLS = [23, 0, 27, 1, 20, 7, 22, 2, 4, 24]  # 8 shared with the learnware, shuffled; 4 and 24 not


def kaggle(name: str) -> str:
    words = name.split()
    if words[0] in ("mean", "worst"):
        words = words[1:] + words[:1]
    return "_".join("se" if w == "error" else w for w in words)


def semantic(name, task, columns, out_dim):
    return generate_semantic_spec(
        name=name, description=f"{task} model", data_type="Table", task_type=task, library_type="Scikit-learn",
        scenarios=["Health"], license="MIT", input_description=input_block(columns),
        output_description={"Dimension": out_dim, "Description": {}})


def _pack(tmp, tag, X, y, names, task="Classification", **extra):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dock.package.pack import pack_learnware

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    (tmp / f"{tag}.pkl").write_bytes(pickle.dumps(model, protocol=4))
    sem = semantic(tag, task, names, int(y.max()) + 1)
    sem["Input"].update(extra)
    return pack_learnware(tmp / f"{tag}.zip", model_file=tmp / f"{tag}.pkl", X=X, semantic_spec=sem, K=40)


@pytest.fixture(scope="module")
def tables():
    from sklearn.datasets import load_breast_cancer, load_wine

    bc, wine = load_breast_cancer(), load_wine()
    order = np.random.default_rng(0).permutation(len(bc.data))
    return {"bc": (bc.data[order], bc.target[order], [str(n) for n in bc.feature_names]),
            "wine": (wine.data, wine.target, [str(n) for n in wine.feature_names])}


@pytest.fixture(scope="module")
def zips(tmp_path_factory, tables):
    tmp = tmp_path_factory.mktemp("hetero-zips")
    X, y, names = tables["bc"]
    bc_zip = _pack(tmp, "breast cancer", X[:340][:, LW_COLS], y[:340], [kaggle(names[c]) for c in LW_COLS])
    Xw, yw, wnames = tables["wine"]
    wine_zip = _pack(tmp, "wine", Xw, yw, wnames)
    return bc_zip, wine_zip


def user_query(tables, cols=USER_COLS, rows=slice(340, None)):
    X, y, names = tables["bc"]
    Xu = X[rows][:, cols]
    spec = generate_stat_spec(type="table", X=Xu, K=40)
    return Xu, y[rows], [names[c] for c in cols], spec


def test_search_finds_the_hetero_learnware_with_the_right_mapping(tmp_path, tables, zips):
    bc_zip, wine_zip = zips
    Xu, _, user_names, spec = user_query(tables)
    with Dock.open(tmp_path / "home") as dock:
        bc_id, wine_id = dock.submit(bc_zip), dock.submit(wine_zip)
        # Without column names: today's answer (no learnware takes 10 columns), unchanged.
        with pytest.raises(SearchError, match="no learnware here takes 10-feature"):
            dock.search(UserInfo(stat_info={spec.type: spec}))
        result = dock.search(UserInfo(semantic_spec={"Input": input_block(user_names)}, stat_info={spec.type: spec}))
        assert [m.id for m in result.single] == [bc_id]  # the wine table shares no column: not listed
        mark = result.single[0].hetero
        _, _, names = tables["bc"]
        expected = {(USER_COLS.index(c), LW_COLS.index(c)) for c in set(USER_COLS) & set(LW_COLS)}
        assert {tuple(p) for p in mark["pairs"]} == expected  # every shared column found, nothing else
        assert mark["lacking"] == len(LW_COLS) - len(expected)
        assert mark["columns"]["mean radius"] == "radius_mean"
        assert result.to_dict()["single"][0]["hetero"]["lacking"] == mark["lacking"]
        # A user whose columns ARE the learnware's (same names, same order) gets the same-space match, unmarked.
        X, _, _ = tables["bc"]
        same = generate_stat_spec(type="table", X=X[340:][:, LW_COLS], K=40)
        exact = dock.search(UserInfo(semantic_spec={"Input": input_block([kaggle(names[c]) for c in LW_COLS])},
                                     stat_info={same.type: same}))
        assert exact.single[0].id == bc_id and exact.single[0].hetero is None
        assert wine_id not in [m.id for m in exact.single]


def test_malformed_columns_field_is_refused_and_the_honest_one_stored(tmp_path, tables):
    X, y, names = tables["bc"]
    cols = LW_COLS[:5]
    for bad, said in (({"version": "one"}, "version: 'one' is not allowed"),
                      ({"version": 1, "source": "guess"}, "source: 'guess' is not allowed"),
                      ({"version": 1, "vectors": [1, 2]}, "unknown key(s) 'vectors'"),
                      ("header", "expected {'version': 1")):
        with pytest.raises(SpecError, match="Input.lwdock.columns") as info:
            validate_semantic_spec(semantic("x", "Classification", [names[c] for c in cols], 2) | {
                "Input": {**input_block([names[c] for c in cols]), FIELD: bad}})
        assert said in str(info.value)
        with pytest.raises(PackageError, match="lwdock.columns"):
            _pack(tmp_path, "bad", X[:100][:, cols], y[:100], [names[c] for c in cols], **{FIELD: bad})
    assert not (tmp_path / "bad.zip").exists()
    good = _pack(tmp_path, "good", X[:100][:, cols], y[:100], [names[c] for c in cols])
    with Dock.open(tmp_path / "home") as dock:
        stored = dock.get(dock.submit(good))
        assert stored.semantic_spec["Input"][FIELD] == {"version": 1, "source": "header"}
    # A later version (a newer publisher) is accepted as it is; old records without the field too.
    newer = {"Input": {"Dimension": 1, "Description": {"0": "a"}, FIELD: {"version": 2, "x": 1}}}
    later = validate_semantic_spec(newer, partial=True)
    assert later["Input"][FIELD]["version"] == 2


def test_align_reuse_runs_in_a_real_worker_and_beats_the_majority(tmp_path, tables, zips):
    from dock.reuse import AveragingReuser, HeteroAlignReuser
    from dock.reuse.align import AlignedLearnware, align

    bc_zip, _ = zips
    Xu, yu, user_names, spec = user_query(tables)
    majority = max(np.mean(yu == 0), np.mean(yu == 1))
    with Dock.open(tmp_path / "home") as dock:
        lw = dock.load(dock.submit(bc_zip))
        try:
            aligned = align(lw, user_names, Xu, user_spec=spec)  # no labels
            assert isinstance(aligned, AlignedLearnware)
            assert aligned.transform(Xu).shape == (len(Xu), len(LW_COLS)) and np.isfinite(aligned.transform(Xu)).all()
            zero = np.mean(aligned.predict(Xu) == yu)
            assert zero > majority + 0.15, (zero, majority)
            few = align(lw, user_names, Xu[:30], yu[:30], user_spec=spec)  # 30 labels: + a correction
            assert np.mean(few.predict(Xu[30:]) == yu[30:]) > majority + 0.15
            # Inside the existing reusers, and as a reuser by itself
            assert np.mean(AveragingReuser([aligned], mode="vote_by_label").predict(Xu) == yu) > majority + 0.15
            reuser = HeteroAlignReuser([lw], user_columns=user_names)
            assert np.mean(reuser.predict(Xu) == yu) > majority + 0.15
            with pytest.raises(Exception, match="3 column names for a table of 10 columns"):
                align(lw, user_names[:3], Xu[:, :3], user_spec=spec)
        finally:
            lw.close()


def test_cli_pack_describes_columns_and_search_returns_a_hetero_match(tmp_path, tables):
    import csv

    from sklearn.linear_model import LogisticRegression

    X, y, names = tables["bc"]
    cols = LW_COLS
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([kaggle(names[c]) for c in cols] + ["label"])
        w.writerows(np.column_stack([X[:340][:, cols], y[:340]]).tolist())
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(LogisticRegression(max_iter=3000).fit(X[:340][:, cols], y[:340])))
    home = tmp_path / "home"
    run_cli(home, "pack", "--model", str(tmp_path / "m.pkl"), "--data", str(train), "--name", "bc",
            "--scenario", "Health", "--column-description", "radius_mean=mean radius of the nuclei",
            "-o", str(tmp_path / "bc.zip"))
    sem = json.loads(zipfile.ZipFile(tmp_path / "bc.zip").read("semantic_specification.json"))
    assert sem["Input"]["Description"]["0"] == "mean radius of the nuclei"
    assert sem["Input"]["Description"]["1"] == "texture_mean" and sem["Input"][FIELD]["source"] == "edited"
    run_cli(home, "submit", str(tmp_path / "bc.zip"))
    user = tmp_path / "user.csv"
    with open(user, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([names[c] for c in USER_COLS])
        w.writerows(X[340:][:, USER_COLS].tolist())
    found = json.loads(run_cli(home, "search", "--stat", str(user), "--json").stdout)
    assert found["single"] and found["single"][0]["hetero"]["lacking"] >= 1
    shown = run_cli(home, "search", "--stat", str(user)).stdout
    assert "#1 takes other columns: " in shown and "of its 15 inputs from yours" in shown and "--reuser align" in shown
    bad = run_cli(home, "search", "--stat", str(user), "--column-description", "nope=x", check=False)
    assert bad.returncode != 0 and "no feature column 'nope'" in bad.stderr
    # Reuse from the CLI: the direct run refuses 10 columns and names the align reuser; align runs it.
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([names[c] for c in USER_COLS] + ["label"])
        w.writerows(np.column_stack([X[340:][:, USER_COLS], y[340:]]).tolist())
    lid = found["single"][0]["id"]
    direct = run_cli(home, "reuse", lid, "--data", str(labelled), check=False)
    assert direct.returncode != 0 and "this learnware takes 15; or reuse with `--reuser align`" in direct.stderr
    majority = max(np.mean(y[340:] == 0), np.mean(y[340:] == 1))
    for reuser in ("align", "align_labels"):
        got = json.loads(run_cli(home, "reuse", lid, "--data", str(labelled), "--reuser", reuser,
                                 "--json").stdout)
        assert got["metrics"]["accuracy"] > majority + 0.15, (reuser, got)


def test_a_peer_search_returns_a_hetero_match_from_another_node(net, tables, zips):
    bc_zip, _ = zips
    _, _, user_names, spec = user_query(tables)
    a = net.add("a")
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: b.node.peers(), 20, "b connected")
    from dock.network.service import RECORDS_TOPIC

    b.node.unsubscribe(RECORDS_TOPIC)  # b hears nothing by gossip: only the search protocol can tell it
    learnware_id = a.dock.submit(bc_zip)
    info = UserInfo(semantic_spec={"Input": input_block(user_names)}, stat_info={spec.type: spec})
    assert not b.dock.search(info).single  # b alone knows nothing
    merged = b.search_peers(info, limit=5)
    assert merged.single[0].id == learnware_id and merged.single[0].hetero["lacking"] >= 1
    assert b.dock.catalogue.exists(learnware_id)


def test_the_column_space_works_with_every_socket_refused(tmp_path):
    """The shipped embedder loads from its wheel: no download, even with the network gone."""
    import subprocess
    import sys

    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network refused by the test')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse; socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from dock.search.hetero_space import embed, embedder_id\n"
        "v = embed(['radius_mean', 'mean radius', 'alcohol'])\n"
        "print(embedder_id(), round(float(v[0] @ v[1]), 2), round(float(v[0] @ v[2]), 2))\n"
    )
    import os

    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    ident, same, other = proc.stdout.split()
    assert ident.startswith("all-MiniLM-L6-v2:")  # the shipped model, not the trigram fallback
    assert float(same) > 0.8 > float(other)
