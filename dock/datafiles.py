"""Reading a user's own data: CSV or .npy files into a numeric table (and labels, if asked).

Kept deliberately small: numbers only, a header row detected, one label column optional.
Anything else gets a DataFileError saying which file, row or column was wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .errors import DataFileError

SUPPORTED = (".csv", ".npy")


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
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise DataFileError(f"{path.name}: array dtype {data.dtype} is not numeric")
    return np.asarray(data, dtype=np.float64)


def _load_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{path.name}: not a readable CSV text file ({exc})") from exc
    if not rows:
        raise DataFileError(f"{path.name}: the file is empty")
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
