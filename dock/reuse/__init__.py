"""Reuse: running one or several loaded learnwares on the user's data.

    from dock.reuse import AveragingReuser, JobSelectorReuser, EnsemblePruningReuser, FeatureAugmentReuser

Every reuser takes a list of loaded learnwares (`Dock.load`, `LearnwareClient.load_learnware`)
and has `predict(X)`; EnsemblePruning and FeatureAugment learn from labelled rows with `fit(X, y)`
first. Each learnware keeps running in its own worker process: a reuser only sends it arrays.

Third-party reusers register under the `lwdock.reusers` entry point group (`reuser_class(name)`).
Exports are lazy so `import dock.reuse` does not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_BUILTIN = {
    "AveragingReuser": "dock.reuse.averaging",
    "JobSelectorReuser": "dock.reuse.job_selector",
    "EnsemblePruningReuser": "dock.reuse.ensemble_pruning",
    "FeatureAugmentReuser": "dock.reuse.feature_augment",
    "HeteroAlignReuser": "dock.reuse.align",
    "AlignedLearnware": "dock.reuse.align",
    "align": "dock.reuse.align",
    "ReuseError": "dock.reuse.base",
}
ENTRY_POINT_GROUP = "lwdock.reusers"

__all__ = sorted([*_BUILTIN, "reuser_class", "known_reusers"])


def known_reusers() -> list[str]:
    from importlib.metadata import entry_points

    names = {n for n in _BUILTIN if n.endswith("Reuser")}
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def reuser_class(name: str) -> type:
    """A reuser class by name: the built-in ones, then the `lwdock.reusers` entry points."""
    from importlib.metadata import entry_points

    if name in _BUILTIN and name.endswith("Reuser"):
        return getattr(importlib.import_module(_BUILTIN[name]), name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    from dock.reuse.base import ReuseError

    raise ReuseError(f"no reuser named {name!r}; known: {', '.join(known_reusers())}")


def __getattr__(name: str) -> Any:
    module = _BUILTIN.get(name)
    if module is None:
        raise AttributeError(f"module 'dock.reuse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
