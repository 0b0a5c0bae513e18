"""`learnware.specification` on lwdock: the reference's spec classes and generate_* functions.

    from dock.compat.learnware.specification import generate_stat_spec, RKMETableSpecification
    spec = generate_stat_spec(type="table", X=X, reduced_set_size=50)   # the reference's keywords
    user_spec = RKMETableSpecification(); user_spec.load("stat_spec.json")

What differs from the reference, and why, is in `.rkme`'s docstring and docs/COMPAT.md. In short:
table specs keep the reference's gamma (0.1 by default) and search re-estimates a degenerate one;
image specs are lwdock's (features of a fixed seeded random conv net), so a reference-made image
spec file cannot be loaded; text specs are lwdock's (all-MiniLM-L6-v2, offline).
"""

from __future__ import annotations

from specs import SpecError
from specs.simplex_qp import solve_simplex_qp

from .base import BaseStatSpecification, RegularStatSpecification, Specification
from .rkme import (
    REFERENCE_GAMMA,
    RKMEImageSpecification,
    RKMEStatSpecification,
    RKMETableSpecification,
    RKMETextSpecification,
)

# The reference caps reduced_set_size x features at this many numbers (config.C.max_reduced_set_size).
MAX_REDUCED_SET_SIZE = 1310720


def rkme_solve_qp(K, C):
    """min 1/2 x'Kx - C'x on the simplex; returns (x, objective) like the reference (numpy, not torch)."""
    import numpy as np

    K = np.asarray(K, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64).reshape(-1)
    # solve_simplex_qp minimises x'Hx - 2c'x, twice the objective above: the same argmin with H = K, c = C
    x = np.asarray(solve_simplex_qp(K, C), dtype=np.float64)
    return x, float(0.5 * x @ K @ x - C @ x)


def generate_rkme_table_spec(X, gamma: float = REFERENCE_GAMMA, reduced_set_size: int = 100, step_size: float = 0.1,
                             steps: int = 3, nonnegative_beta: bool = True, reduce: bool = True,
                             cuda_idx: int | None = None, *, privacy: str | None = None,
                             allow_small: bool = False) -> RKMETableSpecification:
    """The reference's table RKME: reduced_set_size points (capped like the reference: at most
    max_reduced_set_size numbers, at least 20 points, and 2/3 of the rows), gamma kept as given.

    Unlike the reference, the spec is private by default (specs/privacy.py: at most sqrt(rows) noised
    points, none nearer a row than rows are to each other; under 50 rows refused unless
    allow_small=True): the reference's spec can publish its rows verbatim. privacy="none" gives the
    reference's plain fit; reduce=False is the rows themselves, as the reference does when asked."""
    from .rkme import _as_rows

    X = _as_rows(X)
    if reduced_set_size * X[0].size > MAX_REDUCED_SET_SIZE:
        reduced_set_size = max(20, MAX_REDUCED_SET_SIZE // X[0].size)
    spec = RKMETableSpecification(gamma=gamma, cuda_idx=cuda_idx)
    spec.generate_stat_spec_from_data(X, reduced_set_size, step_size, steps, nonnegative_beta, reduce,
                                      privacy=privacy, allow_small=allow_small)
    return spec


def generate_rkme_image_spec(X, reduced_set_size: int = 50, step_size: float = 0.01, steps: int = 100,
                             resize: bool = True, sample_size: int = 5000, nonnegative_beta: bool = True,
                             reduce: bool = True, verbose: bool = True, cuda_idx: int | None = None,
                             **kwargs) -> RKMEImageSpecification:
    """lwdock's image RKME of images (N, C, H, W) or (N, H, W): reduced_set_size points in the features
    of lwdock's fixed random conv net. resize, sample_size, step_size and steps are the reference's
    image-space optimisation knobs and have no counterpart (images are not resized)."""
    spec = RKMEImageSpecification(cuda_idx=cuda_idx)
    spec.generate_stat_spec_from_data(X, reduced_set_size, step_size, steps, resize, sample_size,
                                      nonnegative_beta, reduce, verbose, **kwargs)
    return spec


def generate_rkme_text_spec(X, gamma: float = REFERENCE_GAMMA, reduced_set_size: int = 100, step_size: float = 0.1,
                            steps: int = 3, nonnegative_beta: bool = True, reduce: bool = True,
                            cuda_idx: int | None = None) -> RKMETextSpecification:
    """lwdock's text RKME of a list of strings (all-MiniLM-L6-v2 features, offline)."""
    if not isinstance(X, list) or not all(isinstance(item, str) for item in X):
        raise TypeError("Input data must be a list of strings.")
    spec = RKMETextSpecification(gamma=gamma, cuda_idx=cuda_idx)
    spec.generate_stat_spec_from_data(X, reduced_set_size, step_size, steps, nonnegative_beta, reduce)
    return spec


def generate_stat_spec(type: str, X, *args, **kwargs):  # noqa: A002 (the reference's name)
    """`generate_stat_spec(type="table"|"image"|"text", X=X, **the kind's keywords)`."""
    if type == "table":
        return generate_rkme_table_spec(X, *args, **kwargs)
    if type == "text":
        return generate_rkme_text_spec(X, *args, **kwargs)
    if type == "image":
        return generate_rkme_image_spec(X, *args, **kwargs)
    raise TypeError(f"type {type} is not supported!")


def generate_semantic_spec(name=None, description=None, data_type=None, task_type=None, library_type=None,
                           scenarios=None, license=None, input_description=None,  # noqa: A002
                           output_description=None) -> dict:
    """The reference's dict, built exactly as it builds it (empty Values for what is not given)."""
    spec = {
        "Data": {"Type": "Class", "Values": [data_type] if data_type is not None else []},
        "Task": {"Type": "Class", "Values": [task_type] if task_type is not None else []},
        "Library": {"Type": "Class", "Values": [library_type] if library_type is not None else []},
    }
    licenses = [license] if isinstance(license, str) else license
    spec["License"] = {"Type": "Class", "Values": licenses if licenses is not None else []}
    scenarios = [scenarios] if isinstance(scenarios, str) else scenarios
    spec["Scenario"] = {"Type": "Tag", "Values": scenarios if scenarios is not None else []}
    spec["Name"] = {"Type": "String", "Values": name if name is not None else ""}
    spec["Description"] = {"Type": "String", "Values": description if description is not None else ""}
    if input_description is not None:
        spec["Input"] = input_description
    if output_description is not None:
        spec["Output"] = output_description
    return spec


__all__ = [
    "BaseStatSpecification",
    "Specification",
    "RegularStatSpecification",
    "RKMEImageSpecification",
    "RKMEStatSpecification",
    "RKMETableSpecification",
    "RKMETextSpecification",
    "SpecError",
    "rkme_solve_qp",
    "generate_rkme_image_spec",
    "generate_rkme_table_spec",
    "generate_rkme_text_spec",
    "generate_semantic_spec",
    "generate_stat_spec",
]
