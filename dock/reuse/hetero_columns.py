"""The user's column names for the align reuser, from their data file (issue 14)."""

from __future__ import annotations

from pathlib import Path

from dock.errors import ReuseError


def user_columns_of(data_path: Path, label_column: str | None, X) -> list[str]:
    """The file's feature column names (header order, label column left out), checked against X."""
    from dock.datafiles import feature_column_names

    names = feature_column_names(data_path, label_column or None)
    if names is None:
        raise ReuseError(f"aligning columns needs their names: {Path(data_path).name} has no header row "
                         "(use a .csv whose first row names the columns)")
    if len(names) != X.shape[1]:
        raise ReuseError(f"{Path(data_path).name}: {len(names)} column names for {X.shape[1]} feature columns")
    return names
