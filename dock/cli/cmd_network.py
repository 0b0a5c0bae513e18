"""The CLI's network and trust commands: `lwdock node`, `sync`, `peers`, `fetch`, `status`, `trust`,
`untrust` (dispatched by name through dock/cli/commands.py)."""

from __future__ import annotations

from dock.cli import output as out
from dock.cli.inputs import open_dock as _open
from dock.errors import DockError


def cmd_node(args):
    from dock.daemon import run_node

    run_node(
        args.home,
        listen=args.listen or None,
        bootstrap=args.bootstrap or None,
        offline=args.offline,
        mdns=args.mdns or None,
        verbose=args.verbose,
        nickname=args.name or "",  # checked by the parser (parser._nickname)
    )
    return None


def cmd_sync(args):
    from dock.cli.cmd_sync import sync_command

    with _open(args) as dock:
        return sync_command(dock, args)


def cmd_peers(args):
    with _open(args) as dock:
        status = dock.status()
    if not args.json:
        if not status["online"]:
            out.info("offline: no node is running for this home (start one with `lwdock node`)")

        details = {d.get("peer_id"): d for d in status.get("peer_details") or () if isinstance(d, dict)}
        if status["online"] and not status["peers"]:
            out.info("no peers: this node is connected to nobody yet (`lwdock node --bootstrap ADDR` "
                     "on either side, or --mdns on a LAN)")
        for peer in status["peers"]:
            print(_peer_line(peer, details.get(peer) or {}))  # what peers say about themselves: escaped
    return status["peers"]


def _peer_line(peer: str, d: dict) -> str:
    from dock.cli.terminal_text import visible

    nick = visible(str(d.get("nickname") or "")[:32])
    latency = d.get("latency_ms")
    parts = [visible(peer) + (f" ({nick})" if nick else ""), visible(str(d.get("addr") or "address unknown")),
             f"{latency:.1f} ms" if isinstance(latency, (int, float)) else "latency unknown",
             f"{int(d.get('records') or 0)} records received"]
    return "  ".join(parts)


def cmd_fetch(args):
    with _open(args) as dock:
        # Embedded too: an unknown id is the same NotFoundError (same line, same exit code) as
        # through a node, and an offline dock says to start `lwdock node` when the zip is not here.
        learnware_id = dock.resolve_id(args.id)  # an unknown id: its one error line, nothing before it
        out.info(f"fetching {learnware_id}…")
        with out.TransferProgress(f"fetching {learnware_id[:12]}") as bar:
            path = dock.fetch(learnware_id, progress=bar.update)
    if not args.json:
        print(path)
    return {"path": str(path)}


def cmd_status(args):
    with _open(args) as dock:
        status = dict(dock.status(), mode=dock.mode)
    if not args.json:
        out.status(status)
        from dock.network.sync import progress_line

        if line := progress_line(status.get("sync")):  # catching up from peers (issue 16)
            out.stdout.print(f"sync     {line}", markup=False)
    return status


def cmd_trust(args):
    with _open(args) as dock:
        if args.list or args.id is None:
            if args.id is not None:
                raise DockError("give an id to trust, or --list, not both")
            entries = dock.trusted()
            if not args.json:
                if not entries:
                    out.info("no trusted ids (add one with `lwdock trust PEER_ID --note TEXT`)")
                for entry in entries:
                    print(f"{entry['id']}  {entry['note']}" if entry["note"] else entry["id"])
            return entries
        entry = dock.trust(args.id, args.note)
    if not args.json:
        out.info(f"trusted {entry['id']}")
    return entry


def cmd_untrust(args):
    with _open(args) as dock:
        found = dock.untrust(args.id)
    if not found:
        raise DockError(f"{args.id} is not on the trust list (see `lwdock trust --list`)")
    if not args.json:
        out.info(f"untrusted {args.id}")
    return {"untrusted": args.id}
