"""Submission checks: a learnware must be well described and its model must actually run.

Follows the reference market's EasySemanticChecker + EasyStatChecker, with two deliberate
changes: the model runs in a worker process (dock/runtime/worker.py), and the probe inputs are drawn
from the learnware's own statistical spec (near its training data) instead of randn, so a model
that is only defined on its data's range is not failed for the wrong reason.

Each check raises CheckError(check, reason); check_package runs them in order and stops at the
first failure.
"""

from __future__ import annotations

from pathlib import Path
from types import EllipsisType

import numpy as np

from dock.errors import CheckError, RunnerError
from dock.package.reader import LearnwarePackage
from dock.runtime.limits import WorkerLimits, resolve_limits
from dock.runtime.worker import ModelWorker
from specs.semantic import SemanticView

PROBE_ROWS = 10
CHECKS = ("semantic", "stat_spec", "model_load", "predict")
# Which spec the probe inputs come from when a learnware has several.
PROBE_ORDER = ("RKMETableSpecification", "RKMEImageSpecification", "RKMETextSpecification")
# Data kind (semantic "Data") -> the stat spec such a learnware must carry.
SPEC_FOR_DATA = {"Image": "RKMEImageSpecification", "Text": "RKMETextSpecification"}


def check_semantic(semantic_spec: dict) -> dict:
    """'semantic': the full spec validates; Table needs Input, Classification/Regression Output."""
    from specs import SpecError, validate_semantic_spec

    try:
        sem = validate_semantic_spec(semantic_spec, partial=False)
    except SpecError as exc:
        raise CheckError("semantic", str(exc)) from exc
    view = SemanticView.from_spec(sem)
    if "Table" in view.data_types and view.input_dim is None:
        raise CheckError("semantic", "a Table learnware needs Input.Dimension")
    task = view.task_type
    if task in ("Classification", "Regression") and view.output_dim is None:
        raise CheckError("semantic", f"a {task} learnware needs Output.Dimension")
    return sem


def check_stat_specs(stat_specs: dict, sem: dict) -> None:
    """'stat_spec': at least one; each validates; dist to itself is finite; Table dim matches."""
    from specs import SpecError

    if not stat_specs:
        raise CheckError("stat_spec", "the learnware has no statistical specification")
    for kind, spec in stat_specs.items():
        try:
            spec.validate()
            d = float(spec.dist(spec))
        except (SpecError, ValueError, ArithmeticError) as exc:
            raise CheckError("stat_spec", f"{kind}: {exc}") from exc
        if not np.isfinite(d):
            raise CheckError("stat_spec", f"{kind}: distance to itself is {d}, not finite")
    view = SemanticView.from_spec(sem)
    for data, kind in SPEC_FOR_DATA.items():
        if data in view.data_types and kind not in stat_specs:
            raise CheckError("stat_spec", f"{data} learnwares need an {kind}")
    if "Table" in view.data_types:
        table = stat_specs.get("RKMETableSpecification")
        if table is None:
            raise CheckError("stat_spec", "a Table learnware needs an RKMETableSpecification")
        want = view.input_dim
        if table.dim != want:
            raise CheckError("stat_spec", f"RKMETableSpecification has dimension {table.dim} "
                             f"but the semantic spec says Input.Dimension = {want}")


def as_chw(shape: tuple) -> tuple:
    """An image item shape with the channel axis made explicit: (H, W) is one channel, (1, H, W)."""
    return (1, *shape) if len(shape) == 2 else tuple(shape)


def check_image_input_shape(input_shape: tuple | None, image_spec) -> None:
    """'model_load' (image half): a declared input_shape must be the shape of the images the
    RKMEImageSpecification was fitted on, which is what the probe (and a user) will feed it.
    (H, W) and (1, H, W) are the same single-channel image; None declares nothing."""
    if input_shape is None or image_spec is None:
        return
    fitted = tuple(int(s) for s in image_spec.meta["shape"])
    model = tuple(input_shape)
    if as_chw(model) == as_chw(fitted):
        return
    raise CheckError("model_load", f"model input_shape is {model} but the RKMEImageSpecification was "
                     f"fitted on images of shape {fitted}; fix the model's input_shape (learnware.yaml "
                     f"model kwargs or the model class) to {fitted}, or, if the model really takes "
                     f"{model} images, regenerate the image spec from images of that shape")


def check_model_load(worker: ModelWorker, sem: dict, stat_specs: dict | None = None) -> None:
    """'model_load': the model instantiates in a worker; a reported input_shape matches the
    semantic Input.Dimension (Table) or the image spec's recorded item shape (Image)."""
    try:
        worker.start()
    except RunnerError as exc:
        raise CheckError("model_load", str(exc)) from exc
    if worker.load_notes:
        raise CheckError("model_load", "; ".join(worker.load_notes))
    view = SemanticView.from_spec(sem)
    data = view.data_types
    if "Table" in data and worker.input_shape is not None:
        want = (view.input_dim,)
        if worker.input_shape != want:
            raise CheckError("model_load", f"model input_shape is {worker.input_shape} but the "
                             f"semantic spec says {want}")
    elif "Image" in data:
        check_image_input_shape(worker.input_shape, (stat_specs or {}).get("RKMEImageSpecification"))


