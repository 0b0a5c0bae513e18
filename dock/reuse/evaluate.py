"""Evaluating reuse on the user's data: run one learnware or a reuser over a data file, score it.

Reusers come from `dock.reuse` by name (`AveragingReuser`, `JobSelectorReuser`,
`EnsemblePruningReuser`, `FeatureAugmentReuser`: a list of loaded learnwares in, `predict(X)`,
`fit(X, y)` for the two that need labels); the ones not importable yet are simply not offered.
Reusers that learn from the labels are fitted on a seeded half of the rows and scored on the
other half, so the figure shown is not an in-sample one.

Image and text learnwares take images / documents (files as in dock.datafiles: a .npy or a .npz
with X and y; a .txt, or a .csv with a `text` column and a label column). Only the reusers that
work on raw items are offered for them: the learnware itself, and the job selector (it routes
each item by its embedding); the averaging and label-fitting reusers need table rows.
The TUI's reuse screen (tui/reuse_job.py) is a caller of this module.
"""

from __future__ import annotations

import csv
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

Progress = Callable[[float, float, str], None]
DIRECT = "direct"
ALIGN = "align"


@dataclass(frozen=True)
class ReuserChoice:
    key: str
    label: str
    class_name: str | None  # in dock.reuse; None: run one learnware directly
    kwargs: tuple[tuple[str, str], ...] = ()
    needs_labels: bool = False
    multi_only: bool = True  # offered only for several learnwares
    tables_only: bool = True  # X must be a numeric table (not offered for image / text learnwares)


CHOICES = (
    ReuserChoice(DIRECT, "Single learnware (its own predictions)", None, multi_only=False, tables_only=False),
    ReuserChoice("job_selector", "Job selector (routes each row)", "JobSelectorReuser", tables_only=False),
    ReuserChoice("vote_by_prob", "Averaging: vote by probability", "AveragingReuser", (("mode", "vote_by_prob"),),
                 tables_only=False),
    ReuserChoice("vote_by_label", "Averaging: vote by label", "AveragingReuser", (("mode", "vote_by_label"),),
                 tables_only=False),
    ReuserChoice("mean", "Averaging: mean (regression)", "AveragingReuser", (("mode", "mean"),), tables_only=False),
    ReuserChoice("ensemble_pruning", "Ensemble pruning (needs labels)", "EnsemblePruningReuser", needs_labels=True,
                 tables_only=False),
    ReuserChoice("feature_augment", "Feature augment (needs labels)", "FeatureAugmentReuser", needs_labels=True),
    # Learnwares whose columns differ from the file's (issue 14): columns matched by name and values.
    ReuserChoice(ALIGN, "Align columns (learnware with other columns)", "HeteroAlignReuser", multi_only=False),
    ReuserChoice("align_labels", "Align columns + correction (needs labels)", "HeteroAlignReuser",
                 needs_labels=True, multi_only=False),
)


def reuser_class(name: str):
    try:
        return getattr(importlib.import_module("dock.reuse"), name)
    except (ImportError, AttributeError):
        return None


KINDS = {"Image": "image", "Text": "text"}  # the semantic spec's Data -> a data file's kind
HOLDS = {"table": "a table", "image": "images", "text": "documents"}
UNITS = {"table": "rows", "image": "images", "text": "documents"}
KIND_FILES = {
    "table": "a table: a .csv (the label column named below) or a 2-D .npy",
    "image": "images: a .npy of shape (N, H, W) or (N, C, H, W), or a .npz with X (and labels y)",
    "text": "documents: a .txt (one per line), or a .csv with a 'text' column (and a label column)",
}


def data_kind_for(data_type: str | None) -> str | None:
    """The kind of data file learnwares of this semantic Data type take; None when it is unknown."""
    if not data_type:
        return None
    return KINDS.get(data_type, "table")


def reusers_for(is_mixture: bool, kind: str | None) -> tuple[list[ReuserChoice], list[str]]:
    """(choices for one learnware or a mixture taking `kind` data, names of reusers dock.reuse does not
    provide yet)."""
    offered, missing = [], []
    for choice in CHOICES:
        if choice.multi_only and not is_mixture:
            continue
        if choice.tables_only and kind not in (None, "table"):
            continue
        if choice.class_name is not None and reuser_class(choice.class_name) is None:
            if choice.class_name not in missing:
                missing.append(choice.class_name)
            continue
        offered.append(choice)
    return offered, missing


@dataclass(frozen=True)
class ReuseEvaluation:
    """One reuse run's result: the predictions, and the score when the data had labels."""


    reuser: str
    rows: int
    predictions: np.ndarray  # (n,) labels or values; (n, k) for multi-output regression
    labels: np.ndarray | None
    task: str  # "Classification" | "Regression" | ...
    metrics: dict[str, float]  # accuracy | rmse, mae, r2 ; on `scored_rows`
    scored_on: str  # "all rows" | "held-out half (n rows)"
    seconds: float
    kind: str = "table"  # what the rows were: "table" rows, "image"s, "text" documents

    @property
    def unit(self) -> str:
        """What one row is, plural: rows, images, documents."""
        return UNITS.get(self.kind, "rows")


def _as_predictions(out: np.ndarray, task: str) -> np.ndarray:
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if task == "Classification" and out.ndim == 2:
        out = out.argmax(axis=1)  # one score column per class
    return out


