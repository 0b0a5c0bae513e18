"""Helpers that build learnware folders and zips for the package, runner, checks and pack tests.

`write_reference_zip` writes a zip the way the reference `learnware` package's
LearnwareTemplate does (yaml.dump with tuples, flat ZIP_STORED entries, a pickle wrapper, a
reference-format stat spec JSON), so the tests prove lwdock imports such zips unchanged.
"""

from __future__ import annotations

import functools
import json
import pickle
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import yaml

# A pickle wrapper in the reference's style: BaseModel subclass, pickle loaded next to __file__.
REFERENCE_PICKLE_INIT = textwrap.dedent('''
    import os
    import pickle

    import numpy as np

    from learnware.model.base import BaseModel


    class PickleLoadedModel(BaseModel):
        def __init__(self, input_shape, output_shape, predict_method="predict", fit_method="fit",
                     finetune_method="finetune", pickle_filename="model.pkl"):
            super(PickleLoadedModel, self).__init__(input_shape=input_shape, output_shape=output_shape)
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), pickle_filename)
            with open(path, "rb") as fd:
                self.model = pickle.load(fd)
            self.predict_method = predict_method
            self.fit_method = fit_method
            self.finetune_method = finetune_method

        def predict(self, X: np.ndarray) -> np.ndarray:
            return getattr(self.model, self.predict_method)(X)

        def fit(self, X, y):
            getattr(self.model, self.fit_method)(X, y)

        def finetune(self, X, y):
            getattr(self.model, self.finetune_method)(X, y)
''')


def iris():
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype(np.float64), data.target


def fitted_iris_model():
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    return LogisticRegression(max_iter=500).fit(X, y), X, y


def semantic(dim: int = 4, out_dim: int = 3, task: str = "Classification", name: str = "iris-lr") -> dict:
    return {
        "Data": {"Type": "Class", "Values": ["Table"]},
        "Task": {"Type": "Class", "Values": [task]},
        "Library": {"Type": "Class", "Values": ["Scikit-learn"]},
        "Scenario": {"Type": "Tag", "Values": ["Nature"]},
        "License": {"Type": "Class", "Values": ["MIT"]},
        "Name": {"Type": "String", "Values": name},
        "Description": {"Type": "String", "Values": "a test learnware"},
        "Input": {"Dimension": dim, "Description": {"0": "first feature"}},
        "Output": {"Dimension": out_dim, "Description": {"0": "first output"}},
    }


def reference_spec_json(X: np.ndarray, K: int = 8) -> dict:
    """A stat spec as the reference saves one: k-means points, weights summing to 1, gamma 0.1."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(X)
    beta = np.bincount(km.labels_, minlength=K) / len(X)
    return {"z": km.cluster_centers_.tolist(), "beta": beta.tolist(), "gamma": 0.1,
            "num_points": len(X), "type": "RKMETableSpecification"}


def reference_yaml(kwargs: dict, class_name: str = "PickleLoadedModel") -> str:
    config = {
        "model": {"class_name": class_name, "kwargs": kwargs},
        "stat_specifications": [{"module_path": "learnware.specification",
                                 "class_name": "RKMETableSpecification",
                                 "file_name": "stat_spec.json", "kwargs": {}}],
    }
    return yaml.dump(config, allow_unicode=True)  # the reference's save_dict_to_yaml


def reference_files(model=None, X=None, sem: dict | None = None) -> dict[str, bytes]:
    """The files of a reference-layout pickle learnware (iris LogisticRegression by default)."""
    if model is None and X is None and sem is None:
        return dict(_default_reference_files())  # a fresh dict: callers replace entries
    return _reference_files(model, X, sem)


@functools.lru_cache(maxsize=1)
def _default_reference_files() -> tuple[tuple[str, bytes], ...]:
    """The default iris learnware's files, made once: the fits (LogisticRegression, seeded k-means)
    are deterministic, so every call gave these same bytes, and dozens of tests ask for them."""
    return tuple(_reference_files(None, None, None).items())


def _reference_files(model, X, sem: dict | None) -> dict[str, bytes]:
    if model is None:
        model, X, _ = fitted_iris_model()
    kwargs = {"input_shape": (X.shape[1],), "output_shape": (1,), "predict_method": "predict",
              "fit_method": "fit", "finetune_method": "finetune", "pickle_filename": "model.pkl"}
    return {
        "requirements.txt": b"scikit-learn\n",
        "__init__.py": REFERENCE_PICKLE_INIT.encode(),
        "learnware.yaml": reference_yaml(kwargs).encode(),
        "stat_spec.json": json.dumps(reference_spec_json(X), separators=(",", ":")).encode(),
        "model.pkl": pickle.dumps(model),
        "semantic_specification.json": json.dumps(sem or semantic(dim=X.shape[1])).encode(),
    }


def write_zip(zip_path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    """Flat ZIP_STORED entries named by file name only, as the reference's zipper writes them."""
    with zipfile.ZipFile(zip_path, "w") as zf:
        if prefix:
            zf.writestr(zipfile.ZipInfo(prefix), b"")
        for name, data in files.items():
            info = zipfile.ZipInfo(prefix + name)
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    return zip_path


