"""The similarity score shown to people, and when a mixture is worth recommending.

What it is, and what it is not: a similarity of INPUT distributions. It compares the user's rows
with the learnware's training rows and never sees a label, so it cannot predict quality: a digits
6-9 recogniser scores 0.86 on digits 0-5 and gets every row wrong. It is shown as "similarity"
(never "match"), in one neutral colour; the measured accuracy / RMSE on the user's labelled rows
comes from the preview (dock/reuse/preview.py).

Score = the fraction of the user's kernel mean embedding that a learnware (or a mixture)
explains, like an R^2:

    score = clip(1 - MMD^2(user, learnware) / |mu_user|^2, 0, 1)
          = clip(1 - |mu_u - mu_l|^2 / |mu_u|^2, 0, 1)

with every term under the user's gamma (|mu_u|^2 = b'K(z,z)b of the user's own RKME).
Why this one (evidence in benchmarks/README.md, "Search: scores"):
* |mu_u - 0|^2 = |mu_u|^2, so score 0 means "no better than predicting nothing": any
  learnware farther from the user's embedding than the zero function gets 0. With a Gaussian
  kernel every cross term is >= 0, so a learnware with no overlap at all has MMD^2 >= |mu_u|^2
  and scores exactly 0 whatever its own concentration. The old `1 - MMD/sqrt(2)` gave such
  learnwares anything from 0.2 to 0.55 depending on how diffuse they were.
* 1 means identical embeddings; random halves of one dataset score 0.91-0.997 (sampling
  noise, larger for smaller data), disjoint class subsets 0-0.85, different datasets 0.
* It is a strictly decreasing function of MMD^2 for a given query, so the ranking by MMD^2
  and the ranking by score agree, and it depends only on the pair (not on the other results
  or the market's size), unlike the reference's relative score.
* A mixture is scored by the same formula with its mixed embedding: the mixture's QP
  minimises exactly the residual MMD^2, so the mixture score is the R^2 it achieves.
"""

from __future__ import annotations

import numpy as np

# A mixture is recommended only if it explains clearly more than the best single learnware:
# its residual MMD^2 is at most (1 - MIXTURE_RELATIVE_GAIN) x the best single's, AND its
# score is at least MIXTURE_MIN_SCORE_GAIN higher. The first stops near-ties (a mixture can
# always fit noise a little better); the second stops "improvements" nobody would notice
# when the best single already explains ~everything.
MIXTURE_RELATIVE_GAIN = 0.10
MIXTURE_MIN_SCORE_GAIN = 0.02
# ... or, when the best single leaves less than 4 x that unexplained, a quarter of what it leaves,
# but never under MIXTURE_FLOOR_SCORE_GAIN. Text embeddings share a large common direction, so
# every text spec scores 0.94-0.98 against every other and a mixture that halves the mismatch
# gains only ~0.01 (benchmarks/README.md, "Image and text learnwares"): an absolute 0.02 hid every
# text mixture. The floor keeps a 3% contamination of a near-perfect match (score 0.998) single.
MIXTURE_ROOM_SHARE = 0.25
MIXTURE_FLOOR_SCORE_GAIN = 0.005


def scores_from_mmd2(mmd2, self_query: float) -> np.ndarray:
    """Score of each MMD^2 (array) for a query whose own embedding has squared norm self_query."""
    return np.clip(1.0 - np.asarray(mmd2, np.float64) / self_query, 0.0, 1.0)


def score_from_mmd2(mmd2: float, self_query: float) -> float:
    """scores_from_mmd2 of one value, in plain floats (numpy's scalar path costs ~4 us a call, and a
    heterogeneous search makes several per query); the same IEEE operations, so the same result."""
    if self_query:
        x = 1.0 - float(mmd2) / float(self_query)
        return min(max(x, 0.0), 1.0) if x == x else x
    return float(scores_from_mmd2(mmd2, self_query))


def mixture_is_worth_it(mixture_mmd2: float, best_single_mmd2: float, self_query: float) -> bool:
    # The gain is measured on the scores people see (clipped to [0, 1]): a mixture whose score is 0,
    # like every single's, explains nothing more, however much lower its unclipped MMD^2 (issue 15:
    # a 5-learnware "mixture" with score 0.0 was reported for a degenerate query).
    single_score = score_from_mmd2(best_single_mmd2, self_query)
    gain = score_from_mmd2(mixture_mmd2, self_query) - single_score
    room = 1.0 - single_score
    needed = max(MIXTURE_FLOOR_SCORE_GAIN, min(MIXTURE_MIN_SCORE_GAIN, MIXTURE_ROOM_SHARE * room))
    return mixture_mmd2 <= (1.0 - MIXTURE_RELATIVE_GAIN) * best_single_mmd2 and gain >= needed
