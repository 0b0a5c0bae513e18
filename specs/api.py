"""The public entry points of specs: make a statistical spec from data, load one from JSON or
bytes, whatever its kind (dispatch through specs.registry)."""

from __future__ import annotations

import json
import os

from .errors import SpecError
from .limits import check_file_size
from .registry import known_spec_types, spec_class
from .wire import MAX_DECOMPRESSED_BYTES, unpack_spec

# Short names people type, and the reference's (learnware.specification.generate_stat_spec) ones.
_KIND_ALIASES = {"table": "RKMETableSpecification", "image": "RKMEImageSpecification",
                 "text": "RKMETextSpecification"}
# Kinds whose fitting needs an optional extra of lwdock (pyproject.toml's optional-dependencies).
_EXTRA_OF = {"RKMEImageSpecification": "image", "RKMETextSpecification": "text"}


def require_extra(kind: str) -> None:
    """MissingExtraError (a SpecError, one line naming the extra) now if fitting a `kind` spec ("table",
    "image", "text", "Image", a type name...) needs an extra that is not installed. Cheap: nothing is
    imported, so commands call it before reading their data. Unknown kinds pass (the fit reports them)."""
    if not isinstance(kind, str):
        return
    extra = _EXTRA_OF.get(_KIND_ALIASES.get(kind.casefold(), kind))
    if extra is not None:
        from .embedders import check_installed

        check_installed(extra)


def generate_stat_spec(type: str = "table", X=None, K: int = 100, seed: int = 0, **kw):  # noqa: A002
    """Fit a statistical spec of the given kind to X (the reference's signature).

    type: "table", "image", "text" or a registered type name ("RKMETableSpecification"). X: a
    2-D table; images (N, H, W) or (N, C, H, W); a list of strings. Extra keyword arguments go to
    the kind's fit (gamma, rounds, z_steps). Image and text specs import torch (feature maps): MissingExtraError
    names the extra to install when it is missing.
    """
    if not isinstance(type, str):
        raise SpecError(
            f"type: {type!r} is not allowed; expected 'table' or one of {', '.join(known_spec_types())}"
        )
    type_name = _KIND_ALIASES.get(type.casefold(), type)
    require_extra(type_name)
    if X is None:
        raise SpecError("X: missing; pass the data to describe, e.g. generate_stat_spec('table', X=X)")
    cls = spec_class(type_name)
    if not hasattr(cls, "fit"):
        raise SpecError(f"type: {type_name!r} cannot be generated from data here (its class has no fit)")
    return cls.fit(X, K=K, seed=seed, **kw)


def load_spec(path_or_dict):
    """A spec from a JSON file path or an already-parsed dict, dispatched on its "type" key."""
    if isinstance(path_or_dict, dict):
        d = path_or_dict
    elif isinstance(path_or_dict, (str, os.PathLike)):
        try:
            check_file_size(path_or_dict)
            with open(path_or_dict, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise SpecError(f"cannot read spec file {os.fspath(path_or_dict)}: {e}") from e
    else:
        raise SpecError(f"load_spec: expected a path or a dict, got {path_or_dict.__class__.__name__}")
    if not isinstance(d, dict) or "type" not in d:
        raise SpecError(
            f'spec JSON: expected an object with a "type" key (one of {", ".join(known_spec_types())})'
        )
    return spec_class(d["type"]).from_json_dict(d)


def spec_from_bytes(data, max_size: int = MAX_DECOMPRESSED_BYTES):
    """A spec from its compact binary form (any registered kind)."""
    w = unpack_spec(data, max_size=max_size)
    return spec_class(w["t"]).from_wire_dict(w)
