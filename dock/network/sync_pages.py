"""One sync page, both sides (`/lwdock/sync/1.0.0`, docs/PROTOCOL.md section 8), in bulk (issue 16).

Client: a page (up to SYNC_PAGE envelopes) is verified off the p2p node's thread, by the sync
worker that asked for it or, for a large page, by worker processes in parallel
(dock/network/verify_pool.py; signed_records.decode_envelope: Ed25519, schema, specs), then
applied in one go (dock/network/bulk_ingest.py: one lookup, one transaction, one index batch)
under the service's ingest lock, which gossip ingestion also takes: gossip waits at most one
page. The cursor reached is persisted per peer (0007_sync_cursors), so a restart resumes.

Server: the page is read in two narrow queries (dock/store/sync_tables.changes_page) and, when
the client asks for `progress`, says how many changes are `left` after it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import msgpack

from dock.network.bulk_ingest import ingest_page
from dock.network.sync import SyncSession, SyncStop, parse_sync_page
from dock.network.verify_pool import decode_page
from dock.network.wire import SYNC_PROTOCOL
from dock.network.wire import UNPACK as _UNPACK
from dock.store.sync_tables import SyncStore, changes_page

log = logging.getLogger(__name__)

SYNC_PAGE = 1000  # envelopes a page may hold (the server clamps a request's limit into 1..SYNC_PAGE)
SYNC_PAGE_BYTES = 8 << 20  # ... and a page stops early at about this many envelope bytes


def serve_page(service, peer_id: str, request: bytes) -> bytes:
    from p2p import RequestRefused

    try:
        query = msgpack.unpackb(request, **_UNPACK)
        # a limit below 1 would page nothing forever ("more" stays true): clamp
        after, limit = int(query["after"]), max(1, min(int(query.get("limit", SYNC_PAGE)), SYNC_PAGE))
        progress = query.get("progress") is True
    except Exception:
        raise RequestRefused("sync request must be {after: int, limit: int}") from None
    if not service._serve_limit.allow(peer_id):
        raise RequestRefused(f"too many sync pages: at most {service._serve_limit.per_minute} a minute per peer")
    rows, left = changes_page(service.dock.catalogue, after, limit)
    items, size, cursor = [], 0, after
    for n, _lid, envelope in rows:
        if items and size + len(envelope) > SYNC_PAGE_BYTES:
            break
        items.append(envelope)
        size += len(envelope)
        cursor = n
    left += len(rows) - len(items)
    local = service.dock.catalogue.blob_ids()
    have = [lid for _n, lid, _e in rows[: len(items)] if lid in local]
    reply = {"items": items, "next": cursor, "more": left > 0, "have": have}
    if progress:
        reply["left"] = left
    return msgpack.packb(reply, use_bin_type=True)


def sync_cursor(service, peer: str) -> int:
    return service._cursors.get(peer, 0)


@dataclass
class FetchedPage:
    after: int  # the cursor it was asked with
    items: list[bytes]
    next_cursor: int
    more: bool
    left: int | None
    have: list[str]
    decoded: list  # SignedRecord, or the reason an envelope was rejected (str)
    seconds: float  # request + verification


def fetch_page(service, peer: str, after: int, timeout: float) -> FetchedPage:
    """Ask `peer` for the page after `after` and verify its envelopes (no storing)."""
    started = time.monotonic()
    request = msgpack.packb({"after": after, "limit": SYNC_PAGE, "progress": True})
    reply = msgpack.unpackb(service.node.request(peer, SYNC_PROTOCOL, request, timeout=timeout), **_UNPACK)
    items, next_cursor, more = parse_sync_page(reply, SYNC_PAGE)
    left = reply.get("left")
    left = left if isinstance(left, int) and not isinstance(left, bool) and left >= 0 else None
    have = [lid for lid in reply.get("have") or [] if isinstance(lid, str)]
    known = already_stored(service.dock.catalogue, items)
    checked = iter(decode_page([item for n, item in enumerate(items) if n not in known], timeout=max(timeout, 5.0)))
    decoded = [known[n] if n in known else next(checked) for n in range(len(items))]
    return FetchedPage(after, items, next_cursor, more, left, have, decoded, time.monotonic() - started)


@dataclass(frozen=True)
class KnownEnvelope:
    """An item byte-for-byte equal to an envelope this node stored (so verified when it was
    stored): not verified again; it only names another provider, as a duplicate does."""

    id: str
    publisher: str


def already_stored(catalogue, items: list[bytes]) -> dict[int, KnownEnvelope]:
    """Positions of the items this node already stored, identical to the byte. Two peers that
    sync from each other send back each other's records: verifying those again was half of a
    late joiner's work. Anything that does not parse is left to decode_envelope to reject."""
    claimed: dict[int, tuple[str, str]] = {}
    for n, item in enumerate(items):
        try:
            envelope = msgpack.unpackb(item, **_PEEK)
            body = msgpack.unpackb(envelope["body"], **_PEEK)
            learnware_id, publisher = body["id"], envelope["pub"]
        except Exception:  # malformed: decode_envelope says why
            continue
        if isinstance(learnware_id, str) and isinstance(publisher, str):
            claimed[n] = (learnware_id, publisher)
    if not claimed:
        return {}
    stored = SyncStore(catalogue).known_envelopes([lid for lid, _pub in claimed.values()])
    return {n: KnownEnvelope(lid, pub) for n, (lid, pub) in claimed.items() if items[n] in stored.get(lid, ())}


