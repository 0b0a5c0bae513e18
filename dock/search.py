"""Search over one dock's catalogue: semantic filters + text, statistical ranking, mixtures.

This is the first, correct engine (the search issue makes it fast at 100k learnwares and
replaces the text match with ranked relevance). What it fixes now, and later work keeps:

* Kernel scale: every comparison in one query uses the *query's* gamma on both sides, so
  all MMD^2 values of a query live in one RKHS and are comparable with each other.
* Scores: `score = 1 - MMD / sqrt(2)`, clipped to [0, 1]. With a Gaussian kernel the mean
  embeddings are vectors of norm <= 1, so MMD (their distance) lies in [0, sqrt(2)]: the score
  is "how close the two distributions' embeddings are, as a fraction of the largest possible
  distance". It does not depend on the result list (unlike the reference's relative score).
* Mixture: greedy forward selection over the best singles, weights from a QP on the simplex;
  reported only when it beats the best single learnware by MIXTURE_MARGIN (relative MMD^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import SearchError
from .query import Match, Mixture, SearchResult, UserInfo
from .records import LearnwareRecord, compat_key
from .store import Catalogue

MIXTURE_CANDIDATES = 20
MIXTURE_MAX_SIZE = 5
# A mixture must cut the best single's MMD^2 by at least this fraction to be recommended:
# below that, one learnware is simpler to reuse and as good.
MIXTURE_MARGIN = 0.10

_CLASS_FIELDS = {"Data": "data_type", "Task": "task_type", "Library": "library_type", "License": "license"}


def score_from_mmd2(mmd2: float) -> float:
    return float(min(1.0, max(0.0, 1.0 - math.sqrt(max(mmd2, 0.0)) / math.sqrt(2.0))))


@dataclass(frozen=True)
class _Embedding:
    z: np.ndarray
    beta: np.ndarray


def search(catalogue: Catalogue, user_info: UserInfo, limit: int = 10) -> SearchResult:
    from specs import SpecError, validate_semantic_spec

    if limit < 1:
        raise SearchError(f"limit must be at least 1, got {limit}")
    try:
        semantic = validate_semantic_spec(user_info.semantic_spec or {}, partial=True)
    except SpecError as exc:
        raise SearchError(f"bad semantic query: {exc}") from exc

    candidates = _semantic_candidates(catalogue, semantic)
    text = _query_text(semantic)
    stat_specs = [s for s in (user_info.stat_info or {}).values() if s is not None]
    if not stat_specs:
        ranked = sorted(candidates, key=lambda r: (-_text_score(r, text), r.name, r.id))
        return SearchResult(single=[Match(r.id, _text_score(r, text), r.semantic_spec) for r in ranked[:limit]])
    if len(stat_specs) > 1:
        raise SearchError("give one statistical spec per search (got several kinds)")
    return _statistical(catalogue, stat_specs[0], candidates, limit)


def _query_text(semantic: dict) -> str:
    parts = []
    for key in ("Name", "Description"):
        value = (semantic.get(key) or {}).get("Values")
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
    return " ".join(parts)


def _text_score(record: LearnwareRecord, text: str) -> float:
    """Fraction of the query's words found in the name or description (1.0 with no text)."""
    if not text:
        return 1.0
    haystack = f"{record.name} {record.description}".lower()
    words = text.lower().split()
    return sum(w in haystack for w in words) / len(words)


def _semantic_candidates(catalogue: Catalogue, semantic: dict) -> list[LearnwareRecord]:
    clauses, params = [], []
    for key, column in _CLASS_FIELDS.items():
        values = (semantic.get(key) or {}).get("Values") or []
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    scenarios = (semantic.get("Scenario") or {}).get("Values") or []
    if scenarios:
        clauses.append("list_has_any(scenarios, ?)")
        params.append(list(scenarios))
    records = catalogue.list(" AND ".join(clauses), params)
    text = _query_text(semantic)
    if text:
        records = [r for r in records if _text_score(r, text) > 0]
    return records


