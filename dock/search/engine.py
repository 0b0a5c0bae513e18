"""Search over one dock's catalogue: semantic filters + ranked text, statistical single and mixture.

The engine keeps a `SearchIndex` in memory (built from the DuckDB catalogue on first search,
kept current by `Dock.submit`/`Dock.remove`, and re-synced if the catalogue's count ever
disagrees). A query:

1. Semantic part (dock/search/text.py). Class fields (Data, Task, Library, License), Scenario
   tags and Input/Output dimensions are filters; Name + Description words are ranked by a
   normalised BM25 with a fuzzy fallback. Without a statistical spec, results are ranked by
   that text score (score = text score); with neither text nor spec, every learnware passing
   the filters is listed by name with score 1.
2. Statistical part, when the user gives a spec. The text, if any, then acts as a filter
   (learnwares must match at least one query word, exactly or fuzzily) and the ranking and the
   score are statistical; each match still carries its `text_score`. Only specs with the
   query's `compat_key` (kind | dimension | embedder) are compared, and every comparison uses
   the *query's* gamma on both sides (the self-terms b'K(z,z)b of catalogue specs are cached
   per gamma value, see dock/search/stat_group.py).
   * Exact: MMD^2 to every candidate with one blocked kernel product and segment sums, when
     Kq x (candidate points) <= EXACT_MAX_ENTRIES (about 400 learnwares of K=100).
   * Above that, prefilter + exact re-rank: RFF features (dock/search/rff.py) under the
     prefilter gamma - the largest power of two <= the query's gamma, so one feature cache
     serves a whole octave of queries and a slightly broader kernel never hides a near match
     (measured in benchmarks/README.md) - give approximate MMD^2 to every learnware in one
     matrix-vector product; the best max(PREFILTER_MIN, PREFILTER_FRACTION x n) are re-ranked
     exactly under the query's gamma.
   * Mixture (dock/search/mixture.py) over the best MIXTURE_CANDIDATES exact matches, reported
     when it beats the best single by the margin in dock/search/scores.py.
   Scores: dock/search/scores.py (R^2 of the user's embedding).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from dock.errors import SearchError
from dock.records import LearnwareRecord, compat_key
from dock.search.index_files import BytesFile, Column, read_meta, write_meta
from dock.search.kernels import blas_single_thread, run_blocks
from dock.search.mixture import MIXTURE_CANDIDATES, LazyGram, best_mixture
from dock.search.query import Match, Mixture, SearchResult, UserInfo, rescaled_query_spec
from dock.search.scores import mixture_is_worth_it, scores_from_mmd2
from dock.search.stat_group import StatGroup, prefilter_gamma  # noqa: F401 (prefilter_gamma: public here)
from dock.search.text import SemanticIndex, tokens
from dock.store.catalogue import Catalogue
from specs.semantic import SemanticView

EXACT_MAX_ENTRIES = 4_000_000
PREFILTER_MIN = 100
PREFILTER_MAX = 1000
PREFILTER_FRACTION = 0.005
RECOUNT_SECONDS = 2.0  # writes that bypass Catalogue.insert/delete are seen within this
INDEX_VERSION = 1
_LOAD_BATCH = 1000
_SCAN_ROWS = 65536
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
    built on the first query that filters or ranks by text. The id -> row dict is built on
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
        self._row_of: dict[str, int] | None = None
        self._semantic: SemanticIndex | None = None
        self._counted: tuple[int | None, float] | None = None  # (catalogue.writes, monotonic time) of the last count
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
        return self._alive.a[: self.n_rows]

    def semantic_index(self, catalogue: Catalogue) -> SemanticIndex:
        """The filter/text index, built from the catalogue on first use and kept current after."""
        with self.lock:
            if self._semantic is None:
                sem, row_of = SemanticIndex(), self.row_of
                for r in catalogue.semantic_fields():
                    row = row_of.get(r[0])
                    if row is not None:  # a record written after the last sync: the next sync adds it
                        sem.add(row, dict(zip(_FIELD_NAMES, r[1:], strict=True)))
                self._semantic = sem
            return self._semantic

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

    def add_many(self, entries) -> None:
        """Several learnwares at once: (id, fields, specs, semantic_json) each. Specs are appended
        to their groups in one batch and the files' counts advance once: batches are the fast path."""
        entries = list(entries)
        for entry in entries:  # refused before anything is written
            if len(entry[0].encode()) > 64:
                raise SearchError(f"learnware id {entry[0][:70]!r} is longer than 64 characters")
        with self.lock:
            row_of = self.row_of
            specs, new_ids = [], []
            texts, text_bytes = [], 0
            for learnware_id, fields, spec_list, semantic_json in entries:
                if learnware_id in row_of:
                    continue
                raw = learnware_id.encode()
                row = self.n_rows
                for col in (self._ids, self._alive, self._json_at):
                    col.reserve(row + 1)
                self._ids.a[row] = raw
                self._alive.a[row] = True
                text = semantic_json.encode()
                self._json_at.a[row] = (self._json_bytes + text_bytes, len(text))
                texts.append(text)
                text_bytes += len(text)
                self.n_rows += 1
                self._n_live += 1
                row_of[learnware_id] = row
                if self._semantic is not None:
                    self._semantic.add(row, fields)
                specs += [(row, *spec) for spec in spec_list]
                new_ids.append(learnware_id)
            if not new_ids:
                return
            blob = b"".join(texts)
            self._json.write(self._json_bytes, blob)
            self._json_bytes += len(blob)
            self._add_specs(specs)
            self._fingerprint_toggle(new_ids)
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
                                        "groups": groups})

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
        if rest:
            self.add_many([(lid, fields, [], text) for lid, fields, text in self._fields(catalogue, rest)])

    def _load_batch(self, catalogue: Catalogue, specs: dict[str, list]) -> None:
        if specs:
            fields = {lid: (f, text) for lid, f, text in self._fields(catalogue, list(specs))}
            self.add_many([(lid, *fields[lid][:1], spec_list, fields[lid][1]) for lid, spec_list in specs.items()
                           if lid in fields])  # a record deleted meanwhile: its specs go with it

    @staticmethod
    def _fields(catalogue: Catalogue, ids: list[str]):
        for r in catalogue.semantic_fields(ids, with_json=True):
            yield r[0], dict(zip(_FIELD_NAMES, r[1:-1], strict=True)), r[-1]

    def memory_bytes(self) -> int:
        """Bytes a query keeps resident: row ids/liveness and the groups' slot columns, sketches
        and caches (points are on disk when the index has a directory; text postings not counted)."""
        return 81 * self.n_rows + sum(g.memory_bytes() for g in self.groups.values())


