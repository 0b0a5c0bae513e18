"""The CLI's commands. Each returns a JSON-ready result (printed by `--json`) and renders the
human view itself otherwise."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from dock.cli import output as out
from dock.cli.inputs import open_dock as _open
from dock.cli.inputs import read_json
from dock.errors import DataFileError, DockError, SearchError


def _semantic_from_args(args, *, for_query: bool) -> dict:
    from specs import generate_semantic_spec

    kwargs: dict[str, Any] = {
        "data_type": args.data_type,
        "task_type": args.task,
        "library_type": args.library,
        "scenarios": args.scenario or None,
        "license": args.license,
    }
    if for_query:
        if getattr(args, "text", ""):
            kwargs["name"] = args.text
    else:
        kwargs["name"] = args.name
        kwargs["description"] = args.description
    return generate_semantic_spec(**{k: v for k, v in kwargs.items() if v is not None})


def cmd_submit(args):
    semantic = read_json(args.semantic, "semantic spec") if args.semantic else None
    with _open(args) as dock:
        learnware_id = dock.submit(args.zip, semantic, timeout=args.timeout)
        name = dock.get(learnware_id).name
    if not args.json:
        print(learnware_id)
        out.info(f"stored {name!r}")
    return {"id": learnware_id, "name": name}


def cmd_list(args):
    from dock.cli.cmd_listing import list_paged, paging_asked

    if paging_asked(args):
        with _open(args) as dock:
            return list_paged(dock, args)
    with _open(args) as dock:
        local = dock.local_ids()
        records = [dict(r.summary(), local=r.id in local) for r in dock.list()]
    if not args.json:
        out.records_table(records)
    return records


def cmd_show(args):
    with _open(args) as dock:
        record = dock.get(args.id)
        specs = dock.get_stat_specs(record.id)
        summary = dict(record.summary(), local=dock.has_zip(record.id))
    spec_info = {t: {"k": int(s.z.shape[0]), "dim": int(s.dim), "gamma": float(s.gamma)} for t, s in specs.items()}
    if not args.json:
        out.show_record(summary, record.semantic_spec, spec_info)
    return {**summary, "semantic_spec": record.semantic_spec, "model": record.model_config, "stat_specs": spec_info}


def cmd_rm(args):
    with _open(args) as dock:
        learnware_id = dock.resolve_id(args.id)
        dock.remove(learnware_id)
    if not args.json:
        out.info(f"removed {learnware_id}")
    return {"removed": learnware_id}


def cmd_export(args):
    with _open(args) as dock:
        dest = dock.export(args.id, args.dest)
    if not args.json:
        print(dest)
    return {"path": str(dest)}


def _label_column(path: Path, given: str | None, semantic_specs=()) -> str | None:
    """The label column (dock/datafiles.py's shared guess when none is given), the guess said aloud."""
    from dock.datafiles import resolve_label_column

    label, guessed = resolve_label_column(path, given, semantic_specs)
    if guessed:
        out.info(f"label column: `{label}` (guessed; left out of the features; give --label-column NAME, "
                 "or --label-column none to keep every column)")
    return label


def _privacy_kw(args) -> dict:
    """The fit's privacy keywords from --privacy / --allow-small. Table and image specs are private
    unless --privacy none; text specs are plain unless --privacy private (docs/SECURITY.md)."""
    kw = {"allow_small": bool(getattr(args, "allow_small", False))}
    if getattr(args, "privacy", None):
        kw["privacy"] = args.privacy
    return kw


def _fit_spec(kind: str, data: Path, label_given: str | None, points: int, seed: int, privacy_kw=None):
    """(spec, number of items) of a data file, as `lwdock spec` makes it."""
    from dock.datafiles import load_documents, load_images, load_table
    from specs import generate_stat_spec, require_extra

    require_extra(kind)  # "image specs need the 'image' extra...", before reading the data
    X: Any
    if kind == "table":
        X, _ = load_table(data, _label_column(data, label_given))
        from specs.privacy import private_k

        private = (privacy_kw or {}).get("privacy") in (None, "private")  # tables are private by default
        shown = private_k(points, X.shape[0]) if private else min(points, X.shape[0])
        out.info(f"fitting an RKME of {X.shape[0]} rows × {X.shape[1]} columns with {shown} "
                 f"{'private ' if private else ''}points…")
    elif label_given is not None:
        raise DataFileError(f"--label-column is for tables; a {kind} file holds only the {kind}s")
    elif kind == "image":
        X = load_images(data)
        from specs.privacy import private_k

        private = (privacy_kw or {}).get("privacy") in (None, "private")  # images are private by default
        shown = private_k(points, X.shape[0]) if private else min(points, X.shape[0])
        out.info(f"fitting an RKME of {X.shape[0]} images {X.shape[1:]} with {shown} "
                 f"{'private ' if private else ''}points…")
    else:
        X = load_documents(data)
        out.info(f"fitting an RKME of {len(X)} documents with {points} points…")
    return generate_stat_spec(type=kind, X=X, K=points, seed=seed, **(privacy_kw or {})), len(X)


def cmd_spec(args):
    spec, rows = _fit_spec(args.kind, args.data, args.label_column, args.points, args.seed,
                           _privacy_kw(args))
    spec.save(args.output)
    reveals = spec.reveals() if hasattr(spec, "reveals") else None
    if not args.json:
        out.info(f"wrote {args.output} (gamma {spec.gamma:.4g})")
        if reveals:
            out.info(reveals)
    result = {
        "path": str(args.output),
        "type": spec.type,
        "rows": int(rows),
        "dim": int(spec.dim),
        "points": int(spec.z.shape[0]),
        "gamma": float(spec.gamma),
        "privacy": dict(spec.privacy) if getattr(spec, "privacy", None) else None,
        "reveals": reveals,
    }
    if getattr(spec, "embedder", None):
        result["embedder"] = spec.embedder
    return result


def _reference_image_query(path: Path):
    """`search --stat IMAGES --reference-image`: the user's images as a query in the reference's image
    space (specs/ref_image.py fit_parts), the only space Beimingwu-made image learnwares are compared in."""
    from dock.datafiles import load_images, user_data_kind
    from specs import require_extra
    from specs.image import RKMEImageSpecification

    if path.suffix.lower() == ".json" or user_data_kind(path) != "image":
        raise DataFileError(f"--reference-image: {path.name} is not an images file; give your images "
                            "(.npy of shape (N, H, W) or (N, C, H, W), or a .npz with X), not a spec or a table")
    require_extra("image")
    X = load_images(path)
    out.info(f"fitting a reference-space RKME of {X.shape[0]} images {X.shape[1:]} with 50 points…")
    return RKMEImageSpecification.fit_reference(X, K=50)


def cmd_search(args):
    from dock.search.query import UserInfo
    from specs import load_spec

    semantic = (
        read_json(args.semantic, "semantic spec") if args.semantic else _semantic_from_args(args, for_query=True)
    )
    from dock.cli import cmd_preview
    from dock.datafiles import column_count_hint, user_data_kind

    cmd_preview.prepare(args)  # --data FILE / --preview N (honest): the data file becomes the stat source
    stat_info = {}
    from_data = False
    if args.stat:
        if not args.stat.is_file():
            raise DataFileError(f"no such file: {args.stat}; give a stat spec (.json, from `lwdock spec`) "
                                "or a data file (.csv, .npy, ...)")
        if getattr(args, "reference_image", False):
            spec = _reference_image_query(args.stat)
        elif args.stat.suffix.lower() == ".json":
            spec = load_spec(args.stat)
        else:  # a data file: sketched here as `lwdock spec` would (its rows stay on this machine)
            from_data = True
            kind = user_data_kind(args.stat)
            spec, _ = _fit_spec(kind, args.stat, args.label_column, 100, 0, _privacy_kw(args))
            if kind == "table":  # the user's column names: learnwares with other columns can be found too
                from dock.cli.cmd_hetero import describe_query_columns

                semantic = describe_query_columns(semantic, args.stat, args.label_column,
                                                  getattr(args, "column_description", None), int(spec.dim))
        stat_info[spec.type] = spec
    with _open(args) as dock:
        user_info = UserInfo(semantic_spec=semantic, stat_info=stat_info)
        try:
            if args.peers:
                if dock.mode != "daemon":
                    raise DockError("--peers needs the network: start `lwdock node` for this home first")
                found = dock.search_peers(user_info, limit=args.limit)
            else:
                found = dock.search(user_info, limit=args.limit)
            result = cmd_preview.annotate(found.to_dict(), found)
            if args.peers:
                result["peers"] = _answering_peers(found.info)
        except SearchError as exc:
            dims = str(exc).partition("dimensions available: ")[2]
            if not dims or not args.stat or "Table" not in spec.type:
                raise
            wanted = {int(d) for d in dims.split(", ") if d.strip().isdigit()}
            if from_data:
                raise SearchError(column_count_hint(args.stat, int(spec.dim), wanted)) from None
            raise SearchError(f"{exc}: is one of your columns the labels? make the spec without it: "
                              "lwdock spec table FILE --label-column NAME (or search --stat FILE, which "
                              "guesses it)") from None
        cmd_preview.attach_preview(args, dock, found, result)
    if not args.json:
        out.search_result(result)
        if args.peers:
            out.info(_answering_line(result["peers"]))
        from dock.cli.cmd_hetero import print_hetero_notes

        print_hetero_notes(result)
    if from_data and str(args.label_column).lower() in ("", "none"):
        from dock.datafiles import guess_label_column

        kept = guess_label_column(args.stat)
        if kept:  # kept as a feature on purpose? say so: it would rank (and align) as one
            out.info(f"`{kept}` looks like a label column and was kept as a feature; to leave it out: "
                     f"--label-column {kept}")
    return result


def _answering_peers(info: dict) -> dict:
    """Which peers answered a search over peers, and which of them named each learnware."""
    return {"asked": int(info.get("peers_asked") or 0), "answered": list(info.get("answering_peers") or []),
            "listed_by": dict(info.get("listed_by") or {})}


def _answering_line(peers: dict) -> str:
    from dock.cli.terminal_text import visible

    if not peers["asked"]:
        return "searched this dock only: no peer is connected (`lwdock peers`)"
    names = [visible(p["peer_id"]) + (f" ({visible(p['nickname'][:32])})" if p.get("nickname") else "")
             for p in peers["answered"]]
    return (f"{len(names)} of {peers['asked']} peer(s) answered: {', '.join(names)}" if names
            else f"none of {peers['asked']} peer(s) answered; these results are this dock's own")


def cmd_pack(args):
    import numpy as np

    from dock.datafiles import load_documents, load_images, load_table
    from dock.package.pack import pack_learnware
    from specs.semantic import SemanticView

    for model_path in (args.model, args.model_class_file):
        if model_path is not None and not model_path.is_file():
            raise DataFileError(f"no such model file: {model_path}; give the fitted model saved with pickle or joblib")
    semantic = _semantic_from_args(args, for_query=False)
    view = SemanticView.from_spec(semantic)
    data_type = view.data_type or "Table"
    y = None
    if data_type == "Table":
        label_column = _label_column(args.data, args.label_column)
        X, y = load_table(args.data, label_column)
        from dock.cli.cmd_hetero import describe_columns

        describe_columns(semantic, args.data, label_column, getattr(args, "column_description", None), int(X.shape[1]))
    elif args.label_column is not None:
        raise DataFileError(f"--label-column is for tables; give --output-dim for {data_type} learnwares")
    else:  # the same files `lwdock spec image|text` reads: .npy images, or one document per line
        X = load_images(args.data) if data_type == "Image" else load_documents(args.data)
    output_dim = args.output_dim
    description: dict = {}
    if output_dim is None and y is not None:
        output_dim = _classes_dimension(y) if view.task_type == "Classification" else 1
        if view.task_type == "Classification":
            classes = sorted({int(c) for c in np.unique(y)})
            description = {str(c): "a class in the training data" for c in classes} if output_dim <= 1000 else {}
            out.info(f"Output.Dimension {output_dim}: labels are class numbers 0..{output_dim - 1}; "
                     f"the model was trained on {len(classes)} of them")
    if output_dim is None and view.task_type in ("Classification", "Regression"):
        raise DataFileError("give --output-dim (number of classes) or --label-column so it can be inferred")
    if output_dim is not None:
        semantic["Output"] = {"Dimension": output_dim, "Description": description}
    out.info(f"packing {args.name!r}: running the model on a few of {len(X)} items, then fitting the "
             f"{data_type.lower()} spec…")
    path = pack_learnware(
        args.output,
        model_file=args.model,
        model_class_file=args.model_class_file,
        model_class=args.class_name,
        X=X,
        semantic_spec=semantic,
        predict_method=args.predict_method,
        requirements=args.requirement or None,
        K=args.points,
        **_privacy_kw(args),
    )
    if not args.json:
        print(path)
    return {"path": str(path)}


def _classes_dimension(y) -> int:
    """Output.Dimension of a classifier from its training labels. Labels are class numbers
    0..Dimension-1 (the reference's contract, which the submission check enforces), so a model
    trained on a subset of the classes (digits 6-9) has Dimension max+1 (10), not 4."""
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)) or np.any(y < 0) or np.any(y != np.round(y)):
        bad = sorted({float(v) for v in y if not (np.isfinite(v) and v >= 0 and v == round(v))})[:3]
        raise DataFileError(f"classification labels must be class numbers 0, 1, 2, …; the label column holds "
                            f"e.g. {bad}; renumber them, or give --output-dim and predict class numbers")
    return int(y.max()) + 1


