"""A learnware whose strings try to hijack the terminal (issue 11, case 13) renders in the TUI
without crashing and without its control characters: results, detail view, network screen,
dialogs and notifications show the text escaped."""

from __future__ import annotations

import json

from tui.app import make_app
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.error import ErrorDialog
from tui.network_status import NetworkStatus, PeerInfo, TransferInfo
from tui.screens.detail import DetailScreen
from tui.screens.network import NetworkScreen
from tui.screens.search import SearchScreen

from ..dock.fixtures import reference_files, semantic, write_zip
from .conftest import plain, result_names, run, settle, wait_until

EVIL = "[/x][link=http://evil]a[/link]\x1b]8;;http://evil\x07click\x1b]8;;\x07\x1b[2J\u202e"
SHOWN = "[/x][link=http://evil]a[/link]\\x1b]8;;http://evil\\x07click"
RAW = ("\x1b", "\x07", "\u202e")


def _clean(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)


def _screenshot(app) -> str:
    svg = app.export_screenshot()
    _clean(svg)
    return svg


class HostileNode:
    """A network status as a daemon reports it, every string chosen by peers."""

    def status(self):
        return NetworkStatus(True, reason="", peer_id="12D3KooWSelf\x1b[2J[/x]", listen_addrs=("/ip4/127.0.0.1/tcp/1",),
                             peers=(PeerInfo("12D3KooWPeer[/x]\x1b]8;;http://evil\x07", "[link=http://e]x", 1, 2.0),),
                             records_received=1, records_rejected=0,
                             transfers=(TransferInfo("ab" * 32, EVIL, "12D3Koo[/b]\x1b", 1, 2),))


def test_a_hostile_name_renders_escaped_everywhere(dock, tmp_path):
    sem = semantic(name=EVIL)
    sem["Description"]["Values"] = f"line one\n{EVIL}"
    sem["Input"]["Description"]["0"] = "[/x]\x1b[31mred"
    zip_path = write_zip(tmp_path / "evil.zip", {**reference_files(sem=sem)})
    evil_id = dock.submit(zip_path)
    assert json.loads(json.dumps(dock.get(evil_id).semantic_spec))["Name"]["Values"] == EVIL  # stored as is

    async def scenario(pilot):
        app = pilot.app
        await wait_until(pilot, lambda: any(SHOWN in n for n in result_names(app)), what="the listing")
        _screenshot(app)
        table = app.screen.query_one("ResultsTable")
        table.focus()
        table.move_cursor(row=[r.key for r in table.rows_shown].index(evil_id))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.details is not None,
                         what="the detail view")
        await settle(pilot)
        texts = {w: plain(app.screen, f"#{w}") for w in ("detail-title", "detail-description", "detail-semantic")}
        _screenshot(app)
        await pilot.press("x")  # the remove confirmation quotes the name
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        _screenshot(app)
        await pilot.press("y")  # ... and so does the notification after it
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen), what="back to search")
        await settle(pilot)
        _screenshot(app)
        app.show_error(RuntimeError(f"model stderr: {EVIL}"), context="loading")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog) and app.screen.query("#error-message"),
                         what="the error dialog")
        error_text = str(app.screen.query_one("#error-message").content)  # markup=False: shown as is
        _screenshot(app)
        await pilot.press("escape")
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, NetworkScreen)
                         and app.screen.query_one("#peers").row_count == 1, what="the network screen")
        network = plain(app.screen, "#network-status")
        svg = _screenshot(app)
        return texts, error_text, network, svg

    texts, error_text, network, svg = run(make_app(dock=dock, network=HostileNode()), scenario)
    assert SHOWN in texts["detail-title"] and texts["detail-description"].startswith("line one\n")
    assert SHOWN in texts["detail-description"] and "[/x]\\x1b[31mred" in texts["detail-semantic"]
    assert SHOWN in error_text and "12D3KooWSelf\\x1b[2J[/x]" in network
    assert evil_id not in [r.id for r in dock.list()]  # the removal went through
    for text in (*texts.values(), error_text, network):
        _clean(text)
