"""Sync (`/lwdock/sync/1.0.0`, docs/PROTOCOL.md section 8): catching up from peers, fairly.

Client side. Every connected peer gets one *session*: pages are pulled from it until its
answer says `more: false`, or a page brings no progress (an empty page, or `next` not past our
cursor: a peer answering `more: true` forever ends here at once), or the session has spent its
page cap or its deadline (Budgets.sync_*; the cursor is kept and the next connect resumes).
Sessions run on `sync_workers` threads of their own, never on the gossip ingest thread, and
take turns: after `sync_slice_pages` pages, or once its turn has lasted `sync_slice_seconds`,
a session goes to the back of the queue, so one slow or endless peer holds at most one worker
for about one page timeout at a time while the others keep going. The queue of waiting peers is bounded (MAX_WAITING).

Server side: SyncServeLimit allows one peer `serve_sync_pages` pages a minute (the p2p layer
also bounds concurrent requests per peer).
"""

from __future__ import annotations

import collections
import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_WAITING = 1000  # peers waiting for a sync turn; beyond it a connect's sync is dropped (resumed at its next)
SHOWN_SESSIONS = 16  # sessions `lwdock status` shows (running and waiting first, then the latest ended)


class SyncStop(Exception):
    """Ends a session early without it being the peer's fault (e.g. a budget refused records:
    the cursor stays before them so a later session asks again)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class SyncSession:
    peer: str
    deadline: float
    pages: int = 0
    stored: int = 0
    received: int = 0  # envelopes received (stored, duplicates, refused, rejected)
    left: int | None = None  # changes the peer says are left after our cursor (None: not said)
    seconds: float = 0.0  # spent on pages (request, verification, storing)
    started: float = 0.0  # time.monotonic() of its first page
    prefetch: Any = None  # the next page, being fetched and verified (dock/network/sync_pages.py)
    ended: str = ""  # why the session ended: "done", "no progress", "page cap", "deadline", "error: ..."


class SyncScheduler:
    def __init__(self, pull_page, budgets):
        """pull_page(session, timeout) -> (more, progressed): one page from session.peer."""
        self._pull_page = pull_page
        self.budgets = budgets
        self._waiting: collections.OrderedDict[str, SyncSession] = collections.OrderedDict()
        self._active: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.sessions_ended: collections.Counter = collections.Counter()  # reason -> count (status)
        self._recent: collections.OrderedDict[str, SyncSession] = collections.OrderedDict()  # progress()

    def start(self) -> None:
        for n in range(int(self.budgets.sync_workers)):
            thread = threading.Thread(target=self._worker, name=f"lwdock-sync-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, *, wait: bool = True) -> None:
        """No new pages; with `wait`, join the workers (a page in flight ends within its timeout,
        at once when the p2p node has stopped)."""
        with self._cond:
            self._stopping = True
            self._waiting.clear()
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                thread.join(self.budgets.sync_page_timeout + 5)

    def request(self, peer: str, *, first: bool = False) -> bool:
        """Queue a sync session with `peer` (no-op if it has one running or waiting); `first`
        puts it at the head of the queue (a peer the user trusts)."""
        with self._cond:
            if self._stopping or peer in self._waiting or peer in self._active:
                return False
            if len(self._waiting) >= MAX_WAITING:
                log.warning("sync queue full (%d peers): not syncing from %s now", MAX_WAITING, peer[:16])
                return False
            self._waiting[peer] = self.new_session(peer)
            self._recent[peer] = self._waiting[peer]
            self._recent.move_to_end(peer)
            while len(self._recent) > MAX_WAITING + SHOWN_SESSIONS:
                self._recent.popitem(last=False)
            if first:
                self._waiting.move_to_end(peer, last=False)
            self._cond.notify()
            return True

    def progress(self) -> dict:
        """What `lwdock status`, the TUI and `lwdock sync` show: totals over the sessions running or
        waiting, and the latest sessions (peer, state, received, stored, left, records/s)."""
        now = time.monotonic()
        with self._cond:
            sessions = list(self._recent.values())
            running = set(self._active)
        rows: list[dict[str, Any]] = []
        for s in sessions:
            state = "running" if s.peer in running else (s.ended or "waiting")
            elapsed = now - s.started if s.started else 0.0
            rate = s.received / elapsed if elapsed > 0 and not s.ended else (
                s.received / s.seconds if s.seconds > 0 else 0.0)
            rows.append({"peer": s.peer, "state": state, "pages": s.pages, "received": s.received,
                         "stored": s.stored, "left": s.left, "records_per_s": round(rate, 1)})
        live = [r for r in rows if r["state"] in ("running", "waiting")]
        shown = live + [r for r in reversed(rows) if r not in live][: max(0, SHOWN_SESSIONS - len(live))]
        return {
            "syncing": len(live),
            "received": sum(r["received"] for r in live),
            "stored": sum(r["stored"] for r in live),
            "left": sum(r["left"] or 0 for r in live),
            "records_per_s": round(sum(r["records_per_s"] for r in live if r["state"] == "running"), 1),
            "sessions": shown[:SHOWN_SESSIONS],
        }

    def new_session(self, peer: str) -> SyncSession:
        return SyncSession(peer, time.monotonic() + self.budgets.sync_session_seconds)

    def run_slice(self, session: SyncSession, pages: int, seconds: float | None = None) -> bool:
        """Pull up to `pages` pages (for at most about `seconds`); True when the session is over
        (session.ended says why)."""
        budgets = self.budgets
        turn_ends = time.monotonic() + seconds if seconds is not None else None
        for _ in range(pages):
            if self._stopping:
                return self._end(session, "stopping")
            if turn_ends is not None and time.monotonic() >= turn_ends:
                return False
            left = session.deadline - time.monotonic()
            if left < 0.5:  # too little time left for a page to be worth asking for
                return self._end(session, "deadline")
            if session.pages >= budgets.sync_max_pages:
                return self._end(session, "page cap")
            session.pages += 1
            try:
                more, progressed = self._pull_page(session, min(budgets.sync_page_timeout, left))
            except SyncStop as stop:
                return self._end(session, stop.reason)
            except Exception as exc:  # the peer failed or lied: the session ends, the cursor stays
                late = time.monotonic() >= session.deadline
                return self._end(session, "deadline" if late else f"error: {exc}")
            if not more:
                return self._end(session, "done")
            if not progressed:
                return self._end(session, "no progress")
        return False

    def _end(self, session: SyncSession, why: str) -> bool:
        session.ended = why
        prefetch, session.prefetch = session.prefetch, None
        if prefetch is not None:  # let its request end, so a next session is not told BUSY
            prefetch.done.wait(self.budgets.sync_page_timeout)
        self.sessions_ended[why.split(":")[0].split(" (")[0]] += 1  # "error: ..." -> "error"
        level = logging.DEBUG if why == "done" else logging.INFO
        log.log(level, "sync from %s ended after %d page(s), %d stored: %s",
                session.peer[:16], session.pages, session.stored, why)
        return True

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                peer, session = self._waiting.popitem(last=False)
                self._active.add(peer)
            try:
                with _fewer_collections:
                    over = self.run_slice(session, int(self.budgets.sync_slice_pages), self.budgets.sync_slice_seconds)
            except Exception:  # never lose a worker to one peer
                log.exception("sync from %s failed", peer[:16])
                over = True
            with self._cond:
                self._active.discard(peer)
                if not over and not self._stopping:
                    self._waiting[peer] = session  # to the back: the others get their turn first
                    self._cond.notify()


# gc's first threshold while a sync runs (Python's default: 700 allocations).
SYNC_GC_THRESHOLD = 50_000


class _FewerCollections:
    """Python's cyclic collector less often while any sync session runs (process-wide, restored
    when the last one ends). A page's ~60 objects a record (envelopes, specs, dicts) live until
    it is stored; at the default threshold the collector ran ~60 times a page, and those
    survivors set off full collections of the node's whole heap: ~20% of a late joiner's node
    CPU (issue 16, session 6). Records are acyclic: reference counting frees them anyway."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._saved: tuple[int, ...] = ()

    def __enter__(self) -> None:
        with self._lock:
            if self._active == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(max(SYNC_GC_THRESHOLD, self._saved[0]), *self._saved[1:])
            self._active += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                gc.set_threshold(*self._saved)


