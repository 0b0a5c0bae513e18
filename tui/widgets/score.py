"""A matching score as a bar and a percentage, e.g. `███████▍   74%`."""

from __future__ import annotations

from rich.text import Text

_EIGHTHS = " ▏▎▍▌▋▊▉█"


def score_style(score: float) -> str:
    if score >= 0.8:
        return "green"
    if score >= 0.5:
        return "yellow"
    return "red"


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
