"""Heterogeneous search: learnwares whose columns differ from the user's, ranked with the rest.

Called from dock/search/engine.search() (one call-out) when the query is a table spec AND its
semantic part describes the user's columns (`Input.Description`, every column meaningful). Then:

1. the same-space search runs as before (`same_space()`); its "no learnware takes d features"
   SearchError is kept only if no heterogeneous match is found either;
2. every table learnware that passes the query's filters (Input dimension aside), describes its
   columns, is not in the user's exact space (same columns, same order) and passes the name
   prefilter (enough of its column descriptions close to some user column to reach the pairing's
   own minimums) is a candidate; its columns are matched to the user's
   (dock/search/hetero_space.py) from the summaries persisted once per record
   (dock/search/hetero_cache.py); its points are read from the group's file only if scored;
3. a candidate with enough matched columns (>= MIN_PAIRS and a share >= MIN_COVERAGE of its
   inputs) is compared by MMD on the matched columns only: with a Gaussian kernel, dropping columns
   of RKME points is exactly the marginal of the distribution they summarise, so both specs are
   restricted to the pairs, in the learnware's column order, each column divided by the user's
   spread there (one scale for both sides), gamma = grid(1 / (2m)) for m matched columns;
4. its score is that MMD's score (dock/search/scores.py) times sqrt(coverage), so a learnware the
   user can feed only half of ranks below an equally close one the user feeds fully; same-space
   matches have coverage 1 and keep today's score. Heterogeneous matches carry `hetero`:
   the column mapping, how many learnware inputs the user lacks and the embedder used.

5. with heterogeneous matches, a mixture across spaces is tried (dock/search/hetero_mixture.py).

A user without column descriptions, or with a non-table spec, gets exactly today's result.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time

import numpy as np

from dock.errors import SearchError
from dock.search.hetero_cache import TABLE_SPEC, group_slot
from dock.search.hetero_space import (
    MIN_TEXT,
    TEXT_WEIGHT,
    ColumnMapping,
    assign,
    embed,
    embedder_id,
    normalise,
    unit_gram,
    value_similarity,
)
from dock.search.query import Match, SearchResult
from dock.search.scores import score_from_mmd2
from specs.hetero import column_descriptions, input_block  # noqa: F401 (input_block: for tui/)

log = logging.getLogger(__name__)

MIN_PAIRS = 2
MIN_COVERAGE = 0.25
POINTS_CACHED = 256  # candidates' points kept between queries (~20 KB each at K=50, d=30)


@dataclasses.dataclass
class _Columns:
    """One side of a comparison: its RKME points and per-column (mean, std)."""

    marginals: np.ndarray
    z: np.ndarray
    beta: np.ndarray
    vectors: np.ndarray | None = None


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
    start = time.perf_counter()
    user = _user_columns(spec, None)  # the user's points and column spreads, once per query
    hetero = _hetero_matches(index, catalogue, user, semantic, user_desc, shown, limit)
    seconds = time.perf_counter() - start
    own = [normalise(d) or d for d in user_desc]
    same: SearchResult | None = None
    error: SearchError | None = None
    # The same-space pass ranks the learnwares of the user's width, then every one of another space
    # is dropped below: when all of them are (and heterogeneous matches exist), it is not run at all.
    if not (hetero and _only_other_spaces(index, spec, own)):
        try:
            same = same_space()
        except SearchError as exc:
            error = exc
    if same is None and not hetero:
        assert error is not None
        raise error
    other_space = {h.id for h in hetero} | {m.id for m in (same.single if same else []) if _differs(index, m, own)}
    single = [m for m in (same.single if same else []) if m.id not in other_space]
    multiple = same.multiple if same else None
    if multiple is not None and other_space & set(multiple.ids):
        multiple = None  # a mixture of columns that only share a count is no recommendation
    ranked = sorted(single + hetero, key=lambda m: -m.score)
    merged = ranked[:limit]
    if hetero:  # members from other spaces too: compared on the columns they share with the user
        from dock.search.hetero_mixture import cross_space_mixture

        with index.lock:
            points_of = functools.partial(_learnware_points, index)
            across = cross_space_mixture(index, user, ranked, len(user_desc), points_of)
        if across is not None and (multiple is None or across.score > multiple.score):
            multiple = across
    info = dict(same.info) if same else {"mode": "hetero"}
    info.update(hetero_candidates=len(hetero), hetero_seconds=seconds)
    return SearchResult(single=merged, multiple=multiple, info=info)


def _only_other_spaces(index, spec, own: list[str]) -> bool:
    """Whether every live learnware of the user's statistical group (its type and width) describes
    columns other than the user's (so the same-space pass would rank only what is then dropped)."""
    from dock.records import compat_key

    group = index.groups.get(compat_key(spec))
    if group is None or not group.n_live:
        return True  # nothing of this width: the same-space pass finds nothing
    store = index.columns
    rows = group.slot_rows()[group.live_mask()]
    known, starts, widths, text_ids, _ = store.arrays()
    at = np.minimum(np.searchsorted(known, rows), max(known.size - 1, 0))
    if known.size == 0 or not np.array_equal(known[at], rows):
        return False  # an undescribed learnware of the user's width: same space by count
    own_ids = [store.vocab_id.get(t, -1) for t in own]
    starts, widths = starts[at], widths[at]
    return not any(int(w) == len(own_ids) and text_ids[int(s_):int(s_) + int(w)].tolist() == own_ids
                   for s_, w in zip(starts, widths, strict=True))


