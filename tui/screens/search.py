"""The home screen: describe your task (words, filters, your data's spec) and see which learnwares were
trained on similar data, and, when your file has labels, what the top ones really score on it."""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from .. import messages as m
from .. import preview_job as pv
from .. import specs_access
from ..dialogs.file_picker import FilePicker
from ..label_guess import LabelGuess
from ..viewmodels import ReuseTarget, SearchQuery, StatSpecChoice
from ..widgets.filters import FilterPanel
from ..widgets.path_input import PathInput
from ..widgets.progress_line import ProgressLine
from ..widgets.results import ResultsTable
from .base import LwdockScreen
from .learnware_actions import LearnwareActionsMixin

SPEC_SUFFIXES = (".csv", ".npy", ".npz", ".txt", ".json")
NO_SPEC = ("[dim]No statistical spec: ranking by text and filters. Give your data (.csv/.npy table, .npy/.npz "
           "images, .txt documents) or a stat.json to rank learnwares by similarity.[/]")
TEXT_EMBEDDER_NOTE = "loading the text embedder (a few seconds the first time)"
# Every command quoted here must parse (tests/test_cli_first_hour.py checks it).
EMPTY_DOCK_HINT = ("The dock is empty: publish a learnware (F3), or try `lwdock demo` (a demo network) or "
                   "`lwdock --home DIR demo --headless` (a demo dock in DIR).")
TYPING_DELAY = 0.3  # seconds of quiet typing before the search runs by itself


