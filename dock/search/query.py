"""What a searcher brings (`UserInfo`) and what a search returns (`SearchResult`).

Shapes follow Beimingwu's so its users feel at home: `single` is a ranked list, `multiple`
is one recommended mixture with its weights. `to_client_dict()` gives the reference client's
exact dict shape for scripts.
"""

from __future__ import annotations

import copy as _copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from specs.semantic import SemanticView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserInfo:
    """A partial semantic spec and/or statistical specs of the user's own data.

    `stat_info` maps a spec type (e.g. "RKMETableSpecification", i.e. `spec.type`) to the spec.
    `id` is accepted for compatibility with the reference's BaseUserInfo and otherwise unused.
    """

    semantic_spec: dict | None = None
    stat_info: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self):
        if self.stat_info is None:
            object.__setattr__(self, "stat_info", {})

    def get_semantic_spec(self) -> dict:
        return self.semantic_spec or {}

    def get_stat_info(self, spec_type: str) -> Any:
        return self.stat_info.get(spec_type)


BaseUserInfo = UserInfo


@dataclass(frozen=True)
class Match:
    id: str
    score: float  # in [0, 1], higher is better; see docs/ARCHITECTURE.md "Scores"
    semantic_spec: dict
    mmd2: float | None = None  # None when the search had no statistical part
    text_score: float | None = None  # normalised BM25 of name + description; None without query text
    # Set when the learnware's columns differ from the user's (dock/search/hetero.py): the column
    # mapping {"pairs": [[user col, learnware col], ...], "missing": [...], "lacking": n, ...}.
    hetero: dict | None = None

    @property
    def name(self) -> str:
        return SemanticView.from_spec(self.semantic_spec).name

    def to_dict(self) -> dict:
        out = {"id": self.id, "name": self.name, "score": self.score, "mmd2": self.mmd2, "text_score": self.text_score}
        if self.hetero is not None:
            out["hetero"] = self.hetero
        return out


@dataclass(frozen=True)
class Mixture:
    ids: list[str]
    weights: list[float]
    score: float
    mmd2: float
    semantic_specs: list[dict]
    # A mixture across feature spaces (dock/search/hetero_mixture.py): each member's column
    # mapping, None for a member of the user's own space; None when every member is.
    hetero: list[dict | None] | None = None

    def to_dict(self) -> dict:
        out = {"ids": self.ids, "weights": self.weights, "score": self.score, "mmd2": self.mmd2}
        if self.hetero is not None:
            out["hetero"] = self.hetero
        return out


@dataclass(frozen=True)
class SearchResult:
    single: list[Match]
    multiple: Mixture | None = None
    # How the search ran (mode "exact" / "prefilter" / "semantic", candidates, gammas, ...):
    # for benchmarks and curious users; not part of to_dict().
    info: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "single": [m.to_dict() for m in self.single],
            "multiple": self.multiple.to_dict() if self.multiple else None,
        }

    def to_client_dict(self) -> dict:
        """The reference client's shape: {"single": {...}, "multiple": {...}}."""
        multiple = self.multiple
        return {
            "single": {
                "learnware_ids": [m.id for m in self.single],
                "semantic_specifications": [m.semantic_spec for m in self.single],
                "matching": [m.score for m in self.single],
            },
            "multiple": {
                "learnware_ids": list(multiple.ids) if multiple else [],
                "semantic_specifications": list(multiple.semantic_specs) if multiple else [],
                "matching": float(multiple.score) if multiple else 0.0,
            },
        }


# -- the query's kernel scale (issue 15) --------------------------------------------------
# A query spec carries its own gamma, and a search compares every learnware under it. A spec made by
# the reference (gamma fixed at 0.1 on raw features) can be degenerate for its own data: on digits the
# typical point's nearest other point is 60 kernel widths away (gamma x squared distance), every kernel
# value between two different points is ~0, and every learnware scored 0. The rule, on the spec's own
# points z with weights beta (no data needed, so it works on anyone's spec):
#   too sharp: gamma x (beta-weighted median over points of the squared distance to the nearest other
#     point) > QUERY_SHARP_LIMIT: the typical point sees no other point (kernel < e^-4 ~ 0.02).
#     Specs fitted under lwdock's median heuristic measure 0.002-0.6 here (digits, iris, wine, breast
#     cancer, diabetes, Gaussians of 2-200 dimensions); the reference's 0.1 measures 60 on digits,
#     19 on wine, 520 on breast cancer. Nearest neighbours, not all pairs, so a query of two far apart
#     clusters (a legitimate sharp kernel) is not mistaken for a degenerate one.
#   too flat: gamma x (beta-weighted median squared distance between distinct points) < QUERY_FLAT_LIMIT:
#     typical pairs have kernel values above e^-1/16 ~ 0.94 and the embedding barely depends on the data
#     (the reference's 0.1 on diabetes' scaled features: 0.004).
# A degenerate gamma is replaced by grid_gamma(1 / that median squared distance), the gamma lwdock's own
# fit picks for such points; any other gamma is kept, so a caller can still choose a scale on purpose.
QUERY_SHARP_LIMIT = 4.0
QUERY_FLAT_LIMIT = 1.0 / 16.0


def _weighted_median(values, weights) -> float:
    import numpy as np

    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _point_scales(z, beta) -> tuple[float, float]:
    """(weighted median squared nearest-neighbour distance, weighted median squared pair distance)."""
    import numpy as np

    from specs.kernels import sq_dists

    d2 = sq_dists(z, z)
    upper = np.triu_indices(z.shape[0], k=1)
    pair_w = np.outer(beta, beta)[upper]
    np.fill_diagonal(d2, np.inf)
    nearest = d2.min(axis=1)
    if pair_w.sum() <= 0 or beta.sum() <= 0:
        return 0.0, 0.0
    return _weighted_median(nearest, beta), _weighted_median(d2[upper], pair_w)


def query_gamma(spec) -> tuple[float, str | None]:
    """(the gamma a search should use for this query spec, why it differs from spec.gamma or None)."""
    import numpy as np

    from specs.kernels import grid_gamma

    gamma = float(spec.gamma)
    z, beta = np.asarray(spec.z, np.float64), np.asarray(spec.beta, np.float64)
    if z.ndim != 2 or z.shape[0] < 2:
        return gamma, None  # one point: nothing to measure a scale by
    nearest, median = _point_scales(z, beta)
    if not (median > 0 and math.isfinite(median)):
        return gamma, None  # all points equal
    if gamma * nearest > QUERY_SHARP_LIMIT:
        why = f"too sharp (gamma x nearest-point squared distance = {gamma * nearest:.3g})"
    elif gamma * median < QUERY_FLAT_LIMIT:
        why = f"too flat (gamma x median squared distance = {gamma * median:.3g})"
    else:
        return gamma, None
    new = grid_gamma(1.0 / median)
    return new, f"the spec's gamma {gamma:.6g} is {why} for its own points; searching with {new:.6g}"


def rescaled_query_spec(spec):
    """The spec itself, or a shallow copy with the gamma `query_gamma` picks (the caller's spec is never
    changed); the copy records the given gamma as `given_gamma`."""
    gamma, why = query_gamma(spec)
    if why is None:
        return spec
    log.info("query spec: %s", why)
    copy = _copy.copy(spec)
    copy.gamma = gamma
    copy.given_gamma = float(spec.gamma)
    return copy
