"""The `lwdock` command line: the parser and dispatch (parser), the commands (commands), rendering
(output, terminal_text) and the printed demo (demo). `python -m dock.cli` runs it (__main__)."""

from __future__ import annotations

from dock.cli.parser import main

__all__ = ["main"]
