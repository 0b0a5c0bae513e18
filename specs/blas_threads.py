"""Holding BLAS to one thread for a stretch of numpy work.

On two cores, small matrix products run faster on one BLAS thread than on two that hand work back
and forth (measured for spec fits and for search queries), and a node runs several such jobs at once.
threadpoolctl's controller is found once per process: scanning the loaded libraries costs ~0.4 ms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

_blas: Any = None  # threadpoolctl controller of the BLAS libraries (False: none), found once


@contextmanager
def blas_single_thread() -> Iterator[None]:
    """Hold BLAS to one thread (process-wide, for the duration of the block)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController  # a declared dependency (and scikit-learn's)
        except ImportError:  # pragma: no cover - then BLAS keeps its own threading
            _blas = False
        else:
            _blas = ThreadpoolController().select(user_api="blas")
    with _blas.limit(limits=1) if _blas else nullcontext():
        yield
