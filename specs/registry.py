"""Statistical spec kinds, looked up by their type name (the "type" key of a spec's JSON).

Built in: RKMETableSpecification, RKMEImageSpecification, RKMETextSpecification. A third-party
package adds kinds through the Python entry point group "lwdock.specs" (name = type name,
value = "module:Class"); they are discovered lazily, once, and each class is imported only when
its name is first asked for. A built-in name cannot be taken over by an entry point.

What the dock needs from a spec class: a `type` class attribute, `from_json_dict(d)`,
`to_json_dict()`, `to_bytes()`, `from_wire_dict(w)` (for the unpacked binary form, see
specs.wire) and `dist(other, gamma=None)`.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from .errors import SpecError

ENTRY_POINT_GROUP = "lwdock.specs"
# Built-ins as "module:attr" so looking one up does not import the others.
_BUILTIN = {
    "RKMETableSpecification": ".table:RKMETableSpecification",
    "RKMEImageSpecification": ".image:RKMEImageSpecification",
    "RKMETextSpecification": ".text:RKMETextSpecification",
}

_lock = threading.Lock()
_loaded: dict[str, type] = {}
_entry_points: dict | None = None  # name -> EntryPoint, filled on first need


def _discover() -> dict:
    global _entry_points
    with _lock:
        if _entry_points is None:
            from importlib.metadata import entry_points

            found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
            _entry_points = {name: ep for name, ep in found.items() if name not in _BUILTIN}
        return _entry_points


def known_spec_types() -> list[str]:
    """Every type name that spec_class can resolve (built-in, registered, entry points)."""
    return sorted({*_BUILTIN, *_loaded, *_discover()})


def register_spec_class(type_name: str, cls: type) -> None:
    """Register a kind in-process (tests, plugins that do not ship entry points)."""
    if type_name in _BUILTIN:
        raise SpecError(f"spec type {type_name!r} is built in and cannot be replaced")
    with _lock:
        _loaded[type_name] = cls


def spec_class(type_name: str) -> Any:
    """The class for a spec type name; SpecError listing the known kinds if there is none.
    (Any: plugin classes are duck-typed, see the module docstring, not subclasses of one base.)"""
    if not isinstance(type_name, str):
        raise SpecError(
            f"spec type: {type_name!r} is not allowed; expected one of {', '.join(known_spec_types())}"
        )
    cls = _loaded.get(type_name)
    if cls is not None:
        return cls
    if type_name in _BUILTIN:
        module, attr = _BUILTIN[type_name].split(":")
        cls = getattr(importlib.import_module(module, __package__), attr)
    else:
        ep = _discover().get(type_name)
        if ep is None:
            raise SpecError(
                f"spec type: {type_name!r} is not known; known kinds: {', '.join(known_spec_types())}"
            )
        try:
            cls = ep.load()
        except Exception as e:  # a broken plugin must not look like a bad spec of a known kind
            raise SpecError(f"spec type {type_name!r}: its plugin ({ep.value}) failed to load: {e}") from e
    with _lock:
        _loaded.setdefault(type_name, cls)
    return cls