def cmd_demo(args):
    from dock.cli.demo import run_demo

    if args.home:
        return run_demo(Path(args.home), as_json=args.json)
    if args.keep:
        home = Path(tempfile.mkdtemp(prefix="lwdock-demo-"))
        result = run_demo(home, as_json=args.json)
        out.info(f"demo dock kept at {home} (use it with --home {home})")
        return result
    with tempfile.TemporaryDirectory(prefix="lwdock-demo-") as tmp:
        return run_demo(Path(tmp), as_json=args.json)


def _check_columns(data: Path, given: str | None, semantic_specs: list[dict]) -> str | None:
    """The table's label column (the shared guess, with the learnwares' Output names), and its
    feature columns checked against the learnwares' Input.Dimension before any model runs."""
    from dock.datafiles import column_count_hint, load_table
    from specs.semantic import SemanticView

    label = _label_column(data, given, semantic_specs)
    X, _ = load_table(data, label)
    wanted = {d for spec in semantic_specs if (d := SemanticView.from_spec(spec).input_dim) is not None}
    if wanted and X.shape[1] not in wanted:
        what = "this learnware takes" if len(semantic_specs) == 1 else "these learnwares take"
        from specs.hetero import column_descriptions

        described = all(column_descriptions(spec) is not None for spec in semantic_specs)
        hint = "; or reuse with `--reuser align` (matches your columns to its own by name)" if described else ""
        raise DataFileError(column_count_hint(data, X.shape[1], wanted, what=what) + hint)
    return label


