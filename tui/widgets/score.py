"""A search score as a bar and a percentage, e.g. `███████▍   74%`, in one neutral colour.

The statistical score is the similarity of input distributions (dock/search/scores.py), not a
prediction of quality: a digits 6-9 recogniser is 86% similar to digits 0-5 and gets every one of
them wrong. So no green-means-good: the bar says "how much", never "how good". What a learnware
measured on the user's labelled rows (the preview, dock/reuse/preview.py) is shown beside it.
"""

from __future__ import annotations

from rich.text import Text

_EIGHTHS = " ▏▎▍▌▋▊▉█"
NEUTRAL = "steel_blue"  # the same at every value: a magnitude, not a verdict


def score_style(score: float) -> str:
    """The bar's style: the same for every score (kept as a function for callers that ask)."""
    return NEUTRAL


def score_bar(score: float | None, width: int = 10) -> Text:
    if score is None:
        return Text("—".center(width + 5), style="dim")
    score = min(max(float(score), 0.0), 1.0)
    eighths = round(score * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    text = Text(bar.ljust(width), style=score_style(score))
    text.append(f" {score:4.0%}", style="bold")
    return text


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
