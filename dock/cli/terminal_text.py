"""Strings from outside (records, peers, models) made safe for a terminal.

A learnware's name, description and semantic values come from strangers over gossip, and a
model's error messages carry its stderr: any of them may hold ESC sequences (clear the screen,
move the cursor, OSC 8 hyperlinks, retitle the window), bidi overrides that reorder what is
shown, or rich/Textual markup (`[/x]` crashes a renderer, `[link=...]` plants a link). Every
such string passes through here before it is printed or rendered:

  visible(s)      control characters shown as visible escapes (ESC -> "\\x1b", U+202E -> "\\u202e")
  markup_safe(s)  visible(s) with rich markup escaped, for text printed with markup on
  plain(s)        a rich Text of visible(s): never parsed as markup, whatever the widget

JSON output (`--json`) is data, not terminal text: json.dumps escapes control characters itself.
"""

from __future__ import annotations

import logging
import unicodedata

# Format characters that change how text around them is displayed: bidi embeddings, overrides
# and isolates (the "Trojan Source" set), marks, and the invisible separators.
_BIDI_AND_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufeff"
)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(ch: str, keep_newlines: bool) -> bool:
    if keep_newlines and ch in "\n\t":
        return False
    if ch in _BIDI_AND_INVISIBLE:
        return True
    # Cc: C0, DEL, C1 (ESC, CSI, OSC ...); Cs: lone surrogates from undecodable bytes.
    return unicodedata.category(ch) in ("Cc", "Cs")


def visible(text, *, keep_newlines: bool = False) -> str:
    """`text` (anything; non-strings are str()-ed) with every control character shown as an escape.

    keep_newlines: let line feeds and tabs through (descriptions, multi-line error messages); a
    name or a table cell is one line, so by default they are escaped too.
    """
    s = text if isinstance(text, str) else str(text)
    if s.isprintable() and s.isascii():  # the common case: nothing to do
        return s
    return "".join(_escape_char(ch) if _unsafe(ch, keep_newlines) else ch for ch in s)


def markup_safe(text, *, keep_newlines: bool = False) -> str:
    """visible(text) with rich markup escaped, for an f-string printed with markup=True."""
    from rich.markup import escape

    return escape(visible(text, keep_newlines=keep_newlines))


def plain(text, *, keep_newlines: bool = False, style: str = ""):
    """A rich Text of visible(text): shown literally by rich and Textual (no markup parsing)."""
    from rich.text import Text

    return Text(visible(text, keep_newlines=keep_newlines), style=style)


def visible_tree(value, *, keep_newlines: bool = False):
    """visible() applied to every string (keys too) of a JSON-like value, for structured display."""
    if isinstance(value, str):
        return visible(value, keep_newlines=keep_newlines)
    if isinstance(value, dict):
        return {visible(k) if isinstance(k, str) else k: visible_tree(v, keep_newlines=keep_newlines)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(visible_tree(v, keep_newlines=keep_newlines) for v in value)
    return value


class SafeFormatter(logging.Formatter):
    """Wraps a logging.Formatter so a log line on a terminal cannot carry control characters
    (log messages quote names and model errors). Only the formatting changes, not the record."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return visible(self.inner.format(record), keep_newlines=True)
