"""One learnware: what it is for (semantic spec), how well it fits (score, MMD), what it is
(size, id, publisher, where its zip is), and what to do with it (reuse, export, remove, fetch)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Static

from dock import SemanticView

from .. import messages as m
from ..viewmodels import LearnwareDetails, ResultRow, ReuseTarget
from ..widgets.progress_line import ProgressLine
from ..widgets.score import human_size, score_bar
from .base import LwdockScreen
from .learnware_actions import LearnwareActionsMixin

SEMANTIC_ORDER = ("Data", "Task", "Library", "Scenario", "License")


def _values(view: SemanticView, key: str) -> str:
    return ", ".join(view.values(key)) or "—"


def semantic_table(details: LearnwareDetails) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    view = SemanticView.from_spec(details.semantic_spec)
    for key in SEMANTIC_ORDER:  # Text cells: a rich Table parses str cells as markup
        table.add_row(key, Text(_values(view, key)))
    for key, dim, pairs in (("Input", details.input_dim, view.input_descriptions),
                            ("Output", details.output_dim, view.output_descriptions)):
        described = ", ".join(f"{i}: {d}" for i, d in pairs[:6])
        table.add_row(key, Text(f"{dim} column{'s' if dim != 1 else ''}" + (f" ({described})" if described else "")
                                if dim is not None else "—"))
    return table


def facts_table(details: LearnwareDetails, row: ResultRow | None, show_id_and_size: bool = True) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    if row is not None and row.score is not None:
        table.add_row("Similarity" if row.mmd2 is not None else "Relevance", score_bar(row.score, width=20))
        made_of = []
        if row.mmd2 is not None:
            made_of.append(f"MMD² {row.mmd2:.4g} between its training data's embedding and your data's "
                           "(0 = the same distribution); inputs only, not a prediction of accuracy")
        if row.text_score is not None:
            made_of.append(f"text relevance {row.text_score:.0%}")
        table.add_row("Made of", "\n".join(made_of) or "—")
    hidden = Text("(hidden)", style="dim")
    table.add_row("Id", Text(details.id) if show_id_and_size else hidden)
    if details.publisher is None:
        table.add_row("Publisher", Text("unknown (an unsigned record)", style="dim"))
    elif details.publisher_label == "you":
        table.add_row("Publisher", Text.assemble("you, this node: ", (details.publisher, "dim")))
    else:
        table.add_row("Publisher", Text(details.publisher))
    table.add_row("Size", human_size(details.size) if show_id_and_size else hidden)
    table.add_row("Providers", providers_text(details))
    for spec in details.stat_specs:
        line = f"{spec.type}: {spec.points} points × {spec.dim} columns, γ = {spec.gamma:.4g}"
        table.add_row("Stat spec", Text(line))
    return table


def providers_text(details: LearnwareDetails) -> Text:
    """Where its zip is, in the same words as the Fetch line below it (never "none" beside "on peers")."""
    if details.local:
        return Text("this dock (the zip is local)", style="green")
    if details.fetch_reason:
        return Text(f"not in this dock; peers may hold it, but {details.fetch_reason}", style="yellow")
    return Text("peers on the network (its publisher, and peers that announced it); not yet in this dock",
                style="yellow")


class DetailScreen(LearnwareActionsMixin, LwdockScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reuse", "Reuse"),
        Binding("e", "export", "Export"),
        Binding("x,delete", "remove", "Remove"),
        Binding("f", "fetch", "Fetch"),
    ]
    PALETTE = (
        ("Learnware: reuse on my data", "run this learnware on a data file", "reuse"),
        ("Learnware: export zip", "copy this learnware's zip to a file", "export"),
        ("Learnware: remove", "delete this learnware from this dock", "remove"),
        ("Learnware: fetch from peers", "download its zip from the network", "fetch"),
        ("Back to the results", "close this view", "app.pop_screen"),
    )

    def __init__(self, row: ResultRow):
        super().__init__()
        self.row = row
        self.details: LearnwareDetails | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(Text(self.row.name, style="bold"), id="detail-title")
            yield Static("loading…", id="detail-description")
            with Horizontal(id="detail-columns"):
                yield Static("", id="detail-facts")
                yield Static("", id="detail-semantic")
            with Horizontal(id="detail-actions"):
                yield Button("Reuse (r)", id="reuse", variant="primary")
                yield Button("Export zip (e)", id="export")
                yield Button("Remove (x)", id="remove", variant="error")
                yield Button("Fetch (f)", id="fetch", disabled=True)
            yield Static("", id="fetch-reason")
            yield ProgressLine(id=f"progress-{m.FETCH}")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reuse", Button).focus()
        self.load_details(self.row.key)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.DETAILS)
    def load_details(self, learnware_id: str) -> None:
        details = self.backend.details(learnware_id)
        if not self.cancelled():
            self.post_message(m.DetailsLoaded(details))

    def on_details_loaded(self, message: m.DetailsLoaded) -> None:
        details = self.details = message.details
        self.query_one("#detail-description", Static).update(Text(details.description or "(no description)"))
        self.query_one("#detail-facts", Static).update(facts_table(details, self.row, self.app.show_ids_and_sizes))
        self.query_one("#detail-semantic", Static).update(semantic_table(details))
        fetch = self.query_one("#fetch", Button)
        fetch.disabled = bool(details.fetch_reason)
        fetch.display = not details.local  # fetched (or published here): nothing left to fetch
        fetch_text = f"Fetch: {details.fetch_reason}." if details.fetch_reason else "Fetch: its zip is on peers (f)."
        reason = self.query_one("#fetch-reason", Static)
        reason.update(Text(fetch_text, style="dim"))
        reason.display = not details.local
        self.query_one("#export", Button).disabled = not details.local
        self.query_one("#reuse", Button).disabled = not details.local
        self.refresh_bindings()

    def check_action(self, action: str, parameters) -> bool | None:
        if action in ("reuse", "export", "remove", "fetch") and self.details is None:
            return False
        if action == "fetch":
            return not self.details.fetch_reason
        if action in ("export", "reuse"):
            return self.details.local
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run_action(event.button.id or "")

    def action_reuse(self) -> None:
        from .reuse import ReuseScreen

        task = self.details.task if self.details else None
        self.app.push_screen(ReuseScreen(ReuseTarget((self.row.key,), (self.row.name,), None, task,
                                                     self.row.data_type or None)))

    def action_export(self) -> None:
        if self.details is not None:
            self.ask_export(self.details.id, self.details.name, self.details.local)

    def action_remove(self) -> None:
        if self.details is not None:
            self.ask_remove(self.details.id, self.details.name)

    def action_fetch(self) -> None:
        reason = self.details.fetch_reason if self.details else "still loading"
        if reason:
            self.app.notify(f"Cannot fetch: {reason}.", severity="warning", markup=False)
            return
        self.query_one(f"#progress-{m.FETCH}", ProgressLine).start("asking the peers that have it")
        self.fetch(self.details.id)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.FETCH)
    def fetch(self, learnware_id: str) -> None:
        path = self.backend.fetch(learnware_id, self.progress_reporter(m.FETCH))
        self.post_message(m.Fetched(learnware_id, path))

    def on_fetched(self, message: m.Fetched) -> None:
        self.app.notify(f"{self.row.name!r} is now in this dock", title="Fetched", markup=False)
        self.app.dock_changed(message.learnware_id)
        self.load_details(message.learnware_id)

    def on_removed(self, message: m.Removed) -> None:
        self.app.pop_screen()
