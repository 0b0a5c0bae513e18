"""Input checks shared by the statistical specs: each failure is a SpecError that names the key,
the bad value and what is allowed, and for data says how to fix it."""

from __future__ import annotations

import math
import operator

import numpy as np

from .errors import SpecError


def as_table_data(X) -> np.ndarray:
    """X as a finite float64 (n >= 2, d >= 1) array, or SpecError saying what is wrong and how to fix it."""
    if X is None:
        raise SpecError("X: missing; pass a 2-D array of numbers (rows x features)")
    try:
        raw = np.asarray(X)  # pandas DataFrames and lists of lists convert here
    except Exception as e:  # ragged nesting
        raise SpecError(f"X must be numeric, a 2-D array of numbers (rows x features); {e}") from e
    if raw.dtype.kind in "cmM":
        raise SpecError(f"X must be numeric (real numbers); got dtype {raw.dtype}")
    try:
        A = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError) as e:
        raise SpecError(f"X must be numeric, a 2-D array of numbers (rows x features); {e}") from e
    if A.ndim == 0:
        raise SpecError(f"X is a single value ({A!r}); table data must be 2-D (rows x features)")
    if A.ndim == 1:
        raise SpecError(
            f"X has shape {A.shape}; table data must be 2-D (rows x features): "
            "use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one row"
        )
    if A.ndim > 2:
        raise SpecError(
            f"X has shape {A.shape}; table data is 2-D (rows x features); "
            "flatten each sample first, e.g. X.reshape(len(X), -1)"
        )
    n, d = A.shape
    if n < 2:
        raise SpecError(f"X has {n} row(s); at least 2 rows are needed to describe a distribution")
    if d == 0:
        raise SpecError("X has 0 columns; at least 1 feature is needed")
    finite_rows = np.isfinite(A).all(axis=1)
    if not finite_rows.all():
        bad = np.flatnonzero(~finite_rows)
        raise SpecError(
            f"X contains NaN or inf (missing values count as NaN) in {bad.size} of {n} rows "
            f"(first: row {bad[0]}); drop or impute them first (lwdock refuses rather than silently imputing)"
        )
    return A


def check_gamma(gamma) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        g = math.nan
    if not (math.isfinite(g) and g > 0):
        raise SpecError(f"gamma: {gamma!r} is not allowed; gamma must be a finite number > 0")
    return g


def check_int(key: str, value, minimum: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        v = operator.index(value)
    except TypeError:
        raise SpecError(f"{key}: {value!r} is not allowed; {key} must be an integer >= {minimum}") from None
    if v < minimum:
        raise SpecError(f"{key}: {v} is not allowed; {key} must be an integer >= {minimum}")
    return v
