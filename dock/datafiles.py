"""Reading a user's own data files: tables, images and documents (and labels, if there are any).

One implementation for the CLI (`lwdock spec|pack`) and the TUI (search and reuse screens):

* table: a .csv (header row detected; numbers only) or a 2-D .npy; one label column optional.
* images: a .npy of shape (N, H, W) or (N, C, H, W), channels first; or a .npz holding the
  images as `X` (or `images`) and, optionally, their labels as `y` (or `labels`).
* documents: a UTF-8 text file, one document per line, blank lines skipped (no labels); or a
  .csv with a header row whose documents are in the column named `text` (labels in the label
  column, when one is named).

`user_data_kind` tells which of the three a file holds from its suffix (and a .npy's shape, a
.csv's header); `read_user_data` reads it. Anything wrong gets a DataFileError saying which
file, row or column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dock.errors import DataFileError

SUPPORTED = (".csv", ".npy")
IMAGE_SUFFIXES = (".npy", ".npz")
TEXT_SUFFIXES = (".txt", ".csv")
IMAGE_KEYS = ("X", "images")  # the images' array in a .npz, in order of preference
LABEL_KEYS = ("y", "labels")  # ... and their labels'
TEXT_COLUMN = "text"  # a CSV's documents column (case-insensitive)
KINDS = ("table", "image", "text")


def load_table(path: str | Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (X, y) with X 2-D float64; y is None unless `label_column` names a column."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"no such data file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data, header = _load_npy(path), None
    elif suffix == ".csv":
        data, header = _load_csv(path)
    else:
        raise DataFileError(
            f"{path.name}: unsupported data file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}"
        )
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2 or data.shape[0] == 0:
        raise DataFileError(f"{path.name}: expected a non-empty 2-D table, got shape {data.shape}")
    if label_column is None:
        return data, None
    index = _column_index(path, label_column, header, data.shape[1])
    y = data[:, index]
    X = np.delete(data, index, axis=1)
    if X.shape[1] == 0:
        raise DataFileError(f"{path.name}: no feature columns left after taking the label column")
    return X, y


def _load_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataFileError(f"{path.name}: not a plain numeric .npy array ({exc})") from exc
    except OSError as exc:
        raise DataFileError(f"{path.name}: cannot read .npy file ({exc})") from exc
    if data.dtype.kind in "USO":
        raise DataFileError(f"{path.name}: array dtype {data.dtype} is not numeric (it holds strings; documents "
                            "go in a .txt file, one per line)")
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise DataFileError(f"{path.name}: array dtype {data.dtype} is not numeric")
    return np.asarray(data, dtype=np.float64)


def _csv_rows(path: Path) -> list[list[str]]:
    """The non-blank rows of a CSV file (at least one)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{path.name}: not a readable CSV text file ({exc})") from exc
    if not rows:
        raise DataFileError(f"{path.name}: the file is empty")
    return rows


def _load_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    rows = _csv_rows(path)
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    if not rows:
        raise DataFileError(f"{path.name}: only a header row, no data")
    width = len(header) if header else len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, row in enumerate(rows):
        if len(row) != width:
            raise DataFileError(f"{path.name}: row {r + 1 + bool(header)} has {len(row)} columns, expected {width}")
        for c, cell in enumerate(row):
            try:
                values[r, c] = float(cell) if cell.strip() else np.nan
            except ValueError:
                name = header[c] if header else str(c)
                raise DataFileError(
                    f"{path.name}: row {r + 1 + bool(header)}, column {name!r}: {cell!r} is not a number"
                ) from None
    return values, header


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _column_index(path: Path, column: str | int, header: list[str] | None, width: int) -> int:
    if isinstance(column, str) and not column.lstrip("-").isdigit():
        if header is None or column not in header:
            known = ", ".join(header) if header else "(the file has no header row; give a column number)"
            raise DataFileError(f"{path.name}: no column named {column!r}; columns: {known}")
        return header.index(column)
    index = int(column)
    if not -width <= index < width:
        raise DataFileError(f"{path.name}: column {index} out of range for {width} columns")
    return index % width


