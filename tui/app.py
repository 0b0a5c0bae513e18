"""The lwdock Textual app. It receives its backend (a dock client) through its constructor;
`make_app` builds one for the CLI launcher, the tests and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual.app import App
from textual.binding import Binding

from .backend import DockBackend
from .commands import LwdockCommands
from .dialogs.error import ErrorDialog
from .errors import describe
from .network_status import NetworkStatusSource
from .screens.help import HelpScreen
from .screens.network import NetworkScreen
from .screens.publish import PublishScreen
from .screens.search import SearchScreen

if TYPE_CHECKING:
    from dock.api import DockAPI


class LwdockApp(App[int]):
    TITLE = "lwdock"
    CSS_PATH = Path(__file__).with_name("lwdock.tcss")  # absolute: subclasses live elsewhere
    MODES = {"search": SearchScreen, "publish": PublishScreen, "network": NetworkScreen}
    DEFAULT_MODE = "search"
    COMMANDS = App.COMMANDS | {LwdockCommands}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f2", "switch_mode('search')", "Search"),
        Binding("f3", "switch_mode('publish')", "Publish"),
        Binding("f4", "switch_mode('network')", "Network"),
    ]

    def __init__(self, backend: DockBackend, *, cursor_blink: bool = True, show_timings: bool = True,
                 show_ids_and_sizes: bool = True, log_path: Path | None = None, startup_notice: str | None = None):
        super().__init__()
        self.startup_notice = startup_notice  # e.g. the demo's data files, shown once at start
        self.backend = backend
        self.cursor_blink = cursor_blink
        self.show_timings = show_timings  # off in snapshot tests: wall times are not deterministic
        # Off in snapshot tests: an id is the sha256 of a zip and a size its length, and a model trained
        # on another CPU/BLAS build (or zipped by another zlib) has other bytes: both differ by machine.
        self.show_ids_and_sizes = show_ids_and_sizes
        self.log_path = log_path
        self.dock_generation = 0  # bumped whenever the dock's contents change

    def on_mount(self) -> None:
        self.sub_title = self.backend.kind
        if self.startup_notice:
            self.notify(self.startup_notice, title="Welcome", timeout=30)

    # -- called by screens -----------------------------------------------------------------
    def show_error(self, error: BaseException, context: str = "") -> None:
        title, message = describe(error)
        self.push_screen(ErrorDialog(title, message, context))

    def dock_changed(self, learnware_id: str) -> None:
        self.dock_generation += 1

    def global_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        return [
            ("Go to: search", "find learnwares by words, filters, your data (F2)", lambda: self.switch_mode("search")),
            ("Go to: publish", "pack, check and publish your own model (F3)", lambda: self.switch_mode("publish")),
            ("Go to: network", "peers, gossip and transfers (F4)", lambda: self.switch_mode("network")),
            ("Help: key bindings", "every key of every screen (F1)", self.action_help),
            ("Quit lwdock", "leave the app (ctrl+q)", self.exit),
        ]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        about = f"Dock: {self.backend.home} ({self.backend.kind})"
        if self.log_path is not None:
            about += f"\nLog: {self.log_path}"
        self.push_screen(HelpScreen(about))


def make_app(dock: DockAPI | None = None, *, backend: DockBackend | None = None,
             network: NetworkStatusSource | None = None, cursor_blink: bool = True, show_timings: bool = True,
             show_ids_and_sizes: bool = True, log_path: Path | None = None,
             startup_notice: str | None = None) -> LwdockApp:
    """Build the app on an open `dock.Dock` (or a ready backend). The caller owns the dock."""
    if backend is None:
        if dock is None:
            raise ValueError("make_app needs a dock or a backend")
        backend = DockBackend(dock, network)
    return LwdockApp(backend, cursor_blink=cursor_blink, show_timings=show_timings,
                     show_ids_and_sizes=show_ids_and_sizes, log_path=log_path, startup_notice=startup_notice)
