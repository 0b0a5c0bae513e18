"""Publish screen: model + data → spec → form → checks → stored; the next search finds it."""

from __future__ import annotations

import pickle

from textual.widgets import Select, SelectionList

from tui.app import make_app
from tui.screens.publish import PublishScreen

from .conftest import plain, result_names, run, settle, type_into, wait_until


def test_publish_creates_a_learnware_that_the_next_search_finds(dock, tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    model_path = tmp_path / "wine-model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    data_path = tmp_path / "wine.csv"
    header = ",".join([f"f{i}" for i in range(X.shape[1])] + ["cultivar"])
    lines = [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    data_path.write_text(header + "\n" + "\n".join(lines) + "\n")
    before = len(dock.list())

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(data_path))
        await type_into(pilot, "#label-column", "cultivar")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await pilot.pause()
        suggested = (screen.query_one("#sem-task", Select).value, screen.query_one("#output-dim").value)
        await type_into(pilot, "#name", "Vineyard grape typer")
        await type_into(pilot, "#description", "Tells three grape cultivars apart")
        screen.query_one("#sem-scenario", SelectionList).select("Agriculture")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result"),
                         timeout=90, what="publishing")
        await pilot.press("f2")
        await type_into(pilot, "#query", "vineyard grape")
        await pilot.press("enter")
        await settle(pilot)
        return suggested, result_names(pilot.app)

    suggested, names = run(make_app(dock=dock), scenario)
    assert suggested == ("Classification", "3")
    assert names[0] == "Vineyard grape typer"
    assert len(dock.list()) == before + 1
    record = next(r for r in dock.list() if r.name == "Vineyard grape typer")
    assert record.scenarios == ["Agriculture"] and record.output_dim == 3 and record.input_dim == 13


def test_publish_without_a_name_says_so(dock, tmp_path, iris_csv):
    model_path = tmp_path / "m.pkl"
    model_path.write_bytes(b"not used: the form is refused first")

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(iris_csv))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ErrorDialog", what="the error")
        return pilot.app.screen.message

    assert "name" in run(make_app(dock=dock), scenario)
