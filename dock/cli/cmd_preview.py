"""`lwdock search --data FILE [--label-column C] --preview N`: search with a data file, then measure
the top N learnwares (and the recommended mixture) on a sample of its labelled rows
(dock/reuse/preview.py). Hooks called by cmd_search in dock/cli/commands.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dock.cli import output as out
from dock.errors import DataFileError, DockError, PreviewError

if TYPE_CHECKING:
    from dock.api import DockAPI
    from dock.search.query import SearchResult


def prepare(args) -> None:
    """Check the options and turn `--data FILE` into the data file the search sketches, with its
    label column resolved once (the guess said aloud once; `none` when the file has none)."""
    from dock.datafiles import resolve_label_column, user_data_kind

    data = getattr(args, "data", None)
    preview = getattr(args, "preview", None)
    if data is not None and args.stat is not None:
        raise DockError("give --data FILE or --stat FILE, not both (--data is a data file, searched and previewed)")
    if preview is not None and preview < 1:
        raise PreviewError(f"--preview takes how many of the top learnwares to run (1 or more), got {preview}")
    if getattr(args, "preview_rows", None) is not None and args.preview_rows < 1:
        raise PreviewError(f"--preview-rows must be 1 or more, got {args.preview_rows}")
    if preview is not None and data is None:
        if args.stat is None or args.stat.suffix.lower() == ".json":
            raise PreviewError("--preview runs the learnwares on your labelled rows: give them with --data FILE "
                            "(a stat.json holds no rows)")
        data = args.stat
    if data is None:
        return
    if not Path(data).is_file():
        raise DataFileError(f"no such data file: {data}")
    args.stat = data
    if user_data_kind(data) != "table":
        return  # images: labels come from the .npz's y; documents: a .csv's label column, given
    label, guessed = resolve_label_column(data, args.label_column)
    if guessed:
        out.info(f"label column: `{label}` (guessed; left out of the features; give --label-column NAME, "
                 "or --label-column none to keep every column)")
    if preview is not None and label is None:
        raise PreviewError(f"--preview measures accuracy on your labelled rows, and {Path(data).name} has no "
                            "column named label, target, y or class: give --label-column NAME")
    args.label_column = label if label is not None else "none"
    args.preview_label = label


def annotate(result: dict, found: SearchResult) -> dict:
    """Add-only JSON fields: each statistical score also as `similarity` (what it is: the similarity
    of input distributions, not a prediction of quality)."""
    for item, match in zip(result["single"], found.single, strict=True):
        item["similarity"] = match.score if match.mmd2 is not None else None
    if result.get("multiple") is not None:
        result["multiple"]["similarity"] = result["multiple"]["score"]
    return result


def attach_preview(args, dock: DockAPI, found: SearchResult, result: dict) -> dict:
    """Run the preview and add it to the result dict: `preview` (how it ran), and `preview` in each
    single (the top N) and in `multiple` (entries in dock/reuse/preview.py: status, metric, value...)."""
    from dock.datafiles import read_user_data, user_data_kind
    from dock.reuse.preview import MIXTURE_KEY, PREVIEW_ROWS, preview_result

    if getattr(args, "preview", None) is None:
        return result
    path = Path(args.stat)
    kind = user_data_kind(path)
    label = getattr(args, "preview_label", None) if kind == "table" else None
    data = read_user_data(path, label, kind)
    if data.y is None:
        raise PreviewError(f"--preview measures accuracy on your labelled rows, and {path.name} has no labels "
                            "(images: a .npz with y)")
    top = min(args.preview, len(found.single))
    has_mixture = found.multiple is not None and len(found.multiple.ids) > 1
    total = top + int(has_mixture)
    rows = args.preview_rows or PREVIEW_ROWS
    out.info(f"preview: running the top {top} learnware{'s' * (top != 1)}"
             f"{' and the recommended mixture' if has_mixture else ''} on up to {rows} labelled rows of {path.name}…")
    done = [0]

    def said(entry) -> None:
        done[0] += 1
        extra = "" if entry.status == "measured" else f": {entry.message}"
        out.info(f"  [{done[0]}/{total}] {entry.name}: {entry.cell()}{extra} ({entry.seconds:.1f} s)")

    sample, entries = preview_result(dock, found, data.X, data.y, top=top, rows=rows, seed=args.preview_seed,
                                     on_entry=said)
    by_key = {e.key: e.to_dict() for e in entries}
    for item in result["single"]:
        if item["id"] in by_key:
            item["preview"] = by_key[item["id"]]
    if result.get("multiple") is not None and MIXTURE_KEY in by_key:
        result["multiple"]["preview"] = by_key[MIXTURE_KEY]
    info: dict[str, Any] = {"file": path.name, "label_column": label, "rows": sample.rows, "of_rows": sample.of_rows,
                            "stratified": sample.stratified, "seed": sample.seed, "sample": sample.describe(),
                            "top": top, "mixture_reuser": "job_selector" if has_mixture else None}
    result["preview"] = info
    return result
