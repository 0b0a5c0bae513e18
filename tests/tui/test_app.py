"""App-wide: command palette, help, network screen, the launcher, logging."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from textual.command import CommandPalette

from tui.app import make_app
from tui.launcher import _tui_home, configure_logging
from tui.network_status import NetworkStatus
from tui.screens.help import HelpScreen
from tui.screens.network import NetworkScreen
from tui.screens.publish import PublishScreen

from .conftest import ROOT, plain, run, wait_until


def test_the_command_palette_reaches_the_screens_and_actions(dock):
    async def scenario(pilot):
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="the palette")
        await pilot.press(*"go to publish")
        await pilot.pause(0.3)  # the palette debounces its search; then wait for its first hit
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        commands = [title for title, _, _ in pilot.app.screen.palette_commands()]
        return commands, [title for title, _, _ in pilot.app.global_commands()]

    screen_commands, global_commands = run(make_app(dock=dock), scenario)
    assert "Publish: check and publish" in screen_commands
    assert {"Go to: search", "Go to: network", "Help: key bindings", "Quit lwdock"} <= set(global_commands)


def test_every_screen_action_has_a_palette_entry():
    from tui.screens.detail import DetailScreen
    from tui.screens.reuse import ReuseScreen
    from tui.screens.search import SearchScreen

    for screen in (SearchScreen, DetailScreen, ReuseScreen, PublishScreen, NetworkScreen):
        in_palette = {action for _, _, action in screen.PALETTE}
        for binding in screen.BINDINGS:
            assert binding.action in in_palette, f"{screen.__name__}: {binding.action} is not in the palette"


def test_help_lists_the_keys(dock):
    async def scenario(pilot):
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
        text = " ".join(plain(pilot.app, f"#{s.id}") for s in pilot.app.screen.query("Static") if s.id)
        await pilot.press("escape")
        await pilot.pause()
        return text, type(pilot.app.screen).__name__

    text, after = run(make_app(dock=dock), scenario)
    for needle in ("ctrl+r", "Reuse", "Publish", "Data file", str(dock.home.root)):
        assert needle in text
    assert after == "SearchScreen"


def test_network_screen_says_offline_for_an_embedded_dock(dock):
    async def scenario(pilot):
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NetworkScreen), what="network")
        await wait_until(pilot, lambda: "offline" in plain(pilot.app.screen, "#network-status"),
                         what="the status")
        return plain(pilot.app.screen, "#network-status")

    text = run(make_app(dock=dock), scenario)
    assert "embedded dock" in text


def test_network_screen_shows_what_a_node_reports(dock):
    from tui.network_status import PeerInfo, TransferInfo

    class FakeNode:
        def status(self):
            return NetworkStatus(True, peer_id="12D3KooWTest", listen_addrs=("/ip4/127.0.0.1/tcp/4001",),
                                 peers=(PeerInfo("12D3KooWPeer", "/ip4/127.0.0.1/tcp/4002", 7, 1.5),),
                                 records_received=7, records_rejected=1,
                                 transfers=(TransferInfo("ab" * 32, "Iris", "12D3KooWPeer", 512, 2048),))

    async def scenario(pilot):
        await pilot.press("f4")
        await wait_until(pilot, lambda: pilot.app.screen.query("#peers") and
                         pilot.app.screen.query_one("#peers").row_count == 1, what="the peers")
        return (plain(pilot.app.screen, "#network-status"),
                pilot.app.screen.query_one("#transfers").row_count)

    text, transfers = run(make_app(dock=dock, network=FakeNode()), scenario)
    assert "online" in text and "12D3KooWTest" in text and "7 received, 1 rejected" in text
    assert transfers == 1


def test_launcher_opens_the_tui_only_without_a_command():
    assert _tui_home([]) == (True, None)
    assert _tui_home(["--home", "/x"]) == (True, "/x")
    assert _tui_home(["--home=/x"]) == (True, "/x")
    assert _tui_home(["--help"]) == (False, None)
    assert _tui_home(["list", "--json"]) == (False, None)


def test_cli_commands_through_the_launcher_do_not_import_textual(isolated_home):
    code = (
        "import json, sys\n"
        "from tui.launcher import main\n"
        "rc = main(['list', '--json'])\n"
        "print(json.dumps({'rc': rc, 'textual': any(m.startswith('textual') for m in sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "textual": False}


def test_logging_goes_to_a_file_in_the_home_not_the_terminal(tmp_path, capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        path = configure_logging(tmp_path / "home")
        logging.getLogger("libp2p.something").warning("chatty library")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    assert path == tmp_path / "home" / "logs" / "tui.log"
    assert "chatty library" in path.read_text()
    captured = capsys.readouterr()
    assert "chatty library" not in captured.err + captured.out
