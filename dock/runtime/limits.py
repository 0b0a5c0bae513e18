"""`WorkerLimits`: every budget a model worker runs under, in one place.

The submit checks, `Dock.load`, `RemoteDock.load`, `start_learnware` and `ModelWorker` all take
their defaults from `DEFAULT_LIMITS` here, so a budget is written down once. The older keyword
arguments (`timeout=`, `memory_limit_mb=`, ...) still work: `with_keywords` maps them onto a
`WorkerLimits`, where `...` (the default of those keywords) means "as the limits say".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

from dock.errors import WorkerLimitsError  # noqa: F401  (re-exported)
from dock.runtime.worker_main import MAX_FRAME


def _positive_number(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        allowed = "a positive number" + (" or None (no limit)" if optional else "")
        raise WorkerLimitsError(f"worker limit {name}: {value!r} is not allowed; expected {allowed}")


def _positive_int(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        allowed = "a positive integer" + (" or None (no limit)" if optional else "")
        raise WorkerLimitsError(f"worker limit {name}: {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class WorkerLimits:
    """What one model worker may use. `None` on an optional budget means "no limit"."""

    timeout: float = 60.0  # seconds per call (predict, fit, ...); past it the worker is killed
    load_timeout: float | None = None  # seconds to start and load the model; None: as `timeout`
    memory_limit_mb: int | None = 4096  # address space (RLIMIT_AS), set by the worker and the parent
    cpu_limit_s: int | None = 3600  # RLIMIT_CPU: a backstop to the per-call timeout
    disk_limit_mb: int | None = 1024  # the private scratch folder's size
    output_limit_mb: int | None = 64  # stderr the model may print over its life
    max_threads: int | None = 256  # past it the worker is killed (fork is denied in the sandbox)
    max_frame: int = MAX_FRAME  # largest message either way (bytes); never above the wire's cap

    def __post_init__(self) -> None:
        _positive_number("timeout", self.timeout, optional=False)
        _positive_number("load_timeout", self.load_timeout, optional=True)
        for name in ("memory_limit_mb", "cpu_limit_s", "disk_limit_mb", "output_limit_mb", "max_threads"):
            _positive_int(name, getattr(self, name), optional=True)
        _positive_int("max_frame", self.max_frame, optional=False)
        if self.max_frame > MAX_FRAME:
            raise WorkerLimitsError(f"worker limit max_frame: {self.max_frame} is not allowed; "
                                    f"at most {MAX_FRAME} bytes")

    @property
    def effective_load_timeout(self) -> float:
        return float(self.load_timeout if self.load_timeout is not None else self.timeout)

    def with_keywords(self, **keywords: Any) -> WorkerLimits:
        """A copy with the given budgets changed; a keyword passed as `...` keeps this one's value
        (that is how the older keyword arguments of load/submit/ModelWorker map onto limits)."""
        changes = {name: value for name, value in keywords.items() if value is not ...}
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown worker limit(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes) if changes else self


DEFAULT_LIMITS = WorkerLimits()


def resolve_limits(limits: WorkerLimits | None, *, timeout: float | EllipsisType = ...,
                   memory_limit_mb: int | None | EllipsisType = ...) -> WorkerLimits:
    """`limits` (else the defaults) with the public keyword arguments applied on top."""
    return (limits or DEFAULT_LIMITS).with_keywords(timeout=timeout, memory_limit_mb=memory_limit_mb)
