"""Detail view: what a learnware is and the actions on it (export, remove; fetch disabled)."""

from __future__ import annotations

from textual.widgets import Button

from tui.app import make_app
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.path_prompt import PathPrompt
from tui.screens.detail import DetailScreen
from tui.screens.search import SearchScreen

from .conftest import IRIS_NAME, plain, result_names, run, settle, type_into, wait_until


async def open_iris(pilot):
    await type_into(pilot, "#query", "iris")
    await pilot.press("enter")
    await settle(pilot)
    assert result_names(pilot.app)[0] == IRIS_NAME
    await pilot.press("enter")  # the results table has the focus after a search
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="the detail view")
    await wait_until(pilot, lambda: pilot.app.screen.details is not None, what="the details")
    await pilot.pause()


def test_detail_shows_spec_size_id_and_why_fetch_is_off(dock):
    iris_id = next(r.id for r in dock.list() if r.name == IRIS_NAME)

    async def scenario(pilot):
        await open_iris(pilot)
        screen = pilot.app.screen
        texts = {w: plain(screen, f"#{w}") for w in ("detail-facts", "detail-semantic",
                                                                       "fetch-reason")}
        return texts, screen.query_one("#fetch", Button).disabled, screen.details

    texts, fetch_disabled, details = run(make_app(dock=dock), scenario)
    assert iris_id in texts["detail-facts"] and "RKMETableSpecification" in texts["detail-facts"]
    assert "Classification" in texts["detail-semantic"] and "Nature" in texts["detail-semantic"]
    assert fetch_disabled and "already in this dock" in texts["fetch-reason"]
    assert details.local and details.size == dock.get(iris_id).size


def test_export_then_remove_from_the_detail_view(dock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot):
        await open_iris(pilot)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PathPrompt), what="the export prompt")
        await pilot.press("enter")  # accept the proposed file name
        await wait_until(pilot, lambda: (tmp_path / "iris-species-classifier.zip").is_file(), what="the zip")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SearchScreen), what="back to search")
        # the search ("iris") runs again on the changed dock and finds nothing now
        await wait_until(pilot, lambda: result_names(pilot.app) == [], what="a refreshed search")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: len(result_names(pilot.app)) == 2, what="the listing")
        return result_names(pilot.app)

    names = run(make_app(dock=dock), scenario)
    exported = tmp_path / "iris-species-classifier.zip"
    assert exported.stat().st_size > 0
    assert IRIS_NAME not in [r.name for r in dock.list()] and IRIS_NAME not in names
