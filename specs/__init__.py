"""lwdock: specifications (semantic spec, RKME statistical specs).

Pure computation; imports nothing of the rest of the project. Exports are lazy (PEP 562) so
that `import specs` costs almost nothing: numpy is imported on first use of a statistical
name, and scipy, scikit-learn and torch are never imported by this package's table path; torch
only when an image or text spec is fitted (or raw inputs are embedded).
"""

from __future__ import annotations

import importlib

from .errors import MissingExtraError, SpecError

# public name -> submodule that defines it
_EXPORTS = {
    "generate_stat_spec": "api",
    "require_extra": "api",
    "load_spec": "api",
    "spec_from_bytes": "api",
    "generate_semantic_spec": "semantic",
    "validate_semantic_spec": "semantic",
    "SEMANTIC_FIELDS": "semantic",
    "SemanticView": "semantic",
    "RKMETableSpecification": "table",
    "RKMEImageSpecification": "image",  # loading/comparing needs numpy only; fitting imports torch
    "RKMETextSpecification": "text",  # fitting imports sentence-transformers (offline model)
    "solve_simplex_qp": "simplex_qp",
    "mmd2": "kernels",
    "spec_class": "registry",
    "known_spec_types": "registry",
}

__all__ = ["SpecError", "MissingExtraError", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'specs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *__all__})
