"""A learnware ready to run: its record plus a worker process holding its model.

The model never enters this process; `predict` ships arrays to the worker and back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dock.errors import RunnerError
from dock.records import LearnwareRecord
from dock.runtime.limits import DEFAULT_LIMITS, WorkerLimits


class LoadedLearnware:
    def __init__(self, record: LearnwareRecord, worker: Any, stat_specs: dict[str, Any]):
        self.record = record
        self._worker = worker
        self.stat_specs = stat_specs

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def semantic_spec(self) -> dict:
        return self.record.semantic_spec

    def get_specification(self) -> dict:
        return {"semantic": self.record.semantic_spec, "stat": self.stat_specs}

    def get_stat_spec(self, spec_type: str | None = None) -> Any:
        if spec_type is None:
            return next(iter(self.stat_specs.values()), None)
        return self.stat_specs.get(spec_type)

    @property
    def input_shape(self):
        return self._worker.input_shape

    @property
    def output_shape(self):
        return self._worker.output_shape

    @property
    def sandbox(self) -> str:
        """What confines the worker, as it reported at load: "sandbox: off" when unconfined,
        else the layers in force (see dock/runtime/sandbox.py). A worker that cannot get every
        required layer never loads (SandboxUnavailable), so this never overstates."""
        return getattr(self._worker, "sandbox", "sandbox: unknown")

    def predict(self, X) -> np.ndarray:
        """The model's output on X; one row per input row, else RunnerError for this call."""
        X = np.asarray(X)
        out = self._worker.predict(X)
        rows = X.shape[0] if X.ndim else None
        if out.ndim == 0 or (rows is not None and out.shape[0] != rows):
            raise RunnerError(f"learnware {self.id[:12]} returned shape {out.shape} for {rows} input rows")
        width = self.record.output_dim
        if out.ndim == 2 and width and out.shape[1] not in (1, width):
            raise RunnerError(f"learnware {self.id[:12]} returned {out.shape[1]} columns; its semantic spec "
                              f"says Output.Dimension {width} (or labels, one column)")
        return out

    def fit(self, X, y) -> None:
        self._worker.call("fit", np.asarray(X), np.asarray(y))

    def finetune(self, X, y) -> None:
        self._worker.call("finetune", np.asarray(X), np.asarray(y))

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> "LoadedLearnware":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LoadedLearnware {self.id[:12]} {self.record.name!r}>"


def start_learnware(record: LearnwareRecord, folder, stat_specs: dict[str, Any], venvs_root, *,
                    limits: WorkerLimits = DEFAULT_LIMITS, isolation: str = "process",
                    sandbox: bool | str | None = None, allow_index: bool = False) -> LoadedLearnware:
    """Start a worker for an unpacked learnware (shared by the embedded and the remote dock).

    isolation "process": the worker runs the dock's Python and packages. "venv": it runs in a venv
    built from the learnware's requirements, cached per requirements set under `venvs_root`
    (dock/runtime/venvs.py); offline unless allow_index. sandbox: None = the process default ("on" unless
    the CLI's --unsafe-no-sandbox), "on"/True = the full sandbox or SandboxUnavailable, "off"/False
    = unconfined (dock/runtime/sandbox.py). `limits`: the worker's budgets (dock/runtime/limits.py).
    The dock home (venvs_root's parent) is kept unreadable."""
    from dock.runtime.worker import ModelWorker

    if isolation not in ("process", "venv"):
        raise ValueError(f"isolation must be 'process' or 'venv', got {isolation!r}")
    python = None
    if isolation == "venv":
        from dock.runtime.venvs import ensure_venv, requirements_of

        python = str(ensure_venv(venvs_root, requirements_of(folder), allow_index=allow_index))
    worker = ModelWorker(folder, record.model_config, limits=limits, python=python, sandbox=sandbox,
                         protect=(str(Path(venvs_root).parent),))
    worker.start()
    return LoadedLearnware(record, worker, stat_specs)
