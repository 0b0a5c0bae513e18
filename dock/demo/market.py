"""Demo learnwares made from scikit-learn's bundled datasets (no downloads).

Each dataset gives one or more learnwares, trained on different class subsets so that a
statistical search has something to tell apart. Used by `lwdock demo`, the examples and tests.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class DemoLearnware:
    name: str
    description: str
    dataset: str  # a sklearn.datasets loader name, e.g. "load_digits"
    classes: tuple[int, ...] | None  # None: all rows
    task: str
    scenario: str
    # A different feature distribution: keep rows whose column `col` is below (or, with
    # above=True, at least) `threshold`; (col, threshold, above). None: no filter.
    rows: tuple[int, float, bool] | None = None


DEMO_LEARNWARES = [
    DemoLearnware(
        "Iris species classifier",
        "Logistic regression on the four flower measurements (sepal and petal length and width) of the iris dataset.",
        "load_iris",
        None,
        "Classification",
        "Nature",
    ),
    DemoLearnware(
        "Wine cultivar classifier",
        "Predicts one of three cultivars from 13 chemical measurements.",
        "load_wine",
        None,
        "Classification",
        "Agriculture",
    ),
    DemoLearnware(
        "Breast cancer diagnosis",
        "Benign or malignant from 30 features of cell nuclei images.",
        "load_breast_cancer",
        None,
        "Classification",
        "Health",
    ),
    DemoLearnware(
        "Diabetes progression regressor",
        "Ridge regression of disease progression one year after baseline from 10 measurements.",
        "load_diabetes",
        None,
        "Regression",
        "Health",
    ),
    DemoLearnware(
        "Digits 0-3 recogniser",
        "8x8 handwritten digit images, trained on digits 0 to 3 only.",
        "load_digits",
        (0, 1, 2, 3),
        "Classification",
        "Education",
    ),
    DemoLearnware(
        "Digits 3-6 recogniser",
        "8x8 handwritten digit images, trained on digits 3 to 6 only.",
        "load_digits",
        (3, 4, 5, 6),
        "Classification",
        "Education",
    ),
    DemoLearnware(
        "Digits 6-9 recogniser",
        "8x8 handwritten digit images, trained on digits 6 to 9 only.",
        "load_digits",
        (6, 7, 8, 9),
        "Classification",
        "Education",
    ),
    DemoLearnware(
        "Even digits recogniser",
        "8x8 handwritten digit images, trained on 0, 2, 4, 6 and 8.",
        "load_digits",
        (0, 2, 4, 6, 8),
        "Classification",
        "Education",
    ),
]


def load_dataset(loader: str, classes: tuple[int, ...] | None = None,
                 rows: tuple[int, float, bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets

    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    if classes is not None:
        keep = np.isin(y, classes)
        X, y = X[keep], y[keep]
    if rows is not None:
        col, threshold, above = rows
        keep = X[:, col] >= threshold if above else X[:, col] < threshold
        X, y = X[keep], y[keep]
    return X, y


def _fit(item: DemoLearnware, X: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if item.task == "Regression":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X, y)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)


def build_demo_zips(out_dir: Path, items=DEMO_LEARNWARES, progress: Callable[[str], None] | None = None,
                    reuse_existing: bool = False) -> list[Path]:
    """Train, pack and return the zip paths of the demo learnwares (deterministic bytes).
    `reuse_existing`: keep zips already in `out_dir` (a cache keyed by the item list)."""
    from dock.package.pack import pack_learnware
    from specs import generate_semantic_spec

    out_dir.mkdir(parents=True, exist_ok=True)
    zips = []
    for n, item in enumerate(items, 1):
        cached = out_dir / f"{item.dataset.removeprefix('load_')}-{n}.zip"
        if reuse_existing and cached.is_file():
            zips.append(cached)
            continue
        if progress:
            progress(f"[{n}/{len(items)}] packing {item.name}")
        X, y = load_dataset(item.dataset, item.classes, item.rows)
        full_y = load_dataset(item.dataset)[1]
        model = _fit(item, X, y)
        output_dim = 1 if item.task == "Regression" else int(len(np.unique(full_y)))
        semantic = generate_semantic_spec(
            name=item.name,
            description=item.description,
            data_type="Table",
            task_type=item.task,
            library_type="Scikit-learn",
            scenarios=[item.scenario],
            license="MIT",
            input_description={"Dimension": int(X.shape[1]), "Description": {}},
            output_description={"Dimension": output_dim, "Description": {}},
        )
        with tempfile.TemporaryDirectory() as tmp:
            model_file = Path(tmp) / "model.pkl"
            model_file.write_bytes(pickle.dumps(model, protocol=4))
            zip_path = out_dir / f"{item.dataset.removeprefix('load_')}-{n}.zip"
            zips.append(pack_learnware(zip_path, model_file=model_file, X=X, semantic_spec=semantic))
    return zips
