"""Publishing a model from the TUI, without any UI: read + sketch the training data, build the
semantic spec from the form, pack (dock.package.pack.pack_learnware) and submit (checks, store).

The training data is a table, images or documents (dock.datafiles decides from the file); it
makes a Table, Image or Text learnware, and the form's Data field must say the same.

The RKME is fitted twice: once for the sketch the user sees before filling in the form, and
again inside `pack_learnware` (same data, same seed, same result), because pack has no way to
take a spec that is already fitted.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import specs_access

Progress = Callable[[float, float, str], None]
MODEL_SUFFIXES = (".pkl", ".pickle", ".joblib", ".py")
DATA_TYPES = {"table": "Table", "image": "Image", "text": "Text"}  # file kind -> semantic Data value
TEXT_EMBEDDER_NOTE = "loading the text embedder (a few seconds the first time)"


@dataclass(frozen=True)
class DataSketch:
    path: Path
    rows: int  # rows, images or documents
    columns: int | None  # a table's feature columns; None for images and documents
    label_column: str | None  # the label column (a .npz: the name of its labels array, if given)
    classes: int | None  # max label + 1 (Output.Dimension), when the labels look like class numbers
    points: int
    gamma: float
    seconds: float
    kind: str = "table"  # "table" | "image" | "text" (dock.datafiles.user_data_kind)
    described: str = ""  # e.g. "150 rows × 4 columns", "900 images 8×8", "120 documents"
    has_labels: bool = False  # a label column, or a .npz's labels array (given, or found as y / labels)
    reveals: str = ""  # one line: what the published spec discloses about the data (specs/privacy.py)
    small: str = ""  # why a private spec refuses this table (too few rows); "" when it does not

    @property
    def data_type(self) -> str:
        """The semantic spec's Data value for this file: Table, Image or Text."""
        return DATA_TYPES[self.kind]

    @property
    def suggested_task(self) -> str:
        return "Classification" if self.classes else "Regression"

    @property
    def suggested_output_dim(self) -> int:
        return self.classes or 1


@dataclass(frozen=True)
class PublishForm:
    name: str
    description: str
    data_type: str
    task: str
    library: str
    scenarios: tuple[str, ...]
    license: str
    output_dim: int | None
    allow_small: bool = False  # publish a table under the private spec's minimum rows, knowingly

    def semantic_spec(self) -> dict:
        """The reference's shape; pack_learnware validates it in full and adds Input."""
        spec = {
            "Data": {"Type": "Class", "Values": [self.data_type]},
            "Task": {"Type": "Class", "Values": [self.task]},
            "Library": {"Type": "Class", "Values": [self.library]},
            "Scenario": {"Type": "Tag", "Values": list(self.scenarios)},
            "License": {"Type": "Class", "Values": [self.license]},
            "Name": {"Type": "String", "Values": self.name.strip()},
            "Description": {"Type": "String", "Values": self.description.strip()},
        }
        if self.output_dim is not None:
            spec["Output"] = {"Dimension": int(self.output_dim), "Description": {}}
        return spec


