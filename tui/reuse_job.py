"""The reuse screen's job, without any UI: a thin caller of dock/reuse/evaluate.py, which runs the
learnwares on the user's data and scores them. This module adds only the screen's target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dock.reuse.evaluate import (  # noqa: F401  (CHOICES, reuser_class, save_predictions: re-exported)
    CHOICES,
    Progress,
    ReuseEvaluation,
    ReuserChoice,
    data_kind_for,
    evaluate_reuse,
    reuser_class,
    reusers_for,
    save_predictions,
)

from .viewmodels import ReuseTarget


def data_kind(target: ReuseTarget) -> str | None:
    """The kind of data file the target's learnwares take; None when its Data type is unknown."""
    return data_kind_for(target.data_type)


def offered_reusers(target: ReuseTarget) -> tuple[list[ReuserChoice], list[str]]:
    """(choices for this target, names of reusers dock.reuse does not provide yet)."""
    return reusers_for(target.is_mixture, data_kind(target))


@dataclass(frozen=True)
class ReuseOutcome(ReuseEvaluation):
    """An evaluation, and which learnwares (the screen's target) it ran."""

    target: ReuseTarget | None = None


def run_reuse(backend, target: ReuseTarget, choice: ReuserChoice, data_path: Path, label_column: str | None,
              progress: Progress, is_cancelled: Callable[[], bool] = lambda: False) -> ReuseOutcome | None:
    evaluation = evaluate_reuse(backend.load, target.ids, choice, data_path, label_column, progress, is_cancelled,
                                task=target.task, data_type=target.data_type)
    if evaluation is None:
        return None
    return ReuseOutcome(**{f: getattr(evaluation, f) for f in evaluation.__dataclass_fields__}, target=target)