def cmd_reuse(args):
    """Runs one learnware, or several through a reuser, on the user's data file (as the TUI's reuse
    screen does): predictions, and a score when the file has labels."""
    from dock.errors import ReuseError
    from dock.reuse.evaluate import CHOICES, evaluate_reuse, save_predictions

    by_key = {choice.key: choice for choice in CHOICES}
    with _open(args) as dock:
        ids = tuple(dock.resolve_id(i) for i in args.ids)
        first = dock.get(ids[0])
        key = args.reuser or ("direct" if len(ids) == 1 else "job_selector")
        choice = by_key.get(key)
        if choice is None:
            raise ReuseError(f"no reuser {key!r}; known: {', '.join(by_key)}")
        if choice.class_name is None and len(ids) > 1:
            raise ReuseError(f"{key!r} runs one learnware: give one id, or a reuser (--reuser) for several")
        label = args.label_column
        if first.data_type in (None, "Table") and choice.class_name == "HeteroAlignReuser":  # any columns
            label = _label_column(args.data, label, [dock.get(i).semantic_spec for i in ids])
        elif first.data_type in (None, "Table"):
            label = _check_columns(args.data, label, [dock.get(i).semantic_spec for i in ids])
        outcome = evaluate_reuse(dock.load, ids, choice, args.data, label, lambda *_: None,
                                 task=first.task_type, data_type=first.data_type)
    saved = str(save_predictions(outcome, args.output)) if args.output else None
    result = {"reuser": outcome.reuser, "rows": outcome.rows, "metrics": outcome.metrics,
              "scored_on": outcome.scored_on, "predictions_csv": saved}
    if not args.json:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in outcome.metrics.items()) or "no labels: not scored"
        print(f"{outcome.reuser}: {outcome.rows} {outcome.unit}; {scores} ({outcome.scored_on})")
        if saved:
            print(f"predictions written to {saved}")
    return result


from dock.cli.cmd_compat import cmd_check, cmd_update  # noqa: E402, F401  (issue 15; dispatched by name)
from dock.cli.cmd_network import (  # noqa: E402, F401  (dispatched by name)
    cmd_fetch,
    cmd_node,
    cmd_peers,
    cmd_status,
    cmd_sync,
    cmd_trust,
    cmd_untrust,
)
