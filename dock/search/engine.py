"""Search over one dock's catalogue: semantic filters + ranked text, statistical single and mixture.

The engine keeps a `SearchIndex` (dock/search/index.py; built from the DuckDB catalogue on first
search, kept current by `Dock.submit`/`Dock.remove`, and re-synced if the catalogue's count ever
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
   * Exact: MMD^2 to every candidate with one blocked kernel product and segment sums, when the
     candidates hold <= EXACT_MAX_POINTS points (400 learnwares of K=100). Counted on the
     catalogue's side only: its self-terms (K^2 per candidate per query gamma) weigh as much as
     the cross terms, so a small query does not make a large exact pass cheap. (The old rule,
     Kq x points <= 4M, sent 1,000 learnwares to the exact pass once private query specs (issue
     17) brought Kq to ~23: 15 ms against 6 ms by the prefilter, same recall.)
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

import logging
import math
import time
from typing import Any

import numpy as np

from dock.errors import SearchError
from dock.records import compat_key
from dock.search.index import (  # noqa: F401 (re-exported: the index lives in dock/search/index.py)
    _FIELD_NAMES,
    INDEX_VERSION,
    SearchIndex,
    default_directory,
)
from dock.search.kernels import blas_single_thread, run_blocks
from dock.search.mixture import MIXTURE_CANDIDATES, LazyGram, best_mixture
from dock.search.query import Match, Mixture, SearchResult, UserInfo, rescaled_query_spec
from dock.search.scores import mixture_is_worth_it, scores_from_mmd2
from dock.search.stat_group import StatGroup, prefilter_gamma  # noqa: F401 (public here)
from dock.search.text import tokens
from dock.store.catalogue import Catalogue
from specs.semantic import SemanticView

EXACT_MAX_POINTS = 40_000
PREFILTER_MIN = 100
PREFILTER_MAX = 1000
PREFILTER_FRACTION = 0.005
_SCAN_ROWS = 65536

log = logging.getLogger(__name__)


# -- queries ------------------------------------------------------------------------------
def search(index: SearchIndex, catalogue: Catalogue, user_info: UserInfo, limit: int = 10) -> SearchResult:
    from specs import SpecError, validate_semantic_spec

    if not isinstance(limit, int) or limit < 1:
        raise SearchError(f"limit must be a positive integer, got {limit!r}")
    try:
        semantic = validate_semantic_spec(user_info.semantic_spec or {}, partial=True)
    except SpecError as exc:
        raise SearchError(f"bad semantic query: {exc}") from exc
    view = SemanticView.from_spec(semantic)  # once per query: every step below reads this view
    spec = _stat_spec(user_info, view)
    index.sync(catalogue)
    text = " ".join(v.strip() for v in (view.name, view.description) if v.strip())
    filtered = _filters_anything(view) or bool(tokens(text))  # "the" alone filters nothing
    with index.lock, blas_single_thread():
        shown = raw = None
        if tokens(text):
            shown, raw = (_padded(a, index.n_rows) for a in index.semantic_index(catalogue).text_scores(text))

        def semantic_mask() -> np.ndarray | None:
            if not (filtered or spec is None):
                return None
            mask = _padded(index.semantic_index(catalogue).filter_mask(view), index.n_rows)
            if shown is not None:
                mask &= shown > 0
            return mask

        if spec is None:
            return _semantic_result(index, catalogue, semantic_mask(), shown, raw, limit)
        from dock.search.hetero import with_hetero  # columns described: other feature spaces too

        # The query's gamma rule and the filter mask serve only the same-space pass, which the
        # heterogeneous path skips when nothing of the user's width is in the user's space.
        return with_hetero(index, catalogue, spec, semantic, shown, limit,
                           lambda: _statistical(index, catalogue, rescaled_query_spec(spec), semantic_mask(),
                                                shown, limit))


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


def _stat_spec(user_info: UserInfo, view: SemanticView):
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
    want = view.input_dim
    if want is not None and want != int(spec.dim):
        raise SearchError(f"the statistical spec has {spec.dim} features but the query's Input says {want}")
    return spec  # its gamma is checked by rescaled_query_spec when the same-space pass runs


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
    if group.points_in(slots) <= EXACT_MAX_POINTS:
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
