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

import json
import math
import threading
import time
from typing import Any

import numpy as np

from dock.errors import SearchError
from dock.records import LearnwareRecord, compat_key
from dock.search.kernels import blas_single_thread
from dock.search.mixture import MIXTURE_CANDIDATES, LazyGram, best_mixture
from dock.search.query import Match, Mixture, SearchResult, UserInfo, rescaled_query_spec
from dock.search.scores import mixture_is_worth_it, scores_from_mmd2
from dock.search.stat_group import StatGroup
from dock.search.text import SemanticIndex, tokens
from dock.store.catalogue import Catalogue
from specs.semantic import SemanticView

EXACT_MAX_ENTRIES = 4_000_000
PREFILTER_MIN = 100
PREFILTER_FRACTION = 0.01
_LOAD_BATCH = 1000
_FIELD_NAMES = (
    "name", "description", "data_type", "task_type", "library_type", "license", "scenarios", "input_dim", "output_dim",
)  # the semantic columns, in Catalogue.search_rows order (followed there by semantic_json)


class SearchIndex:
    """Rows (one per learnware, never reused), their semantic columns, and a StatGroup per key.

    Each row also keeps its semantic spec as JSON text (~1 KB): results then never wait on the
    catalogue, and 100k of them are ~70 MB next to the index's points.
    """

    def __init__(self):
        self.lock = threading.RLock()
        self.ids: list[str | None] = []
        self.semantic_json: list[str | None] = []
        self.row_of: dict[str, int] = {}
        self.semantic = SemanticIndex()
        self.groups: dict[str, StatGroup] = {}
        self.build_seconds = 0.0

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> "SearchIndex":
        index = cls()
        start = time.perf_counter()
        index._load(catalogue, None)
        index.build_seconds = time.perf_counter() - start
        return index

    def __len__(self) -> int:
        return len(self.row_of)

    def _load(self, catalogue: Catalogue, only: set[str] | None) -> None:
        rows = catalogue.search_rows(None if only is None else sorted(only))
        with self.lock:
            for r in rows:
                self.add_fields(r[0], dict(zip(_FIELD_NAMES, r[1:-1], strict=True)), [], r[-1])
        for batch in catalogue.iter_stat_rows(None if only is None else sorted(only), _LOAD_BATCH):
            with self.lock:
                self._add_specs([(self.row_of[lid], key, z, beta, g) for lid, _t, key, g, z, beta in batch
                                 if lid in self.row_of])

    # -- updates -------------------------------------------------------------------------
    def add(self, record: LearnwareRecord, stat_specs) -> None:
        """Index a learnware just stored in the catalogue (O(its size), never a rebuild)."""
        fields = {name: getattr(record, name) for name in _FIELD_NAMES}
        specs = [(compat_key(s), s.z, s.beta, float(s.gamma)) for s in stat_specs]
        self.add_fields(record.id, fields, specs, json.dumps(record.semantic_spec, sort_keys=True))

    def add_fields(self, learnware_id: str, fields: dict, specs, semantic_json: str) -> None:
        """fields: the catalogue's semantic columns; specs: (compat_key, z, beta, gamma) tuples."""
        self.add_many([(learnware_id, fields, specs, semantic_json)])

    def add_many(self, entries) -> None:
        """Several add_fields at once: (id, fields, specs, semantic_json) each; specs are
        appended to their groups in one batch (what building from the catalogue does)."""
        with self.lock:
            specs = []
            for learnware_id, fields, spec_list, semantic_json in entries:
                if learnware_id in self.row_of:
                    continue
                row = len(self.ids)
                self.ids.append(learnware_id)
                self.semantic_json.append(semantic_json)
                self.row_of[learnware_id] = row
                self.semantic.add(row, fields)
                specs += [(row, *spec) for spec in spec_list]
            self._add_specs(specs)

    def _add_specs(self, specs) -> None:
        """(row, compat_key, z, beta, gamma) tuples, batched per group."""
        by_key: dict[str, list] = {}
        for spec in specs:
            by_key.setdefault(spec[1], []).append(spec)
        for key, items in by_key.items():
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = StatGroup(key, np.asarray(items[0][2]).shape[1])
            rows, _, zs, betas, gammas = zip(*items, strict=True)
            group.add_batch(rows, zs, betas, gammas)

    def remove(self, learnware_id: str) -> None:
        with self.lock:
            row = self.row_of.pop(learnware_id, None)
            if row is None:
                return
            self.ids[row] = self.semantic_json[row] = None
            self.semantic.remove(row)
            for group in self.groups.values():
                group.remove(row)

    def sync(self, catalogue: Catalogue) -> None:
        """Catch up with writes that bypassed the hooks (cheap when counts agree)."""
        if catalogue.count() == len(self):
            return
        ids = set(catalogue.learnware_ids())
        for lid in [lid for lid in self.row_of if lid not in ids]:
            self.remove(lid)
        missing = ids - set(self.row_of)
        if missing:
            self._load(catalogue, missing)

    def semantic_spec(self, learnware_id: str) -> dict:
        text = self.semantic_json[self.row_of[learnware_id]]
        assert text is not None  # None only in a removed row, which row_of no longer names
        return json.loads(text)

    def memory_bytes(self) -> int:
        """Bytes held by the stat groups' arrays and caches (the bulk; text postings not counted)."""
        return sum(g.memory_bytes() for g in self.groups.values())


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
    with index.lock, blas_single_thread():
        mask = index.semantic.filter_mask(semantic)
        view = SemanticView.from_spec(semantic)
        text = " ".join(v.strip() for v in (view.name, view.description) if v.strip())
        shown = raw = None
        if tokens(text):  # words left after stopwords; "the" alone filters nothing
            shown, raw = index.semantic.text_scores(text)
            mask &= shown > 0
        if spec is None:
            return _semantic_result(index, mask, shown, raw, limit)
        from dock.search.hetero import with_hetero  # columns described: other feature spaces too

        return with_hetero(index, catalogue, spec, semantic, shown, limit,
                           lambda: _statistical(index, spec, mask, shown, limit))


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


