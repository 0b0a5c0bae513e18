"""A learnware's model config ({class_name, module_path, kwargs}) as a record carries it.

A record from the network is signed by a stranger, so its `model` JSON is checked with the same
rules as a local zip's learnware.yaml (dock/package/reader.py) before it is stored: the worker is told
to import `module_path` from the unpacked package, and a path that is absolute, climbs out with
`..` or is not a `.py` file would point it at code outside the package (issue 11, case 6).

`validate_model_config` runs at decode (no files yet: only the text is checked);
`check_model_files` runs again at load against the unpacked folder (the file must be a regular
file inside it, symlinks resolved), so a record stored before these rules existed cannot point a
worker outside its package either.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path, PurePosixPath
from typing import Any

from dock.errors import ModelConfigError, PackageError  # noqa: F401  (ModelConfigError: re-exported)

MAX_MODEL_JSON = 64 << 10  # bytes of the model JSON text; kwargs are a few names and numbers
MAX_KWARGS_DEPTH = 32
MAX_KWARGS_ITEMS = 4096  # every list item and map entry, counted over the whole kwargs
MAX_MODULE_PATH = 255




def validate_model_config(model: Any) -> dict:
    """The normalised config (module_path defaults to __init__.py, kwargs to {}), else ModelConfigError."""
    if not isinstance(model, dict):
        raise ModelConfigError("model config must be an object")
    extra = set(model) - {"class_name", "module_path", "kwargs"}
    if extra:
        raise ModelConfigError(f"model config has unknown keys {sorted(extra)}")
    name = model.get("class_name")
    if not isinstance(name, str) or not name.isidentifier() or len(name) > 200:
        raise ModelConfigError(f"model class_name {str(name)[:60]!r} is not a Python identifier")
    module_path = model.get("module_path")
    module_path = "__init__.py" if module_path is None else module_path
    _check_module_path(module_path)
    kwargs = model.get("kwargs")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise ModelConfigError("model kwargs must be an object")
    _check_plain(kwargs, [0], 0)
    return {"class_name": name, "module_path": module_path, "kwargs": kwargs}


def model_config_from_json(text: Any) -> dict:
    """Decode a record's `model` JSON text and validate it (bounded before json parses it)."""
    if not isinstance(text, str) or len(text.encode("utf-8", "replace")) > MAX_MODEL_JSON:
        raise ModelConfigError(f"model must be JSON text of at most {MAX_MODEL_JSON} bytes")
    try:
        model = json.loads(text)
    except (ValueError, RecursionError):
        raise ModelConfigError("model is not valid JSON (or is nested too deeply)") from None
    return validate_model_config(model)


def _check_module_path(path: Any) -> None:
    if not isinstance(path, str) or not path or len(path) > MAX_MODULE_PATH:
        raise ModelConfigError(f"model module_path must be a file name, got {str(path)[:60]!r}")
    _check_path_text(path)


@functools.lru_cache(maxsize=1024)  # pure, and a sync checks the same few paths thousands of times
def _check_path_text(path: str) -> None:
    parts = PurePosixPath(path).parts
    if (
        path.startswith("/")
        or "\\" in path
        or ":" in path
        or "\x00" in path
        or any(part in ("..", ".") for part in parts)
        or any(part.startswith("~") for part in parts)
    ):
        raise ModelConfigError(f"model module_path {path[:60]!r} must be a relative path inside the package")
    if not path.endswith(".py"):
        raise ModelConfigError(f"model module_path {path[:60]!r} must be a .py file")


def _check_plain(value: Any, count: list[int], depth: int) -> None:
    if depth > MAX_KWARGS_DEPTH:
        raise ModelConfigError(f"model kwargs are nested more than {MAX_KWARGS_DEPTH} levels deep")
    count[0] += 1
    if count[0] > MAX_KWARGS_ITEMS:
        raise ModelConfigError(f"model kwargs hold more than {MAX_KWARGS_ITEMS} values")
    if isinstance(value, bool) or value is None or isinstance(value, (float, str)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ModelConfigError("model kwargs hold an integer beyond 64 bits")
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item, count, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ModelConfigError("model kwargs have a non-string key")
            _check_plain(item, count, depth + 1)
    else:
        raise ModelConfigError(f"model kwargs hold a {type(value).__name__}; only plain data is allowed")


def check_model_files(folder: str | Path, model: dict) -> dict:
    """At load: the config is valid and its module is a regular file inside `folder` (symlinks
    resolved). Returns the normalised config the worker may be given."""
    config = validate_model_config(model)
    root = Path(folder).resolve()
    target = (root / config["module_path"]).resolve()
    if not target.is_relative_to(root):
        raise ModelConfigError(f"model module_path {config['module_path']!r} resolves outside the package")
    if not target.is_file():
        raise ModelConfigError(f"model module_path {config['module_path']!r} is not a file in the package")
    return config
