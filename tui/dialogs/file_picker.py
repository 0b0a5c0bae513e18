"""Pick a file from a folder tree, filtered to the kinds the field accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static


class FilteredTree(DirectoryTree):
    def __init__(self, path: Path, suffixes: tuple[str, ...], **kwargs):
        super().__init__(path, **kwargs)
        self.suffixes = tuple(s.lower() for s in suffixes)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        for path in paths:
            if path.name.startswith("."):
                continue
            if not self.suffixes or path.is_dir() or path.suffix.lower() in self.suffixes:
                yield path


class FilePicker(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("backspace", "parent", "Parent folder")]
    DEFAULT_CSS = """
    FilePicker { align: center middle; }
    FilePicker > Vertical { width: 90; height: 80%; border: thick $accent; background: $surface; padding: 0 1; }
    FilePicker DirectoryTree { height: 1fr; }
    FilePicker .hint { color: $text-muted; }
    """

    def __init__(self, title: str, start: Path | None = None, suffixes: tuple[str, ...] = ()):
        super().__init__()
        self.picker_title = title
        start = (start or Path.cwd()).expanduser()
        self.start = start if start.is_dir() else (start.parent if start.parent.is_dir() else Path.cwd())
        self.suffixes = suffixes

    def compose(self) -> ComposeResult:
        kinds = ", ".join(self.suffixes) or "any file"
        with Vertical():
            yield Static(Text.assemble((self.picker_title, "bold"), f" ({kinds})"))
            yield FilteredTree(self.start, self.suffixes, id="picker-tree")
            yield Static("enter: choose · backspace: parent folder · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(FilteredTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_parent(self) -> None:
        tree = self.query_one(FilteredTree)
        tree.path = Path(tree.path).resolve().parent

    def action_cancel(self) -> None:
        self.dismiss(None)
