"""The TUI finds a learnware with other columns from a data file's header, marks it, and reuses it
with the align reuser (issue 14). A real dock, a real packed learnware, a real worker."""

from __future__ import annotations

import csv
import pickle

import numpy as np

from tui.app import make_app
from tui.screens.reuse import ReuseScreen
from tui.widgets.results import ResultsTable

from .conftest import result_names, run, settle, type_into, wait_until

LW_COLS = [0, 1, 2, 3, 6, 7, 10, 12, 13, 20, 21, 22, 23, 26, 27]
USER_COLS = [23, 0, 27, 1, 20, 7, 22, 2, 4, 24]


def test_the_tui_shows_a_hetero_match_and_reuses_it_with_align(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dock import Dock
    from dock.package.pack import pack_learnware
    from dock.search.hetero import input_block
    from specs import generate_semantic_spec

    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.data))
    X, y, names = data.data[order], data.target[order], [str(n) for n in data.feature_names]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[:340][:, LW_COLS], y[:340])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model, protocol=4))
    sem = generate_semantic_spec(
        name="Nuclei diagnosis", description="benign or malignant", data_type="Table", task_type="Classification",
        library_type="Scikit-learn", scenarios=["Health"], license="MIT",
        input_description=input_block([names[c].replace(" ", "_") for c in LW_COLS]),
        output_description={"Dimension": 2, "Description": {}})
    zip_path = pack_learnware(tmp_path / "bc.zip", model_file=tmp_path / "m.pkl", X=X[:340][:, LW_COLS],
                              semantic_spec=sem, K=40)
    user = tmp_path / "my-clinic.csv"
    with open(user, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([names[c] for c in USER_COLS] + ["label"])
        writer.writerows(np.column_stack([X[340:][:, USER_COLS], y[340:]]).tolist())
    majority = max(np.mean(y[340:] == 0), np.mean(y[340:] == 1))

    async def scenario(pilot):
        await type_into(pilot, "#spec-path", str(user))
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.stat is not None, timeout=60, what="the spec")
        await wait_until(pilot, lambda: any("⇄" in n for n in result_names(pilot.app)), timeout=90,
                         what="the hetero match")
        await settle(pilot)
        names_shown = result_names(pilot.app)
        pilot.app.screen.query_one(ResultsTable).focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReuseScreen), what="the reuse screen")
        screen = pilot.app.screen
        from textual.widgets import Select

        screen.query_one("#reuser", Select).value = "align"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.outcome is not None, timeout=120, what="predictions")
        return names_shown, screen.outcome

    with Dock.open(tmp_path / "home") as dock:
        dock.submit(zip_path)
        names_shown, outcome = run(make_app(dock=dock), scenario)
    assert names_shown[0].startswith("Nuclei diagnosis ⇄ 8/15 columns matched")
    assert outcome.metrics["accuracy"] > majority + 0.15
