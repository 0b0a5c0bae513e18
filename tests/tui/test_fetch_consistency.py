"""After any fetch the detail view and the listing's "Where" agree with the catalogue (issue 13,
"Confusing"): never "Providers none known" beside "Fetch: on peers"; the Fetch button gone once the
zip is here; "local" in the listing after a fetch made by the detail view or by a load (a reuse of
a mixture fetches its members that way). Real nodes on 127.0.0.1."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual.widgets import Button

from tests.dock.fixtures import model_source, package_files, semantic, write_zip
from tests.helpers import wait_until as wait_for
from tui.app import make_app
from tui.screens.detail import DetailScreen
from tui.widgets.results import ResultsTable

from .conftest import plain, run, settle, type_into, wait_until


@pytest.fixture
def peer_with_two(dock, tmp_path):
    """A peer holding two learnwares this dock has only the records of, once synced."""
    from dock import Dock
    from dock.network.service import NetworkService

    other = Dock.open(tmp_path / "peer")
    X = np.random.default_rng(0).normal(size=(60, 4))
    names = ("Remote sign detector", "Remote sign guesser")
    for n, name in enumerate(names):
        files = package_files(model_source(f"return (X[:, {n}] > 0).astype(int)"), X, semantic(name=name))
        other.submit(write_zip(tmp_path / f"remote{n}.zip", files))
    peer = NetworkService(other)
    peer.start(listen=["/ip4/127.0.0.1/tcp/0"])
    here = NetworkService(dock)
    here.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=[peer.node.addrs[0]])
    ids = {r.name: r.id for r in other.list()}
    try:
        wait_for(lambda: all(dock.catalogue.exists(i) for i in ids.values()), 30, "the peer's records here")
        assert not any(dock.has_zip(i) for i in ids.values())
        yield ids
    finally:
        here.stop()
        peer.stop()
        other.close()


def where(app, name: str) -> str:
    table = app.screen.query_one(ResultsTable)
    row = next(r for r in table.rows_shown if r.name == name)
    return str(table.get_row(row.key)[-1])


def test_detail_and_listing_follow_every_fetch(dock, peer_with_two):
    detector, guesser = peer_with_two["Remote sign detector"], peer_with_two["Remote sign guesser"]

    async def scenario(pilot):
        app = pilot.app
        await type_into(pilot, "#query", "remote sign")
        await pilot.press("enter")
        await settle(pilot)
        before = {n: where(app, n) for n in ("Remote sign detector", "Remote sign guesser")}
        table = app.screen.query_one(ResultsTable)
        table.move_cursor(row=[r.name for r in table.rows_shown].index("Remote sign detector"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.details is not None,
                         what="the detail view")
        screen = app.screen
        await settle(pilot)
        first = plain(screen, "#detail-facts"), plain(screen, "#fetch-reason"), screen.query_one("#fetch").display
        await pilot.press("f")
        await wait_until(pilot, lambda: screen.details is not None and screen.details.local, timeout=60,
                         what="the fetch")
        await settle(pilot)
        after = (plain(screen, "#detail-facts"), screen.query_one("#fetch", Button).display,
                 screen.query_one("#fetch-reason").display, screen.status_line.text)
        await pilot.press("escape")
        await settle(pilot)
        listed = where(app, "Remote sign detector")
        # a load fetches too (what a reuse of a mixture does for each member): the listing follows
        await asyncio.to_thread(lambda: app.backend.load(guesser).close())
        app.push_screen(DetailScreen(table.rows_shown[0]))  # any trip away and back re-reads the listing
        await settle(pilot)
        app.pop_screen()
        await settle(pilot)
        return before, first, after, listed, where(app, "Remote sign guesser")

    before, first, after, listed, listed_after_load = run(make_app(dock=dock), scenario)
    assert before == {"Remote sign detector": "not local", "Remote sign guesser": "not local"}
    facts, fetch_line, fetch_shown = first
    assert "none known" not in facts and "peers on the network" in facts
    assert fetch_line == "Fetch: its zip is on peers (f)." and fetch_shown
    facts, fetch_shown, reason_shown, status = after
    assert "this dock (the zip is local)" in facts and not fetch_shown and not reason_shown
    assert status == "Fetched: 'Remote sign detector' is now in this dock"
    assert listed == "local" and dock.has_zip(detector)
    assert listed_after_load == "local" and dock.has_zip(guesser)


def test_a_preview_that_fetches_turns_where_local_without_a_new_search(dock, peer_with_two, tmp_path):
    """The preview runs the top rows; one only on the peer is fetched to run (online, small): its
    Where cell follows at once instead of saying "not local" until the next search."""
    X = np.random.default_rng(1).normal(size=(200, 4))
    data = tmp_path / "signs.csv"
    np.savetxt(data, np.column_stack([X, (X[:, 0] > 0).astype(int)]), delimiter=",",
               header="a,b,c,d,label", comments="", fmt="%.6g")
    detector = peer_with_two["Remote sign detector"]

    async def scenario(pilot):
        app = pilot.app
        await type_into(pilot, "#spec-path", str(data))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.stat is not None, what="the spec")
        table = app.screen.query_one(ResultsTable)
        await wait_until(pilot, lambda: any(r.name == "Remote sign detector" for r in table.rows_shown),
                         what="the peer's learnware in the results")
        row = next(r for r in table.rows_shown if r.name == "Remote sign detector")
        first = where(app, "Remote sign detector")
        # Zips only arrive: if it is not here now, it was not when `first` was read. (Under load the
        # preview can fetch it before the row is read; then "local" is already right.)
        fetched_by_then = dock.has_zip(detector)
        await wait_until(pilot, lambda: table.preview_text(row.key).startswith("acc"), timeout=120,
                         what="the remote row measured")
        await settle(pilot)
        return first, fetched_by_then, table.preview_text(row.key), where(app, "Remote sign detector")

    first, fetched_by_then, measured, after = run(make_app(dock=dock), scenario)
    assert first == "not local" or fetched_by_then
    assert float(measured.removeprefix("acc ").rstrip("%")) > 90  # it predicts exactly the label
    assert after == "local" and dock.has_zip(detector)