# -- queries ------------------------------------------------------------------------------
def search(index: SearchIndex, catalogue: Catalogue, user_info: UserInfo, limit: int = 10) -> SearchResult:
    from specs import SpecError, validate_semantic_spec

    if not isinstance(limit, int) or limit < 1:
        raise SearchError(f"limit must be a positive integer, got {limit!r}")
    try:
        semantic = validate_semantic_spec(user_info.semantic_spec or {}, partial=True)
    except SpecError as exc:
        raise SearchError(f"bad semantic query: {exc}") from exc
    spec = _stat_spec(user_info, semantic)
    index.sync(catalogue)
    view = SemanticView.from_spec(semantic)
    text = " ".join(v.strip() for v in (view.name, view.description) if v.strip())
    filtered = _filters_anything(view) or bool(tokens(text))  # "the" alone filters nothing
    with index.lock, blas_single_thread():
        mask = shown = raw = None
        if filtered or spec is None:  # the semantic index is built on the first query needing it
            semantic_index = index.semantic_index(catalogue)
            mask = _padded(semantic_index.filter_mask(semantic), index.n_rows)
            if tokens(text):
                shown, raw = (_padded(a, index.n_rows) for a in semantic_index.text_scores(text))
                mask &= shown > 0
        if spec is None:
            return _semantic_result(index, catalogue, mask, shown, raw, limit)
        from dock.search.hetero import with_hetero  # columns described: other feature spaces too

        return with_hetero(index, catalogue, spec, semantic, shown, limit,
                           lambda: _statistical(index, catalogue, spec, mask, shown, limit))


