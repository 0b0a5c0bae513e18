"""The reference's RKME spec classes over lwdock's (specs/table.py, image.py, text.py).

Each class IS lwdock's spec class (a subclass), so a spec made here is stored, sent and searched by
the dock like any other. What the reference does differently, and what this layer does:

* `RKMETableSpecification()` builds an empty spec (z and beta None) that `load(path)` or
  `generate_stat_spec_from_data(X, ...)` fills in place, as in the reference; lwdock's own form
  `RKMETableSpecification(z, beta, gamma)` still works. `load` returns True on the instance and a new
  spec when called on the class (lwdock's classmethod use).
* gamma defaults to the reference's 0.1. Used as a search query, a gamma that is degenerate for the
  spec's own points is re-estimated by the search (dock/search/query.py, `query_gamma`).
* `dist(other)` uses ONE kernel (self.gamma) for all three terms; the reference computes each inner
  product under its own left operand's gamma, which mixes two kernels when the gammas differ (a bug:
  the result is not an MMD). `inner_prod` likewise.
* `cuda_idx` is accepted and ignored: lwdock computes specs on the CPU (numpy), no torch on this path.
* `nonnegative_beta=False` is refused: lwdock's specs keep beta on the simplex (negative weights are
  refused on receipt), so such a spec could never be stored. `step_size` is accepted and unused: the
  points move by lwdock's own update; `steps` is the number of alternating rounds, as in the reference.
* `herding(T)` returns T points by kernel herding over the spec's points and samples around them
  (dock/reuse/job_selector.py `herd`), the reference's candidates-plus-greedy scheme.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from specs import SpecError
from specs.image import RKMEImageSpecification as _NativeImage
from specs.table import RKMETableSpecification as _NativeTable
from specs.text import RKMETextSpecification as _NativeText

log = logging.getLogger(__name__)

REFERENCE_GAMMA = 0.1


class _InstanceOrClassMethod:
    """`obj.load(path)` fills obj in place (the reference); `Class.load(path)` returns a new spec (lwdock)."""

    def __init__(self, func):
        self.func = func

    def __get__(self, obj, owner):
        if obj is None:
            return lambda *a, **k: owner._load_new(*a, **k)
        return lambda *a, **k: self.func(obj, *a, **k)


def _check_fit_options(nonnegative_beta: bool, cuda_idx: Any) -> None:
    if not nonnegative_beta:
        raise SpecError("nonnegative_beta=False is not supported: lwdock keeps RKME weights on the simplex "
                        "(weights >= 0, sum 1), and refuses specs with negative weights")
    if cuda_idx not in (None, -1):
        log.debug("cuda_idx=%r ignored: lwdock computes RKME specs on the CPU", cuda_idx)


class _ReferenceStyle(_NativeTable):
    """What the three reference classes share: empty construction, in-place load, get_z/get_beta."""

    def _empty(self, gamma: float, type_name: str) -> None:
        self.z = None  # type: ignore[assignment]  # empty until load / generate_stat_spec_from_data
        self.beta = None  # type: ignore[assignment]
        self.gamma = gamma
        self.num_points = 0
        self.version = 1
        self.privacy = None
        self._empty_type = type_name

    def _fill_from(self, spec) -> None:
        for key, value in spec.__dict__.items():
            if not key.startswith("_"):
                setattr(self, key, value)

    def _require_filled(self) -> None:
        if self.z is None:
            raise SpecError(f"this {self.type} is empty: load(path) or generate_stat_spec_from_data(X) first")

    def _load_into(self, filepath) -> bool:
        from specs import load_spec

        spec = load_spec(str(filepath))
        if spec.type != self.type:
            raise TypeError(f"The type of loaded RKME ({spec.type}) is different from the expected type ({self.type})!")
        self._fill_from(spec)
        return True

    @classmethod
    def _load_new(cls, filepath):
        spec = cls.__new__(cls)
        spec._empty(REFERENCE_GAMMA, cls.type)
        spec._load_into(filepath)
        return spec

    def get_z(self) -> np.ndarray:
        self._require_filled()
        return self.z.copy()

    def get_beta(self) -> np.ndarray:
        self._require_filled()
        return self.beta.copy()

    def get_states(self) -> dict:
        self._require_filled()
        return {"type": self.type, "z": self.get_z(), "beta": self.get_beta(), "gamma": self.gamma,
                "num_points": self.num_points}

    def inner_prod(self, other, gamma=None) -> float:
        self._require_filled()
        return super().inner_prod(other, gamma)

    def dist(self, other, omit_term1: bool = False, gamma=None) -> float:  # type: ignore[override]
        """MMD^2 under one kernel (self.gamma unless gamma is given); omit_term1 drops <self, self>
        (the reference's signature: dist(Phi2, omit_term1=False))."""
        self._require_filled()
        value = super().dist(other, gamma)
        if omit_term1:
            value -= super().inner_prod(self, gamma)
        return float(value)

    def herding(self, T: int) -> np.ndarray:
        from dock.reuse.job_selector import herd

        self._require_filled()
        return herd(self, int(T))

    def save(self, path) -> None:
        self._require_filled()
        super().save(path)


class RKMETableSpecification(_ReferenceStyle):
    """`RKMETableSpecification(gamma=0.1, cuda_idx=None)` (empty, the reference's form) or lwdock's
    `RKMETableSpecification(z, beta, gamma, ...)`."""

    def __init__(self, *args, gamma: float = REFERENCE_GAMMA, cuda_idx: Any = None, **kwargs):
        if len(args) >= 2 or "z" in kwargs:
            if len(args) < 3 and "gamma" not in kwargs:
                kwargs["gamma"] = gamma
            _NativeTable.__init__(self, *args, **kwargs)
            return
        self._empty(args[0] if args else gamma, self.type)
        self._cuda_idx = cuda_idx

    load = _InstanceOrClassMethod(_ReferenceStyle._load_into)

    def generate_stat_spec_from_data(self, X, K: int = 100, step_size: float = 0.1, steps: int = 3,
                                     nonnegative_beta: bool = True, reduce: bool = True, *,
                                     privacy: str | None = None, allow_small: bool = False) -> None:
        """Private by default, like every lwdock table spec (see generate_rkme_table_spec)."""
        _check_fit_options(nonnegative_beta, getattr(self, "_cuda_idx", None))
        X = _as_rows(X)
        n = X.shape[0]
        K = max(1, n * 2 // 3) if K >= n else int(K)  # the reference's cap
        if not reduce:
            spec = _NativeTable(X, np.full(n, 1.0 / n), self.gamma, num_points=n)
        else:
            spec = _NativeTable.fit(X, K=K, gamma=self.gamma, rounds=max(int(steps), 0), privacy=privacy,
                                    allow_small=allow_small)
        self._fill_from(spec)

    def validate(self):
        self._require_filled()
        return super().validate()


class RKMEStatSpecification(RKMETableSpecification):
    """The reference's old nickname for RKMETableSpecification (same type name)."""


class RKMEImageSpecification(_ReferenceStyle, _NativeImage):  # type: ignore[misc]  # dist(Phi2, omit_term1)
    """lwdock's image spec (features of a fixed seeded random conv net, see specs/image.py) with the
    reference's construction and methods. A spec file made by the reference itself (K images as points)
    loads as such and is compared under the reference's own NNGP kernel (specs/ref_image.py); its
    get_z() gives the images (K, C, 32, 32), as the reference's does. See docs/COMPAT.md."""

    def __init__(self, *args, cuda_idx: Any = None, **kwargs):
        if len(args) >= 2 or "z" in kwargs:
            _NativeImage.__init__(self, *args, **kwargs)
            return
        self._empty(kwargs.get("gamma", REFERENCE_GAMMA), self.type)
        self.embedder, self.meta = "", {}
        self._cuda_idx = cuda_idx

    load = _InstanceOrClassMethod(_ReferenceStyle._load_into)

    def get_z(self) -> np.ndarray:
        from specs.ref_image import images, is_reference_image

        self._require_filled()
        return images(self) if is_reference_image(self) else self.z.copy()

    def save(self, path) -> None:
        """A reference-made spec is written in the reference's own layout (the reference can read it back)."""
        from specs.ref_image import is_reference_image, reference_to_json

        self._require_filled()
        if not is_reference_image(self):
            return super().save(path)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(reference_to_json(self), f, separators=(",", ":"))

    def generate_stat_spec_from_data(self, X, K: int = 50, step_size: float = 0.01, steps: int = 100,
                                     resize: bool = True, sample_size: int = 5000, nonnegative_beta: bool = True,
                                     reduce: bool = True, verbose: bool = True, *, privacy: str | None = None,
                                     allow_small: bool = False, **kwargs) -> None:
        """Private by default, like lwdock's native image spec (specs/image.py); privacy="none" the plain one."""
        _check_fit_options(nonnegative_beta, getattr(self, "_cuda_idx", None))
        self._fill_from(_NativeImage.fit(_as_images(X), K=int(K), privacy=privacy, allow_small=allow_small))


class RKMETextSpecification(_ReferenceStyle, _NativeText):
    """lwdock's text spec (all-MiniLM-L6-v2 features, offline) with the reference's construction."""

    def __init__(self, *args, gamma: float = REFERENCE_GAMMA, cuda_idx: Any = None, **kwargs):
        if len(args) >= 2 or "z" in kwargs:
            _NativeText.__init__(self, *args, **kwargs)
            return
        self._empty(args[0] if args else gamma, self.type)
        self.embedder, self.meta = "", {}
        self._cuda_idx = cuda_idx

    load = _InstanceOrClassMethod(_ReferenceStyle._load_into)

    def generate_stat_spec_from_data(self, X, K: int = 100, step_size: float = 0.1, steps: int = 3,
                                     nonnegative_beta: bool = True, reduce: bool = True) -> None:
        _check_fit_options(nonnegative_beta, getattr(self, "_cuda_idx", None))
        if not isinstance(X, list) or not all(isinstance(item, str) for item in X):
            raise TypeError("Input data must be a list of strings.")
        # The reference's 0.1 is a scale in ITS embedder's space; lwdock embeds with another model, so the
        # default means "lwdock's policy" (median heuristic); any other gamma is used as given.
        gamma = None if self.gamma == REFERENCE_GAMMA else self.gamma
        spec = _NativeText.fit(X, K=int(K), gamma=gamma, rounds=max(int(steps), 0))
        self._fill_from(spec)


def _as_rows(X) -> np.ndarray:
    X = _to_numpy(X)
    A = np.ascontiguousarray(X, dtype=np.float64)
    if A.ndim < 2:
        raise SpecError(f"X must have one row per sample, got shape {A.shape}")
    return A.reshape(A.shape[0], -1)


def _as_images(X) -> np.ndarray:
    return np.asarray(_to_numpy(X))


def _to_numpy(X):
    """numpy arrays, pandas frames and torch tensors (the reference's convert_to_numpy)."""
    if hasattr(X, "detach") and hasattr(X, "cpu"):
        return X.detach().cpu().numpy()
    if hasattr(X, "to_numpy"):
        return X.to_numpy()
    return np.asarray(X)
