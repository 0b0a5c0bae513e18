"""The search index: one row per learnware, a StatGroup per compatibility key, persisted beside
the catalogue (`<catalogue file>.search/`). Queries over it: dock/search/engine.py.

Split out of engine.py (which re-exports SearchIndex, default_directory and INDEX_VERSION) so
both stay under 500 lines; the heterogeneous column summaries (dock/search/hetero_cache.py) are
kept here too, built once per record when it is added.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from dock.errors import SearchError
from dock.records import LearnwareRecord, compat_key
from dock.search import text_files
from dock.search.hetero_cache import TABLE_SPEC, ColumnStore
from dock.search.index_files import BytesFile, Column, read_meta, write_meta
from dock.search.kernels import blas_single_thread
from dock.search.stat_group import StatGroup
from dock.search.text import SemanticIndex
from dock.store.catalogue import Catalogue

RECOUNT_SECONDS = 2.0  # writes that bypass Catalogue.insert/delete are seen within this
INDEX_VERSION = 1
_LOAD_BATCH = 1000
# add_many(defer_save=True) (a sync's pages): meta.json advanced at most this often, and when the
# sync from a peer ends or the index closes. Each save flushes every file and fsyncs meta.json
# (~30 ms a page, issue 16). A crash in between loses nothing: the catalogue holds the rows and
# the reopened index, finding its count and id fingerprint behind, adds them back (sync(verify)).
SAVE_DEFERRED_SECONDS = 5.0
# Rows added to the text index since its saved base past which it is saved again (on open, on close).
TEXT_RESAVE_ROWS = 2000
_SUMMARY_BATCH = 4096
_FIELD_NAMES = (
    "name", "description", "data_type", "task_type", "library_type", "license", "scenarios", "input_dim", "output_dim",
)  # the semantic columns, in Catalogue.semantic_fields order (after the id)

log = logging.getLogger(__name__)


def default_directory(catalogue: Catalogue) -> Path | None:
    """Where a catalogue's persisted index lives: `<catalogue file>.search/` beside it (in the
    dock's home, which is private), or None (in RAM) for an in-memory catalogue."""
    path = catalogue.path
    return None if str(path) == ":memory:" else path.with_name(path.name + ".search")


