"""`learnware.learnware`: the reference's `Learnware` over a learnware stored in (or loaded by) a dock.

A `Learnware` here names a learnware by id and reads its specs from the dock; its model runs in an
lwdock worker process (sandboxed, see docs/ARCHITECTURE.md), started on the first `predict` or by
`instantiate_model()`, never inside the script's process. So:

* `get_model()` returns the model config dict before `instantiate_model()` (as the reference does) and
  the running model (an `dock.runtime.loaded.LoadedLearnware`, with predict/fit/finetune) after it.
* `get_dirpath()` is the unpacked folder the worker runs from (read-only use; the dock owns it).
* `update_semantic_spec` / `update_stat_spec` change this object only; to change what the dock
  stores, use the market's `update_learnware` (a newer signed record, see dock.dock.Dock.update_semantic).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..specification import Specification

log = logging.getLogger(__name__)


class Learnware:
    def __init__(self, id: str, model: Any, specification: Specification, learnware_dirpath: str | None = None,  # noqa: A002
                 *, dock: Any = None, loaded: Any = None):
        self.id = id
        self.model = model
        self.specification = specification
        self.dirpath = learnware_dirpath
        self._dock = dock
        self._loaded = loaded

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r}, {self.specification!r})"

    # -- the model ------------------------------------------------------------------------
    def instantiate_model(self) -> None:
        """Start the model's worker (idempotent)."""
        if self._loaded is None:
            if self._dock is None:
                raise RuntimeError(f"learnware {self.id} is not attached to a dock; load it through a market or client")
            self._loaded = self._dock.load(self.id)
            self.model = self._loaded

    def predict(self, X) -> np.ndarray:
        self.instantiate_model()
        return self._loaded.predict(X)

    def fit(self, X, y) -> None:
        self.instantiate_model()
        self._loaded.fit(X, y)

    def finetune(self, X, y) -> None:
        self.instantiate_model()
        self._loaded.finetune(X, y)

    def get_model(self) -> Any:
        return self.model

    def close(self) -> None:
        """Stop the model's worker (lwdock's addition; the reference's models live in-process)."""
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None

    # -- specs ----------------------------------------------------------------------------
    def get_specification(self) -> Specification:
        return self.specification

    @property
    def semantic_spec(self) -> dict:  # what lwdock's reusers read
        return self.specification.get_semantic_spec() or {}

    @property
    def stat_specs(self) -> dict:
        return self.specification.get_stat_spec()

    def get_stat_spec(self, spec_type: str | None = None):
        specs = self.specification.get_stat_spec()
        if spec_type is None:
            return next(iter(specs.values()), None)
        return specs.get(spec_type)

    def get_dirpath(self) -> str | None:
        if self.dirpath is None and self._dock is not None:
            self.dirpath = str(self._dock.prepare_load(self.id)[1])
        return self.dirpath

    def update_stat_spec(self, name: str, new_stat_spec) -> None:
        self.specification.update_stat_spec(**{name: new_stat_spec})

    def update_semantic_spec(self, new_semantic_spec: dict) -> None:
        self.specification.update_semantic_spec(new_semantic_spec)

    def update(self) -> None:
        """The reference leaves this to subclasses; nothing to do here."""


def learnware_from_dock(dock: Any, learnware_id: str, loaded: Any = None) -> Learnware:
    """A `Learnware` for a learnware in `dock` (specs read now, the model started on first use)."""
    record = dock.get(learnware_id)
    stat_specs = dock.get_stat_specs(record.id)
    spec = Specification(semantic_spec=dict(record.semantic_spec), stat_spec=_reference_classes(stat_specs))
    return Learnware(record.id, dict(record.model_config), spec, dock=dock, loaded=loaded)


def _reference_classes(stat_specs: dict) -> dict:
    """Native specs as the compat classes (same data, the reference's methods: get_z, load, herding...)."""
    from ..specification import rkme

    classes = {"RKMETableSpecification": rkme.RKMETableSpecification,
               "RKMEImageSpecification": rkme.RKMEImageSpecification,
               "RKMETextSpecification": rkme.RKMETextSpecification}
    out = {}
    for name, spec in stat_specs.items():
        cls = classes.get(spec.type)
        if cls is not None and not isinstance(spec, cls):
            converted: Any = object.__new__(cls)
            converted.__dict__.update(spec.__dict__)
            spec = converted
        out[name] = spec
    return out


def get_learnware_from_dirpath(id: str, semantic_spec: dict, learnware_dirpath, ignore_error: bool = True):  # noqa: A002
    """A `Learnware` from an unpacked learnware folder, read with lwdock's hostile-input package reader.
    Its model can run only once the folder is stored in a dock (market.add_learnware or a client's
    load_learnware(learnware_path=...)); here its specs are available. None on failure unless
    ignore_error is False, as in the reference."""
    from pathlib import Path

    from dock.package.reader import read_folder

    try:
        package = read_folder(Path(learnware_dirpath), Path(learnware_dirpath), str(id), semantic_spec)
    except Exception as exc:  # the reference's contract: log and return None
        if not ignore_error:
            raise
        log.warning("Load Learnware %s failed! Due to %s", id, exc)
        return None
    spec = Specification(semantic_spec=dict(package.semantic_spec), stat_spec=_reference_classes(package.stat_specs))
    return Learnware(str(id), dict(package.model_config), spec, str(learnware_dirpath))


__all__ = ["Learnware", "get_learnware_from_dirpath"]