# -- images and documents ----------------------------------------------------------------------
def load_images(path: str | Path) -> np.ndarray:
    """Images as float64 (N, H, W) or (N, C, H, W) from a .npy, or a .npz's X / images array."""
    return load_labelled_images(path, labels=False)[0]


def load_labelled_images(path: str | Path, labels: bool | str = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, labels or None). Labels come only from a .npz: its `y` / `labels` array when `labels`
    is True, the array of that name when it is a string (an error if missing), none when False."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DataFileError(f"{path.name}: images are read from a .npy array of shape (N, H, W) or (N, C, H, W), "
                            "or a .npz holding one as X (and its labels as y)")
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    y = None
    if suffix == ".npy":
        if isinstance(labels, str):
            raise DataFileError(f"{path.name}: a .npy holds only the images; to give labels, save both in a .npz "
                                "(numpy.savez('data.npz', X=images, y=labels))")
        X = _load_npy(path)
    else:
        arrays = _load_npz(path)
        key = next((k for k in IMAGE_KEYS if k in arrays), None)
        if key is None:
            raise DataFileError(f"{path.name}: no images array named {' or '.join(IMAGE_KEYS)}; "
                                f"it holds {', '.join(sorted(arrays)) or 'nothing'}")
        X = _numeric(path, arrays[key], key)
        if isinstance(labels, str):
            if labels not in arrays:
                raise DataFileError(f"{path.name}: no labels array named {labels!r}; "
                                    f"it holds {', '.join(sorted(arrays))}")
            y = _numeric(path, arrays[labels], labels)
        elif labels:
            found = next((k for k in LABEL_KEYS if k in arrays), None)
            y = _numeric(path, arrays[found], found) if found else None
    if X.ndim not in (3, 4) or X.shape[0] == 0:
        raise DataFileError(f"{path.name}: shape {X.shape} is not allowed for images; expected (N, H, W) or "
                            "(N, C, H, W) with N >= 1 (a 2-D array is a table)")
    if X.ndim == 4 and X.shape[1] not in (1, 3, 4):
        raise DataFileError(f"{path.name}: shape {X.shape}: {X.shape[1]} channels is not allowed; expected "
                            "1, 3 or 4 channels first, (N, C, H, W)")
    if y is not None:
        y = _labels(path, y, len(X))
    return X, y


def load_documents(path: str | Path) -> list[str]:
    """One document per line of a UTF-8 text file; blank lines are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise DataFileError(f"{path}: is a folder, not a text file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path.name}: cannot read as UTF-8 text ({exc})") from exc
    docs = [line for line in text.splitlines() if line.strip()]
    if not docs:
        raise DataFileError(f"{path.name}: no documents (expected one per line)")
    return docs


def load_labelled_documents(path: str | Path, label_column: str | int | None = None
                            ) -> tuple[list[str], np.ndarray | None]:
    """(documents, labels or None): a .csv's `text` column (and its label column, if named), else
    one document per line of a text file (no labels there)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        if label_column is not None:
            raise DataFileError(f"{path.name}: a text file holds only the documents, one per line; to give labels "
                                f"use a .csv with a {TEXT_COLUMN!r} column and a label column")
        return load_documents(path), None
    if not path.is_file():
        raise DataFileError(f"no such data file: {path}")
    rows = _csv_rows(path)
    header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    text_index = _text_column(header)
    if text_index is None:
        raise DataFileError(f"{path.name}: no column named {TEXT_COLUMN!r} holding the documents; columns: "
                            f"{', '.join(header)}")
    label_index = None if label_column is None else _column_index(path, label_column, header, len(header))
    if label_index == text_index:
        raise DataFileError(f"{path.name}: the label column cannot be the {TEXT_COLUMN!r} column")
    docs, labels = [], []
    for r, row in enumerate(rows, 2):
        if len(row) != len(header):
            raise DataFileError(f"{path.name}: row {r} has {len(row)} columns, expected {len(header)}")
        if not row[text_index].strip():
            raise DataFileError(f"{path.name}: row {r} has an empty {header[text_index]!r} cell; drop it first")
        docs.append(row[text_index])
        if label_index is not None:
            cell = row[label_index]
            try:
                labels.append(float(cell))
            except ValueError:
                raise DataFileError(f"{path.name}: row {r}, column {header[label_index]!r}: the label {cell!r} "
                                    "is not a number (classes are numbered 0, 1, …)") from None
    if not docs:
        raise DataFileError(f"{path.name}: only a header row, no documents")
    return docs, (np.asarray(labels, dtype=np.float64) if label_index is not None else None)


