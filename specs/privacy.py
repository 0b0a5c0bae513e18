"""The "private" table spec method: reduced points that are never copies or near-copies of rows.

A plain RKME fit publishes its rows verbatim when K >= n (the k-means start is the rows
themselves) and, below that, points closer to some training row than rows are to each other;
an attacker holding the spec then tells members from non-members (benchmarks/spec_privacy.py:
AUC 1.00 on wine, 0.85 on breast cancer, 0.69 on digits). Method "private", version 2 (the
default for table specs, and for image specs on their embedder's features; opt-in for text):
  1. K is capped at ceil(sqrt(n)) (at least 1 point): each reduced point stands for about
     sqrt(n) rows, never for one. (Version 1 capped at 3% of n: private enough, but 6 points
     for a 200-row table lost 2.4 points of JobSelector accuracy on the digits market.)
  2. Every point gets Gaussian noise, per feature std = min(the table's std, 3 x the std of the
     point's own rows (its cell)) / sqrt(rows in the cell): about the sampling error of the cell's
     mean, which drowns the pull one member row has on its point (measured: the nearest-point
     attacker falls from 0.61-0.63 to <= 0.60 at sqrt(n) points). The cap keeps groups that lie
     far apart (where the table's std is the distance between them) from being blurred together.
  3. After that, every reduced point closer than the spacing r to its nearest training row
     is moved out radially from that row to distance r, repeated until none is closer (or
     MAX_PUSH_PASSES); r = MIN_DISTANCE_RATIO x the median distance from a row to its nearest
     other row (measured on a seeded sample of rows against all rows).
  4. beta is refitted (simplex QP) for the moved points, so the spec stays the best weighting
     of its points for the data.
A table needs MIN_ROWS rows for this (below that, a point would stand for a handful of rows):
fewer is refused (SmallTableError) unless the caller passes allow_small=True, which fits the
same way and records "small": 1. Never a silent copy of rows.
This is an empirical protection measured by the harness, NOT differential privacy: it bounds
how close a published point sits to any row, not what an unbounded attacker can infer.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from .kernels import gaussian_kernel, sq_dists
from .rkme_fit import data_terms, fit_rkme, small_fit_threads, solve_beta

log = logging.getLogger(__name__)

METHOD = "private"
METHOD_VERSION = 2
METHODS = ("none", METHOD)
DEFAULT_METHOD = METHOD  # what a table fit uses when the caller says nothing
MIN_ROWS = 50
NOISE_SCALE = 1.0
LOCAL_NOISE_CAP = 3.0
NOISE_SEED_OFFSET = 1  # the noise stream is not the fit's k-means stream
MIN_DISTANCE_RATIO = 1.0
MAX_PUSH_PASSES = 20
SPACING_SAMPLE_ROWS = 1000
SPACING_SEED = 0
_CHUNK_ELEMS = 4_000_000


# Per-kind settings. Documents (text specs: 384-d sentence embeddings) leak more than tables at the
# table settings: nearest-point attacker 0.694 with sqrt(n) points (benchmarks/spec_privacy.py
# --features). ceil(n ** 0.25) points bring every attacker to <= 0.60 (nearest 0.584, ratio 1.03);
# more noise alone did not (3x: 0.626), and pushing points 1.5 row spacings out did (cbrt: 0.584)
# but then search found the right topic for 0.21 of users (plain 0.96, n ** 0.25: 0.67). Tables and
# image features keep "sqrt". Text specs stay plain by default for that search cost (docs/SECURITY.md).
POINT_RULES: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt, "cbrt": lambda n: n ** (1 / 3), "quart": lambda n: math.sqrt(math.sqrt(n))}
TEXT_POINTS, TEXT_MIN_RATIO = "quart", 1.0


def private_k(K: int, n: int, points: str = "sqrt") -> int:
    """The number of points a private spec of n rows uses: min(K, ceil(sqrt(n))) (points "sqrt"), or
    ceil of the cube ("cbrt") or fourth ("quart") root of n, >= 1."""
    return max(1, min(K, int(np.ceil(POINT_RULES[points](n)))))


def check_enough_rows(n: int, allow_small: bool, items: str = "rows") -> None:
    """SmallTableError when n rows (items: "rows", "images", "documents") are too few for a private
    spec and the caller did not allow it."""
    from .errors import SmallTableError

    if n < MIN_ROWS and not allow_small:
        raise SmallTableError(
            f"{n} {items} are too few for a private spec (it needs at least {MIN_ROWS}: each published point "
            f"must stand for several {items}); pass --allow-small (API: allow_small=True) to make one anyway, "
            f"or --privacy none (privacy=\"none\") for a plain spec that can reveal your {items}")


def noise_points(z: np.ndarray, X: np.ndarray, seed: int) -> np.ndarray:
    """z plus Gaussian noise: for each point and feature, std = min(NOISE_SCALE x the table's std,
    LOCAL_NOISE_CAP x the std of the rows nearest to that point (its cell)) / sqrt(rows in the cell),
    i.e. the sampling error of the cell's mean. The table-wide part is what holds every attacker
    at <= 0.60 (a cell-only noise let iris reach 0.61); the cap keeps data in separate groups apart,
    where the table's std is the distance between groups. A cell of fewer than 2 rows takes the
    table's std / sqrt(rows per point)."""
    cell, _ = nearest_rows(X, z)
    table_std = NOISE_SCALE * X.std(axis=0)
    std = np.empty_like(z)
    for j in range(z.shape[0]):
        rows = X[cell == j]
        if len(rows) >= 2:
            std[j] = np.minimum(table_std, LOCAL_NOISE_CAP * rows.std(axis=0)) / np.sqrt(len(rows))
        else:
            std[j] = table_std / np.sqrt(X.shape[0] / z.shape[0])
    rng = np.random.default_rng(seed + NOISE_SEED_OFFSET)
    return z + rng.normal(size=z.shape) * std


