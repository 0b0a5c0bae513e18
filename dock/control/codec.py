"""Errors across the control socket: a registered error becomes {"type", "message", "fields"} and
comes back as the same class, with the same message and attributes, so the CLI's exit code and the
TUI's dialog are the same through the daemon as embedded.

Names are looked up in `dock.errors.REGISTRY` (never by getattr on a module): only registered
classes can be built from a frame. An exception that is not registered is a bug of the owner: the
server logs its traceback and sends an `InternalError` with its message.
"""

from __future__ import annotations

import logging
from typing import Any

from dock.errors import REGISTRY, DockError, InternalError, error_kind

log = logging.getLogger(__name__)

_PLAIN = (str, int, float, bool, type(None))


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """The frame's "error" map for a registered error (its nearest registered class); an
    unregistered one is sent as an InternalError naming its type."""
    kind = error_kind(exc)
    if kind is None:
        return error_to_wire(InternalError(f"internal error in the lwdock node: {type(exc).__name__}: {exc} "
                                           "(the node's log has the traceback)"))
    fields = {}
    for name in kind.fields:
        value = getattr(exc, name, None)
        fields[name] = int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not all(isinstance(v, _PLAIN) for v in fields.values()):  # never fail the reply over a field
        fields = {}
    return {"type": kind.name, "message": str(exc), "fields": fields}


def error_from_wire(error: Any) -> BaseException:
    """The exception a reply's "error" map describes: the registered class by name (a name this
    version does not know becomes a DockError), built with its constructor's fields when it has
    them, and always carrying the sender's message."""
    if not isinstance(error, dict):
        return DockError(f"the daemon sent a malformed error: {str(error)[:200]!r}")
    name, message = error.get("type"), str(error.get("message", "unknown error"))
    kind = REGISTRY.get(name) if isinstance(name, str) else None
    if kind is None:
        return DockError(f"{name}: {message}" if isinstance(name, str) and name else message)
    fields = error.get("fields") or {}
    exc: BaseException | None = None
    if kind.fields and isinstance(fields, dict) and set(kind.fields) <= set(fields):
        try:
            exc = kind.cls(**{f: fields[f] for f in kind.fields})
        except Exception:  # another version's fields: fall back to the message alone
            log.debug("could not rebuild %s from %r", name, fields, exc_info=True)
    if exc is None:
        exc = kind.cls.__new__(kind.cls, message)
        for f in kind.fields:
            if isinstance(fields, dict) and f in fields:
                setattr(exc, f, fields[f])
    exc.args = (message,)  # the sender's words, whatever the constructor would have made of them
    return exc
