"""Column summaries of every described table learnware, built once per record and persisted.

What a heterogeneous query needs from each learnware is small: which descriptions its columns
carry and each column's weighted mean/std (specs/hetero.column_marginals). Before issue 14's
second pass these were rebuilt per process from the catalogue and every described learnware's
RKME points were held in RAM; now `SearchIndex.columns` appends them here once per record (the
first heterogeneous query after records arrive does it for them: one JSON parse, one batched
pread of the points and one marginal computation per record; ingest pays nothing), in files
beside the lean index (`<home>/dock.duckdb.search/columns/`), and the points stay in the
groups' point files, read with pread only for the few candidates a query scores.

Layout (dock/search/index_files.Column, memory-mapped; RAM when the index has no directory):
* per described learnware: its index row, first column entry, width (20 B);
* per column: a vocabulary id (int32) and (mean, std) as float32 (12 B);
* the vocabulary: unique normalised descriptions (`vocab.jsonl`, one JSON string a line) and
  their embeddings per embedder (`vectors-<embedder hash>.f32`, float32), embedded in one batch
  the first time a query needs them and kept: a restart embeds nothing again.
Columns of many learnwares share descriptions, so the vocabulary stays far smaller than the
column count, and the name prefilter (dock/search/hetero.py) compares the user's columns with
the vocabulary once, then gathers per column by id.

Removal needs nothing here: an entry whose row is dead in the index is skipped. Counts live in
the index's meta.json ("columns"), written after the data (index_files' durability rule),
with `upto`, the index rows already considered; an index from before this module has none and
is summarised once from its own semantic JSON and point files (no catalogue read).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np

from dock.search.index_files import Column

log = logging.getLogger(__name__)

TABLE_SPEC = "RKMETableSpecification"


class ColumnStore:
    def __init__(self, directory: Path | None, meta: dict | None):
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        meta = meta or {}
        self.upto = int(meta.get("upto", 0))  # index rows below this were considered (an older index: 0)
        self.n = int(meta.get("learnwares", 0))
        self.n_columns = int(meta.get("columns", 0))
        self._lw_row = self._column("lw_row", np.int64)
        self._lw_start = self._column("lw_start", np.int64)
        self._lw_width = self._column("lw_width", np.int32)
        self._col_text = self._column("col_text", np.int32)
        self._col_marg = self._column("col_marg", np.float32, (2,))
        self.vocab: list[str] = []
        n_vocab = int(meta.get("vocab", 0))
        if directory is not None and n_vocab:
            with open(directory / "vocab.jsonl", encoding="utf-8") as f:
                self.vocab = [json.loads(line) for _, line in zip(range(n_vocab), f, strict=False)]
        self.vocab_id = {t: i for i, t in enumerate(self.vocab)}
        self._vocab_written = len(self.vocab)
        self._vectors: dict[str, tuple[Column, int]] = {}
        self._view_key: tuple | None = None
        self._view: tuple[np.ndarray, ...] = ()
        self.points_cache: OrderedDict = OrderedDict()  # row -> a few candidates' points (dock/search/hetero.py)
        for ident, count in meta.get("vectors", {}).items():
            dim = int(meta.get("vector_dims", {}).get(ident, 0))
            if dim:
                self._vectors[ident] = (self._column(_vector_name(ident), np.float32, (dim,)), int(count))

    def _column(self, name: str, dtype, shape=()) -> Column:
        return Column(None if self.directory is None else self.directory / f"{name}.bin", dtype, shape)

    # -- writes --------------------------------------------------------------------------
    def add(self, row: int, normalised: list[str], marginals: np.ndarray) -> None:
        """One described learnware: its columns' normalised descriptions and (mean, std) rows."""
        width = len(normalised)
        at, c = self.n, self.n_columns
        for col in (self._lw_row, self._lw_start, self._lw_width):
            col.reserve(at + 1)
        self._col_text.reserve(c + width)
        self._col_marg.reserve(c + width)
        ids = []
        for text in normalised:
            i = self.vocab_id.get(text)
            if i is None:
                i = self.vocab_id[text] = len(self.vocab)
                self.vocab.append(text)
            ids.append(i)
        self._col_text.a[c:c + width] = ids
        self._col_marg.a[c:c + width] = np.asarray(marginals, np.float64)[:, :2]
        self._lw_row.a[at], self._lw_start.a[at], self._lw_width.a[at] = row, c, width
        self.n, self.n_columns = at + 1, c + width

    def flush(self) -> dict:
        """Write the data, then return the counts for meta.json (which makes them count)."""
        for col in (self._lw_row, self._lw_start, self._lw_width, self._col_text, self._col_marg):
            col.flush()
        if self.directory is not None and len(self.vocab) > self._vocab_written:
            with open(self.directory / "vocab.jsonl", "a", encoding="utf-8") as f:
                f.truncate(_vocab_bytes(self.directory / "vocab.jsonl", self._vocab_written))
                f.writelines(json.dumps(t) + "\n" for t in self.vocab[self._vocab_written:])
            self._vocab_written = len(self.vocab)
        for col, _ in self._vectors.values():
            col.flush()
        return {"upto": self.upto, "learnwares": self.n, "columns": self.n_columns, "vocab": len(self.vocab),
                "vectors": {k: n for k, (_, n) in self._vectors.items()},
                "vector_dims": {k: int(c.shape[0]) for k, (c, _) in self._vectors.items()}}

    # -- reads ---------------------------------------------------------------------------
    # Plain ndarray views of the mapped columns, made once per size: slicing a np.memmap builds
    # a memmap object each time (~5 us), a real share of a small dock's query.
    def _views(self) -> tuple[np.ndarray, ...]:
        key = (self.n, self.n_columns, id(self._lw_row.a), id(self._col_text.a), id(self._col_marg.a))
        if self._view_key != key:
            self._view = tuple(c.a[:k].view(np.ndarray) for c, k in (
                (self._lw_row, self.n), (self._lw_start, self.n), (self._lw_width, self.n),
                (self._col_text, self.n_columns), (self._col_marg, self.n_columns)))
            self._view_key = key
        return self._view

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(rows, starts, widths, text ids, (mean, std) float32) at once: a query needs them all."""
        return self._views()

    def rows(self) -> np.ndarray:
        return self._views()[0]

    def starts(self) -> np.ndarray:
        return self._views()[1]

    def widths(self) -> np.ndarray:
        return self._views()[2]

    def text_ids(self) -> np.ndarray:
        return self._views()[3]

    def marginals(self, columns: np.ndarray) -> np.ndarray:
        return self._views()[4][columns].astype(np.float64)

    def entry_of(self, row: int) -> int | None:
        """The store entry of an index row (rows are appended in increasing order)."""
        rows = self.rows()
        i = int(np.searchsorted(rows, row))
        return i if i < rows.size and rows[i] == row else None

    def vectors_known(self, ident: str) -> int:
        held = self._vectors.get(ident)
        return held[1] if held else 0

    def vocab_vectors(self, ident: str, embed) -> np.ndarray:
        """(V, E) float32 embeddings of the vocabulary under this embedder; new words embedded once."""
        held = self._vectors.get(ident)
        count = held[1] if held else 0
        if count < len(self.vocab):
            fresh = np.asarray(embed(self.vocab[count:]), np.float32)
            if held is None:
                held = (self._column(_vector_name(ident), np.float32, (fresh.shape[1],)), 0)
            col = held[0]
            col.reserve(len(self.vocab))
            col.a[count:len(self.vocab)] = fresh
            held = self._vectors[ident] = (col, len(self.vocab))
        return held[0].a.view(np.ndarray)[: held[1]] if held else np.zeros((0, 1), np.float32)


def _vector_name(ident: str) -> str:
    return "vectors-" + hashlib.sha256(ident.encode()).hexdigest()[:16]


def _vocab_bytes(path: Path, lines: int) -> int:
    """Bytes of the first `lines` lines (a crash may have left more past the recorded count)."""
    if not lines or not path.exists():
        return 0
    size = 0
    with open(path, "rb") as f:
        for _, line in zip(range(lines), f, strict=False):
            size += len(line)
    return size


def group_slot(group, row: int) -> int | None:
    """A live row's slot in a StatGroup (slots hold rows in increasing order, also after compaction)."""
    rows = group.slot_rows()
    i = int(np.searchsorted(rows, row))
    return i if i < rows.size and rows[i] == row and group.live_mask()[i] else None
