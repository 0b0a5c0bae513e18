"""Budgets: what strangers may make this node store, checked before anything is stored.

* per publisher: at most `per_publisher` records signed by one key;
* per forwarding peer: at most `per_peer` records accepted from one peer (gossip forwarder, sync
  server or search answerer) per `per_peer_window` seconds;
* the catalogue: at most `max_records` records and `max_bytes` bytes (each record's envelope
  plus the float64 copies of its spec points that search reads; dock_network.record_cost).
When the catalogue is full, a newcomer signed by this node or a trusted id evicts records in
the order of NetworkStore.eviction_candidates (never this node's, a trusted id's, or one whose
zip is here); any other newcomer is refused, so a flood from fresh identities stops at the
budget instead of churning the catalogue. Every refusal raises BudgetRefused with the reason.

Configured in `<home>/config.toml` (all optional):

    [budgets]
    max_records = 50000
    max_bytes = 1073741824
    per_publisher = 1000
    per_peer = 2000
    per_peer_window = 3600
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from dock.errors import BudgetRefused, DockError  # noqa: F401  (BudgetRefused: re-exported)
from dock.store.network_tables import NetworkStore


@dataclass(frozen=True)
class Budgets:
    max_records: int = 50_000
    max_bytes: int = 1 << 30
    per_publisher: int = 1_000
    per_peer: int = 2_000
    per_peer_window: float = 3600.0
    pending_tombstones: int = 10_000  # tombstones held for ids not known here, in total
    pending_per_publisher: int = 100  # ... and per signer
    # sync (dock/network/sync.py)
    sync_workers: int = 2  # peers synced from at once
    sync_session_seconds: float = 120.0  # one peer's catch-up ends after this, resumed at its next connect
    sync_max_pages: int = 100  # ... or after this many pages
    sync_slice_pages: int = 4  # pages in a row before the next waiting peer gets its turn ...
    sync_slice_seconds: float = 2.0  # ... or once its turn has lasted this long (a slow peer yields)
    sync_page_timeout: float = 20.0  # one page request, dial included
    serve_sync_pages: int = 120  # pages this node serves one peer per minute

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise DockError(f"budget {f.name} must be a positive number, got {value!r}")

    @classmethod
    def from_config(cls, section: Any, where: str = "config.toml [budgets]") -> "Budgets":
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise DockError(f"{where} must be a table of numbers")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise DockError(f"{where}: unknown budget(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {}
        for name, value in section.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise DockError(f"{where}: {name} must be a positive number, got {value!r}")
            values[name] = int(value) if known[name] in (int, "int") else float(value)
        return cls(**values)


@dataclass
class PageTally:
    """Budget counts for one page of records, updated as the page's records are admitted."""

    trusted: frozenset[str]
    peer_recent: int
    publisher_counts: dict[str, int]
    records: int
    used: int


