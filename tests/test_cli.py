"""The `lwdock` command, run as a real subprocess against a real home."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli

SUBCOMMANDS = [
    "demo", "pack", "submit", "list", "show", "rm", "export", "spec", "search", "node", "status", "peers", "fetch",
    "trust", "untrust", "reuse", "check", "update",
]


def lwdock(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli(home, *args, check=check, timeout=300)


def test_console_script_help():
    script = Path(sys.executable).parent / "lwdock"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "examples:" in proc.stdout and "LWDOCK_HOME" in proc.stdout
    for name in SUBCOMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name, tmp_path):
    proc = lwdock(name, "--help", home=tmp_path)
    assert proc.stdout.startswith("usage: lwdock " + name)
    assert "--json" in proc.stdout


def _write_iris_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return X, y


def test_spec_from_csv_then_errors_go_to_stderr(tmp_path):
    _write_iris_csv(tmp_path / "iris.csv")
    proc = lwdock(
        "spec",
        "table",
        str(tmp_path / "iris.csv"),
        "--label-column",
        "species",
        "-o",
        str(tmp_path / "stat.json"),
        "--json",
        home=tmp_path / "home",
    )
    info = json.loads(proc.stdout)
    assert info["dim"] == 4 and info["rows"] == 150
    from specs import load_spec

    assert load_spec(tmp_path / "stat.json").dim == 4

    missing = lwdock("spec", "table", str(tmp_path / "nope.csv"), home=tmp_path / "home", check=False)
    assert missing.returncode != 0 and missing.stdout == ""
    assert "no such data file" in missing.stderr

    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    bad = lwdock("spec", "table", str(tmp_path / "bad.csv"), home=tmp_path / "home", check=False)
    assert bad.returncode != 0 and "'oops' is not a number" in bad.stderr

    unknown = lwdock("search", "--task", "Clasification", home=tmp_path / "home", check=False)
    assert unknown.returncode != 0 and "Clasification" in unknown.stderr and "Classification" in unknown.stderr

    absent = lwdock("show", "deadbeef", home=tmp_path / "home", check=False)
    assert absent.returncode != 0 and "no learnware" in absent.stderr


def test_pack_submit_search_show_remove(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = _write_iris_csv(tmp_path / "iris.csv")
    model = LogisticRegression(max_iter=1000).fit(X, y)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    home = tmp_path / "home"

    lwdock(
        "pack",
        "--model",
        str(tmp_path / "model.pkl"),
        "--data",
        str(tmp_path / "iris.csv"),
        "--label-column",
        "species",
        "--name",
        "Iris LR",
        "--scenario",
        "Nature",
        "-o",
        str(tmp_path / "iris.zip"),
        home=home,
    )
    learnware_id = lwdock("submit", str(tmp_path / "iris.zip"), home=home).stdout.strip()
    assert len(learnware_id) == 64

    listed = json.loads(lwdock("list", "--json", home=home).stdout)
    assert [r["id"] for r in listed] == [learnware_id] and listed[0]["local"] is True

    lwdock(
        "spec",
        "table",
        str(tmp_path / "iris.csv"),
        "--label-column",
        "species",
        "-o",
        str(tmp_path / "stat.json"),
        home=home,
    )
    found = json.loads(lwdock("search", "--stat", str(tmp_path / "stat.json"), "--json", home=home).stdout)
    assert found["single"][0]["id"] == learnware_id
    assert 0.0 <= found["single"][0]["score"] <= 1.0

    text = json.loads(lwdock("search", "iris", "--json", home=home).stdout)
    assert [m["id"] for m in text["single"]] == [learnware_id]
    none = json.loads(lwdock("search", "--scenario", "Financial", "--json", home=home).stdout)
    assert none["single"] == []

    shown = json.loads(lwdock("show", learnware_id[:8], "--json", home=home).stdout)
    assert shown["name"] == "Iris LR" and shown["input_dim"] == 4 and shown["output_dim"] == 3

    lwdock("rm", learnware_id[:8], home=home)
    assert json.loads(lwdock("list", "--json", home=home).stdout) == []
