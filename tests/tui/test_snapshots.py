"""Snapshots of the main screens at a fixed terminal size (pytest-textual-snapshot).

Content that is the same on every machine: zip ids and sizes are hidden (`show_ids_and_sizes=False`: an
id is the sha256 of a zip whose model is trained at test time, and its bytes differ between CPUs, BLAS
and zlib builds), wall times are hidden (`show_timings=False`), the cursor does not blink, paths are
relative to a tmp working folder.
Update with `pytest tests/tui --snapshot-update` only after looking at the report."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tui.app import make_app
from tui.dialogs.error import ErrorDialog
from tui.screens.detail import DetailScreen
from tui.screens.publish import PublishScreen
from tui.screens.reuse import ReuseScreen

from .conftest import IRIS_NAME, SIZE, settle, type_into, wait_until


@pytest.fixture
def app(dock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_app(dock=dock, cursor_blink=False, show_timings=False, show_ids_and_sizes=False)


def test_snapshots_hold_no_ids_or_hashes():
    # A run of 12+ hex digits is an id or hash (of a zip trained on this CPU): it would fail elsewhere.
    folder = Path(__file__).with_name("__snapshots__")
    files = sorted(folder.rglob("*.svg"))
    assert files, f"no snapshots under {folder}"
    # (a run of digits after a decimal point is a float in the SVG's geometry, e.g. 635.5999999999999 at 24 rows)
    assert [f.name for f in files if re.search(r"(?<![0-9.])[0-9a-f]{12}", f.read_text(encoding="utf-8"))] == []


async def use_spec(pilot, path: str) -> None:
    await settle(pilot)
    await type_into(pilot, "#spec-path", path)
    await pilot.press("enter")
    await wait_until(pilot, lambda: pilot.app.screen.stat is not None, what="the spec")
    await settle(pilot)


def test_search_listing(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_search_by_data_with_mixture(app, tmp_path, snap_compare):
    from dock.demo.market import load_dataset

    np.save(tmp_path / "my-digits.npy", load_dataset("load_digits", (0, 1, 2, 7, 8, 9))[0])

    async def run_before(pilot):
        await use_spec(pilot, "my-digits.npy")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_detail_view(app, iris_csv, tmp_path, snap_compare):
    lines = iris_csv.read_text().splitlines()
    (tmp_path / "some-iris.csv").write_text("\n".join(lines[:1] + lines[1::3]) + "\n")  # a third of the rows

    async def run_before(pilot):
        await settle(pilot)
        await type_into(pilot, "#spec-label", "species")
        await use_spec(pilot, "some-iris.csv")
        await pilot.press("enter")  # the results have the focus once the spec is in
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="the detail view")
        await wait_until(pilot, lambda: pilot.app.screen.details is not None, what="the details")
        assert pilot.app.screen.details.name == IRIS_NAME
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_reuse_after_a_run(app, dock, iris_csv, snap_compare):
    iris = next(r for r in dock.list() if r.name == IRIS_NAME)

    async def run_before(pilot):
        from tui.viewmodels import ReuseTarget

        await settle(pilot)
        await pilot.app.push_screen(ReuseScreen(ReuseTarget((iris.id,), (iris.name,), None, "Classification")))
        await type_into(pilot, "#data-path", "iris.csv")
        await type_into(pilot, "#label-column", "species")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, timeout=60, what="predictions")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_publish_form(app, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_network_offline(app, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: pilot.app.screen.query("#peers"), what="the network screen")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_error_modal(app, tmp_path, snap_compare):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")

    async def run_before(pilot):
        await settle(pilot)
        await type_into(pilot, "#spec-path", "bad.csv")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog), what="the error")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
