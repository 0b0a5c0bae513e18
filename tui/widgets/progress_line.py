"""A progress bar with a line of text beside it, hidden when idle. Fed by messages.Progress."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from dock.cli.terminal_text import plain


class ProgressLine(Horizontal):
    DEFAULT_CSS = """
    ProgressLine { height: 1; display: none; }
    ProgressLine.-busy { display: block; }
    ProgressLine ProgressBar { width: 32; }
    ProgressLine Static { width: 1fr; color: $text-muted; padding-left: 1; }
    """

    def compose(self):
        yield ProgressBar(show_eta=False, show_percentage=True)
        yield Static("", classes="progress-text")

    def start(self, text: str) -> None:
        self.add_class("-busy")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one(Static).update(plain(text))

    def update(self, done: float, total: float | None, text: str) -> None:
        self.add_class("-busy")
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one(Static).update(plain(text))  # progress texts quote names and peers

    def stop(self) -> None:
        self.remove_class("-busy")

    @property
    def busy(self) -> bool:
        return self.has_class("-busy")
