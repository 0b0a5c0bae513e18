"""Heterogeneous search: learnwares whose columns differ from the user's, ranked with the rest.

Called from dock/search/engine.search() (one call-out) when the query is a table spec AND its
semantic part describes the user's columns (`Input.Description`, every column meaningful). Then:

1. the same-space search runs as before (`same_space()`); its "no learnware takes d features"
   SearchError is kept only if no heterogeneous match is found either;
2. every table learnware that passes the query's filters (Input dimension aside), describes its
   columns, and is not in the user's exact space (same columns, same order) is a candidate; its
   columns are matched to the user's (dock/search/hetero_space.py);
3. a candidate with enough matched columns (>= MIN_PAIRS and a share >= MIN_COVERAGE of its
   inputs) is compared by MMD on the matched columns only: with a Gaussian kernel, dropping columns
   of RKME points is exactly the marginal of the distribution they summarise, so both specs are
   restricted to the pairs, in the learnware's column order, each column divided by the user's
   spread there (one scale for both sides), under a median-heuristic gamma of the user's points;
4. its score is that MMD's score (dock/search/scores.py) times sqrt(coverage), so a learnware the
   user can feed only half of ranks below an equally close one the user feeds fully; same-space
   matches have coverage 1 and keep today's score. Heterogeneous matches carry `hetero`:
   the column mapping, how many learnware inputs the user lacks and the embedder used.

A user without column descriptions, or with a non-table spec, gets exactly today's result.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
import weakref

import numpy as np

from dock.errors import SearchError
from dock.search.hetero_space import (
    MIN_PAIR,
    MIN_TEXT,
    ColumnMapping,
    assign,
    column_similarities,
    embed,
    embedder_id,
    normalise,
)
from dock.search.query import Match, SearchResult
from dock.search.scores import scores_from_mmd2
from specs.hetero import column_descriptions, column_marginals, input_block  # noqa: F401 (input_block: for tui/)

log = logging.getLogger(__name__)

TABLE_SPEC = "RKMETableSpecification"
MIN_PAIRS = 2
MIN_COVERAGE = 0.25
_STACK_KEY = "\0stacked"  # not a learnware id (those are hex)


@dataclasses.dataclass
class _Columns:
    """What a side needs for matching: descriptions, their vectors, value marginals, the RKME."""

    descriptions: list[str]
    vectors: np.ndarray | None  # None until needed: the embedder loads only when some candidate exists
    marginals: np.ndarray
    z: np.ndarray
    beta: np.ndarray
    normalised: list[str] = dataclasses.field(default_factory=list)
    sq_norms: np.ndarray | None = None  # |z_i|^2 per column, for kernel sums on any column subset

    def __post_init__(self):
        self.normalised = [normalise(d) for d in self.descriptions]
        self.sq_norms = self.z ** 2


_caches: "weakref.WeakKeyDictionary[object, dict[str, _Columns | None]]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def query_columns(semantic: dict, spec) -> list[str] | None:
    """The user's column descriptions when this search can go heterogeneous, else None."""
    if getattr(spec, "type", None) != TABLE_SPEC:
        return None
    desc = column_descriptions(semantic)
    return desc if desc is not None and len(desc) == int(spec.dim) else None


def with_hetero(index, catalogue, spec, semantic: dict, shown, limit: int, same_space) -> SearchResult:
    """Today's `same_space()` result, merged with heterogeneous matches (see the module doc)."""
    user_desc = query_columns(semantic, spec)
    if user_desc is None:
        return same_space()
    try:
        same: SearchResult | None = same_space()
        error = None
    except SearchError as exc:
        same, error = None, exc
    start = time.perf_counter()
    hetero = _hetero_matches(index, catalogue, spec, semantic, user_desc, shown, limit)
    seconds = time.perf_counter() - start
    if same is None and not hetero:
        assert error is not None
        raise error
    own = [normalise(d) for d in user_desc]
    other_space = {h.id for h in hetero} | {m.id for m in (same.single if same else []) if _differs(m, own)}
    single = [m for m in (same.single if same else []) if m.id not in other_space]
    multiple = same.multiple if same else None
    if multiple is not None and other_space & set(multiple.ids):
        multiple = None  # a mixture of columns that only share a count is no recommendation
    merged = sorted(single + hetero, key=lambda m: -m.score)[:limit]
    info = dict(same.info) if same else {"mode": "hetero"}
    info.update(hetero_candidates=len(hetero), hetero_seconds=seconds)
    return SearchResult(single=merged, multiple=multiple, info=info)


