"""`lwdock check ZIP` (every submission check, nothing stored) and `lwdock update ID --semantic F`
(a learnware's semantic spec replaced by a newer signed record). Issue 15."""

from __future__ import annotations

import json
from pathlib import Path

from dock.cli import output as out
from dock.errors import DockError


def _semantic_file(path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DockError(f"semantic spec file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DockError(f"semantic spec file {path} is not valid JSON: {exc}") from None


def cmd_check(args):
    from dock.network.semantic_update import check_zip
    from dock.runtime.limits import resolve_limits

    semantic = _semantic_file(args.semantic) if args.semantic else None
    # No dock is opened: a check needs no catalogue, so it runs even while a node owns the home.
    result = check_zip(args.zip, semantic, limits=resolve_limits(None, timeout=args.timeout))
    if not args.json:
        out.info(f"{args.zip}: passes every check ({', '.join(result['stat_specs'])}); nothing was stored")
        print(result["id"])
    return result


def cmd_update(args):
    from dock.dock import Dock

    semantic = _semantic_file(args.semantic)
    with Dock.connect(args.home) as dock:
        update = getattr(dock, "update_semantic", None)
        if update is None:  # a RemoteDock: the control socket does not carry updates yet
            raise DockError("a running `lwdock node` owns this dock and cannot update semantic specs over its "
                            "control socket yet: stop the node, run `lwdock update` again, restart the node "
                            "(its peers get the newer record when they sync)")
        record = update(args.id, semantic, timeout=args.timeout)
    if not args.json:
        print(record.id)
        out.info(f"updated the semantic spec of {record.name!r} (a newer signed record)")
    return {"id": record.id, "name": record.name, "semantic_spec": record.semantic_spec}
