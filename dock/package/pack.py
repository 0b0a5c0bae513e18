"""Build a learnware zip for a developer, in the reference layout, deterministically.

The developer brings a fitted model (a pickle/joblib file, or a Python file with a model class),
the training inputs X and a semantic spec. We write the statistical spec, the YAML, the wrapper
code and the zip. The model is never unpickled or imported in this process: its output shape is
learned by running it in a ModelWorker on a copy of the package folder.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from dock.errors import PackageError, RunnerError
from dock.package.reader import SEMANTIC_FILE, YAML_FILE, read_package, write_package_zip
from dock.package.submission_checks import as_chw
from dock.runtime.limits import DEFAULT_LIMITS
from dock.runtime.worker import ModelWorker, summarise_model_failure
from specs.semantic import SemanticView

PICKLE_FILE = "model.pkl"
SPEC_FILE = "stat_spec.json"
PROBE_ROWS = 5

# Our wrapper for pickled models. It imports BaseModel from the reference's path so the zip also
# loads in the reference `learnware` package; in lwdock the worker provides that module.
PICKLE_WRAPPER = '''"""Wraps a pickled (or joblib-saved) model as a learnware model. Written by lwdock."""

import os
import pickle

from learnware.model.base import BaseModel


def _load(path):
    try:
        import joblib  # reads joblib's own format as well as plain pickles
    except ImportError:
        joblib = None
    if joblib is not None:
        return joblib.load(path)
    with open(path, "rb") as f:
        return pickle.load(f)


class PickleLoadedModel(BaseModel):
    def __init__(self, input_shape, output_shape, predict_method="predict", fit_method="fit",
                 finetune_method="finetune", pickle_filename="model.pkl"):
        super().__init__(input_shape=input_shape, output_shape=output_shape)
        here = os.path.dirname(os.path.abspath(__file__))
        self.model = _load(os.path.join(here, pickle_filename))
        self.predict_method = predict_method
        self.fit_method = fit_method
        self.finetune_method = finetune_method

    def predict(self, X):
        return getattr(self.model, self.predict_method)(X)

    def fit(self, X, y):
        getattr(self.model, self.fit_method)(X, y)

    def finetune(self, X, y):
        # Most scikit-learn estimators have no finetune: refitting is the honest fallback.
        method = getattr(self.model, self.finetune_method, None) or getattr(self.model, self.fit_method)
        method(X, y)
'''


def _data_kind(semantic_spec: dict) -> str:
    """"table", "image" or "text", from the semantic spec's Data field (Table when absent)."""
    data_type = SemanticView.from_spec(semantic_spec).data_type or "Table"
    kind = data_type.lower()
    if kind not in ("table", "image", "text"):
        raise PackageError(f"semantic spec Data {data_type!r}: pack makes Table, Image or Text learnwares")
    return kind


def _inputs(kind: str, X) -> tuple[object, np.ndarray, tuple | None]:
    """(what the spec is fitted on, what the model is probed with, the model's input_shape)."""
    if kind == "text":
        docs = [X] if isinstance(X, str) else list(X)
        if not docs or not all(isinstance(d, str) for d in docs):
            raise PackageError("a Text learnware's X must be a non-empty list of strings")
        return docs, np.asarray(docs, dtype=str), None
    X = np.asarray(X, dtype=np.float64)
    if kind == "image":
        if X.ndim not in (3, 4) or len(X) == 0:
            raise PackageError(f"an Image learnware's X must be images (N, H, W) or (N, C, H, W), got shape {X.shape}")
        return X, X, tuple(int(n) for n in X.shape[1:])
    if X.ndim != 2 or len(X) == 0:
        raise PackageError(f"X must be a non-empty 2-D table, got shape {X.shape}")
    return X, X, (int(X.shape[1]),)


def _semantic_for(semantic_spec: dict, dim: int | None) -> dict:
    from specs import SpecError, validate_semantic_spec

    sem = copy.deepcopy(semantic_spec)
    if dim is None:  # image/text: no per-column Input description to fill in
        pass
    elif sem.get("Input") is None:
        sem["Input"] = {"Dimension": dim, "Description": {}}
    elif int(sem["Input"].get("Dimension", dim)) != dim:
        raise PackageError(f"semantic spec says Input.Dimension = {sem['Input']['Dimension']} "
                           f"but X has {dim} columns")
    else:
        sem["Input"].setdefault("Dimension", dim)
    description = sem.get("Description")
    if isinstance(description, dict) and not str(description.get("Values") or "").strip():
        # A learnware's Description may not be empty (the reference's rule, issue 15): packing without
        # one describes the learnware by its name rather than refusing the first-hour `lwdock pack`.
        name = sem.get("Name")
        sem["Description"] = {"Type": "String", "Values": name.get("Values", "") if isinstance(name, dict) else ""}
    try:
        return validate_semantic_spec(sem, partial=False)
    except SpecError as exc:
        raise PackageError(f"semantic spec: {exc}") from exc


def _probe(folder: Path, model_config: dict, X: np.ndarray, timeout: float, python: str | None):
    """Run the model on a few rows in a worker, on a scratch copy so the package stays pristine."""
    with tempfile.TemporaryDirectory(prefix="lwdock-probe-") as scratch:
        copy_dir = Path(scratch) / "pkg"
        shutil.copytree(folder, copy_dir)
        try:
            with ModelWorker(copy_dir, model_config, timeout=timeout, python=python) as worker:
                out = worker.predict(X[:PROBE_ROWS])
                return worker, out
        except RunnerError as exc:  # first line for the user; the model's traceback after it (log, --debug)
            details = str(exc).partition("\n")[2]
            raise PackageError(summarise_model_failure(exc) + (f"\n{details}" if details else "")) from exc