def _classes(y: np.ndarray | None) -> int | None:
    if y is None or not np.all(np.isfinite(y)) or not np.all(np.mod(y, 1) == 0):
        return None
    n = len(np.unique(y))
    if not 2 <= n <= max(50, len(y) // 20) or y.min() < 0:
        return None
    # Output.Dimension counts the class numbers 0..max (as pack and the submission check), so a
    # model trained on a subset of the classes (digits 6-9) is published with Dimension 10.
    return int(y.max()) + 1


def _read(path: Path, label_column: str | None):
    """The training file read as what it holds (dock.datafiles): a UserData."""
    from dock.datafiles import read_user_data, user_data_kind

    return read_user_data(path, label_column or None, user_data_kind(path))


def _spec_step(data) -> str:
    if data.kind == "text":
        return f"{TEXT_EMBEDDER_NOTE}, then embedding {len(data)} documents and fitting the statistical spec"
    if data.kind == "image":
        return f"computing the features of {data.describe()} and fitting the statistical spec"
    return f"fitting the statistical spec on {data.X.shape[0]} rows x {data.X.shape[1]} columns"


def sketch_training_data(path: Path, label_column: str | None, progress: Progress) -> DataSketch:
    start = time.perf_counter()
    progress(0, 2, f"reading {path.name}")
    data = _read(path, label_column)
    progress(1, 2, _spec_step(data))
    from dock import SmallTableError

    small = ""
    try:
        spec = specs_access.stat_spec_from_data(data.kind, data.X)
    except SmallTableError as refusal:  # sketch it anyway: the user sees why, and what proceeding means
        small = small_table_advice(refusal)
        spec = specs_access.stat_spec_from_data(data.kind, data.X, allow_small=True)
    progress(2, 2, "done")
    return DataSketch(path, len(data), int(data.X.shape[1]) if data.kind == "table" else None,
                      label_column or None, _classes(data.y), int(spec.z.shape[0]), float(spec.gamma),
                      time.perf_counter() - start, kind=data.kind, described=data.describe(),
                      has_labels=data.y is not None, reveals=reveals_line(spec), small=small)


def small_table_advice(refusal: Exception) -> str:
    """The refusal in the TUI's words: the CLI's message names --allow-small, the screen a checkbox."""
    reason = str(refusal).split(";")[0]  # "N rows (images) are too few for a private spec (it needs at least 50 ...)"
    items = "images" if " images are too few" in reason else "rows"
    return (f"{reason}. Publishing is refused unless you tick \"{ALLOW_SMALL_LABEL}\" below: its points then "
            f"stand for only a few {items} each, so anyone holding the spec guesses more easily which {items} "
            "you used.")


ALLOW_SMALL_LABEL = "Publish a small table anyway"


def reveals_line(spec) -> str:
    """What the spec discloses, in one line for the publish screen (the spec's own words)."""
    reveals = getattr(spec, "reveals", None)
    return reveals() if callable(reveals) else ""


def pack_and_submit(backend, *, model_path: Path, class_name: str | None, data_path: Path,
                    label_column: str | None, form: PublishForm, progress: Progress) -> str:
    """Pack the learnware into a temporary zip, run the dock's checks, store it; returns its id."""
    from dock.errors import PackageError
    from dock.package.pack import pack_learnware

    if not form.name.strip():
        raise PackageError("give the learnware a name")
    if not form.scenarios:
        raise PackageError("choose at least one scenario")
    if not model_path.is_file():
        raise PackageError(f"no such model file: {model_path}")
    is_class_file = model_path.suffix.lower() == ".py"
    if is_class_file and not (class_name or "").strip():
        raise PackageError(f"{model_path.name} is a Python file: give the name of the model class in it")
    progress(0, 3, f"reading {data_path.name}")
    data = _read(data_path, label_column)
    wanted = DATA_TYPES[data.kind]
    if form.data_type in DATA_TYPES.values() and form.data_type != wanted:
        article = "an" if wanted[0] in "AEIOU" else "a"
        raise PackageError(f"{data_path.name} holds {data.describe()}, which makes {article} {wanted} learnware, "
                           f"but Data is {form.data_type}: set Data to {wanted} (ctrl+r reads the file and sets it)")
    with tempfile.TemporaryDirectory(prefix="lwdock-publish-") as tmp:
        embedding = {"text": f"{TEXT_EMBEDDER_NOTE}, embedding {len(data)} documents, ",
                     "image": f"computing the features of {len(data)} images, "}.get(data.kind, "")
        progress(1, 3, f"packing: {embedding}fitting the statistical spec and probing the model")
        zip_path = pack_learnware(
            Path(tmp) / "learnware.zip",
            model_file=None if is_class_file else model_path,
            model_class_file=model_path if is_class_file else None,
            model_class=class_name.strip() if is_class_file and class_name else None,
            X=data.X, semantic_spec=_with_columns(form.semantic_spec(), data, data_path, label_column),
            allow_small=form.allow_small,
        )
        progress(2, 3, "running the dock's checks (the model runs in a worker process)")
        learnware_id = backend.submit(zip_path)
    progress(3, 3, "published")
    return learnware_id


def _with_columns(semantic: dict, data, data_path: Path, label_column: str | None) -> dict:
    """A table's Input.Description from its file's header (issue 14: what each column means, so
    learnwares can be matched to tables with other columns); unchanged without a header."""
    if data.kind != "table" or "Input" in semantic:  # "Input": the descriptions as edited on the screen
        return semantic
    from dock.datafiles import feature_column_names
    from dock.search.hetero import input_block

    names = feature_column_names(data_path, label_column or None)
    if names is None or len(names) != data.X.shape[1]:
        return semantic
    return {**semantic, "Input": input_block(names)}