def _differs(match: Match, own: list[str]) -> bool:
    """A same-dimension learnware whose described columns are not the user's: another space."""
    desc = column_descriptions(match.semantic_spec)
    return desc is not None and [normalise(d) for d in desc] != own


def _hetero_matches(index, catalogue, spec, semantic, user_desc, shown, limit) -> list[Match]:
    unfiltered = {k: v for k, v in semantic.items() if k != "Input"}
    with index.lock:
        n = index.n_rows
        filtered = index.semantic_index(catalogue).filter_mask(unfiltered)
        mask = np.zeros(n, bool)
        mask[: min(n, filtered.size)] = filtered[:n]
        mask &= index.live_rows().astype(bool)
        if shown is not None:
            mask &= shown[:n] > 0
        ids = [(int(r), index.id_of(int(r))) for r in np.flatnonzero(mask)]
    cache = _cache_for(index)
    _fill(cache, index, catalogue, [lid for _, lid in ids])
    normal_user = [normalise(d) for d in user_desc]
    candidates = []
    for row, lid in ids:
        lw = cache.get(lid)
        if lw is None:
            continue
        if lw.normalised == normal_user:
            continue  # the user's exact space: the same-space search ranks it
        candidates.append((row, lid, lw))
    if not candidates:
        return []
    unseen = [lw for _, _, lw in candidates if lw.vectors is None]
    if unseen:
        vectors = embed([d for lw in unseen for d in lw.descriptions])  # one batch for the model
        at = 0
        for lw in unseen:
            lw.vectors, at = vectors[at:at + len(lw.descriptions)], at + len(lw.descriptions)
    user = _user_columns(spec, user_desc)
    ident = embedder_id()
    # Similarities to every candidate column at once; then one small assignment per candidate.
    all_vectors, all_marginals = _stacked(cache, candidates)
    text_all, combined_all = column_similarities(user.vectors, user.marginals, all_vectors, all_marginals)
    # Bound first: a score is at most sqrt(coverage), so candidates are scored best bound first and
    # the loop stops once no remaining one can enter the top `limit` (distractors cost one assignment).
    # Columns that could pair at all (both thresholds) bound each candidate's pairs before any
    # assignment: a table sharing no column meaning (a distractor) is dropped in this vector pass.
    usable = (text_all >= MIN_TEXT) & (combined_all >= MIN_PAIR)
    widths = np.array([len(lw.descriptions) for _, _, lw in candidates])
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    cols_ok = np.add.reduceat(usable.any(axis=0).astype(np.int64), starts)
    rows_ok = np.add.reduceat(usable, starts, axis=1).astype(bool).sum(axis=0)
    most = np.minimum(cols_ok, rows_ok)
    planned = []
    for (row, lid, lw), at, width, bound in zip(candidates, starts, widths, most, strict=True):
        if bound < min(MIN_PAIRS, width) or bound / width < MIN_COVERAGE:
            continue
        mapping = assign(text_all[:, at:at + width], combined_all[:, at:at + width], ident)
        if len(mapping.pairs) >= min(MIN_PAIRS, mapping.learnware_dim) and mapping.coverage >= MIN_COVERAGE:
            planned.append((math.sqrt(mapping.coverage), row, lid, lw, mapping))
    planned.sort(key=lambda p: -p[0])
    matches: list[Match] = []
    kept: list[float] = []
    for bound, row, lid, lw, mapping in planned:
        if len(kept) >= limit and bound <= kept[limit - 1]:
            break
        mmd2, self_q = restricted_mmd2(user, lw, mapping)
        score = float(scores_from_mmd2(mmd2, self_q)) * bound
        kept = sorted([*kept, score], reverse=True)
        marked = {**mapping.to_dict(), "lacking": len(mapping.missing),
                  "columns": {user_desc[u]: lw.descriptions[l_] for u, l_ in mapping.pairs}}
        text = None if shown is None else float(shown[row])
        matches.append(Match(lid, score, index.semantic_spec(lid), float(mmd2), text, hetero=marked))
    return matches


