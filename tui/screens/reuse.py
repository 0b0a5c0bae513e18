"""Run one learnware or a mixture on the user's data file: predictions, a score when labels are
given, and a CSV of the predictions.

The data file is a table (.csv / 2-D .npy) for table learnwares, images (.npy, or .npz with X and
labels y) for image learnwares, documents (.txt one per line, or .csv with a `text` column) for
text learnwares: see dock.datafiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from .. import messages as m
from ..dialogs.file_picker import FilePicker
from ..label_guess import LabelGuess
from ..reuse_job import ReuseOutcome, data_kind, offered_reusers, run_reuse, save_predictions
from ..viewmodels import ReuseTarget
from ..widgets.path_input import PathInput
from ..widgets.progress_line import ProgressLine
from .base import LwdockScreen

DATA_SUFFIXES = (".csv", ".npy", ".npz", ".txt")
PREVIEW_ROWS = 12


def target_text(target: ReuseTarget, show_ids_and_sizes: bool = True) -> Text:
    if not target.is_mixture:
        shown_id = f"{target.ids[0][:12]}…" if show_ids_and_sizes else "(id hidden)"
        return Text.assemble(("Learnware: ", "bold"), target.names[0], (f"  {shown_id}", "dim"))
    text = Text("Mixture: ", style="bold")
    weights = target.weights or (1 / len(target.ids),) * len(target.ids)
    text.append(" + ".join(f"{n} ({w:.0%})" for n, w in zip(target.names, weights, strict=False)))
    return text


def metric_text(outcome: ReuseOutcome, timings: bool = True) -> Text:
    took = f" in {outcome.seconds:.1f} s" if timings else ""
    if not outcome.metrics:
        return Text(f"{outcome.rows} predictions{took} (no labels given, so no score).")
    if "accuracy" in outcome.metrics:
        text = Text.assemble(("Accuracy ", "bold"), (f"{outcome.metrics['accuracy']:.1%}", "bold green"))
    else:
        mt = outcome.metrics
        text = Text.assemble(("RMSE ", "bold"), f"{mt['rmse']:.4g}", ("  MAE ", "bold"), f"{mt['mae']:.4g}",
                             ("  R² ", "bold"), f"{mt['r2']:.3f}")
    text.append(f"  on {outcome.scored_on} · {outcome.reuser} · {outcome.rows} {outcome.unit}{took}", style="dim")
    return text


class ReuseScreen(LwdockScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+o", "pick_data", "Data file"),
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+s", "save", "Save predictions"),
    ]
    PALETTE = (
        ("Reuse: pick my data file", "what to predict (.csv / .npy table, .npy / .npz images, .txt documents)",
         "pick_data"),
        ("Reuse: run", "run the learnware(s) on the data file", "run"),
        ("Reuse: save predictions", "write the predictions to a CSV file", "save"),
        ("Back", "close the reuse view", "app.pop_screen"),
    )

    def __init__(self, target: ReuseTarget, data_path: Path | None = None, label_column: str | None = None):
        super().__init__()
        self.target = target
        self.data_path, self.label_column = data_path, label_column  # prefilled: the data searched with
        self._label_guess = LabelGuess(data_path, label_column or "")  # the prefill belongs to that file only
        self.choices, self.missing = offered_reusers(target)
        self.outcome: ReuseOutcome | None = None

    def default_choice(self) -> str:
        """A mixture is reused as a mixture (job selector, else the first reuser without labels)."""
        for choice in self.choices:
            if choice.class_name and not choice.needs_labels and (self.target.is_mixture or choice.key != "align"):
                return choice.key
        return self.choices[0].key

    def data_placeholder(self) -> str:
        kind = data_kind(self.target)
        files = {"image": ".npy images, or .npz with X and labels y", "text": ".txt (one per line), or .csv with "
                 "text + label columns"}.get(kind or "", ".csv or .npy")
        return f"{files} · ctrl+o to browse"

    def label_placeholder(self) -> str:
        if data_kind(self.target) == "image":
            return "optional: a .npz's labels array (default y); gives accuracy / error"
        return "optional: name or number; gives accuracy / error"

    def choice_label(self, choice) -> str:
        if choice.class_name is None and self.target.is_mixture:
            return f"Only the heaviest member: {self.target.names[0]}"
        return choice.label

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="reuse-body"):
            yield Static(target_text(self.target, self.app.show_ids_and_sizes), id="reuse-target")
            with Horizontal(classes="form-row"):
                yield Label("Reuser", classes="form-label")
                yield Select([(self.choice_label(c), c.key) for c in self.choices], value=self.default_choice(),
                             allow_blank=False, id="reuser", compact=True)
            if self.missing:
                yield Static(Text(f"Not available yet in dock.reuse: {', '.join(self.missing)}", style="dim"),
                             classes="form-note")
            with Horizontal(classes="form-row"):
                yield Label("Your data", classes="form-label")
                yield PathInput(DATA_SUFFIXES, placeholder=self.data_placeholder(), id="data-path",
                                compact=True, value=str(self.data_path) if self.data_path else "")
            with Horizontal(classes="form-row"):
                yield Label("Label column", classes="form-label")
                yield Input(placeholder=self.label_placeholder(), id="label-column",
                            compact=True, value=self.label_column or "")
                yield Button("Run (ctrl+r)", id="run", variant="primary", compact=True)
            yield ProgressLine(id=f"progress-{m.REUSE}")
            yield Static("", id="reuse-metric")
            yield DataTable(id="preview", cursor_type="none", zebra_stripes=True)
            with Horizontal(classes="form-row", id="save-row"):
                yield Label("Save to", classes="form-label")
                yield PathInput((".csv",), value="predictions.csv", id="save-path", compact=True)
                yield Button("Save (ctrl+s)", id="save", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        # ready to run when the data is known already; else the data file is the first question
        self.query_one("#run" if self.data_path else "#data-path").focus()
        self.query_one("#save-row").display = False
        self.query_one("#preview").display = False

    def action_pick_data(self) -> None:
        field = self.query_one("#data-path", PathInput)

        def picked(path: Path | None) -> None:
            if path is not None:
                field.value = str(path)
                self.query_one("#label-column", Input).focus()

        self.app.push_screen(FilePicker("Your data", field.path, DATA_SUFFIXES), picked)

    def target_specs(self) -> list[dict]:
        """The learnwares' semantic specs: a column their Output names is the label column."""
        try:
            return [self.backend.dock.get(i).semantic_spec for i in self.target.ids]
        except Exception:  # noqa: BLE001 - only a hint for the guess; the run says what is wrong
            return []

    @on(Input.Submitted, "#data-path, #label-column")
    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        path = self.query_one("#data-path", PathInput).path
        if path is None:
            self.app.notify("Give the data file to run on first (ctrl+o to browse).", severity="warning")
            return
        key = self.query_one("#reuser", Select).value
        choice = next(c for c in self.choices if c.key == key)
        label = self._label_guess.apply(self.query_one("#label-column", Input), path, self.target_specs(),
                                        notify=self.app.notify)
        self.query_one(f"#progress-{m.REUSE}", ProgressLine).start(f"reading {path.name}")
        self.query_one("#reuse-metric", Static).update("")
        self.reuse(choice, path, label)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.REUSE)
    def reuse(self, choice, path: Path, label: str | None) -> None:
        outcome = run_reuse(self.backend, self.target, choice, path, label, self.progress_reporter(m.REUSE),
                            self.cancelled)
        if outcome is not None and not self.cancelled():
            self.post_message(m.ReuseDone(outcome))

    def on_reuse_done(self, message: m.ReuseDone) -> None:
        outcome = self.outcome = message.outcome
        self.query_one("#reuse-metric", Static).update(metric_text(outcome, self.app.show_timings))
        table = self.query_one("#preview", DataTable)
        table.clear(columns=True)
        has_labels = outcome.labels is not None
        table.add_columns("row", "prediction", *(["label", ""] if has_labels else []))
        shown = outcome.predictions.reshape(outcome.rows, -1)
        # rows spread over the whole file, so the preview is not just its first block
        for i in sorted({int(r) for r in np.linspace(0, outcome.rows - 1, min(PREVIEW_ROWS, outcome.rows))}):
            cells = [str(i), ", ".join(_fmt(v) for v in shown[i])]
            if has_labels:
                ok = outcome.task != "Classification" or float(shown[i][0]) == float(outcome.labels[i])
                cells += [_fmt(outcome.labels[i]), Text("✓", "green") if ok else Text("✗", "red")]
            table.add_row(*cells)
        table.display = True
        self.query_one("#save-row").display = True
        self.refresh_bindings()

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "save":
            return self.outcome is not None
        return True

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        dest = self.query_one("#save-path", PathInput).path
        if self.outcome is None or dest is None:
            return
        self.save(self.outcome, dest)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.SAVE)
    def save(self, outcome: ReuseOutcome, dest: Path) -> None:
        self.post_message(m.PredictionsSaved(save_predictions(outcome, dest)))

    def on_predictions_saved(self, message: m.PredictionsSaved) -> None:
        self.app.notify(f"Saved to {message.path}", title="Predictions saved", markup=False)


def _fmt(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.4g}"