def _write_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))  # bytes: no platform newline translation


def pack_learnware(out_zip: str | Path, *, model_file: Path | None = None,
                   model_class_file: Path | None = None, model_class: str | None = None, X,
                   semantic_spec: dict, predict_method: str = "predict",
                   requirements: list[str] | None = None, K: int = 100, seed: int = 0,
                   model_kwargs: dict | None = None, timeout: float = DEFAULT_LIMITS.timeout,
                   python: str | None = None, privacy: str | None = None, allow_small: bool = False) -> Path:
    """Write a learnware zip to `out_zip` and return its path.

    A table's or images' spec is private by default (specs/privacy.py); `privacy="none"` makes the
    plain one, and fewer than 50 rows (images) are refused (SmallTableError) unless `allow_small`.
    A text spec is plain unless `privacy="private"` (docs/SECURITY.md).

    Give either `model_file` (a pickled/joblib fitted model, copied byte for byte as model.pkl and
    wrapped by PickleLoadedModel) or `model_class_file` + `model_class` (a Python file copied as
    __init__.py; `model_kwargs` go to the class). Same inputs give the same zip bytes.
    """
    from specs import SpecError, generate_stat_spec
    from specs.errors import SmallTableError

    if (model_file is None) == (model_class_file is None):
        raise ValueError("give exactly one of model_file and model_class_file")
    if model_file is not None and model_class is not None:
        raise ValueError("model_class goes with model_class_file; "
                         "a model_file is wrapped by PickleLoadedModel")
    if model_class_file is not None and not (model_class and model_class.isidentifier()):
        raise ValueError("model_class_file needs model_class, the name of the class in it")
    kind = _data_kind(semantic_spec)
    spec_input, X, input_shape = _inputs(kind, X)
    dim = input_shape[0] if kind == "table" and input_shape else None  # a table always has its width
    spec_kw = {"privacy": privacy, "allow_small": allow_small}
    if kind in ("table", "image") or privacy is not None:  # private unless "none"; text on request
        from specs.privacy import check_enough_rows, check_privacy_method

        if check_privacy_method(privacy) != "none":  # now, not after probing the model (X: the items, one per row)
            check_enough_rows(len(X), allow_small, {"image": "images", "text": "documents"}.get(kind, "rows"))
    sem = _semantic_for(semantic_spec, dim)
    for given in (model_file, model_class_file):
        if given is not None and not Path(given).is_file():
            raise PackageError(f"no such model file: {given}")

    with tempfile.TemporaryDirectory(prefix="lwdock-pack-") as tmp:
        folder = Path(tmp) / "learnware"
        folder.mkdir()
        if model_file is not None:
            shutil.copyfile(model_file, folder / PICKLE_FILE)
            _write_text(folder / "__init__.py", PICKLE_WRAPPER)
            kwargs = {"input_shape": input_shape, "output_shape": None, "predict_method": predict_method,
                      "fit_method": "fit", "finetune_method": "finetune", "pickle_filename": PICKLE_FILE}
            config = {"class_name": "PickleLoadedModel", "kwargs": kwargs}
            _, out = _probe(folder, config, X, timeout, python)
            kwargs["output_shape"] = tuple(int(s) for s in out.shape[1:]) or (1,)
        else:
            assert model_class_file is not None and model_class  # exactly one of the two files (checked above)
            shutil.copyfile(model_class_file, folder / "__init__.py")
            config = {"class_name": model_class, "kwargs": dict(model_kwargs or {})}
            worker, _ = _probe(folder, config, X, timeout, python)
            declared = worker.input_shape
            if (kind == "image" and declared is not None and input_shape is not None
                    and as_chw(tuple(declared)) == as_chw(input_shape)):
                declared = input_shape  # (H, W) and (1, H, W): the same image, as the dock's checks agree
            if kind != "text" and declared is not None and declared != input_shape:
                raise PackageError(f"{model_class}.input_shape is {worker.input_shape} "
                                   f"but X's items have shape {input_shape}")
        try:  # after the model ran: a missing or broken model is said before minutes of fitting
            spec = generate_stat_spec(type=kind, X=spec_input, K=K, seed=seed, **spec_kw)
        except SmallTableError:
            raise  # its own exit code and its own advice (--allow-small)
        except SpecError as exc:
            raise PackageError(f"cannot build the statistical spec: {exc}") from exc
        spec.save(folder / SPEC_FILE)
        _write_text(folder / SEMANTIC_FILE, json.dumps(sem, indent=2, ensure_ascii=False) + "\n")
        _write_text(folder / "requirements.txt", "".join(r.strip() + "\n" for r in requirements or []))
        learnware_yaml = {
            "model": config,
            "stat_specifications": [{"module_path": "learnware.specification",
                                     "class_name": spec.type, "file_name": SPEC_FILE, "kwargs": {}}],
        }
        # yaml.dump (not safe_dump) so shapes stay tuples (`!!python/tuple`), as the reference
        # writes them and as its checker compares them; sort_keys keeps the bytes stable.
        _write_text(folder / YAML_FILE, yaml.dump(learnware_yaml, allow_unicode=True, sort_keys=True))
        write_package_zip(folder, out_zip)
    try:
        read_package(out_zip)  # never hand out a zip the dock itself would refuse
    except PackageError:
        Path(out_zip).unlink(missing_ok=True)
        raise
    return Path(out_zip)