def restricted_mmd2(user: _Columns, lw: _Columns, mapping: ColumnMapping) -> tuple[float, float]:
    """(MMD^2, the user's self term) between the two specs on the mapped columns only. Columns are
    divided by the user's points' spread there, so each has variance ~1 and the squared distance of
    two random points is ~2m: gamma = the grid value nearest 1 / (2m) (no data-dependent search)."""
    from specs.kernels import grid_gamma

    u_cols, l_cols = mapping.user_columns, mapping.learnware_columns
    scale = user.marginals[u_cols, 1]
    scale = np.where(scale > 1e-12, scale, 1.0)
    zu = user.z[:, u_cols] / scale
    zl = lw.z[:, l_cols] / scale
    gamma = grid_gamma(1.0 / (2.0 * len(u_cols)))
    nu, nl = (zu ** 2).sum(1), (zl ** 2).sum(1)

    def ksum(a, na, wa, b, nb, wb):
        d2 = np.maximum(na[:, None] + nb[None, :] - 2.0 * (a @ b.T), 0.0)
        return float(wa @ np.exp(-gamma * d2) @ wb)

    self_q = ksum(zu, nu, user.beta, zu, nu, user.beta)
    cross = ksum(zu, nu, user.beta, zl, nl, lw.beta)
    self_l = ksum(zl, nl, lw.beta, zl, nl, lw.beta)
    return max(self_q - 2.0 * cross + self_l, 0.0), self_q


def _user_columns(spec, descriptions: list[str]) -> _Columns:
    z = np.asarray(spec.z, np.float64)
    beta = np.asarray(spec.beta, np.float64)
    return _Columns(descriptions, embed(descriptions), column_marginals(z, beta), z, beta)


def _stacked(cache: dict, candidates) -> tuple[np.ndarray, np.ndarray]:
    """The candidates' column vectors and marginals stacked, kept for the next query with the same set."""
    key = tuple(lid for _, lid, _ in candidates)
    held = cache.get(_STACK_KEY)
    if held is None or held[0] != key:
        held = (key, np.vstack([lw.vectors for _, _, lw in candidates]),
                np.vstack([lw.marginals for _, _, lw in candidates]))
        cache[_STACK_KEY] = held
    return held[1], held[2]


def _cache_for(index) -> dict:
    with _cache_lock:
        cache = _caches.get(index)
        if cache is None:
            cache = _caches[index] = {}
        return cache


def _fill(cache: dict, index, catalogue, ids: list[str]) -> None:
    """Load (once per index) the descriptions and table spec of learnwares not seen yet."""
    todo = [lid for lid in ids if lid not in cache]
    if not todo:
        return
    described = {}
    for lid in todo:
        try:
            semantic = index.semantic_spec(lid)
        except (KeyError, TypeError, json.JSONDecodeError):
            semantic = None
        desc = column_descriptions(semantic)
        cache[lid] = None  # until proven usable
        if desc is not None:
            described[lid] = desc
    if not described:
        return
    for batch in catalogue.iter_stat_rows(sorted(described), 1000):
        for lid, spec_type, _key, _gamma, z, beta in batch:
            desc = described.get(lid)
            if spec_type != TABLE_SPEC or desc is None or z.shape[1] != len(desc):
                continue
            cache[lid] = _Columns(desc, None, column_marginals(z, beta), np.array(z), np.array(beta))


def forget(index, learnware_id: str) -> None:
    """Drop a learnware's cached columns (after it was removed or replaced)."""
    with _cache_lock:
        cache = _caches.get(index)
    if cache is not None:
        cache.pop(learnware_id, None)
