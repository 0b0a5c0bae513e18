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
from dock.reuse.preview import FAILED, MEASURED, NO_METRIC, NOT_LOCAL, PreviewEntry

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


MAX_NOTE_LINES = 3  # the note under the results: the sample line, then the reasons


def grouped_notes(notes: list[tuple[str, str]]) -> list[str]:
    """Rows failing for the same reason (e.g. every zip on one offline peer) as one line:
    "A, B (+2 more): reason", in the order the reasons first came."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in notes:
        by_reason.setdefault(reason, []).append(name)
    out = []
    for reason, names in by_reason.items():
        shown = ", ".join(names[:2]) + (f" (+{len(names) - 2} more)" if len(names) > 2 else "")
        out.append(f"{shown}: {reason}")
    return out


def note_reason(entry: PreviewEntry) -> tuple[str, str]:
    """(row name, why it was not measured): one line each (the cell only has room for a word or two).
    A mixture member's failure names the member: the same reason as that member's own row."""
    first = visible(entry.message.splitlines()[0] if entry.message else entry.status)
    name = "the mixture" if entry.name.startswith("Mixture") else visible(entry.name)
    member, sep, rest = first.partition(": ")
    if sep and member.startswith("member "):
        return name, rest
    return name, first


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


def ran_here(entry: PreviewEntry) -> bool:
    """The row's learnwares were loaded and run here, so their zips are local now (fetched if needed)."""
    return entry.status in (MEASURED, NO_METRIC)