def _differs(index, match: Match, own: list[str]) -> bool:
    """A same-dimension learnware whose described columns are not the user's: another space
    (read from the column summaries: a learnware without any is not described)."""
    store = index.columns
    row = index.row_of.get(match.id)
    entry = None if row is None else store.entry_of(row)
    if entry is None:
        return False
    start, width = int(store.starts()[entry]), int(store.widths()[entry])
    return [store.vocab[i] for i in store.text_ids()[start:start + width].tolist()] != own


def _hetero_matches(index, catalogue, user: _Columns, semantic, user_desc, shown, limit) -> list[Match]:
    unfiltered = {k: v for k, v in semantic.items() if k != "Input"}
    with index.lock:
        store = index.columns  # summaries of records added since the last query made now, once
        if not store.n:
            return []
        ident = embedder_id()
        known = store.vectors_known(ident)
        vocab = store.vocab_vectors(ident, embed)
        if known < vocab.shape[0]:
            index.save()  # new descriptions were embedded: persist them
        rows, starts, widths, text_ids, marginals = store.arrays()
        ok = index.live_rows()[rows].astype(bool)
        if _filters(unfiltered):
            filtered = index.semantic_index(catalogue).filter_mask(unfiltered)
            ok &= _padded(filtered, index.n_rows)[rows] > 0
        if shown is not None:
            ok &= shown[rows] > 0
        normal_user = [normalise(d) or d for d in user_desc]
        user_vectors = _user_vectors(tuple(user_desc), ident)
        # Name prefilter: the user's columns against the vocabulary once; a learnware stays only
        # if enough of its columns have a description close enough to some user column to pair.
        text_vocab = user_vectors @ vocab.T  # float32: cosines, clipped below once gathered
        pairable = text_vocab.max(axis=0) >= MIN_TEXT
        per_lw = np.add.reduceat(pairable[text_ids].astype(np.int64), starts)
        bound = np.minimum(per_lw, len(user_desc))
        ok &= (bound >= np.minimum(MIN_PAIRS, widths)) & (bound >= MIN_COVERAGE * widths)
        own_ids = [store.vocab_id.get(t, -1) for t in normal_user]
        picked = []
        for i in np.flatnonzero(ok).tolist():
            start, width = int(starts[i]), int(widths[i])
            if width == len(own_ids) and text_ids[start:start + width].tolist() == own_ids:
                continue  # the user's exact space: the same-space search ranks it
            picked.append((int(rows[i]), start, width))
        if not picked:
            return []
        picked_starts = np.array([s_ for _, s_, _ in picked])
        picked_widths = np.array([w for _, _, w in picked])
        first = np.cumsum(picked_widths) - picked_widths  # each candidate's first entry in column_at
        column_at = np.repeat(picked_starts - first, picked_widths) + np.arange(int(picked_widths.sum()))
        text_all = np.clip(text_vocab[:, text_ids[column_at]].astype(np.float64), 0.0, 1.0)
        combined_all = TEXT_WEIGHT * text_all + (1.0 - TEXT_WEIGHT) * value_similarity(
            user.marginals, marginals[column_at].astype(np.float64))
        # Bound first: a score is at most sqrt(coverage), so candidates are scored best bound first
        # and the loop stops once no remaining one can enter the top `limit`.
        planned, at = [], 0
        for row, _, width in picked:
            mapping = assign(text_all[:, at:at + width], combined_all[:, at:at + width], ident)
            at += width
            if len(mapping.pairs) >= min(MIN_PAIRS, width) and mapping.coverage >= MIN_COVERAGE:
                planned.append((math.sqrt(mapping.coverage), row, mapping))
        planned.sort(key=lambda p: -p[0])
        matches: list[Match] = []
        kept: list[float] = []
        for bound_, row, mapping in planned:
            if len(kept) >= limit and bound_ <= kept[limit - 1]:
                break
            lw = _learnware_points(index, row, mapping.learnware_dim)
            if lw is None:
                continue
            mmd2, self_q = restricted_mmd2(user, lw, mapping)
            score = score_from_mmd2(mmd2, self_q) * bound_
            kept = sorted([*kept, score], reverse=True)
            semantic_lw = index.semantic_spec_of(row)
            desc = semantic_lw["Input"]["Description"]  # summarised, so described (records never change)
            marked = mapping.to_dict()
            marked.update(lacking=len(marked["missing"]), columns={
                user_desc[u]: " ".join(str(desc.get(str(l_), "")).split()) for u, l_ in mapping.pairs})
            text_score = None if shown is None else float(shown[row])
            matches.append(Match(index.id_of(row), score, semantic_lw, float(mmd2), text_score, hetero=marked))
        return matches