def _statistical(catalogue: Catalogue, spec, candidates: list[LearnwareRecord], limit: int) -> SearchResult:
    from specs import SpecError

    try:
        spec.validate()
    except SpecError as exc:
        raise SearchError(f"bad statistical spec: {exc}") from exc
    by_id = {r.id: r for r in candidates}
    rows = catalogue.stat_points(compat_key(spec), list(by_id))
    if not rows:
        return SearchResult(single=[])
    gamma = float(spec.gamma)
    query = _Embedding(np.asarray(spec.z, float), np.asarray(spec.beta, float))
    embeddings = [_Embedding(z, beta) for _, _, z, beta in rows]
    cross = _cross_terms(query, embeddings, gamma)
    self_terms = np.array([_inner(e, e, gamma) for e in embeddings])
    query_self = _inner(query, query, gamma)
    mmd2 = np.maximum(self_terms - 2.0 * cross + query_self, 0.0)
    order = np.argsort(mmd2, kind="stable")
    single = [
        Match(rows[i][0], score_from_mmd2(mmd2[i]), by_id[rows[i][0]].semantic_spec, float(mmd2[i]))
        for i in order[:limit]
    ]
    top = order[:MIXTURE_CANDIDATES]
    mixture = _mixture(
        [rows[i][0] for i in top], [embeddings[i] for i in top], cross[top], query_self, gamma, float(mmd2[order[0]])
    )
    if mixture is not None:
        ids, weights, value = mixture
        mixture = Mixture(ids, weights, score_from_mmd2(value), value, [by_id[i].semantic_spec for i in ids])
    return SearchResult(single=single, multiple=mixture)


def _inner(a: _Embedding, b: _Embedding, gamma: float) -> float:
    from specs.kernels import gaussian_kernel

    return float(a.beta @ gaussian_kernel(a.z, b.z, gamma) @ b.beta)


def _cross_terms(query: _Embedding, embeddings: list[_Embedding], gamma: float) -> np.ndarray:
    """<mu_query, mu_i> for every learnware with one kernel product and segment sums."""
    from specs.kernels import gaussian_kernel

    stacked_z = np.concatenate([e.z for e in embeddings])
    stacked_beta = np.concatenate([e.beta for e in embeddings])
    weighted = (query.beta @ gaussian_kernel(query.z, stacked_z, gamma)) * stacked_beta
    starts = np.cumsum([0] + [len(e.beta) for e in embeddings[:-1]])
    return np.add.reduceat(weighted, starts)


def _mixture(ids, embeddings, cross, query_self, gamma, best_single):
    """Greedy forward selection of up to MIXTURE_MAX_SIZE learnwares; None if not worth it."""
    from specs import solve_simplex_qp

    n = len(ids)
    if n < 2:
        return None
    gram = np.array([[_inner(embeddings[i], embeddings[j], gamma) for j in range(n)] for i in range(n)])
    chosen: list[int] = [0]
    weights = np.array([1.0])
    current = best_single
    while len(chosen) < min(MIXTURE_MAX_SIZE, n):
        best = None
        for j in range(n):
            if j in chosen:
                continue
            trial = chosen + [j]
            w = solve_simplex_qp(gram[np.ix_(trial, trial)], cross[trial])
            value = float(w @ gram[np.ix_(trial, trial)] @ w - 2 * w @ cross[trial] + query_self)
            if best is None or value < best[0]:
                best = (value, trial, w)
        if best is None or best[0] >= current * (1 - 1e-3):
            break
        current, chosen, weights = best[0], best[1], best[2]
    if len(chosen) < 2 or current > best_single * (1 - MIXTURE_MARGIN):
        return None
    keep = weights > 1e-4
    kept_ids = [ids[i] for i, k in zip(chosen, keep, strict=True) if k]
    kept_w = weights[keep] / weights[keep].sum()
    if len(kept_ids) < 2:
        return None
    return kept_ids, [float(w) for w in kept_w], max(current, 0.0)