def _filters_anything(view: SemanticView) -> bool:
    from dock.search.text import CLASS_FIELDS

    return bool(any(view.values(f) for f in CLASS_FIELDS) or view.scenarios
                or view.input_dim is not None or view.output_dim is not None)


def _padded(values: np.ndarray, n: int) -> np.ndarray:
    """The semantic index's per-row array, cut or zero-padded to the index's row count."""
    out = np.zeros(n, values.dtype)
    m = min(n, values.size)
    out[:m] = values[:m]
    return out


def _stat_spec(user_info: UserInfo, semantic: dict):
    from specs import SpecError, load_spec

    specs = [s for s in (user_info.stat_info or {}).values() if s is not None]
    if not specs:
        return None
    if len(specs) > 1:
        raise SearchError(f"give one statistical spec per search (got {len(specs)})")
    spec = specs[0]
    try:
        if isinstance(spec, dict):
            spec = load_spec(spec)
        spec.validate()
    except (SpecError, AttributeError, TypeError, ValueError) as exc:
        raise SearchError(f"bad statistical spec: {exc}") from exc
    want = SemanticView.from_spec(semantic).input_dim
    if want is not None and want != int(spec.dim):
        raise SearchError(f"the statistical spec has {spec.dim} features but the query's Input says {want}")
    return rescaled_query_spec(spec)  # a degenerate stored gamma (e.g. the reference's 0.1) re-estimated


def _semantic_result(index, catalogue, mask, shown, raw, limit) -> SearchResult:
    rows = np.flatnonzero(mask)
    names = index.semantic_index(catalogue).names
    if shown is None:
        ordered = sorted(rows.tolist(), key=lambda r: (names[r].casefold() if r < len(names) else "", index.id_of(r)))
        picked: list[tuple[int, float, float | None]] = [(r, 1.0, None) for r in ordered[:limit]]
    else:
        # Score, then raw BM25, then the older learnware first; in C, as 100k rows can match.
        order = np.lexsort((rows, -raw[rows], -shown[rows]))[:limit]
        picked = [(int(rows[i]), float(shown[rows[i]]), float(shown[rows[i]])) for i in order]
    single = [Match(index.id_of(r), s, index.semantic_spec_of(r), None, t) for r, s, t in picked]
    return SearchResult(single=single, info={"mode": "semantic", "matched": int(rows.size)})


def _group_for(index: SearchIndex, spec) -> StatGroup | None:
    key = compat_key(spec)
    group = index.groups.get(key)
    if group is not None and group.n_live:
        return group
    kind = f"{spec.type}|"
    others = [g for k, g in index.groups.items() if k.startswith(kind) and g.n_live and g.key != key]
    if not others:
        return None
    embedder = getattr(spec, "embedder", None) or ""
    same_dim = [g for g in others if g.dim == spec.dim]
    if same_dim:  # same kind and dimension: only the embedder (feature space) differs
        spaces = ", ".join(sorted({g.key.split("|", 2)[2] or "(none)" for g in same_dim}))
        raise SearchError(
            f"no learnware here shares the query's feature space: its spec was made with embedder "
            f"{embedder or '(none)'!r}, the learnwares' with {spaces}; make the spec with the same embedder"
        )
    raise SearchError(
        f"no learnware here takes {spec.dim}-feature {spec.type} data (the query's spec has dimension "
        f"{spec.dim}); dimensions available: {', '.join(map(str, sorted({g.dim for g in others})))}"
    )


