"""An Input for file paths that completes them as you type (→ accepts the suggestion)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input


class PathSuggester(Suggester):
    def __init__(self, suffixes: tuple[str, ...] = ()):
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = tuple(s.lower() for s in suffixes)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
        except OSError:
            return None
        for entry in entries:
            if not entry.name.startswith(prefix) or entry.name == prefix or entry.name.startswith("."):
                continue
            is_dir = entry.is_dir()
            if not is_dir and self.suffixes and not entry.name.lower().endswith(self.suffixes):
                continue
            return value[: len(value) - len(prefix)] + entry.name + ("/" if is_dir else "")
        return None


class PathInput(Input):
    """A path field; `suffixes` limit what it suggests and what the file picker shows."""

    def __init__(self, suffixes: tuple[str, ...] = (), **kwargs):
        super().__init__(suggester=PathSuggester(suffixes), **kwargs)
        self.suffixes = suffixes

    @property
    def path(self) -> Path | None:
        value = self.value.strip()
        return Path(value).expanduser() if value else None
