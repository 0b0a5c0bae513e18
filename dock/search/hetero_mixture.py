"""Mixtures across feature spaces: several learnwares, of the user's space or of others, whose
weighted combination explains the user's table clearly better than the best one alone (issue 14).

A same-space mixture (dock/search/mixture.py) compares every member in the user's full space.
Members from other spaces each see only the user columns their mapping pairs, so a cross-space
mixture is judged on the user columns that ALL its members feed (the frame):

* candidates (the best MAX_CANDIDATES of the merged ranking): the best match; the next one that
  feeds at least MIN_FRAME of the best match's paired columns, which fixes the frame to the
  columns the two share; every later one that feeds all of them. A member never shrinks the
  frame once it is fixed: each column dropped is a column where the best match's fit no longer
  counts. (The earlier rule shrank it greedily and weighed each member by the columns it covers:
  for the hetero workflow's low-BMI-only user, tests/compat/scripts/workflow_hetero.py, it ended
  on two columns without body mass index, where high-BMI learnwares look as close as low-BMI ones,
  and mixed one low- and two high-BMI learnwares at 0.71 against the best single's 0.55.)
* on the frame, as for a single heterogeneous match (dock/search/hetero.restricted_mmd2), a
  Gaussian kernel on restricted points is exactly the marginal of each distribution, columns are
  divided by the user's spread, gamma = the grid value nearest 1 / (2m); the members' weights are
  the same-space greedy simplex mixture (best_mixture; two members in closed form);
* the mixture is reported only when it beats the best single member ON THE FRAME by the
  same-space rule (`mixture_is_worth_it`) AND by at least MIN_GAIN in score there: learnwares
  fitted on samples of one population mix into a slightly closer embedding (their reduced sets'
  noise averages out), which is no advice;
* its score is the best match's own score times the ratio by which the mixture explains more of
  the user's embedding on the frame (capped at 1): on a few columns every score is higher than
  the singles' own (fewer columns, no coverage discount), so the frame's score is not shown as is.

It carries each member's column mapping (`Mixture.hetero`, None for a same-space member), which
reuse needs to align the members (HeteroAlignReuser(mappings=...), the compat hetero market).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from dock.search.hetero_space import unit_gram
from dock.search.mixture import DenseGram, best_mixture
from dock.search.query import Match, Mixture
from dock.search.scores import mixture_is_worth_it, score_from_mmd2

log = logging.getLogger(__name__)

MIN_FRAME = 2  # fewer shared columns compare almost nothing (dock/search/hetero.py MIN_PAIRS too)
MAX_CANDIDATES = 8
# The least gain in the score on the frame. The same-space rule asks 0.02 at most; here specs are
# compared on two to five columns, where noise counts more: in the hetero workflow a mixture of
# low- and high-BMI learnwares explains an every-BMI user 0.94-0.97 of its embedding on the frame
# against 0.75-0.83 for the best single (gains 0.14-0.22), while for a low-BMI-only user mixing
# learnwares of one group gains 0.01-0.02 there.
MIN_GAIN = 0.05


def _pairs(match: Match, user_dim: int) -> dict[int, int]:
    """user column -> learnware column (a same-space match: every column to itself)."""
    if match.hetero is None:
        return {u: u for u in range(user_dim)}
    return {int(u): int(l_) for u, l_ in match.hetero["pairs"]}


def frame_members(members: list[Match], user_dim: int) -> tuple[list[int], list[dict[int, int]], list[int]]:
    """(indices into members, their pairings, the frame's user columns) by the rule above."""
    pool: list[int] = []
    pairings: list[dict[int, int]] = []
    frame: list[int] = []
    for j, match in enumerate(members[:MAX_CANDIDATES]):
        pairs = _pairs(match, user_dim)
        if not pool:
            pool, pairings, frame = [j], [pairs], sorted(pairs)
            continue
        shared = [u for u in frame if u in pairs]
        if len(pool) == 1 and len(shared) >= MIN_FRAME:
            frame = shared
        if shared == frame:
            pool.append(j)
            pairings.append(pairs)
    return pool, pairings, frame


def cross_space_mixture(index, user, members: list[Match], user_dim: int, points_of) -> Mixture | None:
    """members: the merged ranking (best first); user: hetero._Columns of the query; points_of(row,
    width) -> the member's _Columns (points) or None."""
    from specs.kernels import grid_gamma

    pool, pairings, cols = frame_members(members, user_dim)
    if len(pool) < 2 or all(members[j].hetero is None for j in pool):
        return None  # no other-space member: the same-space mixture (if any) stands
    gamma = grid_gamma(1.0 / (2.0 * len(cols)))
    blocks, weights, kept = [user.z[:, cols]], [user.beta], []
    for j, pairs in zip(pool, pairings, strict=True):
        match = members[j]
        width = user_dim if match.hetero is None else int(match.hetero["learnware_dim"])
        lw = points_of(index.row_of[match.id], width)
        if lw is None:
            continue
        blocks.append(lw.z[:, [pairs[u] for u in cols]])
        weights.append(lw.beta)
        kept.append(j)
    if len(kept) < 2:
        return None
    # Centred on the user's means, in units of 1 / sqrt(gamma) user spreads (hetero.restricted_mmd2).
    scale = user.marginals[cols, 1]
    Z = np.vstack(blocks)
    Z -= user.marginals[cols, 0]
    Z *= math.sqrt(gamma) / np.where(scale > 1e-12, scale, 1.0)
    K = unit_gram(Z)
    W = np.zeros((Z.shape[0], len(weights)))  # column 0: the user; then one column per member
    at = 0
    for i, b in enumerate(weights):
        W[at:at + len(b), i] = b
        at += len(b)
    M = W.T @ (K @ W)
    self_q, cross, gram = float(M[0, 0]), M[0, 1:], M[1:, 1:]
    singles = np.maximum(gram.diagonal() - 2.0 * cross + self_q, 0.0)
    order = np.argsort(singles, kind="stable")  # best_mixture expects the best single first
    if len(kept) == 2:  # the common case, in closed form (best_mixture's general QP costs ~0.1 ms)
        flip = slice(None) if order[0] == 0 else slice(None, None, -1)  # order is [0, 1] or [1, 0]
        idx, w, value = _pair_mixture(gram[flip, flip], cross[flip], self_q)
    else:
        idx, w, value = best_mixture(DenseGram(gram[np.ix_(order, order)]), cross[order], self_q)
    best_mmd2 = float(singles[order[0]])
    on_frame, best_on_frame = score_from_mmd2(value, self_q), score_from_mmd2(best_mmd2, self_q)
    if len(idx) < 2 or not mixture_is_worth_it(value, best_mmd2, self_q) or on_frame - best_on_frame < MIN_GAIN:
        return None
    picked = [members[kept[int(order[i])]] for i in idx]
    w = np.asarray(w, np.float64) / max(float(np.sum(w)), 1e-12)
    score = min(1.0, members[0].score * on_frame / max(best_on_frame, 1e-12))
    log.debug("cross-space mixture of %d on %d common columns: %.3f there (best single %.3f), shown %.3f",
              len(picked), len(cols), on_frame, best_on_frame, score)
    return Mixture([m.id for m in picked], [float(x) for x in w], float(score), float(value),
                   [m.semantic_spec for m in picked], hetero=[m.hetero for m in picked])


def _pair_mixture(G: np.ndarray, c: np.ndarray, self_q: float):
    """best_mixture for two candidates: w in [0, 1] minimising |w mu_0 + (1 - w) mu_1 - mu_u|^2,
    a parabola in w; (indices by weight, weights, residual MMD^2)."""
    # plain floats: at 2 x 2, numpy's per-call cost was most of this function's
    (g00, g01), (g10, g11) = G.tolist()
    c0, c1 = c.tolist()
    a = g00 - 2.0 * g01 + g11  # |mu_0 - mu_1|^2
    w = min(max((g11 - g01 - c1 + c0) / a, 0.0), 1.0) if a > 1e-300 else 1.0
    v = 1.0 - w
    value = max((w * g00 + v * g10) * w + (w * g01 + v * g11) * v - 2.0 * (w * c0 + v * c1) + self_q, 0.0)
    if w in (0.0, 1.0):
        return [0 if w == 1.0 else 1], [1.0], value
    return ([0, 1], [w, 1.0 - w], value) if w >= 0.5 else ([1, 0], [1.0 - w, w], value)
