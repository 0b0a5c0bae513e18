"""Reuse screen: run a learnware on the user's CSV, see an accuracy, save the predictions."""

from __future__ import annotations

import csv

from tui.app import make_app
from tui.dialogs.error import ErrorDialog
from tui.reuse_job import offered_reusers
from tui.screens.reuse import ReuseScreen
from tui.viewmodels import ReuseTarget

from .conftest import IRIS_NAME, result_names, reuse_and_save, run, settle, type_into, wait_until


def test_reuse_the_iris_learnware_on_iris_data_shows_accuracy_and_saves(dock, iris_csv, tmp_path):
    out = tmp_path / "pred.csv"

    async def scenario(pilot):
        await type_into(pilot, "#query", "iris")
        await pilot.press("enter")
        await settle(pilot)
        assert result_names(pilot.app)[0] == IRIS_NAME
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReuseScreen), what="the reuse screen")
        await type_into(pilot, "#data-path", str(iris_csv))
        await type_into(pilot, "#label-column", "species")
        metric = await reuse_and_save(pilot, out)
        return pilot.app.screen.outcome, metric, pilot.app.screen.query_one("#preview").row_count

    outcome, metric, preview_rows = run(make_app(dock=dock), scenario)
    assert outcome.metrics["accuracy"] > 0.9 and outcome.rows == 150
    assert "Accuracy" in metric and f"{outcome.metrics['accuracy']:.1%}" in metric
    assert preview_rows > 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["prediction", "label"] and len(rows) == 151


def test_reuse_with_the_wrong_number_of_columns_is_an_error_not_a_crash(dock, iris_csv):
    iris_id = next(r.id for r in dock.list() if r.name == IRIS_NAME)

    async def scenario(pilot):
        await pilot.app.push_screen(ReuseScreen(ReuseTarget((iris_id,), (IRIS_NAME,), None, "Classification")))
        await type_into(pilot, "#data-path", str(iris_csv))  # no label column: 5 columns for a 4-column model
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog), timeout=60, what="the error")
        title, message = pilot.app.screen.error_title, pilot.app.screen.message
        await pilot.press("enter")
        await pilot.pause()
        return title, message, type(pilot.app.screen)

    title, message, screen = run(make_app(dock=dock), scenario)
    # said before the model runs, with the fix (dock/datafiles.py column_count_hint)
    assert title == "Cannot read the data file"
    assert "5 feature columns, this learnware takes 4" in message and "--label-column" in message
    assert screen is ReuseScreen


def test_a_single_learnware_is_run_directly_and_a_mixture_offers_what_dock_reuse_has():
    single, _ = offered_reusers(ReuseTarget(("a",), ("A",)))
    assert [c.key for c in single] == ["direct", "align", "align_labels"]  # align: a learnware with other columns
    mixture, missing = offered_reusers(ReuseTarget(("a", "b"), ("A", "B"), (0.5, 0.5)))
    assert mixture[0].key == "direct"
    offered = {c.class_name for c in mixture if c.class_name}
    assert offered.isdisjoint(missing)
    assert offered | set(missing) == {"JobSelectorReuser", "AveragingReuser", "EnsemblePruningReuser",
                                      "FeatureAugmentReuser", "HeteroAlignReuser"}
