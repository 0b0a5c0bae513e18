"""`DockBackend`: everything the TUI asks of the dock, in one small synchronous facade.

The App receives one in its constructor (see `tui.app.make_app`). Its methods block, so screens
call them only from worker threads. It wraps what `Dock.connect` returns: the running node's dock
over its control socket (`RemoteDock`), or the dock opened embedded; both have the same methods.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dock import SemanticView
from dock.cli.terminal_text import visible, visible_tree

from .network_status import DockStatusNetwork, NetworkStatus, NetworkStatusSource
from .viewmodels import (
    MIXTURE_KEY,
    LearnwareDetails,
    ResultRow,
    SearchOutcome,
    SearchQuery,
    StatSpecInfo,
)

if TYPE_CHECKING:
    from dock.api import DockAPI
    from dock.network.fetch import Transfer
    from dock.records import LearnwareRecord
    from dock.runtime.loaded import LoadedLearnware
    from dock.search.query import Match, Mixture

log = logging.getLogger(__name__)
LISTING_ROWS = 200  # rows shown when nothing is asked yet (all learnwares, by name)


# Names, descriptions and semantic values come from records strangers sign: every string the
# screens show passes through dock.cli.terminal_text.visible here (control characters shown as
# escapes); the widgets then render them as Text, never as markup.


def _shown(value: str | None) -> str:
    return visible(value) if value else ""


def short_peer(peer_id: str) -> str:
    peer_id = visible(peer_id)
    return peer_id if len(peer_id) <= 14 else f"{peer_id[:6]}…{peer_id[-6:]}"


class DockBackend:
    """Over an embedded `Dock` or a daemon's `RemoteDock` (`Dock.connect` gives either): typed
    against `DockAPI` (dock/api.py), so it uses nothing one of them lacks."""

    def __init__(self, dock: DockAPI, network: NetworkStatusSource | None = None):
        self.dock = dock
        self.mode = dock.mode
        if self.mode != "embedded":
            self.kind = f"attached to the lwdock node (pid {dock.owner_pid})"
        else:
            self.kind = "embedded node, online" if dock.online else "embedded dock"
        self.network: NetworkStatusSource = network or DockStatusNetwork(dock)
        self._write_lock = threading.RLock()  # submit / remove / export one at a time
        self._self_id: str | None = None
        self._self_id_known = False  # looked up once: reading the key costs a file read
        self.zips_fetched = 0  # zips a load fetched from peers (app.dock_generation counts them)

    def own_peer_id(self) -> str | None:
        """This node's peer id (the publisher of what it publishes), without creating a key."""
        if not self._self_id_known:
            self._self_id_known = True
            try:
                self._self_id = self.dock.peer_id()
            except Exception:  # noqa: BLE001 - an unreadable key only costs the "you" label
                log.warning("cannot read this node's peer id", exc_info=True)
        return self._self_id

    def publisher_label(self, publisher: str | None) -> str:
        if not publisher:
            return "—"
        return "you" if publisher == self.own_peer_id() else short_peer(publisher)

    def _local(self) -> set[str]:
        return self.dock.local_ids()

    # -- reads -----------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return Path(self.dock.home.root)

    def search(self, query: SearchQuery) -> SearchOutcome:
        start = time.perf_counter()
        if query.is_empty:
            # Only the first page is read (the catalogue's paged listing: ~constant time at 1M records).
            page = self.dock.list_page(limit=LISTING_ROWS, sort="name")
            local = self._local()
            rows = [self._record_row(r, r.id in local) for r in page.records]
            return SearchOutcome(rows, "name", page.total, time.perf_counter() - start)
        from dock import UserInfo

        stat_info = {query.stat.spec.type: query.stat.spec} if query.stat else {}
        result = self.dock.search(UserInfo(semantic_spec=query.semantic_spec(), stat_info=stat_info),
                                  limit=query.limit)
        mixture = result.multiple if result.multiple is not None and len(result.multiple.ids) > 1 else None
        local = self._local()
        rows = [self._match_row(m, self.dock.get(m.id), m.id in local) for m in result.single]
        if mixture is not None:
            rows.insert(0, self._mixture_row(mixture, all(i in local for i in mixture.ids)))
        total = int(self.dock.stats()["records"])
        if query.stat is not None:
            ranked_by = "statistical + text" if query.text.strip() else "statistical"
        else:
            ranked_by = "text" if query.text.strip() else "filters"
        return SearchOutcome(rows, ranked_by, total, time.perf_counter() - start)

    def _record_row(self, record: LearnwareRecord, local: bool) -> ResultRow:
        return ResultRow(
            key=record.id, name=visible(record.name), data_type=visible(record.data_type or ""),
            task=visible(record.task_type or ""), score=None, publisher=self.publisher_label(record.publisher),
            local=local, ids=(record.id,), names=(visible(record.name),),
        )

    def _match_row(self, match: Match, record: LearnwareRecord | None, local: bool) -> ResultRow:
        sem = SemanticView.from_spec(match.semantic_spec)
        # Without text and stat spec a search only filters: every match then has the same score.
        score = match.score if (match.mmd2 is not None or match.text_score is not None) else None
        hetero = getattr(match, "hetero", None)  # other columns (issue 14): say how many of its inputs are yours
        mark = (f" ⇄ {len(hetero['pairs'])}/{hetero['learnware_dim']} columns matched" if hetero else "")
        return ResultRow(
            key=match.id, name=_shown(sem.name) + mark, data_type=_shown(sem.data_type),
            task=_shown(sem.task_type), score=score, mmd2=match.mmd2, text_score=match.text_score,
            publisher=self.publisher_label(record.publisher if record else None), local=local,
            ids=(match.id,), names=(_shown(sem.name),),
        )

    def _mixture_row(self, mixture: Mixture, local: bool) -> ResultRow:
        views = [SemanticView.from_spec(s) for s in mixture.semantic_specs]
        names = tuple(_shown(v.name) for v in views)
        parts = " + ".join(f"{n} {w:.0%}" for n, w in zip(names, mixture.weights, strict=False))
        first = views[0] if views else SemanticView()
        return ResultRow(
            key=MIXTURE_KEY, name=f"Mixture: {parts}", data_type=_shown(first.data_type),
            task=_shown(first.task_type),
            score=mixture.score, mmd2=mixture.mmd2, publisher=None, local=local,
            ids=tuple(mixture.ids), names=names, weights=tuple(float(w) for w in mixture.weights),
        )

    def details(self, learnware_id: str) -> LearnwareDetails:
        record = self.dock.get(learnware_id)
        specs = self.dock.get_stat_specs(record.id)
        local = self.dock.has_zip(record.id)
        reason = self.fetch_reason(local)
        return LearnwareDetails(
            id=record.id, name=visible(record.name), description=visible(record.description or "", keep_newlines=True),
            semantic_spec=visible_tree(record.semantic_spec), size=record.size,
            publisher=visible(record.publisher) if record.publisher else record.publisher,
            publisher_label=self.publisher_label(record.publisher),
            local=local,
            stat_specs=tuple(
                StatSpecInfo(t, int(s.z.shape[0]), int(s.dim), float(s.gamma)) for t, s in sorted(specs.items())
            ),
            input_dim=record.input_dim, output_dim=record.output_dim, task=record.task_type,
            fetch_reason=visible(reason),
        )

    def network_status(self) -> NetworkStatus:
        return self.network.status()

    def fetch_reason(self, local: bool) -> str:
        """Why this zip cannot be fetched now ("" when it can)."""
        if local:
            return "the zip is already in this dock"
        status = self.network.status()
        if not status.online:
            return "the network is offline: " + (status.reason or "no node is running")
        return ""

    def fetch(self, learnware_id: str, progress: Callable[[int, int | None, str], None]) -> Path:
        """Download the zip from the peers that have it; `progress(done, total, text)` as it goes."""

        def report(transfer: Transfer) -> None:
            peer = short_peer(str(transfer.peer or "?"))
            progress(transfer.done, transfer.total or None, f"from {peer}")

        # An embedded dock reports from its network service, a daemon's over the control socket.
        progress(0, None, "asking the peers")
        return Path(self.dock.fetch(learnware_id, progress=report))

    # -- actions ---------------------------------------------------------------------------
    def export(self, learnware_id: str, dest: str | Path) -> Path:
        with self._write_lock:
            return Path(self.dock.export(learnware_id, Path(dest).expanduser()))

    def remove(self, learnware_id: str) -> None:
        with self._write_lock:
            self.dock.remove(learnware_id)

    def submit(self, zip_path: Path) -> str:
        with self._write_lock:
            return self.dock.submit(zip_path)

    def load(self, learnware_id: str) -> LoadedLearnware:
        """A running learnware (its model in a worker process); the caller closes it."""
        had_zip = self.dock.has_zip(learnware_id)
        loaded = self.dock.load(learnware_id)
        if not had_zip:  # the load fetched its zip from a peer: listings must say "local" now
            self.zips_fetched += 1
        return loaded

    # -- preview (honest) ----------------------------------------------------------------------
    def preview(self, rows: list[ResultRow], data_path: Path, label_column: str | None, kind: str, *,
                on_entry: Callable, is_cancelled: Callable[[], bool],
                progress: Callable[[float, float, str], None] | None = None,
                started: Callable[[str], None] | None = None) -> list:
        """Run these result rows (learnwares or the mixture) on a sample of the labelled rows of
        `data_path` (dock/reuse/preview.py); `on_entry(entry)` as each one is measured, `started(text)`
        once the sample is drawn. Raises PreviewError when the file has no labels."""
        from dock.datafiles import read_user_data
        from dock.errors import PreviewError
        from dock.reuse.preview import Candidate, make_sample, run_preview

        data = read_user_data(data_path, label_column if kind in ("table", "text") else None, kind)
        if data.y is None:
            raise PreviewError(f"{data_path.name} has no labels: give its label column to preview accuracy")
        candidates = [Candidate(r.key, tuple(r.ids), r.name, r.score if r.mmd2 is not None else None, r.task or None)
                      for r in rows]
        task = next((c.task for c in candidates if c.task), None)
        sample = make_sample(data.X, data.y, task)
        if started is not None:
            started(sample.describe())
        return run_preview(self.dock, candidates, sample, on_entry=on_entry, is_cancelled=is_cancelled,
                           progress=progress)
