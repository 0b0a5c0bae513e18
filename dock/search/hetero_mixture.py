"""Mixtures across feature spaces: several learnwares, of the user's space or of others, whose
weighted combination explains the user's table better than the best one alone (issue 14).

A same-space mixture (dock/search/mixture.py) compares every member in the user's full space.
Members from other spaces each see only the user columns their mapping pairs, so the mixture is
compared on a common frame: the user columns that the best match pairs AND every other member
pairs too. A member is admitted when it pairs at least FRAME_SHARE of the best match's columns,
and the frame must keep >= MIN_PAIRS columns. On the frame, as for a single heterogeneous match
(dock/search/hetero.restricted_mmd2), a Gaussian kernel on restricted points is exactly the
marginal of each distribution, columns are divided by the user's spread, gamma = the grid value
nearest 1 / (2m); then the same greedy selection as same-space mixtures (best_mixture) runs on
the members' Gram matrix, and the mixture is reported only when `mixture_is_worth_it` against
the best single member on the same frame and its score beats the best match's by the margin
same-space mixtures need (`_needed`). Its score is the frame's MMD score times
sqrt(sum_j w_j coverage_j) (a single heterogeneous match's sqrt(coverage) rule, weighted), and
it carries each member's column mapping (`Mixture.hetero`, None for a same-space member), which
reuse needs to align the members (HeteroAlignReuser(mappings=...)).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from dock.search.mixture import MIXTURE_CANDIDATES, DenseGram, best_mixture
from dock.search.query import Match, Mixture
from dock.search.scores import mixture_is_worth_it, scores_from_mmd2

log = logging.getLogger(__name__)

FRAME_SHARE = 0.3
MIN_FRAME = 2


def _needed(best_score: float) -> float:
    """The displayed-score gain a mixture must bring over the best match: the same rule as for
    same-space mixtures (dock/search/scores.mixture_is_worth_it), applied to the coverage-weighted
    scores users see."""
    from dock.search.scores import MIXTURE_FLOOR_SCORE_GAIN, MIXTURE_MIN_SCORE_GAIN, MIXTURE_ROOM_SHARE

    return max(MIXTURE_FLOOR_SCORE_GAIN, min(MIXTURE_MIN_SCORE_GAIN, MIXTURE_ROOM_SHARE * (1.0 - best_score)))


def cross_space_mixture(index, user, members: list[Match], user_dim: int, points_of) -> Mixture | None:
    """members: the merged ranking (best first); user: hetero._Columns of the query; points_of(row,
    width) -> the member's _Columns (points) or None."""
    from specs.kernels import grid_gamma

    pairs_of, coverage = [], []
    for m in members[:MIXTURE_CANDIDATES]:
        if m.hetero is None:
            pairs_of.append(({u: u for u in range(user_dim)}, user_dim))
            coverage.append(1.0)
        else:
            pairs_of.append(({int(u): int(l_) for u, l_ in m.hetero["pairs"]}, int(m.hetero["learnware_dim"])))
            coverage.append(len(m.hetero["pairs"]) / max(int(m.hetero["learnware_dim"]), 1))
    if len(pairs_of) < 2 or not any(m.hetero is not None for m in members[:MIXTURE_CANDIDATES]):
        return None  # no other-space member: the same-space mixture (if any) stands
    best = set(pairs_of[0][0])
    chosen, frame = [0], set(best)
    for j in range(1, len(pairs_of)):
        common = frame & set(pairs_of[j][0])
        if len(best & set(pairs_of[j][0])) >= FRAME_SHARE * len(best) and len(common) >= MIN_FRAME:
            chosen.append(j)
            frame = common
    if len(chosen) < 2:
        return None
    if math.sqrt(max(coverage[j] for j in chosen)) - members[0].score < _needed(members[0].score):
        return None  # even a perfect fit on the frame could not beat the best match by the margin (a free bound)
    cols = sorted(frame)
    scale = user.marginals[cols, 1]
    scale = np.where(scale > 1e-12, scale, 1.0)
    blocks, weights = [user.z[:, cols] / scale], [user.beta]
    kept = []
    for j in chosen:
        pairs, width = pairs_of[j]
        lw = points_of(index.row_of[members[j].id], width)
        if lw is None:
            continue
        blocks.append(lw.z[:, [pairs[u] for u in cols]] / scale)
        weights.append(lw.beta)
        kept.append(j)
    if len(kept) < 2:
        return None
    Z = np.vstack(blocks)
    gamma = grid_gamma(1.0 / (2.0 * len(cols)))
    sq = np.einsum("ij,ij->i", Z, Z)
    K = np.exp(-gamma * np.maximum(sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T), 0.0))
    W = np.zeros((Z.shape[0], len(weights)))  # column 0: the user; then one column per member
    at = 0
    for i, b in enumerate(weights):
        W[at:at + len(b), i] = b
        at += len(b)
    M = W.T @ K @ W
    self_q, cross, gram = float(M[0, 0]), M[0, 1:], M[1:, 1:]
    singles = np.diag(gram) - 2.0 * cross + self_q
    order = np.argsort(singles, kind="stable")  # best_mixture expects the best single first
    if len(kept) == 2:  # the common case, in closed form (best_mixture's general QP costs ~0.1 ms)
        idx, w, value = _pair_mixture(gram[np.ix_(order, order)], cross[order], self_q)
    else:
        idx, w, value = best_mixture(DenseGram(gram[np.ix_(order, order)]), cross[order], self_q)
    if len(idx) < 2 or not mixture_is_worth_it(value, float(singles[order[0]]), self_q):
        return None
    picked = [members[kept[int(order[i])]] for i in idx]
    w = np.asarray(w, np.float64) / max(float(np.sum(w)), 1e-12)
    covered = float(sum(wi * coverage[kept[int(order[i])]] for wi, i in zip(w, idx, strict=True)))
    score = float(scores_from_mmd2(value, self_q)) * math.sqrt(covered)
    if score - members[0].score < _needed(members[0].score):
        return None  # better on the frame, not once coverage counts: the best single stands
    log.debug("cross-space mixture of %d on %d common columns: %.3f", len(picked), len(cols), score)
    return Mixture([m.id for m in picked], [float(x) for x in w], score, float(value),
                   [m.semantic_spec for m in picked], hetero=[m.hetero for m in picked])


def _pair_mixture(G: np.ndarray, c: np.ndarray, self_q: float):
    """best_mixture for two candidates: w in [0, 1] minimising |w mu_0 + (1 - w) mu_1 - mu_u|^2,
    a parabola in w; (indices by weight, weights, residual MMD^2)."""
    a = G[0, 0] - 2.0 * G[0, 1] + G[1, 1]  # |mu_0 - mu_1|^2
    w = float(np.clip((G[1, 1] - G[0, 1] - c[1] + c[0]) / a, 0.0, 1.0)) if a > 1e-300 else 1.0
    weights = np.array([w, 1.0 - w])
    value = max(float(weights @ G @ weights - 2.0 * weights @ c + self_q), 0.0)
    if w in (0.0, 1.0):
        return [0 if w == 1.0 else 1], [1.0], value
    return ([0, 1], [w, 1.0 - w], value) if w >= 0.5 else ([1, 0], [1.0 - w, w], value)
