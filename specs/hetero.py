"""Column meaning for heterogeneous tables: the versioned `lwdock.columns` field and per-column
value statistics read from RKME points.

A table learnware says what its columns mean in its semantic spec's `Input.Description`
({"0": "mean radius", ...}, Beimingwu's shape). The optional field

    "Input": {"Dimension": d, "Description": {...},
              "lwdock.columns": {"version": 1, "source": "header" | "edited" | "given"}}

says that those descriptions were meant as column meanings (taken from the data file's header,
then maybe edited), so a dock may match them against another table's columns. It carries no
numbers: the description embeddings are computed by every node itself with the shipped text
embedder, and the value statistics come from the record's own RKME points (`column_marginals`),
so nothing extra about the publisher's data leaves their machine. Records without the field
(older ones) are still accepted, and take part in heterogeneous search when every column has a
non-placeholder description. Pure numpy; imports nothing of the rest of the project.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .errors import SpecError

FIELD = "lwdock.columns"
FIELD_VERSION = 1
SOURCES = ("header", "edited", "given")
QUANTILES = (0.1, 0.5, 0.9)
# Descriptions that say nothing about a column ("0", "x3", "feature 7", "col_2", "") do not count.
_PLACEHOLDER = re.compile(r"^\s*(?:(?:feature|feat|column|col|var|variable|attr|attribute|x|f|v)?[\s_#-]*\d+)?\s*$",
                          re.IGNORECASE)


def check_columns_field(value: Any, dimension: int | None = None) -> dict:
    """The `lwdock.columns` field, checked: a dict {"version": 1, "source": one of SOURCES}.
    A later version is accepted as it is (a newer publisher; this dock then ignores it); anything
    malformed is a SpecError saying what is wrong."""
    where = f"Input.{FIELD}"
    if not isinstance(value, dict):
        raise SpecError(f"{where}: {value!r} is not allowed; expected {{'version': 1, 'source': 'header'}}")
    version = value.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SpecError(f"{where}.version: {version!r} is not allowed; expected a positive integer (this dock "
                        f"writes {FIELD_VERSION})")
    if version > FIELD_VERSION:
        return dict(value)
    unknown = sorted(set(value) - {"version", "source"})
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} for version 1; "
                        "allowed: 'version', 'source'")
    source = value.get("source", "given")
    if source not in SOURCES:
        raise SpecError(f"{where}.source: {source!r} is not allowed; expected one of {', '.join(SOURCES)}")
    return {"version": version, "source": source}


def is_placeholder(description: str) -> bool:
    return bool(_PLACEHOLDER.match(description or ""))


def column_descriptions(semantic_spec: dict | None) -> list[str] | None:
    """The Input's column descriptions in column order, when every column has a meaningful one
    (and a well-formed `lwdock.columns` field if present); None otherwise."""
    block = (semantic_spec or {}).get("Input")
    if not isinstance(block, dict):
        return None
    try:
        dim = int(block.get("Dimension"))  # type: ignore[arg-type]  # None -> TypeError, handled
    except (TypeError, ValueError):
        return None
    desc = block.get("Description")
    if dim < 1 or not isinstance(desc, dict):
        return None
    if FIELD in block:
        try:
            if check_columns_field(block[FIELD], dim)["version"] > FIELD_VERSION:
                return None
        except SpecError:
            return None
    out = []
    for i in range(dim):
        text = desc.get(str(i))
        if not isinstance(text, str) or is_placeholder(text):
            return None
        out.append(" ".join(text.split()))
    return out


def input_block(descriptions: list[str], source: str = "header") -> dict:
    """A semantic spec's Input block for these column descriptions (what pack and the user side write)."""
    if source not in SOURCES:
        raise SpecError(f"source must be one of {SOURCES}, got {source!r}")
    return {"Dimension": len(descriptions), "Description": {str(i): str(d) for i, d in enumerate(descriptions)},
            FIELD: {"version": FIELD_VERSION, "source": source}}


def column_marginals(z, beta) -> np.ndarray:
    """(d, 2 + len(QUANTILES)) per-column statistics of an RKME's weighted points: weighted mean,
    weighted std, then weighted quantiles. Computed the same way for learnwares and users, so the
    shrinkage of reduced-set points affects both sides alike."""
    Z = np.asarray(z, dtype=np.float64)
    b = np.clip(np.asarray(beta, dtype=np.float64), 0.0, None)
    b = b / b.sum() if b.sum() > 0 else np.full(len(b), 1.0 / max(len(b), 1))
    mean = b @ Z
    std = np.sqrt(np.maximum(b @ (Z - mean) ** 2, 0.0))
    order = np.argsort(Z, axis=0, kind="stable")
    sorted_z = np.take_along_axis(Z, order, axis=0)
    cum = np.cumsum(b[order], axis=0)  # (K, d): weight up to each sorted point, per column
    cols = np.arange(Z.shape[1])
    qs = [sorted_z[np.minimum((cum < q).sum(axis=0), len(b) - 1), cols] for q in QUANTILES]
    return np.column_stack([mean, std, *qs])


def weighted_column_mean(z, beta) -> np.ndarray:
    """The spec's estimate of each column's mean (the imputation rule's fallback)."""
    return column_marginals(z, beta)[:, 0]
