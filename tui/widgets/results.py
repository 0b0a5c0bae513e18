"""The search results: one row per learnware, the recommended mixture as its own first row
(one line per member with its weight). The name column takes whatever width the others leave.

The score column says what the score is: "Similarity" (of input distributions, a statistical
search) or "Relevance" (of the words, a text search). While a preview runs (tui/preview_job.py), a
"Measured" column shows each row's accuracy / RMSE on the user's labelled rows as it arrives."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.widgets import DataTable

from ..viewmodels import ResultRow
from .score import score_bar

BAR = 10
# key, label, width (None: the name column, which gets the rest)
COLUMNS = (("name", "Name", None), ("score", "Similarity", BAR + 5), ("kind", "Data / task", 22),
           ("publisher", "Publisher", 11), ("where", "Where", 9))
PREVIEW_COLUMN = ("preview", "Measured", 13)  # after the score, in the Publisher's place, while a preview is on
MIN_NAME = 18
# Below this table width (an 80-column terminal; 120 columns with the sidebar keep it) the Publisher
# column goes (the detail view names it) and "Data / task" narrows, so "Where" stays on screen.
NARROW = 88
NARROW_KIND = 16
MAX_MEMBERS_SHOWN = 4


class ResultsTable(DataTable):
    """Rows keyed by learnware id (or "mixture"); `Enter` posts DataTable.RowSelected."""

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: dict[str, ResultRow] = {}
        self._name_width = 0
        self._preview: dict[str, Text] | None = None  # key -> the Measured cell; None: no preview column

    def _columns(self):
        columns = COLUMNS
        if self._preview is not None:
            # The Measured column takes the Publisher's place (the detail view still names it): the
            # name keeps its room.
            columns = COLUMNS[:2] + (PREVIEW_COLUMN,) + tuple(c for c in COLUMNS[2:] if c[0] != "publisher")
        if (self.size.width or 100) < NARROW:
            # With the Measured column on, "Data / task" goes too (the detail view shows it).
            gone = {"publisher", "kind"} if self._preview is not None else {"publisher"}
            columns = tuple((k, label, NARROW_KIND if k == "kind" else w) for k, label, w in columns
                            if k not in gone)
        return columns

    def _score_label(self, rows: list[ResultRow]) -> str:
        if any(r.mmd2 is not None for r in rows):
            return "Similarity"
        return "Relevance" if any(r.text_score is not None for r in rows) else "Similarity"

    def _fit_name_width(self) -> int:
        width = self.size.width or 100
        columns = self._columns()
        fixed = sum(w for _, _, w in columns if w) + 2 * self.cell_padding * len(columns) + 2  # + scrollbar
        return max(MIN_NAME, width - fixed)

    def on_mount(self) -> None:
        self.show([])

    def on_resize(self) -> None:
        if self._fit_name_width() != self._name_width:
            self.show(list(self._rows.values()), keep_cursor=True)

    def show(self, rows: list[ResultRow], keep_cursor: bool = False) -> None:
        """Show these rows, cursor on the first (or where it was, after a resize)."""
        cursor = self.cursor_row
        self.clear(columns=True)
        self._name_width = self._fit_name_width()
        for key, label, width in self._columns():
            label = self._score_label(rows) if key == "score" else label
            self.add_column(label, key=key, width=width or self._name_width)
        self._rows = {row.key: row for row in rows}
        for row in rows:
            height = 1 + min(len(row.ids), MAX_MEMBERS_SHOWN) if row.is_mixture else 1
            self.add_row(*self._cells(row), key=row.key, height=height)
        if keep_cursor and 0 <= cursor < self.row_count:
            self.move_cursor(row=cursor)

    def _name_cell(self, text: str, style: str = "") -> Text:
        out = Text(text, style=style)
        out.truncate(self._name_width, overflow="ellipsis")
        return out

    def _cells(self, row: ResultRow):
        kind = " / ".join(v for v in (row.data_type, row.task) if v) or "—"
        if row.is_mixture:
            name = Text()
            name.append_text(self._name_cell(f"★ Mixture of {len(row.ids)}", "bold magenta"))
            weights = row.weights or (1 / len(row.ids),) * len(row.ids)
            for member, weight in list(zip(row.names, weights, strict=False))[:MAX_MEMBERS_SHOWN]:
                name.append("\n")
                name.append_text(self._name_cell(f"  {weight:4.0%} {member}"))
            publisher = Text("—", style="dim")
        else:
            name = self._name_cell(row.name or row.key[:12])
            publisher = Text(row.publisher or "—", style="dim" if row.publisher in (None, "—") else "")
        where = self._where(row)
        kind_cell = Text(kind)
        kind_width = next((w for k, _, w in self._columns() if k == "kind"), None)
        kind_cell.truncate(kind_width or len(kind), overflow="ellipsis")
        # Text cells, never str: a DataTable parses str cells as markup, and these come from records.
        cells = {"name": name, "score": score_bar(row.score, BAR), "kind": kind_cell, "publisher": publisher,
                 "where": where, "preview": (self._preview or {}).get(row.key, Text(""))}
        return tuple(cells[key] for key, _, _ in self._columns())

    @staticmethod
    def _where(row: ResultRow) -> Text:
        if row.local:
            return Text("local", style="green")
        return Text("not all local" if row.is_mixture else "not local", style="yellow")

    # -- the preview column ------------------------------------------------------------------
    def preview_on(self, cells: dict[str, Text]) -> None:
        """Show the Measured column with these cells (key -> text); rows without one stay blank."""
        self._preview = dict(cells)
        self.show(list(self._rows.values()), keep_cursor=True)

    def preview_off(self) -> None:
        if self._preview is not None:
            self._preview = None
            self.show(list(self._rows.values()), keep_cursor=True)

    def set_preview(self, key: str, cell: Text) -> None:
        """One row's Measured cell (ignored when the row or the column is gone: a late message)."""
        if self._preview is None or key not in self._rows:
            return
        self._preview[key] = cell
        self.update_cell(key, "preview", cell)

    def mark_local(self, ids: set[str]) -> None:
        """Rows whose zips are all in `ids` now say "local" (a preview run fetched and loaded them)."""
        for key, row in list(self._rows.items()):
            if not row.local and row.ids and set(row.ids) <= ids:
                self._rows[key] = row = replace(row, local=True)
                self.update_cell(key, "where", self._where(row))

    def preview_keys(self) -> list[str]:
        return list(self._preview or {})

    def preview_text(self, key: str) -> str:
        return self._preview[key].plain if self._preview and key in self._preview else ""

    def selected(self) -> ResultRow | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._rows.get(key)

    def row_for(self, key: str) -> ResultRow | None:
        return self._rows.get(key)

    @property
    def rows_shown(self) -> list[ResultRow]:
        return list(self._rows.values())
