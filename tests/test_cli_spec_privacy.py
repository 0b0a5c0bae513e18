"""Private table specs from the command line (specs/privacy.py): the default of `lwdock spec`, `pack`
and `search --stat DATAFILE`, the one-line "reveals" of `lwdock spec`, the --allow-small refusal
(exit code of SmallTableError) and the explicit opt-out --privacy none. Real subprocesses, real homes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from dock.errors import REGISTRY
from specs import load_spec
from specs.privacy import MIN_ROWS, nearest_rows
from tests.helpers import run_cli

SMALL_EXIT = REGISTRY["SmallTableError"].exit_code


def write_csv(path: Path, rows: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(rows, 3))
    y = (X[:, 0] > 0).astype(int)
    path.write_text("a,b,c,label\n" + "".join(
        f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{c}\n" for r, c in zip(X, y, strict=True)))
    return X


def test_spec_is_private_by_default_and_says_what_it_reveals(tmp_path):
    X = write_csv(tmp_path / "t.csv", 200)
    proc = run_cli(tmp_path / "home", "spec", "table", str(tmp_path / "t.csv"), "-o", str(tmp_path / "s.json"))
    reveals = [line for line in proc.stderr.splitlines() + proc.stdout.splitlines() if "reveals:" in line]
    assert len(reveals) == 1 and "noised points summarising 200 rows" in reveals[0]
    spec = load_spec(tmp_path / "s.json")
    assert spec.privacy["method"] == "private" and spec.z.shape[0] < 200
    assert nearest_rows(spec.z, X)[1].min() > 0  # not one published point is a row
    info = json.loads(run_cli(tmp_path / "home", "spec", "table", str(tmp_path / "t.csv"), "-o",
                              str(tmp_path / "s2.json"), "--json").stdout)
    assert info["privacy"]["method"] == "private" and info["reveals"].startswith("reveals:")


def test_small_table_is_refused_in_one_line_then_allowed_knowingly(tmp_path):
    write_csv(tmp_path / "small.csv", MIN_ROWS - 10)
    out = tmp_path / "s.json"
    refused = run_cli(tmp_path / "home", "spec", "table", str(tmp_path / "small.csv"), "-o", str(out), check=False)
    assert refused.returncode == SMALL_EXIT
    errors = [line for line in refused.stderr.splitlines() if "too few" in line]
    assert len(errors) == 1 and "--allow-small" in errors[0] and f"{MIN_ROWS - 10} rows" in errors[0]
    assert not out.exists()  # nothing written
    allowed = run_cli(tmp_path / "home", "spec", "table", str(tmp_path / "small.csv"), "-o", str(out),
                      "--allow-small")
    assert "reveals:" in allowed.stderr + allowed.stdout and "only 40 rows" in allowed.stderr + allowed.stdout
    assert load_spec(out).privacy["small"] == 1
    plain = run_cli(tmp_path / "home", "spec", "table", str(tmp_path / "small.csv"), "-o", str(out),
                    "--privacy", "none")
    assert "your 40 rows themselves" in plain.stderr + plain.stdout and load_spec(out).privacy is None


def test_pack_and_search_from_data_refuse_a_small_table_and_work_when_allowed(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = write_csv(tmp_path / "small.csv", 30)
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))
    home = tmp_path / "home"
    pack = ["pack", "--model", str(tmp_path / "m.pkl"), "--data", str(tmp_path / "small.csv"), "--name", "small",
            "--data-type", "Table", "--task", "Classification", "--scenario", "Education",
            "-o", str(tmp_path / "lw.zip")]
    refused = run_cli(home, *pack, check=False)
    assert refused.returncode == SMALL_EXIT and "--allow-small" in refused.stderr
    assert not (tmp_path / "lw.zip").exists()
    run_cli(home, *pack, "--allow-small")
    run_cli(home, "submit", str(tmp_path / "lw.zip"))
    search = ["search", "--stat", str(tmp_path / "small.csv"), "--json"]
    refused = run_cli(home, *search, check=False)
    assert refused.returncode == SMALL_EXIT and "--allow-small" in refused.stderr
    found = json.loads(run_cli(home, *search, "--allow-small").stdout)
    assert [item["name"] for item in found["single"]] == ["small"]


def test_the_help_names_the_same_row_minimum_as_the_specs():
    from dock.cli import parser

    assert parser._MIN_PRIVATE_ROWS == MIN_ROWS  # the parser cannot import specs.privacy (numpy) to read it