def _text_column(header: list[str]) -> int | None:
    return next((i for i, cell in enumerate(header) if cell.casefold() == TEXT_COLUMN), None)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        raise DataFileError(f"{path.name}: not a plain numeric .npz archive ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise DataFileError(f"{path.name}: cannot read .npz file ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile and friends: a damaged archive
        raise DataFileError(f"{path.name}: not a readable .npz archive ({exc})") from exc


def _numeric(path: Path, data: np.ndarray, key: str) -> np.ndarray:
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise DataFileError(f"{path.name}: array {key!r} has dtype {data.dtype}, not numbers")
    return np.asarray(data, dtype=np.float64)


def _labels(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataFileError(f"{path.name}: the labels have shape {y.shape}; expected one per image ({n},)")
    return y


# -- any of the three ----------------------------------------------------------------------------
@dataclass(frozen=True)
class UserData:
    """A user's data file, read: `X` a table (n, d), images (n, H, W) / (n, C, H, W), or a list of
    documents; `y` the labels when the file gave some."""

    kind: str  # "table" | "image" | "text"
    X: np.ndarray | list
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    def describe(self) -> str:
        """e.g. "150 rows × 4 columns", "900 images 8×8", "120 documents"."""
        n = len(self.X)
        shape = np.shape(self.X)  # X is an array for tables and images (a list only for documents)
        if self.kind == "table":
            return f"{n} row{'s' * (n != 1)} × {shape[1]} column{'s' * (shape[1] != 1)}"
        if self.kind == "image":
            return f"{n} image{'s' * (n != 1)} {'×'.join(str(s) for s in shape[1:])}"
        return f"{n} document{'s' * (n != 1)}"


def user_data_kind(path: str | Path) -> str:
    """What a data file holds, from its suffix (and a .npy's number of axes, a .csv's header):
    .txt -> text; .npz -> image; .npy -> image when 3-D or 4-D, else table; .csv -> text when its
    header has a `text` column, else table. Unknown suffixes say "table" (whose reader refuses them)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "text"
    if suffix == ".npz":
        return "image"
    if suffix == ".npy":
        try:
            ndim = np.load(path, mmap_mode="r", allow_pickle=False).ndim  # reads the header only
        except Exception:  # noqa: BLE001 - unreadable: the table reader says why
            return "table"
        return "image" if ndim in (3, 4) else "table"
    if suffix == ".csv":
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                header = next(csv.reader(f), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            return "table"
        return "text" if _text_column([cell.strip() for cell in header]) is not None else "table"
    return "table"


def read_user_data(path: str | Path, label_column: str | int | None = None, kind: str | None = None) -> UserData:
    """The file read as `kind` (default: `user_data_kind`). `label_column`: a table's or text CSV's
    label column; for a .npz of images the name of its labels array (without it, `y` / `labels`
    when present)."""
    kind = kind or user_data_kind(path)
    X: np.ndarray | list
    if kind == "table":
        X, y = load_table(path, label_column)
    elif kind == "image":
        X, y = load_labelled_images(path, str(label_column) if label_column is not None else True)
    elif kind == "text":
        X, y = load_labelled_documents(path, label_column)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return UserData(kind, X, y)


# -- the label column: guessed the same way everywhere (search, reuse, publish, spec, pack) -----------
LABEL_NAMES = ("label", "labels", "target", "y", "class")  # case-insensitive


def table_header(path: str | Path) -> list[str] | None:
    """A .csv's header row (None when the file has none, is not a .csv or cannot be read)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    cells = [cell.strip() for cell in first]
    return None if not cells or all(_is_number(cell) for cell in cells) else cells


def output_label_names(semantic_spec: dict | None) -> tuple[str, ...]:
    """Column names a learnware's Output.Description gives (e.g. {"0": "price"}): a column of that
    name in the user's file is its label column."""
    output = (semantic_spec or {}).get("Output") or {}
    description = output.get("Description") if isinstance(output, dict) else None
    if not isinstance(description, dict):
        return ()
    return tuple(v.strip() for v in description.values() if isinstance(v, str) and v.strip())


def guess_label_column(path: str | Path, semantic_specs: list[dict] | tuple = ()) -> str | None:
    """The name of a .csv's label column when it has an obvious one: a column named in one of the
    learnwares' Output descriptions, else `label`, `labels`, `target`, `y` or `class`; None
    otherwise. Computed from this file alone, so a guess never carries over to the next file."""
    header = table_header(path)
    if not header:
        return None
    folded = {cell.casefold(): cell for cell in reversed(header)}  # the first of equal names wins
    for spec in semantic_specs:
        for name in output_label_names(spec):
            if name.casefold() in folded and name.casefold() != TEXT_COLUMN:
                return folded[name.casefold()]
    return next((folded[name] for name in LABEL_NAMES if name in folded), None)


def resolve_label_column(path: str | Path, given: str | None, semantic_specs: list[dict] | tuple = ()
                         ) -> tuple[str | None, bool]:
    """(the label column to use, whether it was guessed). `given` wins; "" or "none" means no label
    column (no guess either)."""
    if given is not None:
        return (None, False) if given.strip().lower() in ("", "none") else (given, False)
    guess = guess_label_column(path, semantic_specs)
    return guess, guess is not None


def column_count_hint(path: str | Path, n_columns: int, wanted: set[int] | list[int],
                      what: str = "the learnwares here take") -> str:
    """Why `path`'s columns do not fit, and the fix: "14 columns, the learnwares here take 13: is
    `target` your label column? --label-column target"."""
    wanted = sorted(set(int(w) for w in wanted))
    takes = ", ".join(map(str, wanted)) if wanted else "none"
    text = f"{Path(path).name} has {n_columns} feature columns, {what} {takes}"
    if n_columns - 1 in wanted:
        header = table_header(path)
        candidate = guess_label_column(path) or (header[-1] if header else None)
        if candidate:
            return f"{text}: is `{candidate}` your label column? --label-column {candidate}"
        return f"{text}: is one column your labels? --label-column NUMBER (0 = the first)"
    return text


# -- column meaning (heterogeneous tables, issue 14) ---------------------------------------------
def feature_column_names(path: str | Path, label_column: str | int | None = None) -> list[str] | None:
    """The header names of a .csv's feature columns, in the order `load_table` returns them (the
    label column taken out); None when the file has no header row (or is not a .csv). These become
    the table's `Input.Description`: what each column means, for heterogeneous search and reuse."""
    header = table_header(path)
    if not header:
        return None
    if label_column is not None:
        index = _column_index(Path(path), label_column, header, len(header))
        header = header[:index] + header[index + 1:]
    return header or None


def edit_column_descriptions(names: list[str], edits: list[str] | None) -> list[str]:
    """Apply `I=TEXT` / `NAME=TEXT` edits (the CLI's --column-description) to header names."""
    out = list(names)
    for edit in edits or []:
        key, sep, text = edit.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise DataFileError(f"--column-description {edit!r}: expected COLUMN=TEXT (a column number or name)")
        if key.isdigit() and int(key) < len(out):
            index = int(key)
        elif key in out:
            index = out.index(key)
        else:
            raise DataFileError(f"--column-description {edit!r}: no feature column {key!r}; "
                                f"columns: {', '.join(out)}")
        out[index] = " ".join(text.split())
    return out
