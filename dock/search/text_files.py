"""The semantic filter/text index (dock/search/text.py) saved beside the search index, so a process
that opens a million-learnware dock does not re-read and re-tokenise a million semantic specs
(19 s and 2.3 GB measured) before its first text query.

Layout, in `<index>/text/`: meta.json (version, rows covered, the class-field codes and tag bits,
a sample of row ids), vocab.txt (one term a line, the CSR's order), names.txt (one name a line),
grams.txt with gram_offsets/gram_terms .npy (trigram -> term numbers, for typo matches),
columns.npz (per-row codes, tags, dimensions, lengths, and which rows the base holds) and
offsets/rows/tf .npy (the postings; rows and tf memory-mapped on open).

Why it stays valid with no bookkeeping: the search index only ever *appends* rows (a changed
record is a new row, the old one dies), so what the saved base says about rows [0, rows) stays
true; liveness is not saved but taken from the search index on open, and rows it holds that the
base lacks are added then (`stale` says which). A base that claims rows the search index does not
have (the index's own meta was older at a crash) or whose sampled ids differ is ignored and rebuilt.
The folder is replaced whole (written as text.tmp, then swapped), so a crash mid-save leaves the
old base or none, never a mix.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from dock.search.text import CLASS_FIELDS, SemanticIndex, _Column

log = logging.getLogger(__name__)

VERSION = 1
FOLDER = "text"
ID_SAMPLES = 32


def _sample_rows(rows: int) -> list[int]:
    return sorted({int(r) for r in np.linspace(0, rows - 1, min(rows, ID_SAMPLES))}) if rows else []


def save(directory: Path, sem: SemanticIndex, id_of) -> None:
    """Write `sem` (compacted first) to directory/text; id_of(row) -> the search index's id there."""
    sem.compact()
    rows = sem.n_rows
    tmp, final, old = directory / f"{FOLDER}.tmp", directory / FOLDER, directory / f"{FOLDER}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    # Words and trigrams are [a-z0-9 ] only; names are anyone's text (a lone surrogate from JSON
    # cannot be encoded: replaced, as names here only order a filter-only listing).
    (tmp / "vocab.txt").write_text("\n".join(sem._terms), encoding="ascii")
    (tmp / "grams.txt").write_text("\n".join(sorted(sem._gram_of, key=sem._gram_of.__getitem__)), encoding="ascii")
    np.save(tmp / "gram_offsets.npy", sem._gram_offsets)
    np.save(tmp / "gram_terms.npy", np.asarray(sem._gram_terms, np.int32))
    names = "\n".join(n.replace("\n", " ") for n in sem.names[:rows])
    (tmp / "names.txt").write_bytes(names.encode("utf-8", "replace"))
    np.savez(tmp / "columns.npz", present=sem._present.a[:rows],
             scenarios=sem._scenarios.a[:rows], input_dim=sem._input_dim.a[:rows],
             output_dim=sem._output_dim.a[:rows], doclen=sem._doclen.a[:rows],
             **{f"code_{f}": sem._codes[f].a[:rows] for f in CLASS_FIELDS})
    np.save(tmp / "offsets.npy", sem._offsets)
    np.save(tmp / "rows.npy", np.asarray(sem._rows, np.int32))
    np.save(tmp / "tf.npy", np.asarray(sem._tf, np.float32))
    meta = {"version": VERSION, "rows": rows, "code_of": sem._code_of, "scenario_bit": sem._scenario_bit,
            "ids": {str(r): id_of(r) for r in _sample_rows(rows)}}
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    for path in tmp.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load(directory: Path, index_rows: int, id_of) -> tuple[SemanticIndex, np.ndarray] | None:
    """(the saved index, which of its rows it holds), or None when there is none or it does not
    belong to these rows (see the module's note). Liveness is the caller's to apply."""
    folder = directory / FOLDER
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        rows = int(meta["rows"])
        if meta.get("version") != VERSION or rows > index_rows:
            return None
        if any(id_of(int(r)) != i for r, i in meta["ids"].items()):
            log.info("saved text index in %s belongs to other rows: rebuilding it", folder)
            return None
        sem = SemanticIndex()
        text = (folder / "vocab.txt").read_text(encoding="ascii")
        sem._terms = text.split("\n") if text else []
        sem._vocab = {t: k for k, t in enumerate(sem._terms)}
        text = (folder / "grams.txt").read_text(encoding="ascii")
        sem._gram_of = {g: k for k, g in enumerate(text.split("\n"))} if text else {}
        sem._gram_offsets = np.load(folder / "gram_offsets.npy")
        sem._gram_terms = np.load(folder / "gram_terms.npy", mmap_mode="r")
        if sem._gram_offsets.size != len(sem._gram_of) + 1 or sem._gram_terms.size != sem._gram_offsets[-1]:
            return None
        sem._offsets = np.load(folder / "offsets.npy")
        sem._rows = np.load(folder / "rows.npy", mmap_mode="r")
        sem._tf = np.load(folder / "tf.npy", mmap_mode="r")
        if sem._offsets.size != len(sem._terms) + 1 or not sem._rows.size == sem._offsets[-1] == sem._tf.size:
            return None
        names = (folder / "names.txt").read_bytes().decode("utf-8", "replace").split("\n") if rows else []
        with np.load(folder / "columns.npz") as cols:
            present = np.array(cols["present"], bool)
            if len(names) != rows or present.size != rows:
                return None
            sem._scenarios = _Column(np.int64, 0, cols["scenarios"])
            sem._input_dim = _Column(np.int32, -1, cols["input_dim"])
            sem._output_dim = _Column(np.int32, -1, cols["output_dim"])
            sem._doclen = _Column(np.float32, 0.0, cols["doclen"])
            sem._codes = {f: _Column(np.int16, -1, cols[f"code_{f}"]) for f in CLASS_FIELDS}
        sem._code_of = {f: dict(meta["code_of"][f]) for f in CLASS_FIELDS}
        sem._scenario_bit = dict(meta["scenario_bit"])
        sem.names, sem.n_rows = names, rows
        sem._live = _Column(bool, False, present)
        sem._present = _Column(bool, False, present)
        return sem, present
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("saved text index in %s unreadable (%s): rebuilding it", folder, exc)
        return None
