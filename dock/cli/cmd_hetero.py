"""Column meaning on the CLI (issue 14): `pack` and `search --stat FILE` describe a table's
columns from its header, so learnwares with other columns can be found and reused."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from dock.cli import output as out

log = logging.getLogger(__name__)


def _names(path: Path, label_column: str | None, edits: list[str] | None, width: int) -> list[str] | None:
    from dock.datafiles import edit_column_descriptions, feature_column_names
    from dock.errors import DataFileError

    names = feature_column_names(path, label_column)
    if names is None:
        if edits:
            raise DataFileError(f"--column-description needs a .csv with a header row; {Path(path).name} has none")
        return None
    if len(names) != width:  # cannot happen for a file load_table accepted; never guess a mapping
        return None
    return edit_column_descriptions(names, edits)


def _has_descriptions(semantic: dict) -> bool:
    block = semantic.get("Input")
    return isinstance(block, dict) and bool(block.get("Description"))


def describe_columns(semantic: dict, path: Path, label_column: str | None, edits: list[str] | None,
                     width: int) -> None:
    """pack: fill `Input` from the header (unless the semantic spec already describes the columns)."""
    from specs.hetero import input_block

    if _has_descriptions(semantic):
        return
    names = _names(path, label_column, edits, width)
    if names is None:
        out.info("the data file has no header row: Input.Description left empty, so learnwares with other "
                 "columns cannot be matched to this one (add a header, or --column-description)")
        return
    semantic["Input"] = input_block(names, "edited" if edits else "header")
    shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    out.info(f"columns described from the header: {shown} (change one with --column-description COLUMN=TEXT)")


def describe_query_columns(semantic: dict, path: Path, label_given: str | None, edits: list[str] | None,
                           width: int) -> dict:
    """search --stat FILE: the query's Input block from the file's header (a copy of `semantic`)."""
    from dock.datafiles import resolve_label_column
    from specs.hetero import input_block

    if _has_descriptions(semantic):
        return semantic
    label, _ = resolve_label_column(path, label_given)
    names = _names(path, label, edits, width)
    if names is None:
        return semantic
    described = copy.deepcopy(semantic)
    described["Input"] = input_block(names, "edited" if edits else "header")
    return described


def print_hetero_notes(result: dict) -> None:
    """Under the results table: which matches take other columns, and how yours map onto theirs."""
    from dock.cli.terminal_text import visible

    for rank, match in enumerate(result.get("single") or [], 1):
        mark = match.get("hetero")
        if not mark:
            continue
        pairs = list((mark.get("columns") or {}).items())
        shown = "; ".join(f"{a} → {b}" for a, b in pairs[:4]) + ("; …" if len(pairs) > 4 else "")
        out.stdout.print(visible(
            f"#{rank} takes other columns: {len(mark['pairs'])} of its {mark['learnware_dim']} inputs from "
            f"yours ({shown}); {mark['lacking']} imputed at reuse (`lwdock reuse {match['id'][:12]} "
            f"--data FILE --reuser align`)"), markup=False)