def nearest_rows(P: np.ndarray, X: np.ndarray, exclude: np.ndarray | None = None):
    """For each point of P: (index of its nearest row of X, squared distance), X in chunks.
    exclude[i] = a row index P[i] must not be matched with (itself, when P is a sample of X)."""
    best = np.full(P.shape[0], np.inf)
    arg = np.zeros(P.shape[0], dtype=np.int64)
    chunk = max(1, _CHUNK_ELEMS // max(P.shape[0], 1))
    for start in range(0, X.shape[0], chunk):
        D = sq_dists(P, X[start : start + chunk])
        if exclude is not None:
            local = exclude - start
            inside = (local >= 0) & (local < D.shape[1])
            D[np.flatnonzero(inside), local[inside]] = np.inf
        j = D.argmin(axis=1)
        d = D[np.arange(P.shape[0]), j]
        better = d < best
        best[better], arg[better] = d[better], j[better] + start
    return arg, np.maximum(best, 0.0)


def row_spacing(X: np.ndarray) -> float:
    """Median distance from a row to its nearest other row (seeded sample of rows, against all)."""
    n = X.shape[0]
    if n < 2:
        return 0.0
    rng = np.random.default_rng(SPACING_SEED)
    idx = np.arange(n) if n <= SPACING_SAMPLE_ROWS else np.sort(rng.choice(n, SPACING_SAMPLE_ROWS, replace=False))
    _, d2 = nearest_rows(X[idx], X, exclude=idx)
    spacing = float(np.sqrt(np.median(d2)))
    if spacing == 0.0:  # mostly duplicate rows: the typical distance between distinct ones
        positive = d2[d2 > 0]
        spacing = float(np.sqrt(np.median(positive))) if positive.size else 0.0
    return spacing


def push_away(z: np.ndarray, X: np.ndarray, radius: float, seed: int) -> np.ndarray:
    """Move every point closer than radius to a row out to radius from that row (radially)."""
    z = z.copy()
    rng = np.random.default_rng(seed)
    for attempt in range(MAX_PUSH_PASSES):
        arg, d2 = nearest_rows(z, X)
        close = np.flatnonzero(d2 < radius**2 * (1 - 1e-9))
        if close.size == 0:
            break
        away = z[close] - X[arg[close]]
        norm = np.linalg.norm(away, axis=1)
        copies = norm <= 1e-12 * max(radius, 1e-300)
        if copies.any():  # exactly on a row: no direction to push along, pick one at random
            away[copies] = rng.normal(size=(int(copies.sum()), z.shape[1]))
            norm[copies] = np.linalg.norm(away[copies], axis=1)
        # A little past radius so a point pushed off one row does not stall on its boundary; the
        # overshoot grows each pass, so a point bouncing between rows of a tight group leaves it.
        overshoot = 1.001 + 0.1 * attempt
        z[close] = X[arg[close]] + away * (radius * overshoot / norm)[:, None]
    else:
        log.info("private spec: %d point(s) still within the spacing after %d passes",
                 int((nearest_rows(z, X)[1] < radius**2 * (1 - 1e-9)).sum()), MAX_PUSH_PASSES)
    return z


def fit_private(X: np.ndarray, K: int, gamma: float, seed: int = 0, rounds: int = 5,
                z_steps: int = 5, allow_small: bool = False, points: str = "sqrt",
                min_ratio: float | None = None, items: str = "rows") -> tuple[np.ndarray, np.ndarray, dict]:
    """(z, beta, params) of a private spec of X; params are what the spec records. points and
    min_ratio (default MIN_DISTANCE_RATIO) are the per-kind settings (TEXT_POINTS, TEXT_MIN_RATIO);
    items names X's rows in the refusal ("images": the rows are image features)."""
    check_enough_rows(X.shape[0], allow_small, items)
    with small_fit_threads(X):
        return _fit_private(X, K, gamma, seed, rounds, z_steps, points,
                            MIN_DISTANCE_RATIO if min_ratio is None else min_ratio)


def _fit_private(X: np.ndarray, K: int, gamma: float, seed: int, rounds: int, z_steps: int, points: str,
                 min_ratio: float):
    n = X.shape[0]
    k = private_k(K, n, points)
    z, _, _ = fit_rkme(X, k, gamma, seed=seed, rounds=rounds, z_steps=z_steps)
    z = noise_points(z, X, seed)
    radius = min_ratio * row_spacing(X)
    if radius > 0:
        z = push_away(z, X, radius, seed)
    c, _ = data_terms(z, X, gamma)
    beta = solve_beta(gaussian_kernel(z, z, gamma), c)
    params = {"method": METHOD, "version": METHOD_VERSION, "points": points, "noise": NOISE_SCALE,
              "noise_cap": LOCAL_NOISE_CAP,
              "min_ratio": min_ratio, **({"small": 1} if n < MIN_ROWS else {})}
    return z, beta, params


def reveals(spec) -> str:
    """One line saying what a published spec discloses about the rows (or items) that made it."""
    K, n = int(spec.z.shape[0]), int(spec.num_points)
    kind = getattr(spec, "kind", "table")
    items = {"image": "images", "text": "documents"}.get(kind, "rows")
    space = f" in the {spec.embedder} feature space" if getattr(spec, "embedder", None) else ""
    record = getattr(spec, "privacy", None)
    if record and record.get("method") == METHOD:
        if record.get("small"):
            return (f"reveals: {K} noised points{space} summarising only {n} {items}, none nearer to one of "
                    f"them than they are to each other; under {MIN_ROWS} {items} a point stands for few of "
                    "them, so membership is easier to guess")
        measured = ("the nearest-point attacker still reaches AUC 0.69 on document features"
                    if kind == "text" and record.get("points") != TEXT_POINTS  # made before the text settings
                    else "membership attacks measured at AUC <= 0.60")  # benchmarks/README.md "Spec privacy"
        return (f"reveals: {K} noised points{space} summarising {n} {items}, none nearer to one of them than "
                f"they are to each other ({measured}; not differential privacy)")
    if n and K >= n:
        if space:  # the embedder is public: anyone holding a candidate item computes its features too
            return (f"reveals: the features of your {n} {items} themselves{space} (a plain spec with K >= "
                    f"{items}): anyone holding one of them can tell it was used")
        return (f"reveals: your {n} {items} themselves (a plain spec with K >= {items}): "
                "anyone who gets it holds them")
    return (f"reveals: {K} points{space} fitted to {n or 'an unknown number of'} {items} (a plain spec): "
            "some may be near-copies of them")


# ----- the record a spec carries: {"method": str, "version": int, <parameters>} -----

PRIVACY_WIRE_KEY = "pr"  # "p" is taken: image/text specs put their gamma policy there
_MAX_RECORD_ENTRIES = 8
_MAX_NAME_CHARS = 32


def check_privacy_method(privacy) -> str:
    """The method a fit was asked for: None -> the default ("private"), "none" -> "none" (a plain spec),
    "private" -> "private"; else SpecError."""
    from .errors import SpecError

    if privacy is None:
        return DEFAULT_METHOD
    if not isinstance(privacy, str) or privacy not in METHODS:
        raise SpecError(f"privacy: {privacy!r} is not allowed; expected one of {', '.join(METHODS)}")
    return privacy


def check_privacy_record(record) -> dict | None:
    """Validate the privacy record of a decoded spec (it comes from strangers). None stays None.

    Any method name is accepted (a newer peer may know methods this one does not: the record only
    describes how the points were made, comparison ignores it), but its shape is bounded: at most
    8 entries, short lowercase names, a "method" string and a "version" int >= 1, numeric or short
    string parameters."""
    from .errors import SpecError

    if record is None:
        return None
    if not isinstance(record, dict) or not record:
        raise SpecError(f"privacy: {record!r} is not allowed; expected an object with 'method' and 'version'")
    if len(record) > _MAX_RECORD_ENTRIES:
        raise SpecError(f"privacy: {len(record)} entries is not allowed; at most {_MAX_RECORD_ENTRIES}")
    for key, value in record.items():
        if not (isinstance(key, str) and 0 < len(key) <= _MAX_NAME_CHARS):
            raise SpecError(f"privacy: key {key!r} is not allowed; keys are strings of 1..{_MAX_NAME_CHARS} chars")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SpecError(f"privacy.{key}: {value!r} is not allowed; expected a number or a string")
        if isinstance(value, float) and not math.isfinite(value):  # numpy's costs ~1 us a call
            raise SpecError(f"privacy.{key}: {value!r} is not allowed; numbers must be finite")
        if isinstance(value, str) and len(value) > _MAX_NAME_CHARS:
            raise SpecError(f"privacy.{key}: a string of {len(value)} chars is not allowed; at most {_MAX_NAME_CHARS}")
    method, version = record.get("method"), record.get("version")
    if not isinstance(method, str) or not method:
        raise SpecError(f"privacy.method: {method!r} is not allowed; expected a non-empty string")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SpecError(f"privacy.version: {version!r} is not allowed; expected an int >= 1")
    return dict(record)
