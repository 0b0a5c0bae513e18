"""A page of verified envelopes applied at once (issue 16): the rules of dock/network/ingest.py,
the budgets of dock/network/budgets.py, with the catalogue touched a handful of times per page.

Same outcomes as calling ingest() on each envelope in order; what differs is only how:
* one lookup per page for known ids, tombstones, held tombstones and publisher counts
  (dock/store/sync_tables.py), kept up to date in memory while the page is walked;
* new records are stored together (one transaction) and indexed together (SearchIndex.add_many);
* anything unusual takes the one-at-a-time path, after what the page gathered so far is stored,
  so its order and every rule stay exactly those of ingest(): a tombstone, a record with a held
  tombstone, a record that needs an eviction, and (should a concurrent local submit win the
  race for an id) a page whose bulk insert collides.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from dock.errors import BudgetRefused, StoreError
from dock.network.ingest import ingest, record_cost
from dock.network.signed_records import SignedRecord, prepared_columns
from dock.records import LearnwareRecord, compat_key
from dock.store.sync_tables import NewRecord, SyncStore

log = logging.getLogger(__name__)


def ingest_page(dock, page: list[SignedRecord], from_peer: str | None,
                admission=None) -> tuple[list[str], dict[int, BudgetRefused]]:
    """Apply verified records and tombstones in order: one outcome per item, as ingest() names
    them ("" for a record a budget turned away), and those refusals by position."""
    store = SyncStore(dock.catalogue)
    lookup = store.lookup_page([s.id for s in page], [s.publisher for s in page])
    tally = admission.page_tally(from_peer, lookup.publisher_counts) if admission is not None else None
    outcomes: list[str] = [""] * len(page)
    batch: list[tuple[int, NewRecord, int]] = []  # (position, new record, cost)
    providers: list[tuple[str, str]] = []
    refused: dict[int, BudgetRefused] = {}

    def flush() -> None:
        nonlocal batch, providers
        _store_batch(dock, store, batch, providers, from_peer, admission, outcomes)
        batch, providers = [], []

    def one_at_a_time(position: int, signed: SignedRecord) -> None:
        nonlocal lookup, tally
        flush()
        try:
            outcomes[position] = ingest(dock, signed, from_peer, admission)
        except BudgetRefused as exc:
            refused[position] = exc
        # the single path may have removed, evicted or held anything: read the state again
        rest = page[position + 1:]
        lookup = store.lookup_page([s.id for s in rest], [s.publisher for s in rest])
        if admission is not None:
            tally = admission.page_tally(from_peer, lookup.publisher_counts)

    for position, signed in enumerate(page):
        if signed.kind != "record" or signed.id in lookup.pending:
            one_at_a_time(position, signed)
            continue
        tomb = lookup.tombstones.get(signed.id)
        if tomb is not None and tomb[0] == signed.publisher and tomb[1] >= signed.seq:
            outcomes[position] = "withdrawn"
            continue
        if signed.id in lookup.existing:
            providers.append((signed.id, signed.publisher))
            outcomes[position] = "duplicate"
            continue
        specs = list(signed.stat_specs().values())
        cost = record_cost(signed, specs)
        if admission is not None:
            try:
                admitted = admission.check_in_page(signed, from_peer, cost, tally)
            except BudgetRefused as exc:
                refused[position] = exc
                continue
            if not admitted:  # the catalogue is full and this record may evict: the single path
                one_at_a_time(position, signed)
                continue
        record = LearnwareRecord(
            id=signed.id, semantic_spec=signed.semantic_spec, model_config=signed.model_config, size=signed.size,
            publisher=signed.publisher, stat_spec_types=tuple(sorted(signed.spec_bytes or {})),
        )
        columns = signed.prepared or prepared_columns(signed)
        new = NewRecord(record, specs, signed.publisher, signed.seq, signed.envelope, dict(signed.spec_bytes or {}),
                        columns.semantic_json, columns.fields, columns.model_json)
        batch.append((position, new, cost))
        providers.append((signed.id, signed.publisher))
        lookup.existing.add(signed.id)  # a second copy later in the page is a duplicate
    flush()
    return outcomes, refused


def _store_batch(dock, store: SyncStore, batch, providers, from_peer, admission, outcomes) -> None:
    if not batch and not providers:
        return
    entries = [
        (new.record.id, dict(zip(_index_fields(), new.fields, strict=True)),
         [(compat_key(s), s.z, s.beta, float(s.gamma)) for s in new.specs], new.semantic_json)
        for _pos, new, _cost in batch
    ]
    # The page's rows and their index entries appear together under the catalogue's (re-entrant)
    # lock: a search meanwhile (SearchIndex.sync compares counts) never finds the catalogue ahead
    # of the index, which would make it reload the page's records from the catalogue.
    # The two are written at the same time (issue 16): the rows on a thread of their own through a
    # cursor (DuckDB releases the GIL), the index here (its embedding runs in numpy, its files'
    # flushes wait on the disk; its fingerprint re-enters the catalogue's lock on this thread).
    # One after the other they were most of a late joiner's serial storing path.
    rows = [new for _pos, new, _cost in batch]
    index = dock._search_index
    # Lock order: the index's, then the catalogue's, as a search takes them (SearchIndex.sync and the
    # semantic index read the catalogue under the index's lock). Taking the catalogue's first here
    # deadlocked a page's store against a search that found the counts apart.
    with index.lock if index is not None else contextlib.nullcontext(), dock.catalogue._lock:
        if index is None or not entries:
            try:
                store.insert_records(rows, providers)
                collided = False
            except StoreError:  # a local submit stored one of these ids meanwhile: each on its own
                collided = True
        else:
            collided = _insert_and_index(dock, store, index, rows, providers, entries)
    if collided:
        log.info("a page's bulk insert collided with a concurrent write; storing its records one by one")
        for position, new, _cost in batch:
            outcomes[position] = _store_one(dock, new, from_peer, admission)
        return
    for position, _new, cost in batch:
        outcomes[position] = "stored"
        if admission is not None:
            admission.stored(cost, from_peer)


def _insert_and_index(dock, store: SyncStore, index, rows, providers, entries) -> bool:
    """Insert the page's rows (another thread, a cursor) while indexing them (this thread, which
    holds the catalogue's lock); True when the insert collided: the page's new index entries are
    then taken out again, so the index never holds a record the catalogue does not."""
    fresh = [entry[0] for entry in entries if entry[0] not in index.row_of]
    cursor = dock.catalogue._con.cursor()
    try:
        inserting = _inserter().submit(store.insert_records, rows, providers, cursor)
        try:
            index.add_many(entries, defer_save=True)  # saved every few seconds and when the sync ends
        finally:
            try:
                inserting.result()
                collided = False
            except StoreError:  # a local submit stored one of these ids meanwhile: each on its own
                collided = True
    finally:
        cursor.close()
    if collided:
        for learnware_id in fresh:  # the single path adds back what it stores
            index.remove(learnware_id)
    return collided


_inserter_pool: ThreadPoolExecutor | None = None
_inserter_lock = threading.Lock()


def _inserter() -> ThreadPoolExecutor:
    """One thread that inserts a page's rows while the page is indexed."""
    global _inserter_pool
    with _inserter_lock:
        if _inserter_pool is None:
            _inserter_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lwdock-bulk-insert")
        return _inserter_pool


def _store_one(dock, new: NewRecord, from_peer, admission) -> str:
    try:
        dock.catalogue.insert(new.record, new.specs, blob_size=None, envelope=_EnvelopeRow(new))
    except StoreError:
        return "duplicate"
    dock._index_add(new.record, new.specs)
    if admission is not None:
        admission.stored(record_cost_of(new), from_peer)
    return "stored"


def record_cost_of(new: NewRecord) -> int:
    return len(new.envelope) + sum(8 * (int(s.z.size) + int(s.beta.size)) for s in new.specs)


class _EnvelopeRow:
    """What Catalogue.insert reads of an envelope."""

    def __init__(self, new: NewRecord):
        self.publisher, self.seq, self.envelope = new.publisher, new.seq, new.envelope


def _index_fields() -> tuple[str, ...]:
    from dock.search.engine import _FIELD_NAMES

    return tuple(_FIELD_NAMES)
