"""`lwdock sync [PEER]`: catch up from peers now, with a progress bar (issue 16).

Asks the running node (`lwdock node`) to start a sync session with PEER or with every connected
peer, then follows status()["sync"] until no session is running or waiting: a bar of records
received out of received + what the peers say is left, the rate, and what was stored. Ctrl-C
stops watching; the node keeps syncing. `--no-wait` only starts the sessions.
"""

from __future__ import annotations

import time

from dock.cli import output as out

POLL_SECONDS = 0.5


def sync_command(dock, args) -> dict:
    queued = dock.sync(args.peer)
    if args.no_wait:
        if not args.json:
            out.info(f"syncing from {len(queued)} peer(s)" if queued else "nothing to start: no peer connected, "
                     "or every peer is syncing already (see `lwdock status`)")
        return {"queued": queued}
    progress = _follow(dock, quiet=args.json)
    summary = {"queued": queued, "received": progress["received"], "stored": progress["stored"],
               "sessions": progress["sessions"]}
    if not args.json:
        ended = [s for s in progress["sessions"] if s["peer"] in set(queued)]
        reasons = ", ".join(sorted({s["state"] for s in ended})) or "nothing to do"
        out.info(f"sync finished: {progress['stored']:,} record(s) stored from {len(ended)} peer(s) ({reasons})")
    return summary


def _follow(dock, *, quiet: bool) -> dict:
    """Poll the node until its sync sessions are over; the totals of what they did."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    totals = {"received": 0, "stored": 0, "sessions": []}
    seen: dict[str, dict] = {}
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=out.stderr.console(), disable=quiet,
                   transient=False)
    with bar:
        task = bar.add_task("syncing", total=None, rate="")
        while True:
            sync = dock.status().get("sync") or {}
            for session in sync.get("sessions", []):
                seen[session["peer"]] = session
            live = int(sync.get("syncing", 0))
            received, left = int(sync.get("received", 0)), int(sync.get("left", 0))
            bar.update(task, completed=received, total=(received + left) or None,
                       description=f"syncing from {live} peer(s)" if live else "synced",
                       rate=f"{sync.get('records_per_s', 0):,.0f} records/s")
            if not live:
                break
            time.sleep(POLL_SECONDS)
    totals["sessions"] = list(seen.values())
    totals["received"] = sum(s["received"] for s in seen.values())
    totals["stored"] = sum(s["stored"] for s in seen.values())
    return totals
