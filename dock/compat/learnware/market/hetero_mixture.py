"""The "hetero" market's multi-learnware result: a mixture of learnwares of other feature spaces.

The reference maps every table into one learned column space and runs its mixture search there, so
its hetero market reports `get_multiple_results()` like the easy one (its hetero workflow reuses
`get_multiple_results()[0].learnwares`). lwdock's Dock.search proposes mixtures within one feature
space only; here, over the heterogeneous single matches of one search (each carrying its column
pairing):

* the columns compared are the user's columns that EVERY member of the candidate set feeds (its
  pairing maps them to one of its inputs); with a Gaussian kernel, keeping only those columns of
  RKME points is exactly the marginal of the distributions they summarise, so user and learnwares
  are compared on one common space, each column divided by the user's spread there and under the
  gamma of dock/search/hetero.py's restricted MMD (the grid value nearest 1 / (2 m));
* candidates: the best single match, the next one (by score) that feeds at least MIN_COMMON of the
  same user columns (those shared columns are then fixed), and every later one (of the best
  MAX_CANDIDATES) that feeds all of them: a member is never allowed to shrink the comparison;
* weights: lwdock's own greedy simplex mixture (dock/search/mixture.py), and the mixture is
  reported only when `mixture_is_worth_it` holds against the best single member ON THE SAME
  COLUMNS (the rule of the same-space search, issue 15: a clipped-score gain) AND it gains at least
  MIN_GAIN there: learnwares fitted on samples of one population mix into a slightly closer
  embedding (their reduced sets' noise averages out), which is no advice;
* its score is the best single member's score times the ratio by which the mixture explains more
  of the user's embedding on the common columns (dock/search/scores.py's score there), capped at 1.

When Dock.search itself returns a mixture, the market reports that one instead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TABLE_SPEC = "RKMETableSpecification"
MIN_COMMON = 2  # fewer shared columns compare almost nothing (dock/search/hetero.py MIN_PAIRS too)
MAX_CANDIDATES = 8
# The least gain in the score on the common columns. The same-space rule asks 0.02 at most; here the
# specs are compared on two or three columns, where noise counts more: in the hetero workflow, a
# mixture of learnwares of low and of high body mass index explains an every-BMI user 0.94-0.97 of
# its embedding there against 0.75-0.83 for the best single (gains 0.14-0.22), while for a user of
# low BMI only, mixing two low-BMI learnwares gains 0.01-0.02 (their reduced sets' noise averaging).
MIN_GAIN = 0.05


def _pairs(match) -> dict[int, int] | None:
    """user column -> learnware column of a single match (same-space: every column to itself)."""
    if match.hetero is not None:
        return {int(u): int(lc) for u, lc in match.hetero.get("pairs", ())}
    return None


def hetero_mixture(dock, user_spec, matches) -> tuple[list[str], list[float], float] | None:
    """(ids, weights, score) of a worthwhile mixture of `matches` (Dock.search's single matches,
    best first), or None (see the module docstring)."""
    from dock.search.mixture import DenseGram, best_mixture
    from dock.search.scores import mixture_is_worth_it, score_from_mmd2
    from specs.hetero import column_marginals
    from specs.kernels import grid_gamma

    if getattr(user_spec, "type", None) != TABLE_SPEC or len(matches) < 2:
        return None
    dim = int(np.asarray(user_spec.z).shape[1])
    pool: list[tuple[Any, dict[int, int]]] = []
    common: list[int] = []
    for match in matches[:MAX_CANDIDATES]:
        pairs = _pairs(match)
        if pairs is None:  # a same-space match: its columns are the user's
            pairs = {i: i for i in range(dim)}
        if not pool:
            pool, common = [(match, pairs)], sorted(pairs)
            continue
        shared = [u for u in common if u in pairs]
        if len(pool) == 1 and len(shared) >= MIN_COMMON:
            common = shared  # the best single and the next that shares enough fix the columns
        if shared == common:  # later members must feed all of them
            pool.append((match, pairs))
    if len(pool) < 2:
        return None
    zu = np.asarray(user_spec.z, np.float64)
    bu = np.asarray(user_spec.beta, np.float64)
    scale = column_marginals(zu, bu)[common, 1]
    scale = np.where(scale > 1e-12, scale, 1.0)
    gamma = grid_gamma(1.0 / (2.0 * len(common)))
    sides = [(zu[:, common] / scale, bu)]
    for match, pairs in pool:
        spec = dock.get_stat_specs(match.id).get(TABLE_SPEC)
        if spec is None:
            return None
        z = np.asarray(spec.z, np.float64)
        sides.append((z[:, [pairs[u] for u in common]] / scale, np.asarray(spec.beta, np.float64)))

    def ksum(a, b) -> float:
        (za, wa), (zb, wb) = a, b
        d2 = np.maximum((za ** 2).sum(1)[:, None] + (zb ** 2).sum(1)[None, :] - 2.0 * za @ zb.T, 0.0)
        return float(wa @ np.exp(-gamma * d2) @ wb)

    n = len(pool)
    self_q = ksum(sides[0], sides[0])
    c = np.array([ksum(sides[0], sides[i + 1]) for i in range(n)])
    G = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            G[i, j] = G[j, i] = ksum(sides[i + 1], sides[j + 1])
    single_mmd2 = np.maximum(np.diag(G) - 2.0 * c + self_q, 0.0)
    order = np.argsort(single_mmd2, kind="stable")  # best single on the common columns first
    chosen, weights, mixture_mmd2 = best_mixture(DenseGram(G[np.ix_(order, order)]), c[order], self_q)
    best_mmd2 = float(single_mmd2[order[0]])
    gain = score_from_mmd2(mixture_mmd2, self_q) - score_from_mmd2(best_mmd2, self_q)
    if len(chosen) < 2 or not mixture_is_worth_it(mixture_mmd2, best_mmd2, self_q) or gain < MIN_GAIN:
        return None
    members = [pool[int(order[i])][0] for i in chosen]
    best_single = max(float(m.score) for m, _ in pool)
    # On the common columns the scores are higher than the singles' own (fewer columns, no coverage
    # discount): the mixture is shown as the best single's score times the ratio it gains there.
    score = min(1.0, best_single * score_from_mmd2(mixture_mmd2, self_q) / max(score_from_mmd2(best_mmd2, self_q),
                                                                               1e-12))
    log.info("hetero mixture of %d on %d common columns: %.3f of the user explained there (best single %.3f)",
             len(members), len(common), score_from_mmd2(mixture_mmd2, self_q), score_from_mmd2(best_mmd2, self_q))
    return [m.id for m in members], [float(w) for w in weights], float(score)
