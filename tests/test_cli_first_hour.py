"""A new user's first hour with the CLI (issue 13): no traceback, one line per error, broken pipes
quiet, the label column guessed the same way everywhere. Real files from scikit-learn's bundled
datasets, real models, `lwdock` as a subprocess."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli


def _save_csv(path: Path, X: np.ndarray, y: np.ndarray, names: list[str], label: str) -> Path:
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join([*names, label]), comments="",
               fmt="%.6g")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """wine.csv (13 features + `target`), digits_6-9.csv / digits_0-5.csv (64 + `label`), a wine
    model, a digits model trained on classes 6-9 only, and a file that is not a pickle."""
    from sklearn.datasets import load_digits, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("first-hour")
    wine = load_wine()
    _save_csv(folder / "wine.csv", wine.data, wine.target, list(wine.feature_names), "target")
    wine_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(wine.data, wine.target)
    (folder / "wine.pkl").write_bytes(pickle.dumps(wine_model))
    digits = load_digits()
    high = digits.target >= 6
    names = [f"p{i}" for i in range(64)]
    _save_csv(folder / "digits_6-9.csv", digits.data[high], digits.target[high], names, "label")
    _save_csv(folder / "digits_0-5.csv", digits.data[~high], digits.target[~high], names, "label")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(digits.data[high],
                                                                                  digits.target[high])
    (folder / "m69.pkl").write_bytes(pickle.dumps(model))
    (folder / "notpickle.pkl").write_text("hello, I am not a model\n")
    return folder


@pytest.fixture(scope="module")
def wine_dock(files, tmp_path_factory):
    """A home holding the wine learnware; returns (home, its id)."""
    home = tmp_path_factory.mktemp("wine-home")
    zip_path = files / "wine.zip"
    run_cli(home, "pack", "--model", str(files / "wine.pkl"), "--data", str(files / "wine.csv"),
            "--label-column", "target", "--name", "Wine cultivar", "--scenario", "Nature", "-o", str(zip_path))
    learnware_id = run_cli(home, "submit", str(zip_path)).stdout.strip()
    return home, learnware_id


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and 'File "' not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_into_closed_pipe(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`lwdock ARGS | head -0`, deterministically: stdout is a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "dock.cli", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, LWDOCK_HOME=str(home)), timeout=300)
    finally:
        os.close(write_end)


# -- tracebacks ----------------------------------------------------------------------------------
def test_broken_pipe_exits_quietly_with_status_0(wine_dock):
    home, learnware_id = wine_dock
    for args in (("list", "--json"), ("show", learnware_id[:8], "--json"), ("search", "wine", "--json")):
        proc = run_into_closed_pipe(home, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stderr == "", (args, proc.stderr)
        # the honest path: the same command into a reader prints its JSON
        assert json.loads(run_cli(home, *args).stdout)
    proc = run_into_closed_pipe(home, "show", "ffffffffff", "--json")  # a real error still says so
    assert proc.returncode != 0 and proc.stderr.startswith("error:")


def test_pack_missing_or_broken_model_is_one_line_before_any_fitting(files, tmp_path):
    out_zip = tmp_path / "x.zip"
    common = ("--data", str(files / "wine.csv"), "--label-column", "target", "--name", "x", "--scenario", "Nature",
              "-o", str(out_zip))
    proc = run_cli(tmp_path, "pack", "--model", str(tmp_path / "nope.pkl"), *common, check=False)
    assert_one_line_error(proc, "no such model file", "nope.pkl")
    assert "fitting" not in proc.stderr and not out_zip.exists()
    proc = run_cli(tmp_path, "pack", "--model", str(files / "notpickle.pkl"), *common, check=False)
    line = assert_one_line_error(proc, "the model file could not be loaded", "pickle or joblib", "--debug")
    assert "fitting the table spec on" not in proc.stderr.split(line)[0] and not out_zip.exists()
    # --debug shows the worker's traceback for whoever wants it
    proc = run_cli(tmp_path, "--debug", "pack", "--model", str(files / "notpickle.pkl"), *common, check=False)
    assert proc.returncode != 0 and 'File "' in proc.stderr
    # the honest path: the real model packs
    run_cli(tmp_path, "pack", "--model", str(files / "wine.pkl"), *common)
    assert out_zip.is_file()


def test_a_model_rejecting_the_data_is_summarised_in_one_line(files, tmp_path):
    out_zip = tmp_path / "d.zip"
    # numbered columns: nothing to guess, so all 65 columns reach a model that takes 64
    digits = np.loadtxt(files / "digits_6-9.csv", delimiter=",", skiprows=1)
    np.save(tmp_path / "digits.npy", digits)
    proc = run_cli(tmp_path, "pack", "--model", str(files / "m69.pkl"), "--data", str(tmp_path / "digits.npy"),
                   "--name", "d", "--scenario", "Education", "--output-dim", "10", "-o", str(out_zip), check=False)
    line = assert_one_line_error(proc, "the model rejected the data: X has 65 features", "expecting 64")
    log = Path(line.split("details: ")[1].split(";")[0])
    assert "sklearn" in log.read_text()  # the traceback is in the log
    assert not out_zip.exists()
    run_cli(tmp_path, "pack", "--model", str(files / "m69.pkl"), "--data", str(tmp_path / "digits.npy"),
            "--label-column", "64", "--name", "d", "--scenario", "Education", "--output-dim", "10", "-o", str(out_zip))
    assert out_zip.is_file()


def test_the_empty_dock_hint_names_valid_commands(tmp_path):
    import re

    from dock.cli.parser import build_parser
    from tui.screens.search import EMPTY_DOCK_HINT

    commands = re.findall(r"`lwdock ([^`]*)`", EMPTY_DOCK_HINT)
    assert len(commands) == 2
    for command in commands:
        build_parser().parse_args(command.replace("DIR", str(tmp_path)).split())  # exits (fails) if invalid
    with pytest.raises(SystemExit):  # the old hint, which did not parse
        build_parser().parse_args(["demo", "--home", str(tmp_path)])


def test_a_classifier_trained_on_a_subset_of_classes_packs_and_submits(files, tmp_path):
    out_zip = tmp_path / "d69.zip"
    proc = run_cli(tmp_path, "pack", "--model", str(files / "m69.pkl"), "--data", str(files / "digits_6-9.csv"),
                   "--label-column", "label", "--name", "Digits 6-9", "--scenario", "Education", "-o", str(out_zip))
    assert "Output.Dimension 10" in proc.stderr and "trained on 4" in proc.stderr
    learnware_id = run_cli(tmp_path, "submit", str(out_zip)).stdout.strip()
    shown = json.loads(run_cli(tmp_path, "show", learnware_id, "--json").stdout)
    assert shown["semantic_spec"]["Output"]["Dimension"] == 10
    assert sorted(shown["semantic_spec"]["Output"]["Description"]) == ["6", "7", "8", "9"]
    # the refusal still holds for a dimension too small for the labels, and says the fix
    small_zip = tmp_path / "d4.zip"
    run_cli(tmp_path, "pack", "--model", str(files / "m69.pkl"), "--data", str(files / "digits_6-9.csv"),
            "--label-column", "label", "--output-dim", "4", "--name", "Digits 4", "--scenario", "Education",
            "-o", str(small_zip))
    proc = run_cli(tmp_path, "submit", str(small_zip), check=False)
    assert_one_line_error(proc, "labels must be integers in [0, 4)", "--output-dim 10")
    assert len(json.loads(run_cli(tmp_path, "list", "--json").stdout)) == 1  # nothing stored


# -- one data-file flow ------------------------------------------------------------------------------
def test_readme_spec_then_search_finds_the_learnware(wine_dock, files, tmp_path):
    home, learnware_id = wine_dock
    stat = tmp_path / "stat.json"
    proc = run_cli(home, "spec", "table", str(files / "wine.csv"), "-o", str(stat), "--json")
    assert "label column: `target` (guessed" in proc.stderr
    assert json.loads(proc.stdout)["dim"] == 13  # the label column is left out
    found = json.loads(run_cli(home, "search", "--stat", str(stat), "--json").stdout)
    assert found["single"][0]["id"] == learnware_id
    # keeping every column is still possible, and the refusal then says the fix
    stat14 = tmp_path / "stat14.json"
    run_cli(home, "spec", "table", str(files / "wine.csv"), "--label-column", "none", "-o", str(stat14))
    proc = run_cli(home, "search", "--stat", str(stat14), check=False)
    assert_one_line_error(proc, "dimensions available: 13", "--label-column NAME")


def test_search_stat_takes_a_data_file(wine_dock, files):
    home, learnware_id = wine_dock
    proc = run_cli(home, "search", "--stat", str(files / "wine.csv"), "--json")
    assert "label column: `target` (guessed" in proc.stderr
    assert json.loads(proc.stdout)["single"][0]["id"] == learnware_id
    # The label kept as a feature: 14 named columns, the learnware takes 13 of them. Since issue 14 the
    # search matches columns by name (a hetero match: 13 mapped, none imputed) and says what was kept.
    proc = run_cli(home, "search", "--stat", str(files / "wine.csv"), "--label-column", "none", "--json")
    top = json.loads(proc.stdout)["single"][0]
    assert top["id"] == learnware_id and top["hetero"]["lacking"] == 0
    assert "`target` looks like a label column and was kept as a feature; to leave it out: --label-column target" \
        in proc.stderr
    # A same-width spec without column names (a stat.json) still gets the one-line column-count error.
    spec = files / "wine14.json"
    run_cli(home, "spec", "table", str(files / "wine.csv"), "--label-column", "none", "-o", str(spec))
    proc = run_cli(home, "search", "--stat", str(spec), check=False)
    assert_one_line_error(proc, "is one of your columns the labels?")


def test_the_guess_belongs_to_each_file(files, tmp_path):
    from dock.datafiles import guess_label_column, resolve_label_column

    price = tmp_path / "houses.csv"
    price.write_text("rooms,area,price\n3,70,200\n4,90,260\n")
    assert guess_label_column(files / "wine.csv") == "target"
    assert guess_label_column(files / "digits_6-9.csv") == "label"
    assert guess_label_column(price) is None  # the previous file's guess does not carry over
    regression = {"Output": {"Dimension": 1, "Description": {"0": "price"}}}
    assert guess_label_column(price, [regression]) == "price"  # named by the learnware's Output
    assert resolve_label_column(files / "wine.csv", "none") == (None, False)
    assert resolve_label_column(files / "wine.csv", None) == ("target", True)


def test_reuse_guesses_the_label_and_checks_columns_before_running(wine_dock, files):
    home, learnware_id = wine_dock
    proc = run_cli(home, "reuse", learnware_id[:10], "--data", str(files / "wine.csv"), "--json")
    assert "label column: `target` (guessed" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["rows"] == 178 and result["metrics"]["accuracy"] > 0.8
    proc = run_cli(home, "reuse", learnware_id[:10], "--data", str(files / "wine.csv"), "--label-column", "none",
                   check=False)
    assert_one_line_error(proc, "wine.csv has 14 feature columns, this learnware takes 13",
                          "--label-column target")
    proc = run_cli(home, "reuse", learnware_id[:10], "--data", str(files / "digits_0-5.csv"), check=False)
    assert_one_line_error(proc, "digits_0-5.csv has 64 feature columns, this learnware takes 13")


def test_the_tui_label_box_follows_each_file(files, tmp_path):
    """The search, reuse and publish screens fill their label box through tui/label_guess.py."""
    from types import SimpleNamespace

    from tui.label_guess import LabelGuess

    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,c\n1,2,3\n4,5,6\n")
    box, said = SimpleNamespace(value=""), []
    state = LabelGuess()
    assert state.apply(box, files / "wine.csv", notify=said.append) == "target" and "target" in said[0]
    assert state.apply(box, plain, notify=said.append) is None and box.value == ""  # the guess did not stick
    box.value = "c"  # the user's own choice is kept for the next file
    assert state.apply(box, files / "digits_6-9.csv") == "c"


def test_a_model_rejecting_the_data_in_reuse_is_one_line(wine_dock, files, tmp_path):
    home, learnware_id = wine_dock
    lines = (files / "wine.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[0] = ""  # a missing value, which the model refuses
    holes = tmp_path / "holes.csv"
    holes.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    proc = run_cli(home, "reuse", learnware_id[:10], "--data", str(holes), check=False)
    line = assert_one_line_error(proc, "the model rejected the data:", "NaN")
    assert "details: " in line
    assert json.loads(run_cli(home, "reuse", learnware_id[:10], "--data", str(files / "wine.csv"),
                              "--json").stdout)["rows"] == 178


def test_a_bug_is_one_line_naming_the_log(tmp_path):
    """No real bug to trigger on purpose: the command is replaced by one that fails unexpectedly."""
    code = ("import sys, dock.cli.commands as c\n"
            "def broken(args):\n    raise KeyError('surprise')\n"
            "c.cmd_list = broken\n"
            "from dock.cli.parser import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, LWDOCK_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", code, "list"], capture_output=True, text=True, env=env, timeout=60)
    line = assert_one_line_error(proc, "unexpected KeyError", "this is a bug in lwdock", "cli-errors.log")
    log = Path(line.split("the traceback is in ")[1].split(" (please")[0])
    assert "Traceback" in log.read_text() and "surprise" in log.read_text()
    proc = subprocess.run([sys.executable, "-c", code, "--debug", "list"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode != 0 and "Traceback" in proc.stderr  # --debug: the details on stderr
    assert run_cli(tmp_path / "home", "list", "--json").stdout.strip() == "[]"  # the honest path
