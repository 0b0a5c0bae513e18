"""A laptop terminal (issue 13 item 5): at 80x24 and 120x36 every screen keeps its footer keys,
its status line and its focused widget on screen; the filter sidebar folds at 80 columns and comes
back with ctrl+b; the focused table shows a ring; publish progress and its result stay in view."""

from __future__ import annotations

import pickle

import pytest
from textual.geometry import Region
from textual.widgets import DataTable, Footer, SelectionList

from tui.app import make_app
from tui.screens.detail import DetailScreen
from tui.screens.network import NetworkScreen
from tui.screens.publish import PublishScreen
from tui.widgets.filters import FilterPanel
from tui.widgets.results import ResultsTable
from tui.widgets.status_line import StatusLine

from .conftest import plain, run, settle, type_into, wait_until

SIZES = [(80, 24), (120, 36)]
HINT = "demo files and saves: ~/lwdock-demo-output (iris.csv, digits_0-5.csv; ctrl+o)"


def assert_fits(app, size) -> dict:
    """Footer on the last row with every key inside the width, the status line just above it, the
    focused widget inside what is left. Returns what the screen shows, without ids or timings."""
    width, height = size
    screen = app.screen
    footer = screen.query_one(Footer)
    assert footer.region == Region(0, height - 1, width, 1), f"{type(screen).__name__}: footer at {footer.region}"
    keys = [k for k in footer.query("FooterKey") if k.display]
    assert keys and all(0 < k.region.right <= width and k.region.width > 0 for k in keys), \
        f"{type(screen).__name__}: footer keys off screen: {[k.region for k in keys]}"
    status = screen.query_one(StatusLine)
    assert status.region == Region(0, height - 2, width, 1)
    focused = app.focused
    assert focused is not None, f"{type(screen).__name__}: nothing has focus"
    body = Region(0, 0, width, height - 2)
    visible = focused.region.intersection(body)
    assert visible.area > 0, f"{type(screen).__name__}: focused {focused} at {focused.region} is off screen"
    return {"screen": type(screen).__name__, "keys": [k.description for k in keys], "status": status.text,
            "focused": type(focused).__name__}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits_with_footer_status_line_and_focus_on_screen(dock, size, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot):
        app, seen = pilot.app, []
        seen.append(assert_fits(app, size))
        narrow = size[0] < 100
        assert app.screen.query_one(FilterPanel).display is not narrow  # the sidebar folds at 80 columns
        app.screen.query_one(ResultsTable).focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.details is not None,
                         what="the detail view")
        await settle(pilot)
        seen.append(assert_fits(app, size))
        await pilot.press("escape")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PublishScreen), what="the publish screen")
        await settle(pilot)
        seen.append(assert_fits(app, size))
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, NetworkScreen), what="the network screen")
        await settle(pilot)
        seen.append(assert_fits(app, size))
        return seen

    seen = run(make_app(dock=dock, cursor_blink=False, show_timings=False, status_hint=HINT), scenario, size=size)
    # snapshot-like: what each screen offers, the same at both sizes but for the key to the screen you are on
    assert [s["screen"] for s in seen] == ["SearchScreen", "DetailScreen", "PublishScreen", "NetworkScreen"]
    assert seen[0]["keys"][:3] == ["Query", "Data file", "New search"]
    assert "Search" not in seen[0]["keys"] and {"Publish", "Network", "Help"} <= set(seen[0]["keys"])
    assert seen[1]["keys"][:4] == ["Back", "Reuse", "Export", "Remove"] and "Fetch" not in seen[1]["keys"]
    assert seen[2]["keys"][:3] == ["Browse", "Read data", "Publish"] and "Search" in seen[2]["keys"]
    assert seen[3]["keys"][0] == "Refresh" and "Network" not in seen[3]["keys"]
    assert all(s["status"] == HINT for s in seen)  # nothing ran: each status line shows the hint
    assert [s["focused"] for s in seen] == ["Input", "Button", "PathInput", "DataTable"]


def test_narrow_sidebar_comes_back_and_the_focused_table_shows_a_ring(dock):
    async def scenario(pilot):
        screen = pilot.app.screen
        panel = screen.query_one(FilterPanel)
        assert not panel.display
        table = screen.query_one(ResultsTable)
        unfocused = table.styles.border_left
        table.focus()
        await pilot.pause()
        focused = table.styles.border_left
        await pilot.press("ctrl+b")
        await pilot.pause()
        shown = panel.display and panel.region.width > 0
        return unfocused, focused, shown

    unfocused, focused, shown = run(make_app(dock=dock), scenario, size=(80, 24))
    assert shown
    assert unfocused[0] == focused[0] == "outer" and unfocused[1] != focused[1]  # the ring: an accent bar