class SearchScreen(LearnwareActionsMixin, LwdockScreen):
    BINDINGS = [
        Binding("slash", "focus_query", "Query"),
        Binding("ctrl+o", "pick_data", "Data file"),
        Binding("ctrl+n", "reset", "New search"),
        Binding("ctrl+b", "toggle_filters", "Filters", show=False),
        Binding("d", "details", "Details", show=False),
        Binding("r", "reuse", "Reuse"),
        Binding("e", "export", "Export", show=False),
        Binding("x,delete", "remove", "Remove", show=False),
        Binding("p", "preview", "Preview", show=False),
        Binding("escape", "stop_preview", "Stop preview", show=False),
    ]
    PALETTE = (
        ("Search: focus the query", "type words found in names and descriptions", "focus_query"),
        ("Search: use my data file or stat spec", "rank learnwares by how similar their training data is", "pick_data"),
        ("Search: new search", "clear the query, the filters and the statistical spec", "reset"),
        ("Search: show or hide the filters", "Data, Task, Library, License, Scenario", "toggle_filters"),
        ("Learnware: details", "semantic spec, score, size, id of the selected row", "details"),
        ("Learnware: reuse on my data", "run the selected learnware or mixture on a data file", "reuse"),
        ("Learnware: export zip", "copy the selected learnware's zip to a file", "export"),
        ("Learnware: remove", "delete the selected learnware from this dock", "remove"),
        ("Search: preview accuracy", "run the top results on a sample of your labelled rows", "preview"),
        ("Search: stop the preview", "stop running the top results on your rows", "stop_preview"),
    )

    def __init__(self):
        super().__init__()
        self.stat: StatSpecChoice | None = None
        self._label_guess = LabelGuess()  # a guess for one file never sticks to the next
        self._typing: Timer | None = None
        self._generation = -1  # the app's dock generation of the last search
        self._preview_run = 0  # messages of an older preview run are ignored
        self._preview_cache = pv.PreviewCache()
        self._preview_notes: list[tuple[str, str]] = []  # (row name, why) per row not measured
        self._preview_head = ""  # what the preview is doing, above those lines

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="search-body"):
            yield FilterPanel(id="filters")
            with Vertical(id="search-main"):
                yield Input(placeholder="Search names and descriptions…   (/ to come back here)", id="query")
                with Horizontal(id="spec-row"):
                    yield PathInput(SPEC_SUFFIXES, id="spec-path",
                                    placeholder="Data (.csv .npy .npz .txt) or stat spec (.json) · ctrl+o")
                    yield Input(placeholder="label column", id="spec-label")
                    yield Button("Use", id="spec-use", compact=True)
                yield Static(NO_SPEC, id="spec-info")
                yield ProgressLine(id=f"progress-{m.SPEC}")
                yield ResultsTable(id="results")
                yield ProgressLine(id=f"progress-{pv.PREVIEW}")
                yield Static("", id="preview-note")
                yield Static("", id="search-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        self.refresh_search()

    def on_screen_resume(self) -> None:
        if self._generation not in (-1, self.app.dock_generation):
            self.refresh_search()

    # -- searching -------------------------------------------------------------------------
    def current_query(self) -> SearchQuery:
        return SearchQuery(self.query_one("#query", Input).value, self.query_one(FilterPanel).values(), self.stat)

    def refresh_search(self) -> None:
        self._generation = self.app.dock_generation
        self.run_search(self.current_query())

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.SEARCH)
    def run_search(self, query: SearchQuery) -> None:
        outcome = self.backend.search(query)
        if not self.cancelled():
            self.post_message(m.SearchDone(outcome))

    def on_search_done(self, message: m.SearchDone) -> None:
        outcome = message.outcome
        self.query_one(ResultsTable).show(outcome.rows)
        self.start_preview(outcome.rows)
        singles = sum(1 for r in outcome.rows if not r.is_mixture)
        if not outcome.rows and outcome.total:
            text = f"No learnware matches (the dock holds {outcome.total})."
            if self.stat is not None and self.stat.kind == "table":
                text += f" None has a spec of {self.stat.dim} columns that passes the filters."
            elif self.stat is not None:
                article = "an" if self.stat.kind == "image" else "a"
                text += f" None has {article} {self.stat.kind} spec made the same way that passes the filters."
        elif outcome.ranked_by == "name" and not outcome.total:
            text = EMPTY_DOCK_HINT
        elif outcome.ranked_by == "name":
            text = f"All {outcome.total} learnwares, by name. Type, filter or give your data to rank them."
        else:
            mixture = " + a recommended mixture" if singles < len(outcome.rows) else ""
            text = f"{singles} of {outcome.total} learnwares{mixture} · ranked by {outcome.ranked_by}"
            if self.app.show_timings:
                text += f" · {outcome.seconds * 1000:.0f} ms"
        self.query_one("#search-status", Static).update(text)

    # -- the preview: measured accuracy / RMSE on the user's labelled rows ---------------------
    def _previewable(self) -> bool:
        """A data file (not a stat.json) whose labels we know how to find: a table's or a text
        .csv's label column, or an image .npz (its y)."""
        stat = self.stat
        if stat is None or stat.data_path is None:
            return False
        return stat.kind == "image" or bool(stat.label_column)

    def start_preview(self, rows, rerun: bool = False) -> None:
        """Show the Measured column for the top rows and run those not measured yet on this file."""
        self.workers.cancel_group(self, pv.PREVIEW)
        self._preview_run += 1
        table = self.query_one(ResultsTable)
        self._preview_notes = []
        if not self._previewable():
            table.preview_off()
            self.query_one("#preview-note", Static).update("")
            return
        stat = self.stat
        assert stat is not None and stat.data_path is not None
        self._preview_cache.for_source(stat.data_path, stat.label_column)
        singles = [r for r in rows if not r.is_mixture][: pv.PREVIEW_TOP]
        chosen = [r for r in rows if r.is_mixture] + singles
        cells, missing = {}, []
        for row in chosen:
            entry = None if rerun else self._preview_cache.get(row.key, tuple(row.ids))
            if entry is None:
                missing.append(row)
            else:
                self._note(entry)
            cells[row.key] = pv.cell(entry, running=entry is None)
        table.preview_on(cells)
        self._show_notes("Measuring on your labelled rows… (esc stops)" if missing
                         else pv.done_note(self._preview_cache.sample))
        if missing:
            self.query_one(f"#progress-{pv.PREVIEW}", ProgressLine).start("starting the preview")
            self.run_preview(self._preview_run, missing, stat.data_path, stat.label_column, stat.kind)

    @work(thread=True, exclusive=True, exit_on_error=False, group=pv.PREVIEW)
    def run_preview(self, run: int, rows, data_path: Path, label_column: str | None, kind: str) -> None:
        note = ""
        try:
            self.backend.preview(
                rows, data_path, label_column, kind,
                on_entry=lambda entry: self.post_message(pv.PreviewMeasured(run, entry)),
                is_cancelled=self.cancelled, progress=self.progress_reporter(pv.PREVIEW),
                started=lambda sample: self.post_message(pv.PreviewStarted(run, sample)))
        except Exception as exc:  # noqa: BLE001 - a preview that cannot run is a note, never a traceback
            from dock.reuse.preview import one_line

            note = one_line(exc)
        self.post_message(pv.PreviewFinished(run, note))

    def on_preview_started(self, message: pv.PreviewStarted) -> None:
        if message.run == self._preview_run:
            self._preview_cache.sample = message.sample
            self._show_notes(f"Measuring on {message.sample}… (esc stops)")

    def on_preview_measured(self, message: pv.PreviewMeasured) -> None:
        if message.run != self._preview_run:
            return  # a superseded run's late result
        entry = message.entry
        self._preview_cache.put(entry)
        table = self.query_one(ResultsTable)
        table.set_preview(entry.key, pv.cell(entry))
        if pv.ran_here(entry):
            table.mark_local(set(entry.ids))
            self.app.dock_changed(entry.key)
        self._note(entry)
        self._show_notes(None)

    def on_preview_finished(self, message: pv.PreviewFinished) -> None:
        if message.run != self._preview_run:
            return
        table = self.query_one(ResultsTable)
        for key in table.preview_keys():
            if table.preview_text(key) == "running…":
                table.set_preview(key, pv.cell(None))
        if message.note:
            self._show_notes(f"No preview: {message.note}")
        else:
            self._show_notes(pv.done_note(self._preview_cache.sample))

    def _note(self, entry) -> None:
        if entry.status != "measured":
            self._preview_notes.append(pv.note_reason(entry))

    def _show_notes(self, head: str | None) -> None:
        """The note under the results: `head` (None: keep the last one), then the rows not measured."""
        if head is not None:
            self._preview_head = head
        lines = [line for line in (self._preview_head, *pv.grouped_notes(self._preview_notes)) if line]
        # At most MAX_NOTE_LINES rows, never wrapped (lwdock.tcss #preview-note): an offline peer failing
        # every row must not push the results off an 80x24 screen.
        self.query_one("#preview-note", Static).update(Text("\n".join(lines[: pv.MAX_NOTE_LINES]), style="dim",
                                                            no_wrap=True, overflow="ellipsis"))

    def action_preview(self) -> None:
        if not self._previewable():
            self.app.notify("Give a data file with labels (and its label column) to preview accuracy.",
                            severity="warning")
            return
        self.start_preview(self.query_one(ResultsTable).rows_shown, rerun=True)

    def action_stop_preview(self) -> None:
        if not self.workers_busy(pv.PREVIEW):
            return
        self.workers.cancel_group(self, pv.PREVIEW)
        self._preview_run += 1
        table = self.query_one(ResultsTable)
        for key in table.preview_keys():
            if table.preview_text(key) == "running…":
                table.set_preview(key, Text("stopped", style="dim"))
        self.query_one(f"#progress-{pv.PREVIEW}", ProgressLine).stop()
        self._show_notes("Preview stopped (p runs it again).")

    @on(Input.Changed, "#query")
    def query_typed(self) -> None:
        if self._typing is not None:
            self._typing.stop()
        self._typing = self.set_timer(TYPING_DELAY, self.refresh_search)

    @on(Input.Submitted, "#query")
    def query_submitted(self) -> None:
        if self._typing is not None:
            self._typing.stop()
        self.refresh_search()
        self.query_one(ResultsTable).focus()

    def on_filter_panel_changed(self) -> None:
        self.refresh_search()

    # -- the user's statistical spec ----------------------------------------------------------
    @on(Input.Submitted, "#spec-path, #spec-label")
    @on(Button.Pressed, "#spec-use")
    def use_spec(self) -> None:
        path = self.query_one("#spec-path", PathInput).path
        if path is None:
            self.app.notify("Give a data file (.csv / .npy / .npz / .txt) or a stat spec (.json) first.",
                            severity="warning")
            return
        label = self._label_guess.apply(self.query_one("#spec-label", Input), path, notify=self.app.notify)
        self.query_one(f"#progress-{m.SPEC}", ProgressLine).start(f"reading {path.name}")
        self.make_spec(path, label)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.SPEC)
    def make_spec(self, path: Path, label_column: str | None) -> None:
        """The spec of a stat spec .json, or of a data file: a table (.csv, 2-D .npy), images
        (3-D/4-D .npy, .npz) or documents (.txt, .csv with a `text` column); see dock.datafiles."""
        from dock.datafiles import read_user_data, user_data_kind
        from dock.errors import DataFileError

        report = self.progress_reporter(m.SPEC)
        if path.suffix.lower() == ".json":
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataFileError(f"{path.name}: not a readable stat spec JSON file ({exc})") from exc
            spec = specs_access.load_stat_spec(raw)
            kind = getattr(spec, "kind", "table")
            points = int(spec.z.shape[0])
            summary = (f"table spec, {points} points, {int(spec.dim)} columns" if kind == "table"
                       else f"{kind} spec, {points} points")
            data_path = None
        else:
            kind = user_data_kind(path)
            report(0, 2, f"reading {path.name}")
            # labels play no part in a spec: only a table's label column must be left out of it
            data = read_user_data(path, label_column if kind == "table" else None, kind)
            if kind == "text":
                report(1, None, f"{TEXT_EMBEDDER_NOTE}, then embedding {len(data)} documents "
                                "and fitting the statistical spec")
            elif kind == "image":
                report(1, None, f"computing the features of {len(data)} images and fitting the statistical spec")
            else:
                report(1, None, f"fitting the statistical spec on {data.describe()}")
            spec = specs_access.stat_spec_from_data(kind, data.X)
            summary = f"{kind}, {data.describe()} → {int(spec.z.shape[0])} points"
            data_path = path
        if not self.cancelled():
            label = label_column if data_path is not None else None
            self.post_message(m.SpecReady(StatSpecChoice(spec, path.name, summary, data_path, label, kind)))

    def on_spec_ready(self, message: m.SpecReady) -> None:
        self.stat = message.choice
        self.query_one("#spec-info", Static).update(Text.assemble(
            ("Stat spec: ", "bold"), f"{message.choice.source} ({message.choice.summary}) · ctrl+n clears"))
        self.refresh_search()
        self.query_one(ResultsTable).focus()

    def action_pick_data(self) -> None:
        field = self.query_one("#spec-path", PathInput)

        def picked(path: Path | None) -> None:
            if path is not None:
                field.value = str(path)
                self.use_spec()

        # The welcome toast says "ctrl+o"; left up, it would cover half the picker at 80x24. Acted on,
        # it has done its job (F1 shows it again; other toasts are mirrored on the status line).
        self.app.clear_notifications()
        self.app.push_screen(FilePicker("Your data or stat spec", field.path, SPEC_SUFFIXES), picked)

    # -- keys ------------------------------------------------------------------------------
    def action_focus_query(self) -> None:
        self.query_one("#query", Input).focus()

    def action_reset(self) -> None:
        self.stat = None
        for selector in ("#query", "#spec-path", "#spec-label"):
            self.query_one(selector, Input).value = ""
        self.query_one(FilterPanel).reset()
        self.query_one("#spec-info", Static).update(NO_SPEC)
        self.workers.cancel_group(self, m.SPEC)
        self.workers.cancel_group(self, pv.PREVIEW)
        self.query_one(f"#progress-{m.SPEC}", ProgressLine).stop()
        self.refresh_search()
        self.action_focus_query()

    def action_toggle_filters(self) -> None:
        panel = self.query_one(FilterPanel)
        panel.display = not panel.display

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "stop_preview":  # escape does nothing else here; the palette lists it only while running
            return self.workers_busy(pv.PREVIEW)
        if action in ("details", "reuse", "export", "remove"):
            row = self.query_one(ResultsTable).selected()
            if row is None:
                return False
            if row.is_mixture and action in ("export", "remove"):
                return False
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.query_one(ResultsTable).row_for(event.row_key.value)
        if row is not None:
            self.open_row(row)

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

    def open_row(self, row) -> None:
        from .detail import DetailScreen

        if row.is_mixture and not row.local and not self._can_fetch():
            self.app.notify("Not every member's zip is in this dock, and it is offline.", severity="warning")
        elif row.is_mixture:
            self.app.push_screen(self.reuse_screen(row))
        else:
            self.app.push_screen(DetailScreen(row))

    def action_details(self) -> None:
        row = self.query_one(ResultsTable).selected()
        if row is not None:
            self.open_row(row)

    def action_reuse(self) -> None:
        row = self.query_one(ResultsTable).selected()
        if row is not None and not row.local and not self._can_fetch():
            self.app.notify("Its zip is not in this dock, and it is offline.", severity="warning")
        elif row is not None:
            self.app.push_screen(self.reuse_screen(row))

    def _can_fetch(self) -> bool:
        """Online, loading a learnware fetches its zip from a peer first (the reuse job does it)."""
        return self.backend.fetch_reason(False) == ""

    def reuse_screen(self, row):
        """The reuse screen for a row, on the data the search was made with (when it was a data file)."""
        from .reuse import ReuseScreen

        stat = self.stat
        return ReuseScreen(ReuseTarget.from_row(row), stat.data_path if stat else None,
                           stat.label_column if stat else None)

    def action_export(self) -> None:
        row = self.query_one(ResultsTable).selected()
        if row is not None and not row.is_mixture:
            self.ask_export(row.key, row.name, row.local)

    def action_remove(self) -> None:
        row = self.query_one(ResultsTable).selected()
        if row is not None and not row.is_mixture:
            self.ask_remove(row.key, row.name)
