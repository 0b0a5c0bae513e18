"""Search among reference-made image specs (Beimingwu RKMEImageSpecification) under the reference's kernel.

Such specs have their own group in the index (their compat_key names the "reference-nngp-v1" embedder,
specs/ref_image.py), holding the K images of each spec as flattened points like any group. What differs
from the Gaussian path (dock/search/engine.py `_statistical`): the kernel is the NNGP kernel of the
reference's ConvNet (specs/ref_image_kernel.py), which has no gamma, so
  * every candidate is compared exactly (no random-Fourier prefilter: that approximates a Gaussian);
  * self-terms b'K(z,z)b depend on the spec alone: computed once per indexed spec and kept in RAM for
    the index's life (a float per learnware; rows are never reused);
  * the mixture is chosen by the same greedy QP (dock/search/mixture.py) over a Gram matrix computed
    under this kernel for the best MIXTURE_CANDIDATES_NNGP singles.
Scores are lwdock's (dock/search/scores.py, the share of the user's embedding a learnware explains).
This kernel carries a large constant part (bias variance in every layer), so unrelated image sets
still share much of it and scores sit high (digits 0-4 vs 5-9: 0.95; same digits: 0.99); the ranking
is the reference's own (by MMD^2 under its kernel).

Cost: after the kernel work of benchmarks/reference_image_kernel.py, ~0.07-0.2 s per 2,500 point
pairs (K=50 query x one K=50 learnware) on 2 shared cores (was 1.6-2.4 s); the mixture's Gram of the
best singles is made of cached self terms and cached learnware pairs, so a repeated or similar search
pays only the query's cross terms. A search stays linear in the group's points; a dock with
thousands of Beimingwu image learnwares would want a prefilter (not built).
"""

from __future__ import annotations

import logging

import numpy as np

from dock.search.mixture import DenseGram, best_mixture
from dock.search.query import Match, Mixture, SearchResult
from dock.search.scores import mixture_is_worth_it, scores_from_mmd2

MIXTURE_CANDIDATES_NNGP = 6  # 15 learnware pairs of K=50: ~1 s the first time, cached after

log = logging.getLogger(__name__)


def is_reference_kernel(spec) -> bool:
    from specs.ref_image import is_reference_image

    return is_reference_image(spec)


def _images_of(group, slots: np.ndarray, geometry):
    """(points as images (P, C, H, W), beta (P,), segment starts) of these slots, back in absolute
    coordinates (the group stores points relative to its offset)."""
    Z, beta, starts = group.points(slots)
    Z = np.asarray(Z, np.float64)
    if group.offset is not None:
        Z = Z + group.offset
    C, H, W = geometry[:3]
    return Z.reshape(-1, C, H, W), np.asarray(beta, np.float64), starts


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if starts.size else np.zeros(0)


def _self_terms(index, group, slots: np.ndarray, geometry) -> np.ndarray:
    from specs.ref_image_kernel import nngp_kernel

    cache = index.__dict__.setdefault("_nngp_self", {})
    out = np.empty(slots.size)
    for i, slot in enumerate(slots.tolist()):
        key = (group.key, int(group.rows(np.array([slot]))[0]))
        if key not in cache:
            z, b, _ = _images_of(group, np.array([slot]), geometry)
            cache[key] = float(b @ nngp_kernel(z, None, *geometry[3:]) @ b)
        out[i] = cache[key]
    return out


def _learnware_gram(index, group, slots: np.ndarray, geometry) -> np.ndarray:
    """<mu_i, mu_j> for these learnwares under the reference kernel: the diagonal from the self-term
    cache, each pair above it computed once (K_i x K_j kernel pairs, not the whole union's Gram) and
    kept in RAM keyed by rows like the self terms (the same few best learnwares recur across searches)."""
    from specs.ref_image_kernel import nngp_kernel

    cache = index.__dict__.setdefault("_nngp_pairs", {})
    rows = [int(r) for r in group.rows(slots)]
    G = np.diag(_self_terms(index, group, slots, geometry))
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            key = (group.key, min(rows[i], rows[j]), max(rows[i], rows[j]))
            if key not in cache:
                zi, bi, _ = _images_of(group, slots[i:i + 1], geometry)
                zj, bj, _ = _images_of(group, slots[j:j + 1], geometry)
                cache[key] = float(bi @ nngp_kernel(zi, zj, *geometry[3:]) @ bj)
            G[i, j] = G[j, i] = cache[key]
    return G


def reference_statistical(index, group, spec, slots: np.ndarray, shown, limit: int) -> SearchResult:
    """Rank the group's live `slots` against the query `spec` (both reference-made image specs)."""
    from specs.ref_image import geometry, images, inner_prod
    from specs.ref_image_kernel import nngp_kernel

    geo = geometry(spec.embedder)
    depth, kernel_size = geo[3:]
    self_q = inner_prod(spec, spec)
    Z, beta, starts = _images_of(group, slots, geo)
    cross = _segment_sums((spec.beta @ nngp_kernel(images(spec), Z, depth, kernel_size)) * beta, starts)
    mmd2 = np.maximum(_self_terms(index, group, slots, geo) - 2.0 * cross + self_q, 0.0)
    order = np.argsort(mmd2, kind="stable")
    scores = scores_from_mmd2(mmd2, self_q)
    rows = group.rows(slots)
    single = [Match(index.id_of(int(rows[i])), float(scores[i]), index.semantic_spec_of(int(rows[i])),
                    float(mmd2[i]), None if shown is None else float(shown[int(rows[i])])) for i in order[:limit]]
    info = {"mode": "exact", "kernel": "reference-nngp", "learnwares": int(slots.size)}
    best = order[:MIXTURE_CANDIDATES_NNGP]
    multiple = None
    if best.size >= 2:
        G = _learnware_gram(index, group, slots[best], geo)
        idx, weights, value = best_mixture(DenseGram(0.5 * (G + G.T)), cross[best], self_q)
        if len(idx) >= 2 and mixture_is_worth_it(value, float(mmd2[order[0]]), self_q):
            mrows = [int(rows[best[i]]) for i in idx]
            multiple = Mixture([index.id_of(r) for r in mrows], weights, float(scores_from_mmd2(value, self_q)),
                               float(value), [index.semantic_spec_of(r) for r in mrows])
    return SearchResult(single=single, multiple=multiple, info=info)
