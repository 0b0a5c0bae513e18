"""What every reuser shares: checking the learnware list and the user's data, running the
learnwares (each in its own worker process, concurrently), and reading their outputs.

A learnware here is anything with `predict(X)`; `LoadedLearnware` is the usual one. Its semantic
spec (if any) tells the task ("Classification" / "Regression") and, for classification, the
number of classes (`Output.Dimension`): class labels are integers in [0, Output.Dimension).
A classifier's output is either labels, shape (n,) or (n, 1), or one score column per class,
shape (n, C) (probabilities, or logits that are turned into probabilities with a softmax).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from dock.errors import DockError, ReuseError  # noqa: F401  (ReuseError: re-exported)
from specs.semantic import SemanticView

CLASSIFICATION = "classification"
REGRESSION = "regression"
# Output columns summing to 1 within this are probabilities already; otherwise they are logits.
_PROB_SUM_TOL = 1e-3


def keyword_data(value: Any, alias_value: Any, name: str, alias: str) -> Any:
    """The argument given as `name` (lwdock's) or as `alias` (the reference's keyword, e.g. predict(user_data=)),
    exactly one of them. Lets scripts written for the reference call lwdock's reusers unchanged."""
    if value is not None and alias_value is not None:
        raise ReuseError(f"give {name} or {alias}, not both")
    if value is None and alias_value is None:
        raise ReuseError(f"{name} is missing (the reference calls it {alias})")
    return value if value is not None else alias_value


def check_learnwares(learnware_list: Any) -> list:
    if learnware_list is None or isinstance(learnware_list, (str, bytes)):
        raise ReuseError("learnware_list must be a list of loaded learnwares")
    if hasattr(learnware_list, "predict"):  # one learnware where a list was expected: be kind
        learnware_list = [learnware_list]
    items = list(learnware_list)
    if not items:
        raise ReuseError("learnware_list is empty: give at least one loaded learnware")
    for i, lw in enumerate(items):
        if not callable(getattr(lw, "predict", None)):
            raise ReuseError(f"learnware_list[{i}] is a {type(lw).__name__}, which has no predict(); "
                             "pass learnwares returned by Dock.load / LearnwareClient.load_learnware")
    return items


def check_table(X: Any, name: str = "X", dim: int | None = None) -> np.ndarray:
    """The user's rows as a finite 2-D float array (n >= 1), of `dim` columns if given."""
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReuseError(f"{name} must be a numeric table: {exc}") from exc
    if A.ndim == 1 and dim is not None and A.size == dim:
        A = A[None, :]
    if A.ndim != 2 or A.shape[0] == 0:
        raise ReuseError(f"{name} must be a non-empty 2-D table (rows x features), got shape {A.shape}")
    if dim is not None and A.shape[1] != dim:
        raise ReuseError(f"{name} has {A.shape[1]} columns but the reuser was fitted on {dim}")
    if not np.isfinite(A).all():
        raise ReuseError(f"{name} contains NaN or inf; impute or drop those rows first")
    return A


def data_kind_of(learnwares: Sequence) -> str:
    """'Image' or 'Text' when every learnware's semantic Data says so, else 'Table'."""
    kinds = set()
    for lw in learnwares:
        kinds.add(SemanticView.from_spec(semantic_of(lw)).data_type or "Table")
    return kinds.pop() if len(kinds) == 1 and kinds <= {"Image", "Text"} else "Table"


def check_items(X: Any, learnwares: Sequence, name: str = "X", item_shape: tuple | None = None) -> np.ndarray:
    """The user's items as the learnwares take them: a table (check_table), images (N, H, W) or
    (N, C, H, W), or documents (a 1-D array of strings). Reusers that only pass X on to the
    learnwares use this; `item_shape` is the shape of one item seen at fit time."""
    kind = data_kind_of(learnwares)
    if kind == "Table":
        return check_table(X, name, dim=item_shape[0] if item_shape else None)
    if kind == "Text":
        A = np.asarray(X, dtype=object)
        if A.ndim != 1 or A.shape[0] == 0 or not all(isinstance(x, str) for x in A):
            raise ReuseError(f"{name} must be a non-empty list of strings for Text learnwares")
        return A.astype(str)
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReuseError(f"{name} must be numeric images for Image learnwares: {exc}") from exc
    if A.ndim not in (3, 4) or A.shape[0] == 0:
        raise ReuseError(f"{name} must be non-empty images (N, H, W) or (N, C, H, W), got shape {A.shape}")
    if item_shape is not None and A.shape[1:] != tuple(item_shape):
        raise ReuseError(f"{name} holds images of shape {A.shape[1:]}, "
                         f"but the reuser was fitted on {tuple(item_shape)}")
    if not np.isfinite(A).all():
        raise ReuseError(f"{name} contains NaN or inf pixels")
    return A


