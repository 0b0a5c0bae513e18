"""Search screen: by text, by a stat spec file, by a data file, filters, the mixture row, errors."""

from __future__ import annotations

import numpy as np

from tui.app import make_app
from tui.dialogs.error import ErrorDialog
from tui.messages import SPEC, Progress
from tui.reuse_job import reuser_class
from tui.screens.reuse import ReuseScreen
from tui.screens.search import SearchScreen
from tui.widgets.results import ResultsTable

from .conftest import IRIS_NAME, plain, result_names, run, settle, type_into, wait_until


def test_startup_lists_every_learnware(dock):
    async def scenario(pilot):
        return result_names(pilot.app), plain(pilot.app.screen, "#search-status")

    names, status = run(make_app(dock=dock), scenario)
    assert sorted(names) == sorted(r.name for r in dock.list()) and len(names) == 3
    assert "All 3 learnwares" in status


def test_search_by_text_shows_the_expected_learnware_first(dock):
    async def scenario(pilot):
        await type_into(pilot, "#query", "iris flowers")
        await pilot.press("enter")
        await settle(pilot)
        return result_names(pilot.app), pilot.app.focused

    names, focused = run(make_app(dock=dock), scenario)
    assert names[0] == IRIS_NAME
    assert isinstance(focused, ResultsTable)  # enter hands the keyboard to the results


def test_search_by_stat_spec_file_ranks_iris_first(dock, tmp_path):
    from sklearn.datasets import load_iris

    from specs import generate_stat_spec

    spec_path = tmp_path / "iris-stat.json"
    generate_stat_spec(type="table", X=load_iris(return_X_y=True)[0]).save(spec_path)

    async def scenario(pilot):
        await type_into(pilot, "#spec-path", str(spec_path))
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.stat is not None, what="the spec")
        await settle(pilot)
        table = pilot.app.screen.query_one(ResultsTable)
        return result_names(pilot.app), table.rows_shown, plain(pilot.app.screen, "#spec-info")

    names, rows, info = run(make_app(dock=dock), scenario)
    assert names[0] == IRIS_NAME
    iris = next(r for r in rows if r.name == IRIS_NAME)
    assert iris.score is not None and iris.score > 0.5 and iris.mmd2 is not None
    assert "iris-stat.json" in info


def test_search_by_data_file_computes_the_spec_in_a_worker(dock, tmp_path):
    from dock.demo.market import load_dataset

    X, _ = load_dataset("load_digits", (6, 7, 8, 9))
    path = tmp_path / "my-digits.npy"
    np.save(path, X)

    async def scenario(pilot):
        await type_into(pilot, "#spec-path", str(path))
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.stat is not None, what="the spec")
        await settle(pilot)
        return result_names(pilot.app), plain(pilot.app.screen, "#spec-info")

    seen: list = []
    names, info = run(make_app(dock=dock), scenario, messages=seen)
    assert names[0] == "Digits 6-9 recogniser"
    progress = [msg.text for msg in seen if isinstance(msg, Progress) and msg.job == SPEC]
    assert any("fitting the statistical spec" in text for text in progress)
    assert f"{len(X)} rows × 64 columns" in info


def test_the_mixture_is_its_own_row_when_the_dock_recommends_one(dock, tmp_path):
    from dock import UserInfo
    from dock.demo.market import load_dataset

    X, _ = load_dataset("load_digits", (0, 1, 2, 7, 8, 9))
    path = tmp_path / "mixed-digits.npy"
    np.save(path, X)

    async def scenario(pilot):
        await type_into(pilot, "#spec-path", str(path))
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.stat is not None, what="the spec")
        await settle(pilot)
        rows, spec = pilot.app.screen.query_one(ResultsTable).rows_shown, pilot.app.screen.stat.spec
        outcome = None
        if rows and rows[0].is_mixture:  # enter on it: reuse the mixture, on the data searched with
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReuseScreen), what="the reuse screen")
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, timeout=60, what="predictions")
            outcome = pilot.app.screen.outcome
        return rows, spec, outcome

    rows, spec, outcome = run(make_app(dock=dock), scenario)
    expected = dock.search(UserInfo(stat_info={spec.type: spec}), limit=20).multiple
    mixtures = [r for r in rows if r.is_mixture]
    if expected is None or len(expected.ids) < 2:
        assert mixtures == []
    else:
        assert rows[0].is_mixture and set(rows[0].ids) == set(expected.ids)
        assert rows[0].weights is not None and abs(sum(rows[0].weights) - 1) < 1e-6
        assert all(name in rows[0].name for name in rows[0].names)
        assert outcome.rows == len(X) and outcome.target.ids[0] == max(
            zip(rows[0].ids, rows[0].weights, strict=True), key=lambda p: p[1])[0]
        if reuser_class("JobSelectorReuser") is not None:  # a mixture is reused as one by default
            assert outcome.reuser.startswith("Job selector")


def test_filters_narrow_the_results(dock):
    async def scenario(pilot):
        pilot.app.screen.query_one("#filters").set_value("Scenario", "Nature")
        await wait_until(pilot, lambda: result_names(pilot.app) == [IRIS_NAME], timeout=10, what="filtered rows")
        pilot.app.screen.action_reset()
        await wait_until(pilot, lambda: len(result_names(pilot.app)) == 3, timeout=10, what="reset")
        return True

    assert run(make_app(dock=dock), scenario)


def test_a_bad_data_file_shows_an_error_modal_and_the_app_lives_on(dock, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")

    async def scenario(pilot):
        await type_into(pilot, "#spec-path", str(bad))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog), what="the error modal")
        dialog = pilot.app.screen
        seen = (dialog.error_title, dialog.message, dialog.context)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, SearchScreen)
        assert not pilot.app.screen.query_one("#progress-spec").busy
        await type_into(pilot, "#query", "digits")
        await pilot.press("enter")
        await settle(pilot)
        return seen, result_names(pilot.app)

    (title, message, context), names = run(make_app(dock=dock), scenario)
    assert title == "Cannot read the data file"
    assert "bad.csv" in message and "'oops' is not a number" in message
    assert "statistical spec" in context
    assert names and all("Digits" in n for n in names)
