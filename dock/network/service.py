"""NetworkService: ties one dock to a p2p node (gossip, sync, fetch, search over peers).

Data paths (wire formats in docs/PROTOCOL.md):
* local submit/remove -> signed envelope -> gossip topic RECORDS_TOPIC;
* gossip in -> validator (signature, schema, size, clock, model config; on the node thread, no
  I/O) -> ingest queue -> gossip ingest thread -> budgets (dock/network/budgets.py) ->
  dock_network.ingest (DuckDB, search index);
* peer connected -> a sync session with it (SYNC_PROTOCOL, cursor paging) on the sync workers
  (dock/network/sync.py: bounded, fair, never on the gossip ingest thread);
* dock.load(id) without a local zip -> fetch from providers (publisher, peers that announced or
  served it; liars last) -> pieces verified against the record's root into a partial under
  blobs/tmp -> zip checked against its record, sha256 == id -> blob store (dock/network/fetch.py);
* search over peers -> SEARCH_PROTOCOL to each connected peer -> their records verified and
  stored -> ranked here by a local search (dock/network/peer_search.py; peers' scores are ignored).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import msgpack

from dock.network.budgets import Admission, BudgetRefused, Budgets
from dock.network.fetch import FetchMixin, NetworkError, Penalty, Transfer, restore_fetch_marks  # noqa: F401
from dock.network.ingest import ingest, sign_unsigned
from dock.network.signed_records import RecordError, SignedRecord, decode_envelope
from dock.network.sync import SyncScheduler, SyncServeLimit, SyncSession, SyncStop, parse_sync_page  # noqa: F401
from dock.network.sync_pages import SYNC_PAGE, SYNC_PAGE_BYTES  # noqa: F401  (re-exported)
from dock.network.wire import HAVE_TOPIC, RECORDS_TOPIC, SEARCH_PROTOCOL, SYNC_PROTOCOL  # noqa: F401
from dock.network.wire import UNPACK as _UNPACK
from dock.search.query import SearchResult, UserInfo
from dock.store.network_tables import NetworkStore
from dock.store.sync_tables import SyncStore

log = logging.getLogger(__name__)

MAX_HAVE_IDS = 1000
MAX_ADDRS = 8
MAX_SEARCH_REQUEST = 4 << 20
HAVE_INTERVAL = 10.0  # seconds: a new peer triggers a re-announce of our zips at most this often


@dataclass
class NetStats:
    received: int = 0
    # records each peer handed us that were news here (a copy of one we already hold is not counted)
    received_by_peer: dict[str, int] = field(default_factory=dict)
    stored: int = 0
    rejected: int = 0  # invalid (signature, schema, clock, model config...): the peer misbehaved
    rejected_by_peer: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # valid but over a budget (dock/network/budgets.py): not stored
    refused_by_peer: dict[str, int] = field(default_factory=dict)
    refused_reasons: dict[str, int] = field(default_factory=dict)  # "per-peer quota" -> count
    outcomes: dict[str, int] = field(default_factory=dict)  # what ingest did: "stored", "held", "ignored", ...

    def receive(self, peer: str | None, new: bool = True) -> None:
        self.received += 1
        if peer and new:
            self.received_by_peer[peer] = self.received_by_peer.get(peer, 0) + 1

    def reject(self, peer: str | None) -> None:
        self.rejected += 1
        if peer:
            self.rejected_by_peer[peer] = self.rejected_by_peer.get(peer, 0) + 1

    def refuse(self, peer: str | None, reason: str) -> None:
        self.refused += 1
        if peer:
            self.refused_by_peer[peer] = self.refused_by_peer.get(peer, 0) + 1
        kind = next((k for k in ("per-peer quota", "per-publisher quota", "catalogue is full", "nothing may be evicted",
                                 "catalogue budget") if k in reason), "other")
        self.refused_reasons[kind] = self.refused_reasons.get(kind, 0) + 1


def _is_peer_error(exc: BaseException) -> bool:
    from p2p import PeerError

    return isinstance(exc, PeerError)


class NetworkService(FetchMixin):
    def __init__(self, dock, node=None, *, fetch_idle_timeout: float = 10.0, budgets: Budgets | None = None,
                 nickname: str = ""):
        from p2p import NodeConfig, P2PNode

        self.dock = dock
        # nickname: what peers see beside our id (identify agent_version, p2p/peer_info.py)
        self.node = node or P2PNode(identity=dock.identity, config=NodeConfig(nickname=nickname))
        self.store = NetworkStore(dock.catalogue)
        self.stats = NetStats()
        self.budgets = budgets or Budgets()
        self.admission = Admission(dock, self.budgets, dock.trust_list)
        self.syncs = SyncScheduler(self._pull_sync_page, self.budgets)
        self._serve_limit = SyncServeLimit(self.budgets.serve_sync_pages)
        self._ingest_lock = threading.Lock()
        self.fetch_idle_timeout = fetch_idle_timeout  # a frozen provider is abandoned after this silence
        self.transfers: dict[str, Transfer] = {}
        self._inbox: queue.Queue = queue.Queue(maxsize=10_000)
        self._cursors: dict[str, int] = SyncStore(dock.catalogue).cursors()  # per peer, persisted (sync_pages)
        self._fetch_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.progress_listeners: list[Callable[[Transfer], None]] = []
        self._peer_addrs: dict[str, list[str]] = {}  # from "have" announcements: how to dial providers
        self._last_have = 0.0
        # providers that lied to a fetch (see _penalise); id -> why its zip is never fetched again.
        # Both kept in the catalogue, so a restart does not forget a liar (fetch.restore_fetch_marks).
        self._penalties: dict[str, Penalty]
        self._penalties, self.bad_records = restore_fetch_marks(self.store)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, listen: list[str] | None = None, bootstrap: list[str] | None = None) -> None:
        signed = sign_unsigned(self.dock)
        if signed:
            log.info("signed %d local records stored before signing existed", signed)
        node = self.node
        node.subscribe(RECORDS_TOPIC, validator=self._validate_record_message)
        node.subscribe(HAVE_TOPIC, validator=self._validate_have_message)
        from p2p import ProtocolLimits

        # one sync request per peer at a time (a client pages sequentially); pages/minute in _serve_sync
        node.set_handler(SYNC_PROTOCOL, self._serve_sync, ProtocolLimits(max_concurrent=8, max_per_peer=1))

        # A search request carries the user's compact spec: allow wide tables, few at a time.
        node.set_handler(
            SEARCH_PROTOCOL, self._serve_search, ProtocolLimits(max_request=MAX_SEARCH_REQUEST, max_concurrent=4)
        )
        node.serve_blobs(self._open_blob)
        node.add_listener(self._on_event)
        self._thread = threading.Thread(target=self._ingest_loop, name="lwdock-ingest", daemon=True)
        self._thread.start()
        self.syncs.start()
        node.start(listen=listen, bootstrap=bootstrap or [])
        self.dock.network = self
        log.info("online as %s on %s", node.peer_id, ", ".join(node.addrs))

    def stop(self) -> None:
        self.dock.network = None
        self._stopping.set()
        self._inbox.put(None)
        self.syncs.stop(wait=False)
        self.node.stop()  # ends any sync page in flight
        self.syncs.stop()
        if self._thread is not None:
            self._thread.join(10)

    def status(self) -> dict[str, Any]:
        p2p_stats = self._p2p_stats()
        return {
            "online": self.node.running,
            "peer_id": self.node.peer_id,
            "addrs": list(self.node.addrs),
            "peers": self.node.peers(),
            # the same peers for people: address, round-trip ms, nickname (theirs: escape it), and
            # how many records each handed us (gossip forwarded, sync pages, search answers)
            "peer_details": self._peer_details(),
            "records_received": self.stats.received,
            "records_stored": self.stats.stored,
            "records_rejected": self.stats.rejected,
            "rejected_by_peer": dict(self.stats.rejected_by_peer),
            # valid records not stored because a budget is spent (dock/network/budgets.py), and why
            "records_refused": self.stats.refused,
            "refused_by_peer": dict(self.stats.refused_by_peer),
            "refused_reasons": dict(self.stats.refused_reasons),
            "records_evicted": self.admission.evicted,
            "tombstones_held": self.store.pending_count(),
            "trusted": len(self.dock.trust_list.ids()) - 1,  # this node's own id is always trusted
            "sync_sessions_ended": dict(self.syncs.sessions_ended),
            "sync": self.syncs.progress(),  # catch-up in progress (dock/network/sync.py SyncScheduler.progress)
            # every gossip message dropped at the p2p layer, on any topic: the rejections above plus
            # those refused before a record is even decoded (over the 512 KiB size limit)
            "gossip_rejected": int(p2p_stats.get("gossip_rejected", 0)),
            # up / restarting / down (the node restarts its networking after a crash), and whether
            # py-libp2p's fast paths and fixes are installed (p2p/libp2p_patches.py)
            "networking": p2p_stats.get("networking", "down"),
            "restarts": p2p_stats.get("restarts", 0),
            "libp2p_patches": p2p_stats.get("libp2p_patches", {}),
            "transfers": [vars(t).copy() for t in self.transfers.values()],
            # peers that misbehaved on the wire (malformed frames, invalid gossip, over their rate):
            # their GossipSub score, counters and ban (p2p/node.py P2PNode.peer_penalties)
            "peer_penalties": self._peer_penalties(),
            # providers that served bytes their record's piece root refutes (dock/network/fetch.py)
            "provider_penalties": self.penalties(),
        }

    def _peer_details(self) -> list[dict]:
        try:
            details = self.node.peer_details()
        except Exception:  # stopped or stopping: no live peers to describe
            return []
        received = dict(self.stats.received_by_peer)
        return [{**d, "records": received.get(d["peer_id"], 0)} for d in details]

    def _peer_penalties(self) -> dict:
        try:
            return self.node.peer_penalties()
        except Exception:  # stopped or stopping: nothing to add
            return {}

    def _p2p_stats(self) -> dict:
        try:
            return self.node.stats()
        except Exception:  # stopped or stopping: nothing to add
            return {}

    # -- publishing ------------------------------------------------------------------------
    def announce(self, signed: SignedRecord) -> None:
        """Gossip a record or tombstone this node made. Peers that miss it catch up by sync."""
        try:
            self.node.publish(RECORDS_TOPIC, signed.envelope)
        except Exception as exc:  # no peers yet, or the node is stopping: sync will carry it
            log.info("could not gossip %s %s now (%s); peers will get it by sync", signed.kind, signed.id[:12], exc)
            return
        if signed.kind == "record" and self.dock.catalogue.has_blob(signed.id):
            self.announce_have([signed.id])

    def announce_have(self, ids: list[str]) -> None:
        """Tell the network which zips this node serves, and where to dial it."""
        self._last_have = time.monotonic()
        addrs = list(self.node.addrs)[:MAX_ADDRS]
        for start in range(0, len(ids), MAX_HAVE_IDS):
            message = {"ids": ids[start : start + MAX_HAVE_IDS], "addrs": addrs}
            try:
                self.node.publish(HAVE_TOPIC, msgpack.packb(message))
            except Exception as exc:
                log.info("could not announce zips now: %s", exc)
                return

    # -- inbound gossip (validators run on the p2p thread: no I/O, no blocking) -------------
    def _validate_record_message(self, message) -> str:
        try:
            decode_envelope(message.data)
        except RecordError as exc:
            log.info("rejected gossip from %s: %s", message.forwarder[:16], exc.reason)
            self.stats.reject(message.forwarder)
            return "reject"
        return "accept"

    def _validate_have_message(self, message) -> str:
        try:
            ids, _addrs = _have_ids(message.data)
        except ValueError:
            self.stats.reject(message.forwarder)
            return "reject"
        return "accept" if ids else "ignore"

    def _on_event(self, event) -> None:
        from p2p import GossipMessage, PeerConnected

        try:
            if isinstance(event, GossipMessage):
                self._inbox.put_nowait(("gossip", event))
            elif isinstance(event, PeerConnected):
                self.syncs.request(event.peer_id, first=event.peer_id in self.dock.trust_list)
                if time.monotonic() - self._last_have > HAVE_INTERVAL:
                    self._inbox.put_nowait(("have", None))
        except queue.Full:
            log.warning("ingest queue full: dropping an event (sync will catch up)")

    def _ingest_loop(self) -> None:
        while not self._stopping.is_set():
            item = self._inbox.get()
            if item is None:
                return
            kind, payload = item
            try:
                if kind == "have":
                    if time.monotonic() - self._last_have > HAVE_INTERVAL:
                        self.announce_have(sorted(self.dock.catalogue.blob_ids()))
                elif payload.topic == RECORDS_TOPIC:
                    self._ingest_bytes(payload.data, payload.forwarder)
                elif payload.topic == HAVE_TOPIC:
                    ids, addrs = _have_ids(payload.data)
                    if addrs:
                        self._peer_addrs[payload.source] = addrs
                    for learnware_id in ids:
                        if self.dock.catalogue.exists(learnware_id):
                            self.store.add_provider(learnware_id, payload.source)
            except Exception as exc:  # one bad item must not stop ingestion
                if _is_peer_error(exc):  # e.g. a client-only peer that serves no sync: expected
                    log.info("%s with %s: %s", kind, str(getattr(payload, "source", payload))[:16], exc)
                else:
                    log.exception("ingesting %s failed", kind)

    def _ingest_bytes(self, data: bytes, peer: str | None) -> str:
        try:
            signed = decode_envelope(data)
        except RecordError as exc:
            self.stats.receive(peer)
            self.stats.reject(peer)
            log.info("rejected record from %s: %s", (peer or "?")[:16], exc.reason)
            return "rejected"
        return self.ingest_signed(signed, peer)

    def ingest_signed(self, signed: SignedRecord, peer: str | None) -> str:
        """Apply a decoded (verified) envelope from `peer`, within the budgets; the outcome."""
        try:
            with self._ingest_lock:  # gossip, sync workers and searches: budgets see one record at a time
                outcome = ingest(self.dock, signed, peer, self.admission)
        except BudgetRefused as exc:
            self.stats.receive(peer)
            self.stats.refuse(peer, exc.reason)
            log.info("refused record %s from %s: %s", signed.id[:12], (peer or "?")[:16], exc.reason)
            return "deferred" if exc.passes else "refused"  # deferred: the same record may pass later
        self.stats.receive(peer, new=outcome != "duplicate")
        if outcome in ("stored", "removed"):
            self.stats.stored += 1
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        return outcome

    # -- sync (sessions and fairness: dock/network/sync.py) ---------------------------------
    def _serve_sync(self, peer_id: str, request: bytes) -> bytes:
        from dock.network.sync_pages import serve_page

        return serve_page(self, peer_id, request)

    def sync_peers(self, peer_id: str | None = None) -> list[str]:
        """Queue a sync session with `peer_id` (or with every connected peer); the peers queued
        (one already syncing or waiting is not queued twice)."""
        peers = [peer_id] if peer_id else list(self.node.peers())
        return [p for p in peers if self.syncs.request(p, first=p in self.dock.trust_list)]

    def sync_from(self, peer_id: str) -> int:
        """One whole sync session with a peer, on the calling thread (the service's own sessions
        run on the sync workers); returns how many records and tombstones were stored."""
        session = self.syncs.new_session(peer_id)
        while not self.syncs.run_slice(session, self.budgets.sync_max_pages):
            pass
        return session.stored

    def _pull_sync_page(self, session: SyncSession, timeout: float) -> tuple[bool, bool]:
        """One page from session.peer, verified and stored in bulk (dock/network/sync_pages.py)."""
        from dock.network.sync_pages import pull_page

        return pull_page(self, session, timeout)

    # -- search over peers -----------------------------------------------------------------
    def _serve_search(self, peer_id: str, request: bytes) -> bytes:
        from dock.network.peer_search import serve_search

        return serve_search(self, request)

    def search_peers(self, user_info: UserInfo, limit: int = 10, *, timeout: float = 15.0) -> SearchResult:
        """Search here and on every connected peer: peers' records are verified and stored, then
        everything is ranked here from the records' own specs (dock/network/peer_search.py)."""
        from dock.network.peer_search import search_peers

        return search_peers(self, user_info, limit, timeout=timeout)


def _have_ids(data: bytes) -> tuple[list[str], list[str]]:
    from dock.store.blobs import is_learnware_id

    try:
        value = msgpack.unpackb(data, **_UNPACK)
    except Exception:
        raise ValueError("undecodable") from None
    ids = value.get("ids") if isinstance(value, dict) else None
    addrs = value.get("addrs", []) if isinstance(value, dict) else None
    if (
        not isinstance(addrs, list)
        or len(addrs) > MAX_ADDRS
        or not all(isinstance(a, str) and len(a) < 300 for a in addrs)
    ):
        raise ValueError("have addrs must be a short list of multiaddr strings")
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_HAVE_IDS
        or not all(isinstance(i, str) and is_learnware_id(i) for i in ids)
    ):
        raise ValueError("have must be {ids: [<64 hex>...]}")
    return ids, addrs
