"""One line above the footer on every screen: what the screen's jobs are doing and how the last
one ended, so progress and results stay in view however small the terminal or far the scroll.

Fed by LwdockScreen (tui/screens/base.py): progress messages, job ends, and every toast the app
shows (a toast fades, the line stays). When nothing happened yet it shows the app's `hint` (the
demo: where its data files are). Every text is escaped: it quotes names, paths and peers.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from dock.cli.terminal_text import plain

SYMBOLS = {"busy": "… ", "done": "✓ ", "error": "✗ ", "warning": "! ", "hint": ""}


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; padding: 0 1; background: $panel; color: $text;
                 text-wrap: nowrap; text-overflow: ellipsis; }  /* one row: cut at the edge, never wrapped away */
    """

    def __init__(self, hint: str = "", **kwargs):
        super().__init__("", **kwargs)
        self.hint = hint
        self.kind = "hint"
        self.text = ""
        self.show(hint, "hint")

    def show(self, text: str, kind: str = "done") -> None:
        """Replace the line: kind is busy | done | error | warning | hint."""
        first = " ".join(str(text).split())  # one line: a multi-line message is joined
        self.kind, self.text = kind, first
        colour = {"done": "green", "error": "red", "warning": "yellow"}.get(kind, "")
        line = Text(SYMBOLS.get(kind, ""), style=f"bold {colour}" if colour else "bold")
        line.append_text(plain(first))
        if kind == "hint":
            line.stylize("dim")
        self.update(line)

    def clear(self) -> None:
        self.show(self.hint, "hint")
