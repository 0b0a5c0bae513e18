"""Publish a model: model file + training data (a table, images or documents) → statistical spec
(progress) → semantic form (allowed values offered; Data set from the file) → pack, checks, store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static, TextArea

from .. import messages as m
from .. import specs_access
from ..dialogs.file_picker import FilePicker
from ..label_guess import LabelGuess
from ..publish_job import (
    ALLOW_SMALL_LABEL,
    MODEL_SUFFIXES,
    DataSketch,
    PublishForm,
    pack_and_submit,
    sketch_training_data,
    small_table_advice,
)
from ..widgets.path_input import PathInput
from ..widgets.progress_line import ProgressLine
from .base import LwdockScreen

DATA_SUFFIXES = (".csv", ".npy", ".npz", ".txt")
SELECTS = (("Data", "Table"), ("Task", "Classification"), ("Library", "Scikit-learn"), ("License", "MIT"))


def _column_box():
    """The table's column descriptions, one a line (hidden until a table with a header is read)."""
    box = Vertical(Label("Columns: what each feature column means (from the header; edit before publishing)",
                         classes="form-label"),
                   TextArea(id="column-descriptions", soft_wrap=False, compact=True), id="columns-box")
    box.display = False
    box.styles.height = "auto"
    box.styles.max_height = 14
    yield box


@dataclass(frozen=True)
class ColumnsForm(PublishForm):
    """The form plus the column descriptions shown on the screen (Input.Description)."""

    columns: tuple[str, ...] = ()
    edited: bool = False

    def semantic_spec(self) -> dict:
        from dock.search.hetero import input_block

        return {**super().semantic_spec(), "Input": input_block(list(self.columns),
                                                              source="edited" if self.edited else "header")}


def _row(label: str, *widgets) -> Horizontal:
    return Horizontal(Label(label, classes="form-label"), *widgets, classes="form-row")


