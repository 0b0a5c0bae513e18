"""The lwdock Textual app. It receives its backend (a dock client) through its constructor;
`make_app` builds one for the CLI launcher, the tests and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
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

# The welcome fades (at 80x24 a toast covers half the results); what it says stays: the status
# line's hint names the data files, and F1 shows the whole welcome again.
WELCOME_SECONDS = 60.0


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

    # Narrow terminals (80x24): the filter sidebar folds away (ctrl+b brings it back), the footer goes
    # compact (lwdock.tcss rules on -narrow).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, backend: DockBackend, *, cursor_blink: bool = True, show_timings: bool = True,
                 show_ids_and_sizes: bool = True, log_path: Path | None = None, startup_notice: str | None = None,
                 status_hint: str = ""):
        super().__init__()
        self.startup_notice = startup_notice  # e.g. the demo's data files, shown at start until dismissed
        self.status_hint = status_hint  # the status line's text while nothing happened (the demo: its files)
        self.backend = backend
        self.cursor_blink = cursor_blink
        self.show_timings = show_timings  # off in snapshot tests: wall times are not deterministic
        # Off in snapshot tests: an id is the sha256 of a zip and a size its length, and a model trained
        # on another CPU/BLAS build (or zipped by another zlib) has other bytes: both differ by machine.
        self.show_ids_and_sizes = show_ids_and_sizes
        self.log_path = log_path
        self._dock_changes = 0  # bumped whenever the dock's contents change (see dock_generation)
        self.unexpected_error: BaseException | None = None  # a bug that ended the app (see below)

    def _handle_exception(self, error: Exception) -> None:
        """A bug in a handler (known errors are dialogs, tui/errors.py): Textual would print its
        traceback on the user's terminal. In a real terminal the traceback goes to the log and the
        app exits with status 1; the launcher prints one line naming the log (report_unexpected).
        Headless (tests under run_test) keeps Textual's behaviour, so a test still fails on the bug."""
        if self.is_headless:
            super()._handle_exception(error)
            return
        import logging

        logging.getLogger(__name__).error("unexpected error in the terminal UI", exc_info=error)
        if self.unexpected_error is None:
            self.unexpected_error = error
        self.exit(return_code=1)

    def on_mount(self) -> None:
        self.sub_title = self.backend.kind
        if self.startup_notice:
            self.notify(self.startup_notice, title="Welcome", timeout=WELCOME_SECONDS, markup=False)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """A toast, mirrored on the screen's status line (a toast fades; the line stays in view)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        show = getattr(self.screen, "show_status", None)
        if show is None or title == "Welcome":
            return
        text = message
        if markup:
            try:
                text = Text.from_markup(message).plain
            except Exception:  # not valid markup after all: show it as it is
                pass
        kind = {"error": "error", "warning": "warning"}.get(severity, "done")
        show(f"{title}: {text}" if title else text, kind)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the key to the screen you are on is hidden from the footer (it fits 80 columns that way)
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return False
        return super().check_action(action, parameters)

    # -- called by screens -----------------------------------------------------------------
    def show_error(self, error: BaseException, context: str = "") -> None:
        title, message = describe(error)
        self.push_screen(ErrorDialog(title, message, context))

    @property
    def dock_generation(self) -> int:
        """Changes when the dock's contents or its local zips change: a screen that listed them
        lists again. Zips fetched by a load (a reuse of learnwares held by peers) count too."""
        return self._dock_changes + int(getattr(self.backend, "zips_fetched", 0))

    def dock_changed(self, learnware_id: str) -> None:
        self._dock_changes += 1

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
        if self.startup_notice:
            about = f"{self.startup_notice}\n\n{about}"
        if self.log_path is not None:
            about += f"\nLog: {self.log_path}"
        self.push_screen(HelpScreen(about))


def make_app(dock: DockAPI | None = None, *, backend: DockBackend | None = None,
             network: NetworkStatusSource | None = None, cursor_blink: bool = True, show_timings: bool = True,
             show_ids_and_sizes: bool = True, log_path: Path | None = None,
             startup_notice: str | None = None, status_hint: str = "") -> LwdockApp:
    """Build the app on an open `dock.Dock` (or a ready backend). The caller owns the dock."""
    if backend is None:
        if dock is None:
            raise ValueError("make_app needs a dock or a backend")
        backend = DockBackend(dock, network)
    return LwdockApp(backend, cursor_blink=cursor_blink, show_timings=show_timings,
                     show_ids_and_sizes=show_ids_and_sizes, log_path=log_path, startup_notice=startup_notice,
                     status_hint=status_hint)
