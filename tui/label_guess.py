"""The label-column box of the search, reuse and publish screens: filled with dock/datafiles.py's
shared guess for each new file, the guess said in a toast, and never carried over to the next file
(a name the user typed is kept)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dock.datafiles import guess_label_column


@dataclass
class LabelGuess:
    """What the box last held for which file: `guess` is the value we put there ("" for none)."""

    path: Path | None = None
    guess: str = ""

    def apply(self, box, path: Path, semantic_specs=(), notify=None) -> str | None:
        """Update the Input `box` for `path` and return the label column to use (None: none)."""
        current = box.value.strip()
        if path == self.path or (current and current != self.guess):
            return current or None  # the same file, or the user's own choice
        guess = guess_label_column(path, semantic_specs) or ""
        box.value = guess
        self.path, self.guess = path, guess
        if guess and notify is not None:
            notify(f"Label column: {guess} (guessed from {path.name}; change it in the label box)")
        return guess or None
