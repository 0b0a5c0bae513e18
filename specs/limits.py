"""Size limits every statistical spec obeys, checked before anything of that size is allocated.

A spec arrives from strangers (gossiped records, zips, JSON files), so its shape is a claim to
check, not a size to allocate. The limits comfortably admit real use: the reference's default
K is 100; image specs are 128-d and text specs 384-d; wide tables go up to a few thousand
columns at K=100. The value budget keeps one spec's float32 points (<= 2 MiB) well inside a
gossiped record (4 MiB envelope), and the K x K work of a comparison is done in blocks anyway
(specs/kernels.py), so memory stays bounded even at the cap.
"""

from __future__ import annotations

from .errors import SpecError

MAX_POINTS = 1000  # K
MAX_DIM = 8192  # d
MAX_VALUES = 1 << 19  # K x d: 524,288 float32 = 2 MiB (K=100 at d=5242, K=1000 at d=524)
# A spec JSON file (reference format: z as nested lists of decimals) read whole before parsing.
MAX_SPEC_FILE_BYTES = 64 * 1024 * 1024


def check_shape(K: int, d: int, where: str = "spec") -> None:
    """SpecError unless 1 <= K <= MAX_POINTS, 1 <= d <= MAX_DIM and K*d <= MAX_VALUES."""
    if K > MAX_POINTS:
        raise SpecError(f"{where}: K={K} points is not allowed; at most {MAX_POINTS} "
                        "(the reference's default is 100)")
    if d > MAX_DIM:
        raise SpecError(f"{where}: dimension {d} is not allowed; at most {MAX_DIM} features")
    if K * d > MAX_VALUES:
        raise SpecError(f"{where}: K x d = {K} x {d} = {K * d} values is not allowed; at most {MAX_VALUES} "
                        f"(use fewer points: K <= {max(1, MAX_VALUES // d)} at d={d})")


def check_nested_shape(z, where: str = "z") -> None:
    """For a JSON z (list of lists): check K and d from the lists' lengths before numpy copies them."""
    if not isinstance(z, (list, tuple)):
        return  # an array: numpy's own shape is checked after conversion (no copy of a list)
    K = len(z)
    first = z[0] if K else None
    d = len(first) if isinstance(first, (list, tuple)) else 1
    check_shape(K, d, where)


def check_file_size(path) -> None:
    """SpecError if a spec file is larger than MAX_SPEC_FILE_BYTES (checked before it is read)."""
    import os

    size = os.stat(path).st_size
    if size > MAX_SPEC_FILE_BYTES:
        raise SpecError(f"spec file {os.fspath(path)}: {size} bytes is larger than the {MAX_SPEC_FILE_BYTES} "
                        "byte limit")
