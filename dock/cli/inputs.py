"""What the CLI's commands read from their arguments: the dock of `--home`, and JSON files
(semantic specs). One module so every command module imports it and none imports another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from dock.errors import DockError

if TYPE_CHECKING:
    from dock.api import DockAPI


def open_dock(args) -> DockAPI:
    """The daemon's dock when one runs for this home, else the dock opened embedded: either way
    a DockAPI (dock/api.py), so every command runs the same against both."""
    from dock.dock import Dock

    return Dock.connect(args.home)


def read_json(path, what: str) -> dict:
    """The JSON object in `path`; a missing, undecodable or non-object file is a DockError naming
    the file and what it was meant to be (`what`: "semantic spec")."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DockError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise DockError(f"{what} file {path} is a folder; give a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DockError(f"{what} file {path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DockError(f"{what} file {path} holds a JSON {type(value).__name__}, not an object ({{...}})")
    return value