_fewer_collections = _FewerCollections()


def progress_line(sync: dict | None) -> str:
    """status()["sync"] (SyncScheduler.progress) as one line for `lwdock status` and the TUI's
    network screen; "" when no session runs or waits."""
    if not sync or not sync.get("syncing"):
        return ""
    received, left = int(sync.get("received", 0)), int(sync.get("left", 0))
    share = f" ({100 * received // (received + left)}%)" if received + left else ""
    return (f"syncing from {sync['syncing']} peer(s): {received:,} of ~{received + left:,} records{share}, "
            f"{float(sync.get('records_per_s', 0)):,.0f} records/s, {int(sync.get('stored', 0)):,} new")


class SyncServeLimit:
    """At most `per_minute` sync pages served to one peer in any 60 s."""

    def __init__(self, per_minute: int):
        self.per_minute = int(per_minute)
        self._served: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def allow(self, peer: str) -> bool:
        now = time.monotonic()
        with self._lock:
            window = self._served.setdefault(peer, collections.deque())
            while window and window[0] < now - 60.0:
                window.popleft()
            if len(window) >= self.per_minute:
                return False
            window.append(now)
            if len(self._served) > 10_000:
                for stale in [p for p, w in self._served.items() if not w or w[-1] < now - 60.0]:
                    del self._served[stale]
            return True


def parse_sync_page(reply, max_items: int) -> tuple[list[bytes], int, bool]:
    """(items, next, more) of a sync answer, or ValueError when it is not one."""
    if not isinstance(reply, dict):
        raise ValueError("sync answer is not a map")
    items, next_cursor, more = reply.get("items", []), reply.get("next"), reply.get("more", False)
    if (
        not isinstance(items, list)
        or len(items) > max_items
        or not all(isinstance(i, bytes) for i in items)
        or not isinstance(next_cursor, int)
        or isinstance(next_cursor, bool)
        or not isinstance(more, bool)
    ):
        raise ValueError("sync answer must be {items: [bin...] (at most the page size), next: int, more: bool}")
    return items, next_cursor, more
