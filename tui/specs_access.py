"""The things the TUI needs from specs, through `dock`'s re-exports (tui imports only dock).

Imported lazily, inside the functions: the specs modules load numpy on first use.
"""

from __future__ import annotations

from typing import Any

# The semantic spec's fields that the TUI offers as choices (Name/Description are free text).
_FIELD_NAMES = ("Data", "Task", "Library", "Scenario", "License")


def semantic_choices() -> dict[str, list[str]]:
    """Allowed values of each Class/Tag field of the semantic spec, in the spec's own order."""
    from dock import SEMANTIC_FIELDS

    return {key: list(SEMANTIC_FIELDS[key]["Values"] or []) for key in _FIELD_NAMES}


def stat_spec_from_table(X, *, K: int = 100, seed: int = 0) -> Any:
    """An RKME table spec of the user's rows (slow: run it in a worker)."""
    from dock import generate_stat_spec

    return generate_stat_spec(type="table", X=X, K=K, seed=seed)


def stat_spec_from_data(kind: str, X, *, K: int = 100, seed: int = 0, allow_small: bool = False) -> Any:
    """An RKME spec of the user's data of that kind: "table" (rows), "image" (N, H, W) or
    (N, C, H, W) images, "text" (a list of documents). Slow (image and text ones import torch and
    their embedder on first use): run it in a worker. A table too small for a private spec raises
    SmallTableError unless allow_small."""
    from dock import generate_stat_spec

    return generate_stat_spec(type=kind, X=X, K=K, seed=seed, allow_small=allow_small)


def load_stat_spec(path_or_dict) -> Any:
    """A statistical spec from a JSON file (ours or the reference package's) or its dict."""
    from dock import load_spec

    return load_spec(path_or_dict)