class Admission:
    """Applies Budgets to records about to be stored (dock_network.ingest calls check())."""

    BYTES_REFRESH = 30.0  # seconds: the byte total is re-read from the catalogue this often

    def __init__(self, dock, budgets: Budgets, trust):
        self.dock = dock
        self.budgets = budgets
        self.trust = trust  # dock.network.trust.TrustList
        self.evicted = 0
        self._store = NetworkStore(dock.catalogue)
        self._lock = threading.Lock()
        self._accepted: dict[str, collections.deque] = {}
        self._bytes: int | None = None
        self._bytes_read_at = 0.0

    def check(self, signed, from_peer: str | None, cost: int) -> None:
        """Raise BudgetRefused, or make room (evicting) for `signed`, a new record of `cost` bytes."""
        budgets, trusted = self.budgets, self.trust.ids()
        publisher_trusted = signed.publisher in trusted
        if not publisher_trusted:
            if from_peer and from_peer not in trusted and self._peer_recent(from_peer) >= budgets.per_peer:
                raise BudgetRefused(
                    f"peer {from_peer[:16]}… already gave {budgets.per_peer} records in "
                    f"{budgets.per_peer_window:.0f} s (per-peer quota)", passes=True)
            held = self._store.publisher_records(signed.publisher)
            if held >= budgets.per_publisher:
                raise BudgetRefused(
                    f"publisher {signed.publisher[:16]}… already has {held} records here (per-publisher quota "
                    f"{budgets.per_publisher}; `lwdock trust` it to lift this)")
        size = cost
        if size > budgets.max_bytes:
            raise BudgetRefused(f"a {size}-byte record exceeds the whole catalogue budget ({budgets.max_bytes} bytes)")
        records, used = self.dock.catalogue.count(), self._used_bytes()
        if records < budgets.max_records and used + size <= budgets.max_bytes:
            return
        if not publisher_trusted:
            raise BudgetRefused(
                f"the catalogue is full ({records}/{budgets.max_records} records, {used}/{budgets.max_bytes} "
                "bytes) and only records of trusted publishers may evict others")
        self._evict(records, used, size, trusted)

    def page_tally(self, from_peer: str | None, publisher_counts: dict[str, int]) -> "PageTally":
        """The counts check() reads, read once for a page of records (dock/network/bulk_ingest.py)."""
        return PageTally(
            trusted=self.trust.ids(),
            peer_recent=self._peer_recent(from_peer) if from_peer else 0,
            publisher_counts=dict(publisher_counts),
            records=self.dock.catalogue.count(),
            used=self._used_bytes(),
        )

    def check_in_page(self, signed, from_peer: str | None, cost: int, tally: "PageTally") -> bool:
        """check() against a page's tally, counting `signed` in it when admitted: True when it
        may be stored, False when storing it needs an eviction (the caller then stores the page so
        far and calls check(), which evicts); BudgetRefused exactly where check() refuses."""
        budgets = self.budgets
        publisher_trusted = signed.publisher in tally.trusted
        if not publisher_trusted:
            if from_peer and from_peer not in tally.trusted and tally.peer_recent >= budgets.per_peer:
                raise BudgetRefused(
                    f"peer {from_peer[:16]}… already gave {budgets.per_peer} records in "
                    f"{budgets.per_peer_window:.0f} s (per-peer quota)", passes=True)
            held = tally.publisher_counts.get(signed.publisher, 0)
            if held >= budgets.per_publisher:
                raise BudgetRefused(
                    f"publisher {signed.publisher[:16]}… already has {held} records here (per-publisher quota "
                    f"{budgets.per_publisher}; `lwdock trust` it to lift this)")
        if cost > budgets.max_bytes:
            raise BudgetRefused(f"a {cost}-byte record exceeds the whole catalogue budget ({budgets.max_bytes} bytes)")
        if tally.records < budgets.max_records and tally.used + cost <= budgets.max_bytes:
            tally.records += 1
            tally.used += cost
            tally.peer_recent += 1
            tally.publisher_counts[signed.publisher] = tally.publisher_counts.get(signed.publisher, 0) + 1
            return True
        if not publisher_trusted:
            raise BudgetRefused(
                f"the catalogue is full ({tally.records}/{budgets.max_records} records, {tally.used}/"
                f"{budgets.max_bytes} bytes) and only records of trusted publishers may evict others")
        return False

    def _evict(self, records: int, used: int, size: int, protected: frozenset[str]) -> None:
        budgets = self.budgets
        need_records = records - budgets.max_records + 1
        need_bytes = used + size - budgets.max_bytes
        victims, freed_records, freed_bytes = [], 0, 0
        for learnware_id, cost in self._store.eviction_candidates(set(protected), limit=max(need_records, 1) + 1000):
            if freed_records >= need_records and freed_bytes >= need_bytes:
                break
            victims.append(learnware_id)
            freed_records, freed_bytes = freed_records + 1, freed_bytes + cost
        if freed_records < need_records or freed_bytes < need_bytes:
            raise BudgetRefused(
                "the catalogue is full and nothing may be evicted (every record is this node's, a trusted "
                "publisher's or has its zip here): raise [budgets] in config.toml")
        for learnware_id in victims:
            self.dock._forget(learnware_id)
            self.evicted += 1
        with self._lock:
            self._bytes = None if self._bytes is None else self._bytes - freed_bytes

    def stored(self, cost: int, from_peer: str | None) -> None:
        """Count a stored record against its forwarder and the byte total."""
        with self._lock:
            if self._bytes is not None:
                self._bytes += cost
            if from_peer:
                window = self._accepted.setdefault(from_peer, collections.deque())
                window.append(time.monotonic())
                if len(window) > self.budgets.per_peer:
                    window.popleft()
                if len(self._accepted) > 10_000:  # forget peers whose window is empty
                    self._prune()

    def _peer_recent(self, peer: str) -> int:
        with self._lock:
            window = self._accepted.get(peer)
            if not window:
                return 0
            horizon = time.monotonic() - self.budgets.per_peer_window
            while window and window[0] < horizon:
                window.popleft()
            return len(window)

    def _prune(self) -> None:
        horizon = time.monotonic() - self.budgets.per_peer_window
        for peer in [p for p, w in self._accepted.items() if not w or w[-1] < horizon]:
            del self._accepted[peer]

    def _used_bytes(self) -> int:
        # Removals by other paths (dock.remove, tombstones) are not subtracted at once: the total
        # errs high until the next refresh, i.e. towards refusing.
        with self._lock:
            if self._bytes is None or time.monotonic() - self._bytes_read_at > self.BYTES_REFRESH:
                self._bytes, self._bytes_read_at = self._store.stored_bytes(), time.monotonic()
            return self._bytes