def probe_inputs(stat_specs: dict, n: int = PROBE_ROWS) -> np.ndarray:
    """Inputs of the model's own kind: table rows drawn from its RKME (where the model is meant to
    work); for image and text specs, whose points live in a feature space, the spec's
    `probe_inputs` (images of the recorded shape and pixel range; built-in sentences as strings)."""
    spec = next((stat_specs[k] for k in PROBE_ORDER if k in stat_specs), None) or next(iter(stat_specs.values()))
    if hasattr(spec, "probe_inputs"):
        return np.asarray(spec.probe_inputs(n, seed=0))
    if not hasattr(spec, "sample"):
        raise CheckError("predict", f"cannot draw probe inputs from a {spec.type}")
    return np.asarray(spec.sample(n, seed=0), dtype=np.float64)


def check_outputs(outputs: np.ndarray, n_rows: int, model_output_shape: tuple | None, sem: dict) -> tuple:
    """'predict' (output half): length, finiteness, shape, and Task-specific dimensions."""
    out = np.asarray(outputs)
    if out.ndim == 0 or len(out) != n_rows:
        raise CheckError("predict", f"{n_rows} input rows gave output of shape {out.shape}; "
                         "lengths must match")
    if out.dtype.kind not in "biuf":
        raise CheckError("predict", f"outputs must be numbers, got dtype {out.dtype}")
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise CheckError("predict", "outputs contain NaN or infinity")
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if model_output_shape is not None and out.shape[1:] != tuple(model_output_shape):
        raise CheckError("predict", f"each output row has shape {out.shape[1:]} but the model "
                         f"declares output_shape {tuple(model_output_shape)}")
    view = SemanticView.from_spec(sem)
    task, want = view.task_type, view.output_dim
    if task == "Regression" and out.shape[1:] != (want,):
        raise CheckError("predict", f"regression outputs have shape {out.shape[1:]} but the "
                         f"semantic spec says Output.Dimension = {want}")
    if task == "Classification":
        if out.ndim != 2:
            raise CheckError("predict", "classification outputs must be 1-D labels or 2-D scores, "
                             f"got {out.shape}")
        if out.shape[1] == 1:
            # As the reference: labels are class indices 0 .. Dimension-1.
            labels = out[:, 0]
            if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() >= want:
                bad = sorted({float(v) for v in labels if not (0 <= v < want and v == round(v))})[:5]
                fix = int(max(bad)) + 1 if bad and max(bad) >= 0 else want
                raise CheckError("predict", f"labels must be integers in [0, {want}); got e.g. {bad}: "
                                 "Output.Dimension counts the class numbers 0..Dimension-1, not the classes "
                                 f"trained on (pack with --output-dim {fix})")
        elif out.shape[1] != want:
            raise CheckError("predict", f"classification outputs have {out.shape[1]} columns but the "
                             f"semantic spec says Output.Dimension = {want}")
    return out.shape[1:]


def check_package(pkg: LearnwarePackage, folder: Path, *, limits: WorkerLimits | None = None,
                  timeout: float | EllipsisType = ..., memory_limit_mb: int | None | EllipsisType = ...,
                  python: str | None = None, sandbox: bool | str | None = None) -> dict:
    """Run every check on an extracted package; return a small report or raise CheckError.

    `folder` is the package's extracted root (extract_package). The model's worker is closed
    before returning, pass or fail. `sandbox`: as ModelWorker (None: the process default).
    `limits`: the worker's budgets (dock/runtime/limits.py); `timeout`/`memory_limit_mb` override them.
    """
    sem = check_semantic(pkg.semantic_spec)
    check_stat_specs(pkg.stat_specs, sem)
    worker = ModelWorker(folder, pkg.model_config, limits=resolve_limits(limits, timeout=timeout,
                         memory_limit_mb=memory_limit_mb), python=python, sandbox=sandbox)
    try:
        check_model_load(worker, sem, pkg.stat_specs)
        X = probe_inputs(pkg.stat_specs)
        try:
            out = worker.predict(X)
        except RunnerError as exc:
            raise CheckError("predict", str(exc)) from exc
        row_shape = check_outputs(out, len(X), worker.output_shape, sem)
        return {"checks": list(CHECKS), "input_shape": worker.input_shape,
                "output_shape": worker.output_shape, "probe_output_shape": row_shape,
                "load_seconds": worker.start_seconds}
    finally:
        worker.close()
