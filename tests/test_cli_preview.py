"""`lwdock search --data FILE --label-column C --preview N` on the demo dock (issue 13 item 3): the
similarity of input distributions next to the accuracy the learnwares really reach on a sample of
the user's labelled rows. Real demo learnwares (all eight, as `lwdock demo` builds them), real
worker processes, `lwdock` as a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dock.errors import REGISTRY
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    header = ",".join([f"x{i}" for i in range(X.shape[1])] + ["label"])  # as the demo writes its files
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6g")
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_zips_all):
    """A dock holding the eight demo learnwares, and the demo's data files (labels in `label`). The
    zips are built once per session (tests/conftest.py demo_xdg_cache)."""
    from dock import Dock
    from dock.demo.market import load_dataset

    folder = tmp_path_factory.mktemp("preview")
    home = folder / "home"
    with Dock.open(home) as dock:
        for path in demo_zips_all:
            dock.submit(path)
    files = {"digits": _write_csv(folder / "digits_0-5.csv", *load_dataset("load_digits", (0, 1, 2, 3, 4, 5))),
             "iris": _write_csv(folder / "iris.csv", *load_dataset("load_iris"))}
    X, _ = load_dataset("load_iris")
    np.savetxt(folder / "iris-unlabelled.csv", X, delimiter=",", header="a,b,c,d", comments="", fmt="%.6g")
    files["unlabelled"] = folder / "iris-unlabelled.csv"
    return home, files


def _by_name(result: dict) -> dict[str, dict]:
    return {m["name"]: m for m in result["single"]}


def test_preview_reports_real_accuracy_next_to_similarity_on_the_demo_dock(demo):
    home, files = demo
    proc = run_cli(home, "search", "--data", str(files["digits"]), "--label-column", "label", "--preview", "5",
                   "--json")
    result = json.loads(proc.stdout)
    singles = _by_name(result)
    wrong = singles["Digits 6-9 recogniser"]
    # Similar inputs (8x8 digits), disjoint labels: the similarity is high, the measured accuracy ~0.
    assert wrong["similarity"] > 0.5 and wrong["preview"]["status"] == "measured"
    assert wrong["preview"]["accuracy"] < 0.05
    best = max((m for m in result["single"] if "preview" in m), key=lambda m: m["preview"]["accuracy"])
    assert best["name"] == "Digits 0-3 recogniser"
    assert 0.55 < best["preview"]["accuracy"] <= 0.7  # it knows 4 of the 6 classes: no single one knows all
    mixture = result["multiple"]
    assert mixture is not None and mixture["preview"]["accuracy"] > 0.95  # the members cover every class
    assert result["preview"]["rows"] == 200 and result["preview"]["of_rows"] == 1083
    assert result["preview"]["stratified"] and result["preview"]["label_column"] == "label"
    # JSON keys of before are kept (add-only), the score is also given its name.
    assert {"id", "name", "score", "mmd2", "text_score", "similarity"} <= set(wrong)
    assert wrong["score"] == wrong["similarity"] and mixture["score"] == mixture["similarity"]
    assert "[5/5]" in proc.stderr and "Digits 6-9 recogniser: acc 0.0%" in proc.stderr  # progress on stderr


def test_the_best_single_is_near_one_when_one_fits_and_the_text_says_similarity(demo):
    home, files = demo
    proc = run_cli(home, "search", "--data", str(files["iris"]), "--preview", "3")  # label column guessed
    assert "label column: `label` (guessed" in proc.stderr
    out = proc.stdout
    assert "similarity" in out and "match" not in out.lower()
    flat = " ".join(out.split())  # rich wraps long names at the pipe's 80 columns
    assert "Iris species" in flat and flat.count("acc ") == 1  # the one learnware taking 4 columns
    accuracy = float(flat.split("acc ")[1].split("%")[0]) / 100
    assert accuracy > 0.9
    assert "measured on all 150 labelled rows of iris.csv" in flat
    plain = run_cli(home, "search", "--data", str(files["iris"])).stdout  # no preview: says what it is not
    assert "not a prediction" in " ".join(plain.split()) and "measured" not in plain


def test_preview_without_labelled_rows_is_refused_in_one_line_and_then_works(demo, tmp_path):
    home, files = demo
    from specs import generate_stat_spec

    spec = tmp_path / "stat.json"
    generate_stat_spec(type="table", X=np.loadtxt(files["unlabelled"], delimiter=",", skiprows=1)).save(spec)
    code = REGISTRY["PreviewError"].exit_code
    cases = {
        "a stat.json holds no rows": ["--stat", str(spec), "--preview", "2"],
        "no label column": ["--data", str(files["unlabelled"]), "--preview", "2"],
        "both --data and --stat": ["--data", str(files["iris"]), "--stat", str(spec), "--preview", "2"],
        "zero": ["--data", str(files["iris"]), "--preview", "0"],
    }
    for what, args in cases.items():
        proc = run_cli(home, "search", *args, check=False)
        assert proc.returncode != 0, what
        lines = proc.stderr.strip().splitlines()
        assert lines[-1].startswith("error:") and "Traceback" not in proc.stderr, (what, proc.stderr)
        assert proc.stdout == "", what  # nothing half-printed
    assert run_cli(home, "search", *cases["no label column"], check=False).returncode == code
    assert "give --label-column NAME" in run_cli(home, "search", *cases["no label column"], check=False).stderr
    ok = run_cli(home, "search", "--data", str(files["iris"]), "--preview", "1", "--json")  # the honest path
    assert json.loads(ok.stdout)["single"][0]["preview"]["accuracy"] > 0.9


def test_a_zip_only_on_peers_is_said_not_local_offline(demo, tmp_path):
    import shutil

    from dock import Dock

    home, files = demo
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    with Dock.open(copy) as dock:
        iris = next(r for r in dock.list() if r.name == "Iris species classifier")
        dock.catalogue.forget_blob(iris.id)  # the record stays; its zip must come from a peer
        dock.blobs.remove(iris.id)
    result = json.loads(run_cli(copy, "search", "--data", str(files["iris"]), "--preview", "1", "--json").stdout)
    entry = result["single"][0]["preview"]
    assert entry["status"] == "not local" and entry["value"] is None and "on peers" in entry["message"]


def test_online_a_small_zip_only_on_a_peer_is_fetched_and_measured(demo, tmp_path):
    """Two real `lwdock node` processes on 127.0.0.1: the provider holds the demo learnwares, this
    home none; its preview fetches the iris zip from the peer (small) and measures it."""
    import shutil

    from tests.helpers import start_node, stop_node, wait_until

    home, files = demo
    provider, mine = tmp_path / "provider", tmp_path / "mine"
    shutil.copytree(home, provider)  # its own node key comes along; `mine` makes a new one
    procs = []
    try:
        proc, status = start_node(provider)
        procs.append(proc)
        proc, _ = start_node(mine, "--bootstrap", status["addrs"][0])
        procs.append(proc)

        def iris_record():
            listed = json.loads(run_cli(mine, "list", "--json").stdout)
            return next((r for r in listed if r["name"] == "Iris species classifier"), None)

        iris = wait_until(iris_record, 60, "the iris record synced to this node")
        assert not json.loads(run_cli(mine, "show", iris["id"], "--json").stdout)["local"]
        proc = run_cli(mine, "search", "--data", str(files["iris"]), "--preview", "1", "--json")
        entry = json.loads(proc.stdout)["single"][0]["preview"]
        assert entry["status"] == "measured" and entry["accuracy"] > 0.9
        assert json.loads(run_cli(mine, "show", iris["id"], "--json").stdout)["local"]  # fetched
    finally:
        for proc in procs:
            stop_node(proc)
