"""lwdock's dock layer: learnware packages, the DuckDB store, search, reuse and the CLI.

Exports are lazy (PEP 562) so `import dock` stays cheap: DuckDB, scikit-learn and the model
runner load only when first used. Typical use:

    from dock import Dock, UserInfo
    with Dock.open() as d:
        result = d.search(UserInfo(stat_info={spec.type: spec}), limit=5)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Dock": "dock.dock",
    "UserInfo": "dock.search.query",
    "BaseUserInfo": "dock.search.query",
    "SearchResult": "dock.search.query",
    "Match": "dock.search.query",
    "Mixture": "dock.search.query",
    "LoadedLearnware": "dock.runtime.loaded",
    "LearnwareRecord": "dock.records",
    "DockError": "dock.errors",
    "PackageError": "dock.errors",
    "CheckError": "dock.errors",
    "RunnerError": "dock.errors",
    "RunnerTimeout": "dock.errors",
    "StoreError": "dock.errors",
    "NotFoundError": "dock.errors",
    "DockBusyError": "dock.errors",
    "SearchError": "dock.errors",
    # The specs the dock's clients need, so a client (the TUI) imports only `dock`.
    "SEMANTIC_FIELDS": "specs",
    "generate_semantic_spec": "specs",
    "generate_stat_spec": "specs",
    "load_spec": "specs",
    "SpecError": "specs",
    "SmallTableError": "specs.errors",  # a table too small for a private spec (the TUI offers allow-small)
    "SemanticView": "specs",
    "DockAPI": "dock.api",
    "WorkerLimits": "dock.runtime.limits",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from dock.api import DockAPI  # noqa: F401
    from dock.dock import Dock  # noqa: F401
    from dock.runtime.limits import WorkerLimits  # noqa: F401
    from dock.search.query import BaseUserInfo, UserInfo  # noqa: F401
    from specs import SemanticView  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