def _statistical(index, catalogue, spec, mask, shown, limit) -> SearchResult:
    group = _group_for(index, spec)
    if group is None:
        return SearchResult(single=[], info={"mode": "none"})
    valid = group.live_mask().copy()
    if mask is not None:
        valid &= mask[group.slot_rows()]
    slots = np.flatnonzero(valid)
    if slots.size == 0:
        return SearchResult(single=[], info={"mode": "none"})
    from dock.search.ref_image import is_reference_kernel, reference_statistical

    if is_reference_kernel(spec):  # reference-made image specs: the reference's own kernel, not a Gaussian
        return reference_statistical(index, group, spec, slots, shown, limit)
    gamma = float(spec.gamma)
    z = np.asarray(spec.z, np.float64)
    bq = np.asarray(spec.beta, np.float64)
    from specs.kernels import weighted_kernel_sum

    self_q = weighted_kernel_sum(z, bq, z, bq, gamma)  # blockwise: no K x K matrix
    q, shift, q_group = group.query_frame(z, bq)
    info: dict[str, Any] = {"gamma": gamma, "learnwares": int(slots.size)}
    if z.shape[0] * group.points_in(slots) <= EXACT_MAX_ENTRIES:
        candidates = slots
        info["mode"] = "exact"
    else:
        candidates = _prefilter(index, group, q_group, bq, gamma, valid, slots.size, info)
    cross = group.cross_terms(q, bq, gamma, shift, candidates)
    mmd2 = np.maximum(group.self_terms(gamma, candidates) - 2.0 * cross + self_q, 0.0)
    order = np.argsort(mmd2, kind="stable")
    scores = scores_from_mmd2(mmd2, self_q)
    top = order[:limit]
    top_rows = group.rows(candidates[top]).tolist()
    best = order[:MIXTURE_CANDIDATES]
    mixture = _mixture(index, group, candidates[best], cross[best], shift, gamma, self_q, float(mmd2[order[0]]))
    single = [
        Match(index.id_of(r), float(scores[i]), index.semantic_spec_of(r), float(mmd2[i]),
              None if shown is None else float(shown[r]))
        for r, i in zip(top_rows, top, strict=True)
    ]
    multiple = None
    if mixture:
        mrows, weights, value = mixture
        multiple = Mixture([index.id_of(r) for r in mrows], weights, float(scores_from_mmd2(value, self_q)), value,
                           [index.semantic_spec_of(r) for r in mrows])
    return SearchResult(single=single, multiple=multiple, info=info)


def _prefilter(index, group, q, bq, gamma, valid, n_valid, info) -> np.ndarray:
    """Approximate MMD^2 to every valid learnware from the sketches; the best few go to re-rank."""
    start = time.perf_counter()
    octave = group.sketch_octave(gamma)
    if group.dirty:  # an octave was sketched for this query: persist it
        info["rff_build_seconds"] = time.perf_counter() - start
        index.save()
    feat, norms = group.sketch(octave)
    phi = group.rff_map.embed(q, bq, octave).astype(np.float32)
    approx = np.empty(feat.shape[0], np.float32)

    def scan(s: int, e: int) -> None:
        np.matmul(feat[s:e], phi, out=approx[s:e])
        approx[s:e] *= -2.0
        approx[s:e] += norms[s:e]

    run_blocks(scan, feat.shape[0], _SCAN_ROWS, feat.shape[0] * feat.shape[1])
    approx[~valid] = np.inf
    n_cand = min(n_valid, PREFILTER_MAX, max(PREFILTER_MIN, math.ceil(PREFILTER_FRACTION * n_valid)))
    candidates = np.argpartition(approx, n_cand - 1)[:n_cand] if n_cand < approx.size else np.flatnonzero(valid)
    info.update(mode="prefilter", prefilter_gamma=octave, candidates=int(n_cand))
    return np.sort(candidates)


def _mixture(index, group, slots, cross, shift, gamma, self_q, best_single):
    if slots.size < 2:
        return None
    Z, beta, starts = group.points(slots)
    gram = LazyGram(Z + shift, beta, starts, gamma, group.self_terms(gamma, slots))
    idx, weights, value = best_mixture(gram, cross, self_q)
    if len(idx) < 2 or not mixture_is_worth_it(value, best_single, self_q):
        return None
    return group.rows(slots[idx]).tolist(), weights, float(value)