def test_publish_progress_and_result_stay_in_view_at_120x36(dock, tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    model_path = tmp_path / "wine-model.pkl"
    model_path.write_bytes(pickle.dumps(LogisticRegression(max_iter=5000).fit(X, y)))
    data_path = tmp_path / "wine.csv"
    lines = [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    data_path.write_text(",".join([f"f{i}" for i in range(13)] + ["label"]) + "\n" + "\n".join(lines) + "\n")

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PublishScreen), what="the publish screen")
        screen = app.screen
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(data_path))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await type_into(pilot, "#name", "Layout test wine")
        screen.query_one("#sem-scenario", SelectionList).select("Agriculture")
        await pilot.press("ctrl+s")
        status = screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status.kind == "busy", what="publish progress on the status line")
        busy = status.region
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result"), timeout=90,
                         what="publishing")
        await settle(pilot)
        result = screen.query_one("#publish-result")
        scroller = screen.query_one("#publish-body")
        return busy, status.text, status.kind, result.region.intersection(scroller.region).area > 0

    busy, text, kind, result_in_view = run(make_app(dock=dock, show_timings=False), scenario, size=(120, 36))
    assert busy == Region(0, 34, 120, 1)  # progress shown on the row above the footer, whatever the scroll
    assert kind == "done" and text == "Published: 'Layout test wine' is in the dock"
    assert result_in_view  # the form scrolled to the result


def test_network_screen_shows_peer_rows_from_real_nodes(dock, tmp_path):
    """The TUI's dock online, a peer whose identify carries markup and control bytes as its
    nickname: its row shows the address, latency and the nickname escaped and truncated."""
    from dock import Dock
    from dock.network.service import NetworkService
    from p2p import NodeConfig, P2PNode
    from tui.network_status import DockStatusNetwork

    here = NetworkService(dock)
    here.start(listen=["/ip4/127.0.0.1/tcp/0"])
    other = Dock.open(tmp_path / "peer")
    peer = NetworkService(other, P2PNode(identity=other.identity, config=NodeConfig(nickname="alice")))
    peer.start(listen=["/ip4/127.0.0.1/tcp/0"])
    # what a hostile peer may send (ours refuse such names; theirs need not)
    peer.node._host.lwdock_agent_version = "lwdock/9 (name: [red]alice\x1b[2J-and-a-very-long-tail)"
    try:
        peer.node.connect(here.node.addrs[0])

        async def scenario(pilot):
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, NetworkScreen), what="network screen")
            table = pilot.app.screen.query_one("#peers", DataTable)

            def row():
                if table.row_count != 1:
                    return None
                cells = [str(getattr(c, "plain", c)) for c in table.get_row_at(0)]
                return cells if cells[4] != "—" and cells[1] != "—" else None

            await wait_until(pilot, lambda: row() is not None, timeout=30, what="the peer's row, measured")
            return row(), [str(c.label) for c in table.columns.values()]

        cells, columns = run(make_app(dock=dock, network=DockStatusNetwork(dock)), scenario, size=(80, 24))
    finally:
        peer.stop()
        other.close()
        here.stop()
    assert columns == ["Peer", "Nickname", "Address", "Records", "Latency"]
    short, nickname, address, records, latency = cells
    assert short.startswith(peer.node.peer_id[:6]) and "…" in short
    assert nickname.startswith("[red]alice") and "\x1b" not in nickname and len(nickname) <= 17
    assert address.startswith("/ip4/127.0.0.1/tcp/") and records == "0" and latency.endswith(" ms")


def test_the_welcome_gives_way_to_the_file_picker_it_points_to(dock):
    """At 80x24 the welcome toast covers half the screen for a minute; it tells the user to press
    ctrl+o, so when they do, it goes (and the picker is not half hidden behind it)."""
    from tui.dialogs.file_picker import FilePicker

    async def scenario(pilot):
        app = pilot.app
        await wait_until(pilot, lambda: len(app._notifications) > 0, what="the welcome")
        shown = [n.title for n in app._notifications]
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, FilePicker), what="the file picker")
        await pilot.pause()
        return shown, [n.title for n in app._notifications]

    before, after = run(make_app(dock=dock, startup_notice="Search with one of these files: ctrl+o"), scenario,
                        size=(80, 24))
    assert before == ["Welcome"] and after == []