def check_labels(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ReuseError(f"y must have one value per row of X ({n}), got shape {y.shape}")
    return y


def labels_for_task(mode: str | None, y: np.ndarray) -> tuple[str, np.ndarray]:
    """The task (given, else guessed from y's dtype) and y converted for it: classification needs
    integer labels >= 0. Shared by the reusers that learn from the user's labels."""
    if mode is None:
        mode = CLASSIFICATION if y.dtype.kind in "biu" else REGRESSION
    if mode == CLASSIFICATION:
        if y.dtype.kind not in "biu" and not np.allclose(y, np.round(y)):
            raise ReuseError("classification needs integer class labels in y")
        y = y.astype(np.int64)
        if y.min() < 0:
            raise ReuseError(f"class labels must be >= 0, got {int(y.min())}")
    return mode, y


def semantic_of(lw: Any) -> dict:
    spec = getattr(lw, "semantic_spec", None)
    if spec is None and callable(getattr(lw, "get_specification", None)):
        got = lw.get_specification()
        spec = got.get("semantic") if isinstance(got, dict) else getattr(got, "semantic_spec", None)
    return spec if isinstance(spec, dict) else {}


def task_of(learnwares: Sequence) -> str | None:
    """'classification', 'regression' or None when the semantic specs do not say (or disagree)."""
    tasks = set()
    for lw in learnwares:
        task = SemanticView.from_spec(semantic_of(lw)).task_type
        tasks.add(task.lower() if task else None)
    if tasks == {"classification"}:
        return CLASSIFICATION
    if tasks == {"regression"}:
        return REGRESSION
    return None


def n_classes_of(learnwares: Sequence) -> int | None:
    """The largest Output.Dimension among the learnwares' semantic specs (classes 0..C-1)."""
    dims = []
    for lw in learnwares:
        dim = SemanticView.from_spec(semantic_of(lw)).output_dim
        if dim is not None and dim > 0:
            dims.append(dim)
    return max(dims) if dims else None


def predict_all(learnwares: Sequence, X: np.ndarray) -> list[np.ndarray]:
    """Every learnware's output on X, checked to have one row per input row.

    Each learnware runs in its own worker process, so calling them from threads overlaps their
    work (the threads only wait on pipes). A learnware that fails raises its RunnerError, with
    the learnware named so the user knows which one to drop.
    """
    def one(item):
        i, lw = item
        try:
            out = np.asarray(lw.predict(X))
        except DockError as exc:
            raise type(exc)(f"learnware {_label(lw, i)}: {exc}") from exc
        if out.ndim == 0 or out.shape[0] != len(X):
            raise ReuseError(f"learnware {_label(lw, i)} returned shape {out.shape} for {len(X)} rows")
        if out.dtype.kind not in "biuf":
            raise ReuseError(f"learnware {_label(lw, i)} returned {out.dtype} values; expected numbers")
        return out.reshape(len(X), -1) if out.ndim > 2 else out

    items = list(enumerate(learnwares))
    if len(items) == 1:
        return [one(items[0])]
    with ThreadPoolExecutor(max_workers=min(8, len(items)), thread_name_prefix="lwdock-reuse") as pool:
        return list(pool.map(one, items))


def _label(lw: Any, i: int) -> str:
    ident = getattr(lw, "id", None)
    return f"#{i} ({str(ident)[:12]})" if ident else f"#{i}"


def output_to_labels(out: np.ndarray) -> np.ndarray:
    """A classifier's output as integer labels: argmax of score columns, else the labels given."""
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    flat = out.reshape(-1)
    if flat.dtype.kind == "f":
        if not np.allclose(flat, np.round(flat)):
            raise ReuseError("a classifier returned non-integer labels; expected class indices or score columns")
        flat = np.round(flat)
    return flat.astype(np.int64)


def output_to_probs(out: np.ndarray, n_classes: int) -> np.ndarray:
    """A classifier's output as (n, n_classes) probabilities.

    Score columns that already are probabilities (non-negative, rows summing to 1) are kept;
    other score columns are logits and go through a softmax, as the reference does; labels
    become one-hot rows (a label-only learnware is a sure vote).
    """
    n = out.shape[0]
    if out.ndim == 2 and out.shape[1] > 1:
        if out.shape[1] > n_classes:
            raise ReuseError(f"a learnware returned {out.shape[1]} score columns for {n_classes} classes")
        scores = out.astype(np.float64)
        if not ((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=_PROB_SUM_TOL)):
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        probs = np.zeros((n, n_classes))
        probs[:, : scores.shape[1]] = scores
        return probs
    labels = output_to_labels(out)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ReuseError(f"a learnware returned label {int(labels.max())} outside [0, {n_classes})")
    probs = np.zeros((n, n_classes))
    probs[np.arange(n), labels] = 1.0
    return probs


def infer_n_classes(learnwares: Sequence, outputs: Sequence[np.ndarray], y: np.ndarray | None = None) -> int:
    """Classes 0..C-1: the semantic specs' Output.Dimension, widened by what the outputs show."""
    c = n_classes_of(learnwares) or 0
    for out in outputs:
        if out.ndim == 2 and out.shape[1] > 1:
            c = max(c, out.shape[1])
        else:
            labels = output_to_labels(out)
            if labels.size:
                c = max(c, int(labels.max()) + 1)
    if y is not None and y.size:
        c = max(c, int(np.max(y)) + 1)
    return max(c, 1)


def regression_columns(out: np.ndarray) -> np.ndarray:
    return out.astype(np.float64).reshape(out.shape[0], -1)