def _semantic_result(index, mask, shown, raw, limit) -> SearchResult:
    rows = np.flatnonzero(mask)
    if shown is None:
        ordered = sorted(rows.tolist(), key=lambda r: (index.semantic.names[r].casefold(), index.ids[r]))
        picked: list[tuple[int, float, float | None]] = [(r, 1.0, None) for r in ordered[:limit]]
    else:
        # Score, then raw BM25, then the older learnware first; in C, as 100k rows can match.
        order = np.lexsort((rows, -raw[rows], -shown[rows]))[:limit]
        picked = [(int(rows[i]), float(shown[rows[i]]), float(shown[rows[i]])) for i in order]
    single = [Match(index.ids[r], s, json.loads(index.semantic_json[r]), None, t) for r, s, t in picked]
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


def _statistical(index, spec, mask, shown, limit) -> SearchResult:
    group = _group_for(index, spec)
    if group is None:
        return SearchResult(single=[], info={"mode": "none"})
    slot_rows = group.slot_rows()
    valid = group.live_mask() & mask[slot_rows]
    slots = np.flatnonzero(valid)
    if slots.size == 0:
        return SearchResult(single=[], info={"mode": "none"})
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
        candidates = _prefilter(group, q_group, bq, gamma, valid, slots.size, info)
    cross = group.cross_terms(q, bq, gamma, shift, candidates)
    mmd2 = np.maximum(group.self_terms(gamma, candidates) - 2.0 * cross + self_q, 0.0)
    order = np.argsort(mmd2, kind="stable")
    scores = scores_from_mmd2(mmd2, self_q)
    top = order[:limit]
    ids = [index.ids[r] for r in group.rows(candidates[top])]
    best = order[:MIXTURE_CANDIDATES]
    mixture = _mixture(index, group, candidates[best], cross[best], shift, gamma, self_q, float(mmd2[order[0]]))
    single = [
        Match(lid, float(scores[i]), index.semantic_spec(lid), float(mmd2[i]),
              None if shown is None else float(shown[index.row_of[lid]]))
        for lid, i in zip(ids, top, strict=True)
    ]
    multiple = None
    if mixture:
        mids, weights, value = mixture
        multiple = Mixture(mids, weights, float(scores_from_mmd2(value, self_q)), value,
                           [index.semantic_spec(i) for i in mids])
    return SearchResult(single=single, multiple=multiple, info=info)


def prefilter_gamma(gamma: float) -> float:
    """The largest power of two <= gamma: the RFF cache key for a query's gamma."""
    return float(2.0 ** math.floor(math.log2(gamma) + 1e-12))


def _prefilter(group, q, bq, gamma, valid, n_valid, info) -> np.ndarray:
    pg = prefilter_gamma(gamma)
    start = time.perf_counter()
    cold = not group.has_rff(pg)
    feat, norms = group.rff_features(pg)
    if cold:
        info["rff_build_seconds"] = time.perf_counter() - start
    phi = group.rff_map.embed(q, bq, pg).astype(np.float32)
    approx = norms - 2.0 * (feat @ phi)
    approx[~valid] = np.inf
    n_cand = min(n_valid, max(PREFILTER_MIN, math.ceil(PREFILTER_FRACTION * n_valid)))
    candidates = np.argpartition(approx, n_cand - 1)[:n_cand] if n_cand < approx.size else np.flatnonzero(valid)
    info.update(mode="prefilter", prefilter_gamma=pg, candidates=int(n_cand))
    return np.sort(candidates)


def _mixture(index, group, slots, cross, shift, gamma, self_q, best_single):
    if slots.size < 2:
        return None
    Z, beta, starts = group.points(slots)
    gram = LazyGram(Z + shift, beta, starts, gamma, group.self_terms(gamma, slots))
    idx, weights, value = best_mixture(gram, cross, self_q)
    if len(idx) < 2 or not mixture_is_worth_it(value, best_single, self_q):
        return None
    rows = group.rows(slots[idx])
    return [index.ids[r] for r in rows], weights, float(value)