class SearchIndex:
    """Rows (one per learnware, never reused) and a StatGroup per compatibility key.

    With a directory everything per learnware is in files there (dock/search/index_files.py):
    the row ids (64 B), liveness, and each group's slot columns, sketches and points; meta.json
    holds the counts. Opening maps them (no recomputation); `sync` then checks the catalogue's
    (count, xor of id hashes) fingerprint against the index's and reconciles only on mismatch.
    Without a directory the same structures live in RAM (tests, throw-away benchmarks).

    Not kept in memory since issue 16: the semantic JSON of each learnware (read from the
    catalogue for the results shown), and the semantic filter/text index (SemanticIndex),
    opened from `text/` (dock/search/text_files.py) or built on the first query that filters
    or ranks by text. The id -> row dict is built on
    the first add or remove after opening (~1 s and ~150 MB at 1M learnwares).
    """

    def __init__(self, directory: Path | None = None, catalogue: Catalogue | None = None):
        self.lock = threading.RLock()
        self.directory = directory
        self._catalogue = catalogue
        meta = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            meta = read_meta(directory)
            if meta is None or meta.get("version") != INDEX_VERSION:
                if meta is not None or any(directory.iterdir()):
                    log.info("search index in %s is unreadable or from another version: rebuilding it", directory)
                shutil.rmtree(directory)
                directory.mkdir(mode=0o700)
                meta = None
        meta = meta or {}
        self._ids = Column(None if directory is None else directory / "ids.bin", "S64")
        self._alive = Column(None if directory is None else directory / "alive.bin", bool)
        # Each row's semantic spec (JSON, ~1 KB) on disk, (offset, size) in RAM: results are
        # shown from here, as DuckDB took ~2 ms per point lookup by id (5-10 ms per query).
        self._json_at = Column(None if directory is None else directory / "json_at.bin", np.int64, (2,))
        self._json = BytesFile(None if directory is None else directory / "semantic.json")
        self._json_bytes = int(meta.get("json_bytes", 0))
        self.n_rows = int(meta.get("rows", 0))
        self._n_live = int(meta.get("live", 0))
        self.fingerprint = int(meta.get("fingerprint", 0))
        self.groups: dict[str, StatGroup] = {}
        for key, g in meta.get("groups", {}).items():
            self.groups[key] = StatGroup(key, int(g["dim"]), directory / g["dir"], g)
        # Column summaries of described table learnwares (heterogeneous search), built on add.
        self._columns = ColumnStore(None if directory is None else directory / "columns", meta.get("columns"))
        self._row_of: dict[str, int] | None = None
        self._semantic: SemanticIndex | None = None
        self._counted: tuple[int | None, float] | None = None  # (catalogue.writes, monotonic time) of the last count
        self._unsaved = False  # rows added whose counts meta.json does not hold yet (defer_save)
        self._saved_at = float("-inf")
        self.build_seconds = 0.0

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, directory: Path | None | str = "default") -> "SearchIndex":
        """Open the catalogue's persisted index (or build it), then bring it level with the catalogue."""
        start = time.perf_counter()
        index = cls(default_directory(catalogue) if directory == "default" else
                    (Path(directory) if directory is not None else None), catalogue)
        index.sync(catalogue, verify=True)
        index.build_seconds = time.perf_counter() - start
        return index

    def __len__(self) -> int:
        return self._n_live

    def close(self) -> None:
        with self.lock:
            self.save_pending()
            if self._semantic is not None:
                self._save_semantic(self._semantic)
            for group in self.groups.values():
                group.close()
            self._json.close()

    # -- rows ----------------------------------------------------------------------------
    @property
    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            n = self.n_rows
            ids = self._ids.a[:n].tolist()
            alive = self._alive.a[:n]
            self._row_of = {ids[r].decode(): r for r in np.flatnonzero(alive).tolist()}
        return self._row_of

    def id_of(self, row: int) -> str:
        return self._ids.a[row].decode()

    def live_rows(self) -> np.ndarray:
        # a plain ndarray view: slicing and indexing a np.memmap go through Python (~5 us each)
        return self._alive.a.view(np.ndarray)[: self.n_rows]

    def semantic_index(self, catalogue: Catalogue) -> SemanticIndex:
        """The filter/text index: opened from its saved base (dock/search/text_files.py), or built
        from the catalogue on first use and saved; kept current after."""
        with self.lock:
            if self._semantic is None:
                self._semantic = self._open_semantic(catalogue)
            return self._semantic

    def _open_semantic(self, catalogue: Catalogue) -> SemanticIndex:
        saved = None if self.directory is None else text_files.load(self.directory, self.n_rows, self.id_of)
        sem, present = saved if saved is not None else (SemanticIndex(), np.zeros(0, bool))
        alive = self._alive.a[: self.n_rows]
        sem._live.a[: present.size] &= alive[: present.size]  # removed since the save
        held = np.zeros(self.n_rows, bool)
        held[: present.size] = present
        missing = np.flatnonzero(alive & ~held)  # rows added since the save (all of them if none)
        if missing.size:
            # no saved base: every live row is missing, i.e. the index's own id -> row map
            row_of = self.row_of if saved is None else {self.id_of(int(r)): int(r) for r in missing}
            for rows in catalogue.iter_semantic_fields(list(row_of) if saved is not None else None):
                for r in rows:
                    row = row_of.get(r[0])
                    if row is not None:  # a record written after the last sync: the next sync adds it
                        sem.add(row, dict(zip(_FIELD_NAMES, r[1:], strict=True)))
        self._save_semantic(sem, first=saved is None)
        return sem

    def _save_semantic(self, sem: SemanticIndex, first: bool = False) -> None:
        """Persist the text index when it has no saved base yet, or when enough rows are not in
        it (re-adding a few on open costs less than rewriting a million-row base each time)."""
        wanted = sem.delta_rows >= TEXT_RESAVE_ROWS or (first and sem.delta_rows > 0)
        if self.directory is None or not wanted:
            return
        self.save()  # the index's own counts first: a base never claims rows the index may lose
        try:
            text_files.save(self.directory, sem, self.id_of)
        except OSError as exc:  # a full disk must not fail the search: the next open rebuilds
            log.warning("could not save the text index in %s: %s", self.directory, exc)

    def semantic_spec(self, learnware_id: str) -> dict:
        return self.semantic_spec_of(self.row_of[learnware_id])

    def semantic_spec_of(self, row: int) -> dict:
        offset, size = self._json_at.a[row].tolist()
        return json.loads(self._json.read(offset, size))

    # -- updates -------------------------------------------------------------------------
    def add(self, record: LearnwareRecord, stat_specs) -> None:
        """Index a learnware just stored in the catalogue (O(its size), never a rebuild)."""
        fields = {name: getattr(record, name) for name in _FIELD_NAMES}
        specs = [(compat_key(s), s.z, s.beta, float(s.gamma)) for s in stat_specs]
        self.add_many([(record.id, fields, specs, json.dumps(record.semantic_spec, sort_keys=True))])

    def add_fields(self, learnware_id: str, fields: dict, specs, semantic_json: str) -> None:
        """fields: the catalogue's semantic columns; specs: (compat_key, z, beta, gamma) tuples."""
        self.add_many([(learnware_id, fields, specs, semantic_json)])

    def add_many(self, entries, *, defer_save: bool = False) -> None:
        """Several learnwares at once: (id, fields, specs, semantic_json) each. Specs are appended
        to their groups in one batch and the files' counts advance once: batches are the fast path.
        defer_save: persist the counts later (SAVE_DEFERRED_SECONDS, save_pending, close)."""
        entries = list(entries)
        for entry in entries:  # refused before anything is written
            if len(entry[0].encode()) > 64:
                raise SearchError(f"learnware id {entry[0][:70]!r} is longer than 64 characters")
        with self.lock:
            row_of = self.row_of
            first = self.n_rows
            specs: list = []
            new_ids: list[str] = []
            raw_ids: list[bytes] = []
            json_at: list[tuple[int, int]] = []
            texts, text_bytes = [], 0
            for learnware_id, fields, spec_list, semantic_json in entries:
                if learnware_id in row_of:
                    continue
                row = first + len(new_ids)
                text = semantic_json.encode()
                json_at.append((self._json_bytes + text_bytes, len(text)))
                texts.append(text)
                text_bytes += len(text)
                raw_ids.append(learnware_id.encode())
                row_of[learnware_id] = row
                if self._semantic is not None:
                    self._semantic.add(row, fields)
                specs += [(row, *spec) for spec in spec_list]
                new_ids.append(learnware_id)
            if not new_ids:
                return
            # the id, alive and json columns written once per batch: item by item, each write into
            # a memory-mapped column went through numpy's memmap indexing (~25 us a record, issue 16)
            end = first + len(new_ids)
            for col in (self._ids, self._alive, self._json_at):
                col.reserve(end)
            # arrays first: a list assigned into a memmap slice is copied item by item through views
            self._ids.a[first:end] = np.array(raw_ids, dtype="S64")
            self._alive.a[first:end] = True
            self._json_at.a[first:end] = np.array(json_at, dtype=np.int64)
            self.n_rows = end
            self._n_live += len(new_ids)
            blob = b"".join(texts)
            self._json.write(self._json_bytes, blob)
            self._json_bytes += len(blob)
            # One BLAS thread for the sketches' small products (as for a search, kernels.py): woken
            # for them, OpenBLAS's second thread spun on a core afterwards, ~0.1 ms of CPU per
            # synced record that the verify workers and the sources needed (issue 16, session 6).
            with blas_single_thread():
                self._add_specs(specs)
            self._fingerprint_toggle(new_ids)
            if defer_save and time.monotonic() - self._saved_at < SAVE_DEFERRED_SECONDS:
                self._unsaved = True
            else:
                self.save()

    def save_pending(self) -> None:
        """Persist what add_many(defer_save=True) left unsaved, if anything."""
        with self.lock:
            if self._unsaved:
                self.save()

    def _add_specs(self, specs) -> None:
        """(row, compat_key, z, beta, gamma) tuples, batched per group."""
        by_key: dict[str, list] = {}
        for spec in specs:
            by_key.setdefault(spec[1], []).append(spec)
        for key, items in by_key.items():
            group = self.groups.get(key)
            if group is None:
                folder = None if self.directory is None else self.directory / (
                    "g" + hashlib.sha256(key.encode()).hexdigest()[:16])
                group = self.groups[key] = StatGroup(key, np.asarray(items[0][2]).shape[1], folder)
            rows, _, zs, betas, gammas = zip(*items, strict=True)
            group.add_batch(list(rows), zs, betas, gammas)

    def remove(self, learnware_id: str) -> None:
        with self.lock:
            row = self.row_of.pop(learnware_id, None)
            if row is None:
                return
            self._alive.a[row] = False
            self._n_live -= 1
            if self._semantic is not None:
                self._semantic.remove(row)
            for group in self.groups.values():
                group.remove(row)
            self._fingerprint_toggle([learnware_id])
            self.save()

    def _fingerprint_toggle(self, ids: list[str]) -> None:
        if self.directory is not None and self._catalogue is not None:
            self.fingerprint ^= self._catalogue.hash_ids(ids)

    def save(self) -> None:
        """Flush the files, then advance meta.json (what makes the new rows count)."""
        if self.directory is None:
            return
        with self.lock:
            for col in (self._ids, self._alive, self._json_at):
                col.flush()
            groups = {}
            for key, group in self.groups.items():
                group.flush()
                group.dirty = False
                groups[key] = {**group.meta(), "dir": Path(group.directory or "").name}
            write_meta(self.directory, {"version": INDEX_VERSION, "rows": self.n_rows, "live": self._n_live,
                                        "fingerprint": self.fingerprint, "json_bytes": self._json_bytes,
                                        "groups": groups, "columns": self._columns.flush()})
            self._unsaved, self._saved_at = False, time.monotonic()

    def sync(self, catalogue: Catalogue, verify: bool = False) -> None:
        """Catch up with writes that bypassed the hooks. Per search: cheap when the counts agree.
        On open (verify): the catalogue's id fingerprint must match too, else reconcile by ids."""
        if self._catalogue is None:
            self._catalogue = catalogue
        if verify and self.directory is not None:
            count, fingerprint = catalogue.id_fingerprint()
            if count == len(self) and fingerprint == self.fingerprint:
                return
        else:
            writes, now = getattr(catalogue, "writes", None), time.monotonic()
            if writes is not None and self._counted and self._counted[0] == writes \
                    and now - self._counted[1] < RECOUNT_SECONDS:
                return
            self._counted = (writes, now)
            if catalogue.count() == len(self):
                return
        with self.lock:
            ids = set(catalogue.learnware_ids())
            for lid in [lid for lid in self.row_of if lid not in ids]:
                self.remove(lid)
            missing = ids - set(self.row_of)
            if missing:
                self._load(catalogue, missing)
            if self.directory is not None:
                self.fingerprint = catalogue.id_fingerprint()[1] if len(self) == len(ids) else self.fingerprint
                self.save()

    def _load(self, catalogue: Catalogue, only: set[str]) -> None:
        wanted = sorted(only)
        specs: dict[str, list] = {}
        for batch in catalogue.iter_stat_rows(wanted, _LOAD_BATCH):
            for lid, _t, key, g, z, beta in batch:
                specs.setdefault(lid, []).append((key, z, beta, g))
            if sum(map(len, specs.values())) >= _LOAD_BATCH:
                self._load_batch(catalogue, specs)
                specs = {}
        self._load_batch(catalogue, specs)
        rest = [lid for lid in wanted if lid not in self.row_of]  # learnwares without stat specs
        if rest:  # one streamed scan, added in batches: a million at once held GBs of tuples
            for rows in catalogue.iter_semantic_fields(rest, _LOAD_BATCH, with_json=True):
                self.add_many([(r[0], dict(zip(_FIELD_NAMES, r[1:-1], strict=True)), [], r[-1]) for r in rows],
                              defer_save=True)

    def _load_batch(self, catalogue: Catalogue, specs: dict[str, list]) -> None:
        if specs:
            fields = {lid: (f, text) for lid, f, text in self._fields(catalogue, list(specs))}
            self.add_many([(lid, *fields[lid][:1], spec_list, fields[lid][1]) for lid, spec_list in specs.items()
                           if lid in fields], defer_save=True)  # a record deleted meanwhile: its specs go with it

    @staticmethod
    def _fields(catalogue: Catalogue, ids: list[str]):
        for r in catalogue.semantic_fields(ids, with_json=True):
            yield r[0], dict(zip(_FIELD_NAMES, r[1:-1], strict=True)), r[-1]

    @property
    def columns(self) -> ColumnStore:
        """The described table learnwares' column summaries, caught up with rows added since the
        last call: built once per record, here rather than in add_many so that ingest (bulk sync)
        pays nothing for them; the first heterogeneous query after a sync does, once."""
        with self.lock:
            store = self._columns
            if store.upto < self.n_rows:
                start, first = time.perf_counter(), store.upto
                self._summarise(store, first, self.n_rows)
                store.upto = self.n_rows
                self.save()
                log.debug("column summaries of rows %d..%d in %.3f s", first, self.n_rows, time.perf_counter() - start)
            return store

    def _summarise(self, store: ColumnStore, first: int, end: int) -> None:
        from dock.search.hetero_space import normalise
        from specs.hetero import column_descriptions, column_marginals

        alive = self._alive.a[first:end]
        described: dict[int, list[str]] = {}
        for row in (first + np.flatnonzero(alive)).tolist():
            raw = self._json.read(*self._json_at.a[row].tolist())
            if b'"Input"' not in raw:  # most records without column meaning skip the JSON parse
                continue
            try:
                desc = column_descriptions(json.loads(raw))
            except (ValueError, TypeError):
                continue
            if desc is not None:
                described[row] = desc
        found: dict[int, np.ndarray] = {}
        ordered = np.array(sorted(described), np.int64)
        for key, group in self.groups.items():
            slot_rows = group.slot_rows()
            if not key.startswith(TABLE_SPEC + "|") or not ordered.size or not slot_rows.size:
                continue
            at = np.minimum(np.searchsorted(slot_rows, ordered), slot_rows.size - 1)
            hit = (slot_rows[at] == ordered) & group.live_mask()[at]
            offset = group.offset if group.offset is not None else 0.0
            for lo in range(0, int(hit.sum()), _SUMMARY_BATCH):  # bounded RAM: points of a batch only
                slots, rows = at[hit][lo:lo + _SUMMARY_BATCH], ordered[hit][lo:lo + _SUMMARY_BATCH]
                z, beta, starts = group.points(slots)
                ends = np.append(starts[1:], z.shape[0])
                for row, s, e in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
                    if z.shape[1] == len(described[row]):
                        found[row] = column_marginals(z[s:e].astype(np.float64) + offset, beta[s:e])[:, :2]
        for row in sorted(found):
            store.add(row, [normalise(d) or d for d in described[row]], found[row])

    def memory_bytes(self) -> int:
        """Bytes a query keeps resident: row ids/liveness and the groups' slot columns, sketches
        and caches (points are on disk when the index has a directory; text postings not counted)."""
        return 81 * self.n_rows + sum(g.memory_bytes() for g in self.groups.values())

