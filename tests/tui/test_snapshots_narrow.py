"""Snapshots at 80x24, a laptop terminal (tests/tui/test_snapshots.py holds the 120x36 ones): the
filter sidebar folded, the compact footer with every key, the status line above it. Same rules:
no ids, sizes or timings (hidden), cursor not blinking, paths relative to a tmp folder.
Update with `pytest tests/tui --snapshot-update` only after looking at the report."""

from __future__ import annotations

import pytest

from tui.app import make_app
from tui.screens.detail import DetailScreen
from tui.screens.publish import PublishScreen
from tui.widgets.results import ResultsTable

from .conftest import IRIS_NAME, settle, wait_until

NARROW = (80, 24)
HINT = "demo files and saves: ~/lwdock-demo-output (iris.csv, digits_0-5.csv; ctrl+o)"


@pytest.fixture
def app(dock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_app(dock=dock, cursor_blink=False, show_timings=False, show_ids_and_sizes=False, status_hint=HINT)


def test_search_listing_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=NARROW, run_before=settle)


def test_detail_view_80x24(app, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        table = pilot.app.screen.query_one(ResultsTable)
        table.focus()
        table.move_cursor(row=[r.name for r in table.rows_shown].index(IRIS_NAME))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen)
                         and pilot.app.screen.details is not None, what="the detail view")
        await settle(pilot)

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


def test_publish_form_80x24(app, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        await settle(pilot)

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


def test_network_offline_80x24(app, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: pilot.app.screen.query("#peers"), what="the network screen")
        await settle(pilot)

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)