@functools.lru_cache(maxsize=64)
def _user_vectors(descriptions: tuple[str, ...], ident: str) -> np.ndarray:
    """The user's column description vectors (float32), kept for repeated queries with the same
    columns: a pure function of the texts and the embedder (ident is part of the key)."""
    out = embed(list(descriptions)).astype(np.float32)
    out.setflags(write=False)
    return out


def _filters(semantic: dict) -> bool:
    """Whether the query's non-Input fields filter anything (else the filter pass is skipped)."""
    for key, value in semantic.items():
        if key == "Output":
            if isinstance(value, dict) and value.get("Dimension") is not None:
                return True
        elif key not in ("Name", "Description") and isinstance(value, dict) and value.get("Values"):
            return True
    return False


def _padded(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, values.dtype)
    m = min(n, values.size)
    out[:m] = values[:m]
    return out


def _learnware_points(index, row: int, width: int) -> _Columns | None:
    """A candidate's RKME points, read from its group's point file with pread; the last few are
    kept (a row's spec never changes, rows are never reused), never every learnware's."""
    cache = index.columns.points_cache
    held = cache.get(row)
    if held is not None:
        cache.move_to_end(row)
        return held
    for key, group in index.groups.items():
        if key.startswith(TABLE_SPEC + "|") and group.dim == width:
            slot = group_slot(group, row)
            if slot is not None:
                z, beta, _ = group.points(np.array([slot]))
                offset = group.offset if group.offset is not None else 0.0
                held = _Columns(np.zeros((width, 2)), z.astype(np.float64) + offset, beta.astype(np.float64))
                cache[row] = held  # under index.lock
                while len(cache) > POINTS_CACHED:
                    cache.popitem(last=False)
                return held
    return None


def restricted_mmd2(user: _Columns, lw: _Columns, mapping: ColumnMapping) -> tuple[float, float]:
    """(MMD^2, the user's self term) between the two specs on the mapped columns only. Columns are
    divided by the user's points' spread there, so each has variance ~1 and the squared distance of
    two random points is ~2m: gamma = the grid value nearest 1 / (2m) (no data-dependent search)."""
    from specs.kernels import grid_gamma

    u_cols, l_cols = mapping.user_columns, mapping.learnware_columns
    scale = user.marginals[u_cols, 1]
    gamma = grid_gamma(1.0 / (2.0 * len(u_cols)))
    # Both point sets in one Gram matrix, centred on the user's means and in units of
    # 1 / sqrt(gamma) user spreads; weights +beta_user / -beta_learnware: w'Kw = self_q - 2 cross + self_l.
    both = np.vstack([user.z[:, u_cols], lw.z[:, l_cols]])
    both -= user.marginals[u_cols, 0]
    both *= math.sqrt(gamma) / np.where(scale > 1e-12, scale, 1.0)
    gram = unit_gram(both)
    nu = user.z.shape[0]
    w = np.concatenate([user.beta, -lw.beta])
    self_q = float(user.beta @ (gram[:nu, :nu] @ user.beta))
    return max(float(w @ (gram @ w)), 0.0), self_q


def _user_columns(spec, vectors: np.ndarray | None) -> _Columns:
    """The user's side: points and per-column weighted (mean, std), as specs/hetero.column_marginals
    computes them for learnwares (its quantiles are not compared, so not computed here)."""
    z = np.asarray(spec.z, np.float64)
    beta = np.asarray(spec.beta, np.float64)
    b = np.clip(beta, 0.0, None)
    b = b / b.sum() if b.sum() > 0 else np.full(len(b), 1.0 / max(len(b), 1))
    mean = b @ z
    std = np.sqrt(np.maximum(b @ (z - mean) ** 2, 0.0))
    return _Columns(np.column_stack([mean, std]), z, beta, vectors)
