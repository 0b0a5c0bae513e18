"""`lwdock check ZIP` (every submission check, nothing stored) and `lwdock update ID --semantic F`
(a learnware's semantic spec replaced by a newer signed record). Issue 15."""

from __future__ import annotations

from dock.cli import output as out
from dock.cli.inputs import open_dock, read_json


def cmd_check(args):
    from dock.network.semantic_update import check_zip
    from dock.runtime.limits import resolve_limits

    semantic = read_json(args.semantic, "semantic spec") if args.semantic else None
    # No dock is opened: a check needs no catalogue, so it runs even while a node owns the home.
    result = check_zip(args.zip, semantic, limits=resolve_limits(None, timeout=args.timeout))
    if not args.json:
        out.info(f"{args.zip}: passes every check ({', '.join(result['stat_specs'])}); nothing was stored")
        print(result["id"])
    return result


def cmd_update(args):
    semantic = read_json(args.semantic, "semantic spec")
    # Embedded, or through the running node's control socket (`update_semantic`): either way the
    # publisher check, the model check against the new spec and the newer signed record are the
    # owner's; a running node announces the record to its peers at once.
    with open_dock(args) as dock:
        record = dock.update_semantic(args.id, semantic, timeout=args.timeout)
        online = dock.mode == "daemon" and dock.online
    if not args.json:
        print(record.id)
        sent = "announced to this node's peers" if online else "peers get it when they sync"
        out.info(f"updated the semantic spec of {record.name!r} (a newer signed record; {sent})")
    return {"id": record.id, "name": record.name, "semantic_spec": record.semantic_spec}
