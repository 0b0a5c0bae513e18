"""Human-readable rendering for the CLI (rich). Results to stdout, errors to stderr.

Every string that came from outside (a record, a peer, a model's error) goes through
dock.cli.terminal_text before it reaches the terminal: control characters shown, markup escaped.
"""

from __future__ import annotations

import sys
from typing import Any

from dock.cli.terminal_text import markup_safe, plain, visible


class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~50-80 ms that `lwdock list --json`
    (and every other `--json` command) never needs (issue 16: `lwdock list` <= 0.5 s as a process)."""

    def __init__(self, **kwargs: Any):
        self._kwargs = kwargs
        self._console: Any = None

    def console(self) -> Any:
        """The rich Console itself (what rich's Progress wants as `console=`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)


stdout = _LazyConsole(highlight=False)
stderr = _LazyConsole(stderr=True, highlight=False)


def Table(*args: Any, **kwargs: Any) -> Any:  # noqa: N802  (stands for rich.table.Table, imported on use)
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def _table_grid(**kwargs: Any) -> Any:
    from rich.table import Table as RichTable

    return RichTable.grid(**kwargs)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {markup_safe(message, keep_newlines=True)}", markup=True, soft_wrap=True)


def info(message: str) -> None:
    """Progress and notes go to stderr so stdout stays clean for results."""
    stderr.print(visible(message, keep_newlines=True), markup=False, soft_wrap=True)


def score_bar(score: float, width: int = 12) -> str:
    filled = round(max(0.0, min(1.0, score)) * width)
    return "█" * filled + "░" * (width - filled)


def records_table(records: list[dict]) -> None:
    if not records:
        stdout.print("the dock is empty: add learnwares with `lwdock submit ZIP` (or try `lwdock demo`)")
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "name", "data", "task", "in→out", "size"):
        table.add_column(column)
    for r in records:
        dims = plain(f"{r['input_dim'] or '?'}→{r['output_dim'] or '?'}")
        table.add_row(plain(r["id"][:12]), plain(r["name"]), plain(r["data_type"] or ""), plain(r["task_type"] or ""),
                      dims, _size(r["size"]))
    stdout.print(table)


SIMILARITY_NOTE = ("similarity compares the distributions of inputs only, never labels: it is not a prediction "
                   "of accuracy (measure it: lwdock search --data FILE --preview 5)")


def search_result(result: dict) -> None:
    """The ranked learnwares: similarity of input distributions (a neutral bar; text relevance when the
    search had no statistical spec) and, after a preview, what each measured on the user's labelled rows."""
    single = result["single"]
    if not single:
        stdout.print(
            "no learnware matches: loosen the filters, or check that your spec's data kind "
            "and dimension match some learnware (`lwdock list`)"
        )
        return
    statistical = any(m["mmd2"] is not None for m in single)
    preview = result.get("preview")
    table = Table(box=None, header_style="bold", title="single learnwares", title_justify="left")
    columns = ["#", "id", "name", "similarity" if statistical else "relevance", "", "MMD²"]
    if preview:
        columns.append(f"measured ({preview['rows']} rows)")
    for column in columns:
        table.add_column(column)
    for rank, m in enumerate(single, 1):
        mmd = "" if m["mmd2"] is None else f"{m['mmd2']:.4f}"
        cells = [str(rank), plain(m["id"][:12]), plain(m["name"]), f"{m['score']:.1%}", score_bar(m["score"]), mmd]
        if preview:
            cells.append(preview_cell(m.get("preview")))
        table.add_row(*cells)
    stdout.print(table)
    mix = result.get("multiple")
    if mix:
        parts = ", ".join(f"{markup_safe(i[:12])} ×{w:.2f}" for i, w in zip(mix["ids"], mix["weights"], strict=True))
        measured = f"  measured {preview_cell(mix.get('preview'))}" if preview else ""
        stdout.print(
            f"\n[bold]recommended mixture[/]  similarity {mix['score']:.1%} {score_bar(mix['score'])}  "
            f"MMD² {mix['mmd2']:.4f}{markup_safe(measured)}\n  {parts}"
        )
    if preview:
        stdout.print()
        stdout.print(visible(f"measured on {preview['sample']} of {preview['file']} (label column "
                             f"{preview['label_column'] or 'from the file'}); the mixture runs as a job selector"),
                     markup=False, style="dim")
        for entry in _preview_notes(result):
            stdout.print(visible(entry), markup=False, style="dim")
    elif statistical:
        stdout.print(SIMILARITY_NOTE, markup=False, style="dim")


def preview_cell(entry: dict | None) -> str:
    """A preview entry as a short cell: "acc 98.5%", "RMSE 3.21", "not local", "rejected the data"."""
    if not entry:
        return "—"
    if entry["status"] == "measured" and entry["value"] is not None:
        return f"acc {entry['value']:.1%}" if entry["metric"] == "accuracy" else f"RMSE {entry['value']:.3g}"
    if entry["status"] == "failed":
        return "rejected the data" if "rejected the data" in entry["message"] else "failed"
    return plain(entry["status"])


def _preview_notes(result: dict) -> list[str]:
    """One line per candidate that was not measured, saying why."""
    notes = []
    items = [(m["name"], m.get("preview")) for m in result["single"]]
    if result.get("multiple"):
        items.append(("the mixture", result["multiple"].get("preview")))
    for name, entry in items:
        if entry and entry["status"] != "measured":
            notes.append(f"  {name}: {entry['message']}")
    return notes