_PEEK = dict(raw=False, strict_map_key=False, max_bin_len=SYNC_PAGE_BYTES, max_str_len=SYNC_PAGE_BYTES,
             max_array_len=10_000, max_map_len=64, max_ext_len=0)


class _Prefetch:
    """The next page, asked for and verified on a thread of its own while this one is stored: a
    late joiner's throughput is then the slower of (request + verify) and (store), not their sum.
    At most one request per peer is in flight (the server serves one at a time per peer)."""

    def __init__(self, service, peer: str, after: int, timeout: float):
        self.after = after
        self.done = threading.Event()
        self.page: FetchedPage | None = None
        self.error: BaseException | None = None
        self.timeout = timeout
        threading.Thread(target=self._run, args=(service, peer, after, timeout), daemon=True,
                         name=f"lwdock-sync-prefetch-{peer[:8]}").start()

    def _run(self, service, peer, after, timeout) -> None:
        try:
            self.page = fetch_page(service, peer, after, timeout)
        except BaseException as exc:  # handed to the session that waits for it
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> FetchedPage:
        if not self.done.wait(self.timeout + 65.0):
            raise TimeoutError("prefetched sync page did not arrive")
        if self.error is not None:
            raise self.error
        assert self.page is not None
        return self.page


def pull_page(service, session: SyncSession, timeout: float) -> tuple[bool, bool]:
    """One page from session.peer: (more, progressed). Raises on a failed or malformed answer,
    SyncStop when the per-peer quota deferred records (the cursor stays before the page)."""
    peer, stats = session.peer, service.stats
    cursor = sync_cursor(service, peer)
    prefetch, session.prefetch = session.prefetch, None
    if prefetch is not None and prefetch.after == cursor:
        page = prefetch.result()
    else:
        page = fetch_page(service, peer, cursor, timeout)
    if not session.started:
        session.started = time.monotonic() - page.seconds
    if page.left is not None:
        session.left = page.left
    if page.more and page.items and page.next_cursor > cursor and session.pages < service.budgets.sync_max_pages:
        session.prefetch = _Prefetch(service, peer, page.next_cursor, timeout)
    storing = time.monotonic()
    verified, known_providers = [], []
    for decoded in page.decoded:
        if isinstance(decoded, KnownEnvelope):
            stats.received += 1
            stats.outcomes["duplicate"] = stats.outcomes.get("duplicate", 0) + 1
            known_providers.append((decoded.id, decoded.publisher))
        elif isinstance(decoded, str):
            stats.received += 1
            stats.reject(peer)
            log.info("rejected record from %s: %s", peer[:16], decoded)
        else:
            verified.append(decoded)
    stats.received += len(verified)
    with service._ingest_lock:  # gossip, sync workers and searches: budgets see one page at a time
        outcomes, refused = ingest_page(service.dock, verified, peer, service.admission)
        if known_providers:
            SyncStore(service.dock.catalogue).insert_records([], known_providers)
    deferred = 0
    for position, outcome in enumerate(outcomes):
        if position in refused:
            continue
        if outcome in ("stored", "removed"):
            stats.stored += 1
            session.stored += 1
        if outcome == "stored":  # news here: the peer's row on `lwdock peers` / the network screen counts it
            stats.received_by_peer[peer] = stats.received_by_peer.get(peer, 0) + 1
        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
    for exc in refused.values():
        stats.refuse(peer, exc.reason)
        deferred += bool(exc.passes)
    if refused:
        first = next(iter(refused.values()))
        log.info("refused %d record(s) of a sync page from %s: %s", len(refused), peer[:16], first.reason)
    if page.have:
        known = SyncStore(service.dock.catalogue).lookup_page(page.have, []).existing
        for learnware_id in known:
            service.store.add_provider(learnware_id, peer)
    session.received += len(page.items)
    stored_in = time.monotonic() - storing
    session.seconds += page.seconds + stored_in
    log.debug("sync page from %s: %d items, request+verify %.3f s, store %.3f s", peer[:16], len(page.items),
              page.seconds, stored_in)
    if deferred or not page.more:  # this sync ends: the index's counts saved now, not up to 5 s later
        index = service.dock._search_index
        if index is not None:
            index.save_pending()
    if deferred:  # over this peer's quota: keep the cursor before this page, a later session asks again
        raise SyncStop(f"quota ({deferred} record(s) deferred; asked again at the next connect)")
    progressed = bool(page.items) and page.next_cursor > cursor
    if progressed:
        service._cursors[peer] = page.next_cursor
        SyncStore(service.dock.catalogue).set_cursor(peer, page.next_cursor)
    return page.more, progressed
