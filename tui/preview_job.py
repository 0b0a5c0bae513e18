"""The search screen's preview: what the top results (and the mixture) measure on a sample of the
user's labelled rows, shown in the results' "Measured" column as each one arrives.

The work is dock/reuse/preview.py's (through DockBackend.preview, in a thread worker of the search
screen). This module holds the messages the worker posts, the cell texts, and a cache so a new search
on the same data file does not run a learnware twice. Failures are one-line cells ("rejected data"),
the one-line reason in the note under the results; never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.message import Message

from dock.cli.terminal_text import visible
from dock.reuse.preview import FAILED, MEASURED, NOT_LOCAL, PreviewEntry

PREVIEW = "preview"  # the worker group
PREVIEW_TOP = 5  # single learnwares previewed (plus the mixture)


@dataclass
class PreviewStarted(Message):
    run: int
    sample: str  # e.g. "200 of 1083 labelled rows (stratified by class, seed 0)"


@dataclass
class PreviewMeasured(Message):
    run: int
    entry: PreviewEntry


@dataclass
class PreviewFinished(Message):
    run: int
    note: str  # "" when it ran to the end; else why it stopped (no labels, a data file error)


def cell(entry: PreviewEntry | None, running: bool = False) -> Text:
    """The Measured cell of a row."""
    if entry is None:
        return Text("running…" if running else "", style="dim")
    if entry.status == MEASURED and entry.value is not None:
        text = f"acc {entry.value:.1%}" if entry.metric == "accuracy" else f"RMSE {entry.value:.3g}"
        return Text(text, style="bold")
    if entry.status == FAILED:
        return Text("rejected data" if "rejected the data" in entry.message else "failed", style="red")
    if entry.status == NOT_LOCAL:
        return Text("not local", style="yellow")
    return Text(entry.status, style="dim")


def note_line(entry: PreviewEntry) -> str:
    """Why a row was not measured, one line (the cell only has room for a word or two)."""
    first = visible(entry.message.splitlines()[0] if entry.message else entry.status)
    return f"{visible(entry.name)}: {first}"


class PreviewCache:
    """Entries measured on one data file (and label column), by row key and learnware ids: a new
    search on the same file shows them at once; another file starts afresh."""

    def __init__(self):
        self._source: tuple[Path, str | None] | None = None
        self._entries: dict[tuple[str, tuple[str, ...]], PreviewEntry] = {}
        self.sample = ""  # how the rows were sampled, e.g. "200 of 1083 labelled rows (...)"

    def for_source(self, path: Path, label: str | None) -> None:
        if self._source != (path, label):
            self._source = (path, label)
            self._entries.clear()
            self.sample = ""

    def get(self, key: str, ids: tuple[str, ...]) -> PreviewEntry | None:
        return self._entries.get((key, ids))

    def put(self, entry: PreviewEntry) -> None:
        if entry.status != NOT_LOCAL:  # a zip fetched meanwhile can still be measured next time
            self._entries[(entry.key, entry.ids)] = entry


def done_note(sample: str) -> str:
    where = f"on {sample}" if sample else "on a sample of your labelled rows"
    return f"Measured {where} · p runs it again · similarity compares inputs only, measured is real"