def show_record(record: dict, semantic: dict, specs: dict) -> None:
    stdout.print(f"[bold]{markup_safe(record['name'])}[/]  {markup_safe(record['id'])}")
    if record["description"]:
        stdout.print(visible(record["description"], keep_newlines=True), markup=False)
    stdout.print(visible(
        f"data {record['data_type']} · task {record['task_type']} · library {record['library_type']} · "
        f"license {record['license']} · scenarios {', '.join(record['scenarios']) or '-'}"
    ), markup=False)
    stdout.print(
        f"input dim {record['input_dim']} · output dim {record['output_dim']} · zip {_size(record['size'])}"
        f" · local zip: {'yes' if record.get('local') else 'no'}"
    )
    for kind, info_ in specs.items():
        line = f"stat spec {kind}: K={info_['k']} points, dim {info_['dim']}, gamma {info_['gamma']:.4g}"
        stdout.print(visible(line), markup=False)


def status(info: dict) -> None:
    mode = f"daemon (pid {info['pid']})" if info["mode"] == "daemon" else "embedded (no daemon running)"
    stdout.print(visible(f"home     {info['home']}") + f"\nmode     {mode}", markup=False)
    stdout.print(visible(
        f"network  {'online' if info['online'] else 'offline'}"
        + (f" as {info['peer_id']}" if info.get("peer_id") else "")
    ), markup=False)
    for addr in info.get("addrs") or []:
        stdout.print(visible(f"         {addr}"), markup=False)
    if info.get("online") and info.get("networking", "up") != "up":
        stdout.print(f"         networking {info['networking']} after {info.get('restarts', 0)} restart(s): "
                     "see the node's log", style="bold red", markup=False)
    patches = info.get("libp2p_patches") or {}
    if patches and patches.get("speed") != "on":
        stdout.print(visible(f"         libp2p {patches.get('version')}: fast paths {patches.get('speed')}"),
                     markup=False)
    stdout.print(
        f"peers    {len(info.get('peers') or [])}\nrecords  {info['records']} ({info['zips']} with local zips)"
    )
    _sandbox_lines(info.get("sandbox"))
    _penalty_lines(info.get("peer_penalties") or {}, info.get("provider_penalties") or {})


def _sandbox_lines(sandbox: dict | None) -> None:
    if not sandbox:
        return
    attacks = sandbox.get("attacks") or {}
    stopped = sum(1 for verdict in attacks.values() if str(verdict).startswith("stopped"))
    layers = " + ".join(sandbox.get("layers") or {}) or "none"
    if sandbox.get("ok"):
        stdout.print(f"sandbox  ok: learnware code is confined ({stopped}/{len(attacks)} probe attacks stopped)",
                     markup=False)
    else:
        stdout.print(visible(f"sandbox  NOT CONFINED: {layers}; learnware code is refused unless "
                             "--unsafe-no-sandbox"), style="bold red", markup=False)
    for name, why in (sandbox.get("missing") or {}).items():
        stdout.print(visible(f"         missing {name}: {why}"), markup=False)
    grid = _table_grid(padding=(0, 1))
    grid.add_column(width=8)
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    for name, text in (sandbox.get("guarantees") or {}).items():
        grid.add_row("", plain(name), plain(text))
    stdout.print(grid)


def _penalty_lines(peers: dict, providers: dict) -> None:
    """Misbehaving peers (wire) and lying providers (pieces): only those that offended."""
    if peers:
        stdout.print(f"penalised peers  {len(peers)}", markup=False)
    for peer, p in sorted(peers.items(), key=lambda item: item[1].get("score", 0)):
        flags = [f for f in ("graylisted", "banned") if p.get(f)]
        if p.get("banned"):
            flags[-1] = f"banned {p.get('banned_for_s', 0):.0f} s"
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k in ("malformed_frames", "invalid_messages",
                                                                    "rate_limited") if (n := p.get(k)))
        line = f"  {peer}  score {p.get('score', 0):.1f}" + (f"  {' '.join(flags)}" if flags else "")
        stdout.print(visible(line + (f"  ({counts})" if counts else "")), markup=False)
        if p.get("last_offence"):
            stdout.print(visible(f"      last: {p['last_offence']}"), markup=False)
    if providers:
        stdout.print(f"penalised providers  {len(providers)}", markup=False)
    for peer, p in providers.items():
        stdout.print(visible(f"  {peer}  {p.get('strikes', 0)} strike(s), {p.get('seconds_left', 0)} s left: "
                             f"{p.get('reason', '')}"), markup=False)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def is_tty() -> bool:
    return sys.stdout.isatty()


class TransferProgress:
    """A byte progress bar on stderr for a fetch (only when stderr is a terminal: logs and pipes
    get the start and end lines alone)."""

    def __init__(self, label: str):
        self.label = markup_safe(label)  # progress descriptions are rendered as markup
        self._progress = None
        self._task = None

    def __enter__(self) -> "TransferProgress":
        if stderr.is_terminal:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), console=stderr.console(), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None)
        return self

    def update(self, transfer) -> None:
        if self._progress is not None:
            peer = markup_safe(str(getattr(transfer, "peer", "") or ""))
            self._progress.update(self._task, completed=transfer.done, total=transfer.total or None,
                                  description=f"{self.label} from {peer[:16]}…" if peer else self.label)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
