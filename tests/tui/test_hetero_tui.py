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


def test_publish_screen_shows_the_header_columns_and_publishes_the_edited_ones(dock, tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from textual.widgets import SelectionList, TextArea

    from specs.hetero import FIELD
    from tui.screens.publish import PublishScreen

    from .conftest import plain

    wine = load_wine()
    X, y, names = wine.data, wine.target, [str(n) for n in wine.feature_names]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(X, y)
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model, protocol=4))
    data_path = tmp_path / "wine.csv"
    with open(data_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names + ["cultivar"])
        writer.writerows(np.column_stack([X, y]).tolist())
    before = len(dock.list())
    seen = {}

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        assert not screen.query_one("#columns-box").display  # nothing to show before a table is read
        await type_into(pilot, "#model-path", str(tmp_path / "m.pkl"))
        await type_into(pilot, "#data-path", str(data_path))
        await type_into(pilot, "#label-column", "cultivar")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await pilot.pause()
        area = screen.query_one("#column-descriptions", TextArea)
        seen["shown"] = screen.query_one("#columns-box").display
        seen["filled"] = area.text.splitlines()
        await type_into(pilot, "#name", "Cultivar from chemistry")
        screen.query_one("#sem-scenario", SelectionList).select("Agriculture")
        # One line too few: refused with the count, nothing packed or stored.
        area.text = "\n".join(["alcohol percent by volume"] + names[1:-1])
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "column descriptions" in plain(screen, "#publish-result"), what="the refusal")
        seen["refused"] = plain(screen, "#publish-result")
        seen["stored after refusal"] = len(dock.list())
        area.text = "\n".join(["alcohol percent by volume"] + names[1:])
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result"), timeout=90,
                         what="publishing")

    run(make_app(dock=dock), scenario)
    assert seen["shown"] and seen["filled"] == names  # the header, label column left out
    assert "12 column descriptions for 13 feature columns" in seen["refused"]
    assert seen["stored after refusal"] == before
    record = next(r for r in dock.list() if r.name == "Cultivar from chemistry")
    block = record.semantic_spec["Input"]
    assert block["Description"]["0"] == "alcohol percent by volume"
    assert block["Description"]["12"] == names[12] and len(block["Description"]) == 13
    assert block[FIELD]["source"] == "edited"