def _metrics(pred: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    if task == "Classification":
        truth = y.astype(np.int64) if np.all(np.mod(y, 1) == 0) else y
        return {"accuracy": float(np.mean(pred.reshape(-1) == truth.reshape(-1)))}
    err = pred.reshape(len(y), -1).astype(np.float64) - y.reshape(len(y), -1)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
    }


def evaluate_reuse(load: Callable[[str], Any], ids: tuple[str, ...], choice: ReuserChoice, data_path: Path,
                   label_column: str | None, progress: Progress, is_cancelled: Callable[[], bool] = lambda: False,
                   *, task: str | None = None, data_type: str | None = None) -> ReuseEvaluation | None:
    """Run `choice` over the learnwares `ids` (started with `load(id)`, closed after) on the data file,
    and score it when the file has labels. None when `is_cancelled()` turned true on the way.
    `task` and `data_type` are what the search said of the learnwares (None: unknown)."""
    from dock.datafiles import column_count_hint, read_user_data, user_data_kind
    from dock.errors import DataFileError, RunnerError
    from dock.runtime.worker import summarise_model_failure

    start = time.perf_counter()
    is_mixture = len(ids) > 1
    ids = ids if choice.class_name else ids[:1]
    steps = 2 + len(ids) + (1 if choice.needs_labels else 0)
    progress(0, steps, f"reading {data_path.name}")
    kind, expected = user_data_kind(data_path), data_kind_for(data_type)
    if expected is not None and kind != expected:
        takes = "these learnwares take" if is_mixture else "this learnware takes"
        raise DataFileError(f"{data_path.name} holds {HOLDS[kind]}, but {takes} {data_type} data: "
                            f"give {KIND_FILES[expected]}")
    data = read_user_data(data_path, label_column or None, kind)
    X = np.asarray(data.X) if kind == "text" else data.X  # documents as a 1-D str array, like the probes
    y = data.y
    unit = UNITS[kind]
    if choice.needs_labels and y is None:
        raise DataFileError(f"{choice.label.split(' (')[0]} learns from your labels: give the label column "
                            f"of {data_path.name}")
    loaded = []
    try:
        for n, learnware_id in enumerate(ids, 1):
            if is_cancelled():
                return None
            progress(n, steps, f"starting learnware {n}/{len(ids)}")
            loaded.append(load(learnware_id))
        task = task or (loaded[0].record.task_type or "")
        wanted = {d for lw in loaded if (d := lw.record.input_dim) is not None}
        aligning = choice.class_name == "HeteroAlignReuser"
        if isinstance(X, np.ndarray) and kind == "table" and wanted and X.shape[1] not in wanted and not aligning:
            takes = "these learnwares take" if is_mixture else "this learnware takes"
            raise DataFileError(column_count_hint(data_path, X.shape[1], wanted, what=takes)
                                + "; or reuse it with the reuser `align` (matches your columns to its own by name)")
        done = 1 + len(ids)
        scored = np.arange(len(X))
        if choice.class_name is None:
            progress(done, steps, f"predicting {len(X)} {unit}")
            raw = loaded[0].predict(X)
        else:
            kwargs: dict[str, Any] = dict(choice.kwargs)
            if aligning:
                from dock.reuse.hetero_columns import user_columns_of

                kwargs["user_columns"] = user_columns_of(data_path, label_column, X)
            reuser = reuser_class(choice.class_name)(loaded, **kwargs)
            if choice.needs_labels:
                order = np.random.default_rng(0).permutation(len(X))
                fit_rows, scored = np.sort(order[: len(X) // 2]), np.sort(order[len(X) // 2:])
                progress(done, steps, f"fitting on {len(fit_rows)} labelled rows")
                assert y is not None  # needs_labels without labels was refused above
                reuser.fit(X[fit_rows], y[fit_rows])
                done += 1
            progress(done, steps, f"predicting {len(X)} {unit}")
            raw = reuser.predict(X)
    except RunnerError as exc:  # the model's own exception: one line first, its traceback after it
        details = str(exc).partition("\n")[2]
        raise RunnerError(summarise_model_failure(exc) + (f"\n{details}" if details else "")) from exc
    finally:
        for learnware in loaded:
            learnware.close()
    pred = _as_predictions(raw, task)
    if len(pred) != len(X):
        raise ValueError(f"the model returned {len(pred)} predictions for {len(X)} {unit}")
    metrics = _metrics(pred[scored], y[scored], task) if y is not None else {}
    scored_on = f"all {unit}" if len(scored) == len(X) else f"the held-out half ({len(scored)} {unit})"
    progress(steps, steps, "done")
    return ReuseEvaluation(choice.label, len(X), pred, y, task, metrics, scored_on, time.perf_counter() - start, kind)


def save_predictions(outcome: ReuseEvaluation, dest: Path) -> Path:
    """Write the predictions (and the labels, when given) as CSV; returns the path written."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / "predictions.csv"
    pred = outcome.predictions.reshape(outcome.rows, -1)
    header = ["prediction"] if pred.shape[1] == 1 else [f"prediction_{i}" for i in range(pred.shape[1])]
    with open(dest, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header + (["label"] if outcome.labels is not None else []))
        for i in range(outcome.rows):
            row = [_cell(v) for v in pred[i]]
            if outcome.labels is not None:
                row.append(_cell(outcome.labels[i]))
            writer.writerow(row)
    return dest


def _cell(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
