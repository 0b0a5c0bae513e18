"""The key bindings of every screen, and the data files the screens read, in one modal (F1)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .base import key_help

# The app-wide keys (bound in tui/app.py); listed here, with the help that shows them.
GLOBAL_KEYS = [
    ("f1 / ?", "Key bindings (this help)"),
    ("f2", "Search screen"),
    ("f3", "Publish screen"),
    ("f4", "Network screen"),
    ("ctrl+p", "Command palette: every action by name"),
    ("ctrl+q", "Quit"),
]

KEY_NAMES = {"slash": "/", "delete": "del", "escape": "esc"}


def _keys(keys: str) -> str:
    return " / ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.replace(" / ", ",").split(","))


def bindings_table(sections) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, min_width=14)
    table.add_column()
    for title, rows in sections:
        table.add_row(f"[b]{title}[/b]", "")
        for keys, description in rows:
            table.add_row(_keys(keys), description)
        table.add_row("", "")
    return table


# The data files the search (ctrl+o), reuse and publish screens read (dock.datafiles; the CLI reads the same).
DATA_FILES = (
    ("stat.json", "a statistical spec of any kind (lwdock spec …, or the learnware package's)"),
    (".csv", "a table of numbers, header row optional; the label column (e.g. label) is left out "
             "of the spec and scores the reuse"),
    (".npy 2-D", "a table (rows × columns)"),
    (".npy 3-D / 4-D", "images (N, H, W) or (N, C, H, W), channels first; no labels"),
    (".npz", "images as X (or images), their labels as y (or labels): "
             "numpy.savez('data.npz', X=images, y=labels)"),
    (".txt", "documents, one per line (UTF-8; blank lines skipped); no labels"),
    (".csv with text", "documents in the header's column named text, labels in the label column"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; height: 90%; border: thick $accent; background: $surface; padding: 0 2; }
    HelpScreen VerticalScroll { height: 1fr; }
    """

    def __init__(self, about: str = ""):
        super().__init__()
        self.about = about

    def compose(self) -> ComposeResult:
        from .detail import DetailScreen
        from .network import NetworkScreen
        from .publish import PublishScreen
        from .reuse import ReuseScreen
        from .search import SearchScreen

        sections = [
            ("Everywhere", GLOBAL_KEYS),
            ("Search", key_help(SearchScreen.BINDINGS) + [("enter", "Open the selected row (mixture: reuse it)"),
                                                          ("tab", "Next field")]),
            ("Learnware details", key_help(DetailScreen.BINDINGS)),
            ("Reuse", key_help(ReuseScreen.BINDINGS)),
            ("Publish", key_help(PublishScreen.BINDINGS) + [
                ("training data", "a table, images or documents (Data files below); reading it sets Data")]),
            ("Network", key_help(NetworkScreen.BINDINGS)),
            ("Data files", list(DATA_FILES)),
        ]
        with Vertical():
            yield Static("[b]lwdock — keys[/b]   (escape closes)", id="help-title")
            with VerticalScroll():
                yield Static(bindings_table(sections), id="help-keys")
                if self.about:
                    yield Static(self.about, markup=False, id="help-about")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows and page keys scroll the list

    def action_dismiss_help(self) -> None:
        self.dismiss()