def write_reference_zip(zip_path: Path, **kw) -> Path:
    return write_zip(zip_path, reference_files(**kw))


def model_source(predict_body: str, *, output_shape=(1,), extra: str = "", init_body: str = "") -> str:
    """A small numpy-only learnware model class `M` (fast to start in a worker)."""
    return textwrap.dedent('''
        import os
        import sys
        import time

        import numpy as np

        from learnware.model.base import BaseModel
        {extra}

        class M(BaseModel):
            def __init__(self, input_shape=(4,), output_shape={output_shape!r}):
                super().__init__(input_shape=input_shape, output_shape=output_shape)
        {init}
            def predict(self, X):
        {body}
    ''').format(extra=textwrap.dedent(extra), output_shape=output_shape,
                init=textwrap.indent(textwrap.dedent(init_body), " " * 8),
                body=textwrap.indent(textwrap.dedent(predict_body), " " * 8))


def model_folder(folder: Path, source: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(source)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


def package_files(source: str, X: np.ndarray, sem: dict, kwargs: dict | None = None,
                  class_name: str = "M", spec: dict | None = None) -> dict[str, bytes]:
    """A complete learnware around a model source, with an lwdock-fitted stat spec of X."""
    from specs import generate_stat_spec

    # privacy "none": these learnwares test checks, workers and stores on tables of a few dozen rows,
    # which the private default refuses (tests/specs/test_spec_privacy.py tests that)
    spec = spec or generate_stat_spec(type="table", X=X, K=8, seed=0, privacy="none").to_json_dict()
    return {
        "__init__.py": source.encode(),
        "learnware.yaml": reference_yaml(kwargs or {}, class_name).encode(),
        "stat_spec.json": json.dumps(spec).encode(),
        "semantic_specification.json": json.dumps(sem).encode(),
    }


def build_package(tmp_path: Path, files: dict[str, bytes], name: str = "lw"):
    """Zip the files, read the package and extract it: (LearnwarePackage, extracted folder)."""
    from dock.package.reader import extract_package, read_package

    tmp_path.mkdir(parents=True, exist_ok=True)
    zip_path = write_zip(tmp_path / f"{name}.zip", files)
    return read_package(zip_path), extract_package(zip_path, tmp_path / f"{name}-x")


class Net:
    """Real NetworkServices on 127.0.0.1 in one process, each on its own dock under tmp_path;
    `close()` stops them in reverse order. `bootstrap` takes services or full multiaddrs."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.nodes: list = []

    def add(self, name: str, bootstrap=(), budgets=None, submit: Path | None = None):
        from dock import Dock
        from dock.network.service import NetworkService

        dock = Dock.open(self.tmp_path / name)
        if submit is not None:  # stored before the node is online: peers can only sync it
            dock.submit(submit)
        service = NetworkService(dock, budgets=budgets)
        addrs = [b if isinstance(b, str) else b.node.addrs[0] for b in bootstrap or ()]
        service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=addrs)
        self.nodes.append(service)
        return service

    def close(self) -> None:
        for service in reversed(self.nodes):
            service.stop()
            service.dock.close()