class PublishScreen(LwdockScreen):
    BINDINGS = [
        Binding("ctrl+o", "pick_file", "Browse"),
        Binding("ctrl+r", "sketch", "Read data"),
        Binding("ctrl+s", "publish", "Publish"),
    ]
    PALETTE = (
        ("Publish: browse for the focused file field", "model file or training data", "pick_file"),
        ("Publish: read the training data", "fit the statistical spec and suggest the task", "sketch"),
        ("Publish: check and publish", "pack, run the checks, store in this dock", "publish"),
    )

    def __init__(self):
        super().__init__()
        self.choices = specs_access.semantic_choices()
        self.sketch: DataSketch | None = None
        self._header_columns: list[str] | None = None
        self._label_guess = LabelGuess()  # the shared guess; a guess never sticks to the next file

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="publish-body"):
            yield Static("[b]1. Your model and its training data[/b]", classes="section")
            yield _row("Model file", PathInput(MODEL_SUFFIXES, placeholder="fitted model (.pkl / .joblib) or a "
                                               ".py file with a model class · ctrl+o", id="model-path", compact=True))
            yield _row("Model class", Input(placeholder="only for a .py file: the class name", id="class-name",
                                            compact=True))
            yield _row("Training data", PathInput(DATA_SUFFIXES, placeholder="table .csv/.npy, images .npy/.npz, "
                                                  "documents .txt/.csv · ctrl+o",
                                                  id="data-path", compact=True))
            yield _row("Label column", Input(placeholder="name or number; left out of the spec", id="label-column",
                                             compact=True),
                       Button("Read data (ctrl+r)", id="sketch", compact=True))
            yield ProgressLine(id=f"progress-{m.SKETCH}")
            yield Static(Text("The data is sketched as an RKME (a few weighted points); the rows never leave "
                              "this machine.", style="dim"), id="sketch-info")
            yield from _column_box()
            yield Static("[b]2. What it is for[/b]", classes="section")
            with Horizontal(id="semantic-form"):
                with Vertical(id="semantic-fields"):
                    yield _row("Name", Input(placeholder="e.g. Wine cultivar classifier", id="name", compact=True))
                    yield _row("Description", Input(placeholder="what it predicts, from what", id="description",
                                                    compact=True))
                    for key, default in SELECTS:
                        options = [(v, v) for v in self.choices[key]]
                        yield _row(key, Select(options, value=default, allow_blank=False, id=f"sem-{key.lower()}",
                                               compact=True))
                    yield _row("Output dim", Input(placeholder="classes, or 1 for regression", id="output-dim",
                                                   type="integer", compact=True))
                with Vertical(id="scenario-box"):
                    yield Label("Scenario (one or more)", classes="form-label")
                    yield SelectionList(*[(v, v) for v in self.choices["Scenario"]], id="sem-scenario", compact=True)
            yield Static("[b]3. Check and publish[/b]", classes="section")
            yield Horizontal(Button("Check and publish (ctrl+s)", id="publish", variant="primary", compact=True),
                             classes="form-row")
            # Shown only for a table too small for a private spec (issue 17): ticking it is the TUI's --allow-small.
            yield Checkbox(ALLOW_SMALL_LABEL, id="allow-small", compact=True)
            yield ProgressLine(id=f"progress-{m.PUBLISH}")
            yield Static("", id="publish-result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#allow-small", Checkbox).display = False
        self.query_one("#model-path", Input).focus()

    def action_pick_file(self) -> None:
        focused = self.focused if isinstance(self.focused, PathInput) else self.query_one("#model-path", PathInput)
        title = "Model file" if focused.id == "model-path" else "Training data"

        def picked(path: Path | None) -> None:
            if path is not None:
                focused.value = str(path)

        self.app.push_screen(FilePicker(title, focused.path, focused.suffixes), picked)

    # -- step 1: read and sketch the training data ---------------------------------------------
    @on(Input.Submitted, "#data-path, #label-column")
    @on(Button.Pressed, "#sketch")
    def action_sketch(self) -> None:
        path = self.query_one("#data-path", PathInput).path
        if path is None:
            self.app.notify("Give the training data file first.", severity="warning")
            return
        self.query_one(f"#progress-{m.SKETCH}", ProgressLine).start(f"reading {path.name}")
        self.read_data(path, self._label_guess.apply(self.query_one("#label-column", Input), path,
                                                     notify=self.app.notify))

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.SKETCH)
    def read_data(self, path: Path, label_column: str | None) -> None:
        sketch = sketch_training_data(path, label_column, self.progress_reporter(m.SKETCH))
        if not self.cancelled():
            self.post_message(m.SketchDone(sketch))

    def on_sketch_done(self, message: m.SketchDone) -> None:
        s = self.sketch = message.sketch
        if not s.has_labels:
            labels = "no label column" if s.kind == "table" else "no labels"
        else:
            labels = f"labels: class numbers 0..{s.classes - 1}" if s.classes else "labels look continuous"
        took = f" in {s.seconds:.1f} s" if self.app.show_timings else ""
        what = f"{s.rows} rows × {s.columns} feature columns" if s.kind == "table" else s.described
        summary = (f"{s.path.name}: {what}; {labels} → {s.kind} spec of {s.points} points (γ = {s.gamma:.3g})"
                   f"{took}; Data: {s.data_type}" + (f"\n{s.reveals}" if s.reveals else ""))
        self.query_one("#sketch-info", Static).update(Text.assemble(
            ("✓ ", "green"), summary, *((("\n⚠ " + s.small), "yellow"),) if s.small else ()))
        self.show_allow_small(bool(s.small))
        self.query_one("#sem-data", Select).value = s.data_type
        if s.has_labels:
            self.query_one("#sem-task", Select).value = s.suggested_task
            self.query_one("#output-dim", Input).value = str(s.suggested_output_dim)
        self._show_columns(s)
        if not self.query_one("#name", Input).value:
            self.query_one("#name", Input).focus()

    # -- column descriptions (issue 14): filled from the header, editable before publishing ----
    def _show_columns(self, sketch: DataSketch) -> None:
        from dock.datafiles import feature_column_names

        label = self.query_one("#label-column", Input).value.strip() or None
        names = feature_column_names(sketch.path, label) if sketch.kind == "table" else None
        box = self.query_one("#columns-box")
        self._header_columns = names if names is not None and len(names) == sketch.columns else None
        box.display = self._header_columns is not None
        self.query_one("#column-descriptions", TextArea).text = "\n".join(self._header_columns or [])

    def edited_columns(self) -> tuple[str, ...] | None:
        """The column descriptions as they stand (one a line); None when the box is not shown."""
        if not self.query_one("#columns-box").display:
            return None
        lines = self.query_one("#column-descriptions", TextArea).text.rstrip("\n").split("\n")
        return tuple(" ".join(line.split()) for line in lines)

    def _columns_refused(self) -> str | None:
        columns = self.edited_columns()
        if columns is None or self.sketch is None:
            return None
        if len(columns) != self.sketch.columns or not all(columns):
            blank = sum(1 for c in columns if not c)
            return (f"{len(columns)} column descriptions for {self.sketch.columns} feature columns"
                    + (f" ({blank} blank)" if blank else "") + ": give one line per column, in the file's order.")
        return None

    # -- step 3: pack, check, publish ------------------------------------------------------
    def form(self) -> PublishForm:
        def select(key: str) -> str:
            return str(self.query_one(f"#sem-{key.lower()}", Select).value)

        dim = self.query_one("#output-dim", Input).value.strip()
        small = self.query_one("#allow-small", Checkbox)
        fields = dict(
            name=self.query_one("#name", Input).value, description=self.query_one("#description", Input).value,
            data_type=select("Data"), task=select("Task"), library=select("Library"),
            scenarios=tuple(self.query_one("#sem-scenario", SelectionList).selected), license=select("License"),
            output_dim=int(dim) if dim.lstrip("-").isdigit() else None,
            allow_small=small.display and small.value,
        )
        columns = self.edited_columns()
        if columns is not None:
            return ColumnsForm(**fields, columns=columns, edited=list(columns) != (self._header_columns or []))
        return PublishForm(**fields)

    def show_allow_small(self, shown: bool) -> None:
        """The allow-small checkbox, for a table under the private spec's minimum; unticked for each new file."""
        box = self.query_one("#allow-small", Checkbox)
        if not shown or not box.display:
            box.value = False
        box.display = shown

    def small_table_refused(self, advice: str) -> None:
        """Publishing was refused for too few rows: say why, offer the checkbox (nothing was stored)."""
        self.show_allow_small(True)
        self.query_one("#publish-result", Static).update(Text.assemble(("✗ Not published: ", "bold red"), advice))
        self.show_status("not published: the table is too small for a private spec", "warning")
        self.query_one("#allow-small", Checkbox).focus()

    @on(Button.Pressed, "#publish")
    def action_publish(self) -> None:
        model = self.query_one("#model-path", PathInput).path
        data = self.query_one("#data-path", PathInput).path
        if model is None or data is None:
            self.app.notify("Give the model file and the training data first.", severity="warning")
            return
        refused = self._columns_refused()
        if refused:
            self.query_one("#publish-result", Static).update(Text("✗ " + refused, style="red"))
            self.app.notify(refused, severity="error", markup=False)
            return
        self.query_one("#publish-result", Static).update("")
        progress = self.query_one(f"#progress-{m.PUBLISH}", ProgressLine)
        progress.start("packing")
        self.show_status("publishing: packing", "busy")  # the status line shows it wherever the form is scrolled
        self.call_after_refresh(progress.scroll_visible)
        self.publish(model, self.query_one("#class-name", Input).value, data,
                     self.query_one("#label-column", Input).value.strip() or None, self.form())

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.PUBLISH)
    def publish(self, model: Path, class_name: str, data: Path, label: str | None, form: PublishForm) -> None:
        from dock import SmallTableError

        try:
            learnware_id = pack_and_submit(self.backend, model_path=model, class_name=class_name or None,
                                           data_path=data, label_column=label, form=form,
                                           progress=self.progress_reporter(m.PUBLISH))
        except SmallTableError as refusal:  # not a failure: a choice the user makes on this screen
            self.app.call_from_thread(self.small_table_refused, small_table_advice(refusal))
            return
        self.post_message(m.Published(learnware_id, form.name.strip()))

    def on_published(self, message: m.Published) -> None:
        self.call_after_refresh(self.query_one("#publish-result", Static).scroll_visible)
        self.query_one("#publish-result", Static).update(Text.assemble(
            ("✓ Published ", "green"), (message.name, "bold"), f" as {message.learnware_id}\n",
            "It passed the checks and is in this dock: F2 to search for it."))
        self.app.notify(f"{message.name!r} is in the dock", title="Published", markup=False)
        self.app.dock_changed(message.learnware_id)
