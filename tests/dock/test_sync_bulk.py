"""Bulk sync (issue 16 item 2): a page applied at once gives exactly the outcomes of the
one-at-a-time rules (issue 11's tombstone and budget rules included), verification in worker
processes rejects what decode_envelope rejects, the per-peer cursor survives a restart, and the
search index follows a sync. Real DuckDB, real libp2p hosts on 127.0.0.1, real worker processes."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.errors import NetworkError
from dock.network.budgets import Admission, Budgets
from dock.network.bulk_ingest import ingest_page
from dock.network.ingest import ingest
from dock.network.service import SYNC_PROTOCOL
from dock.network.signed_records import _seal, decode_envelope
from dock.network.sync_pages import already_stored
from dock.network.verify_pool import PARALLEL_FROM, decode_page
from dock.store.sync_tables import SyncStore
from p2p import Identity
from specs import generate_stat_spec
from tests.helpers import wait_until

from .test_network_trust import _fake_id, _now_ms, record, tombstone


def _hostile_page(tmp_path):
    """A page mixing every rule: new records, a second copy in the page, a record its publisher
    withdrew, one withdrawn before it was seen, a stranger's held tombstone, a tombstone for a
    record earlier in the page, a stranger's tombstone for it, and a publisher over its quota."""
    alice, bob, stranger, greedy = (Identity.generate() for _ in range(4))
    names = ("a1", "a2", "gone", "early", "squatted", "later gone", "g1", "g2", "g3", "g4")
    ids = {name: _fake_id(name) for name in names}
    now = _now_ms()
    # what the receiver already holds: alice's withdrawal of "gone", tombstones held for unknown ids
    before = [tombstone(alice, ids["gone"], now), tombstone(bob, ids["early"], now),
              tombstone(stranger, ids["squatted"], now)]
    page = [
        record(alice, ids["a1"], seq=now - 10),
        record(alice, ids["a1"], seq=now - 10),  # the same record twice in one page
        record(alice, ids["gone"], seq=now - 10),  # withdrawn (tombstone known, same publisher, higher seq)
        record(bob, ids["early"], seq=now - 10),  # its publisher's held tombstone now applies
        record(alice, ids["squatted"], seq=now - 10),  # a stranger's held tombstone does not stop it
        record(alice, ids["later gone"], seq=now - 10),
        tombstone(stranger, ids["later gone"], now),  # not the publisher: ignored
        tombstone(alice, ids["later gone"], now),  # removes the record stored earlier in this page
        record(alice, ids["a2"], seq=now - 10),
        record(greedy, ids["g1"], seq=now - 10), record(greedy, ids["g2"], seq=now - 9),
        record(greedy, ids["g3"], seq=now - 8),
        record(greedy, ids["g4"], seq=now - 7),  # per_publisher=3: refused
    ]
    return before, page


def test_a_page_in_bulk_has_the_outcomes_of_one_record_at_a_time(tmp_path):
    before, page = _hostile_page(tmp_path)
    budgets = Budgets(per_publisher=3)
    results = {}
    for way in ("single", "bulk"):
        with Dock.open(tmp_path / way) as dock:
            admission = Admission(dock, budgets, dock.trust_list)
            for envelope in before:
                ingest(dock, decode_envelope(envelope), "peer", admission)
            signed = [decode_envelope(e) for e in page]
            if way == "single":
                outcomes = []
                for s in signed:
                    try:
                        outcomes.append(ingest(dock, s, "peer", admission))
                    except Exception as exc:  # BudgetRefused
                        outcomes.append(f"refused: {exc}")
            else:
                dock.search(UserInfo(semantic_spec={}))  # an index to keep up to date
                got, refused = ingest_page(dock, signed, "peer", admission)
                outcomes = [f"refused: {refused[n]}" if n in refused else o for n, o in enumerate(got)]
                index_ids = set(dock._search_index.row_of)
            held = dock.catalogue.learnware_ids()
            results[way] = (outcomes, held, SyncStore(dock.catalogue).lookup_page(held, []).pending)
    assert results["bulk"] == results["single"]
    outcomes, held, _pending = results["bulk"]
    assert outcomes[:8] == ["stored", "duplicate", "withdrawn", "withdrawn", "stored", "stored", "ignored", "removed"]
    assert outcomes[8:12] == ["stored"] * 4
    assert outcomes[-1].startswith("refused: ") and "per-publisher quota 3" in outcomes[-1]
    assert index_ids == set(held)  # indexed in the same batch, withdrawn ones not


def test_worker_processes_reject_what_decode_envelope_rejects(tmp_path):
    alice = Identity.generate()
    envelopes = [record(alice, _fake_id(f"r{n}"), seq=1000 + n) for n in range(PARALLEL_FROM + 50)]
    good = msgpack.unpackb(envelopes[7])
    envelopes[7] = msgpack.packb({**good, "sig": bytes(64)})  # a forged signature
    envelopes[150] = _seal(alice, {"kind": "record", "id": "nothex"})  # a bad body, well signed
    envelopes[200] = record(alice, _fake_id("future"), seq=_now_ms() + 3_600_000)  # an hour ahead
    decoded = decode_page(envelopes)
    assert "bad signature" in decoded[7]
    assert "id must be 64 lowercase hex" in decoded[150]
    assert "in the future" in decoded[200]
    rejected = {7, 150, 200}
    assert all(not isinstance(d, str) and d.id == _fake_id(f"r{n}") for n, d in enumerate(decoded) if n not in rejected)
    assert decode_page(envelopes[:3])[0].id == _fake_id("r0")  # a small page: decoded here, same result


def _source_with(tmp_path, name: str, count: int) -> list[str]:
    publisher = Identity.generate()
    signed = [decode_envelope(record(publisher, _fake_id(f"{name} {n}"), seq=1000 + n)) for n in range(count)]
    with Dock.open(tmp_path / name) as dock:
        for start in range(0, count, 500):
            ingest_page(dock, signed[start:start + 500], None)
    return [s.id for s in signed]


def test_the_sync_cursor_survives_a_restart(net, tmp_path):
    ids = _source_with(tmp_path, "source", 1300)  # two pages: 1,000 then 300
    source = net.add("source")
    budgets = Budgets(per_publisher=10_000, per_peer=10_000, sync_max_pages=1)  # one page a session
    late = net.add("late", [source], budgets=budgets)
    peer = source.node.peer_id
    wait_until(lambda: late.syncs.sessions_ended.get("page cap"), 60, "the first page's session")
    assert late.dock.catalogue.count() == 1000
    cursor = SyncStore(late.dock.catalogue).cursor(peer)
    assert cursor > 0

    late.stop()
    late.dock.close()
    net.nodes.remove(late)
    again = net.add("late", [source], budgets=Budgets(per_publisher=10_000, per_peer=10_000))
    assert again._cursors.get(peer) == cursor  # read back from the catalogue
    wait_until(lambda: again.dock.catalogue.count() == len(ids), 60, "the rest after the restart")
    session = next(s for s in again.syncs.progress()["sessions"] if s["peer"] == peer)
    assert session["received"] == 300  # resumed after the first page, not from the start
    assert all(again.dock.catalogue.exists(i) for i in ids[:5] + ids[-5:])


def test_synced_records_are_searchable_and_the_server_says_what_is_left(net, tmp_path):
    _source_with(tmp_path, "source", 600)
    source = net.add("source")
    late = net.add("late", [source], budgets=Budgets(per_publisher=10_000, per_peer=10_000))
    late.dock.search(UserInfo(semantic_spec={}))  # the index exists before the records arrive
    X = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(60, 4)), K=5)
    wait_until(lambda: late.dock.catalogue.count() == 600, 60, "the sync")
    found = late.dock.search(UserInfo(stat_info={X.type: X}), limit=5)
    assert len(found.single) == 5  # the synced records are searchable: indexed by the page batches
    wait_until(lambda: late.syncs.progress()["syncing"] == 0, 20, "the session to end")
    ended = next(s for s in late.syncs.progress()["sessions"] if s["peer"] == source.node.peer_id)
    assert ended["state"] == "done" and ended["stored"] == 600 and ended["left"] == 0
    request = msgpack.packb({"after": 0, "limit": 10, "progress": True})
    reply = msgpack.unpackb(late.node.request(source.node.peer_id, SYNC_PROTOCOL, request, timeout=10))
    assert len(reply["items"]) == 10 and reply["left"] == 590 and reply["more"] is True
    plain = msgpack.unpackb(late.node.request(source.node.peer_id, SYNC_PROTOCOL,
                                              msgpack.packb({"after": 0, "limit": 10}), timeout=10))
    assert set(plain) == {"items", "next", "more", "have"}  # without "progress": the 1.0.0 answer exactly


def test_only_byte_identical_stored_envelopes_skip_verification(tmp_path):
    alice = Identity.generate()
    stored = record(alice, _fake_id("kept"), seq=1000)
    with Dock.open(tmp_path / "h") as dock:
        ingest_page(dock, [decode_envelope(stored)], None)
        forged = msgpack.packb({**msgpack.unpackb(stored), "sig": bytes(64)})  # same id and body, bad signature
        newer = record(alice, _fake_id("kept"), seq=2000)  # same id, another (valid) envelope
        garbage = b"\x93not an envelope"
        known = already_stored(dock.catalogue, [stored, forged, newer, garbage])
        assert set(known) == {0} and known[0].id == _fake_id("kept") and known[0].publisher == alice.peer_id
        checked = decode_page([forged, garbage])  # the others are verified as ever
        assert "bad signature" in checked[0] and "undecodable envelope" in checked[1]


def test_sync_on_demand_needs_the_network_and_resumes_from_the_cursor(net, tmp_path):
    with Dock.open(tmp_path / "offline") as offline:
        with pytest.raises(NetworkError, match="needs the node online"):
            offline.sync()
    _source_with(tmp_path, "source", 20)
    source = net.add("source")
    late = net.add("late", [source], budgets=Budgets(per_publisher=10_000, per_peer=10_000))
    wait_until(lambda: late.dock.catalogue.count() == 20 and not late.syncs.progress()["syncing"], 30, "the sync")
    assert late.dock.sync(source.node.peer_id) == [source.node.peer_id]  # asked again, on demand
    wait_until(lambda: not late.syncs.progress()["syncing"], 30, "the second session")
    again = next(s for s in late.syncs.progress()["sessions"] if s["peer"] == source.node.peer_id)
    assert again["state"] == "done" and again["received"] == 0  # nothing after the cursor
    assert late.dock.catalogue.count() == 20


def test_a_page_whose_insert_collides_leaves_no_index_entry_behind(tmp_path):
    """The rows are inserted on another thread while the page is indexed (issue 16): when the
    insert collides (a local write stored one of the ids after the page's lookup), the page's
    new index entries are taken out again, and the one-at-a-time path then stores the rest."""
    from dock.network.bulk_ingest import _insert_and_index, ingest_page
    from dock.records import LearnwareRecord, compat_key
    from dock.search.engine import _FIELD_NAMES
    from dock.store.sync_tables import NewRecord

    alice = Identity.generate()
    now = _now_ms()
    signed = [decode_envelope(record(alice, _fake_id(f"c{n}"), seq=now - 10), with_columns=True) for n in range(3)]
    with Dock.open(tmp_path / "dock") as dock:
        dock.search(UserInfo(semantic_spec={}))  # an index to keep up to date
        index = dock._search_index
        ingest_page(dock, signed[1:2], "peer")  # the "local write" that wins the race for c1
        assert set(index.row_of) == {signed[1].id}
        rows, entries = [], []
        for s in signed:
            specs = list(s.stat_specs().values())
            rows.append(NewRecord(LearnwareRecord(id=s.id, semantic_spec=s.semantic_spec, model_config=s.model_config,
                                                  size=s.size, publisher=s.publisher), specs, s.publisher, s.seq,
                                  s.envelope, dict(s.spec_bytes), s.prepared.semantic_json, s.prepared.fields,
                                  s.prepared.model_json))
            entries.append((s.id, dict(zip(_FIELD_NAMES, s.prepared.fields, strict=True)),
                            [(compat_key(x), x.z, x.beta, float(x.gamma)) for x in specs], s.prepared.semantic_json))
        store = SyncStore(dock.catalogue)
        with dock.catalogue._lock:
            assert _insert_and_index(dock, store, index, rows, [], entries) is True  # collided
        assert dock.catalogue.learnware_ids() == [signed[1].id]  # nothing of the page stored ...
        assert set(index.row_of) == {signed[1].id}  # ... nor left in the index; c1 still indexed
        assert len(index) == 1
        outcomes, refused = ingest_page(dock, signed, "peer")  # the honest path still works
        assert (outcomes, refused) == (["stored", "duplicate", "stored"], {})
        assert set(index.row_of) == set(dock.catalogue.learnware_ids()) == {s.id for s in signed}
        query = next(iter(signed[0].stat_specs().values()))
        assert len(dock.search(UserInfo(stat_info={query.type: query})).single) == 3


def test_a_page_is_stored_in_the_lock_order_of_a_search(tmp_path):
    """A search holds the index's lock while it reads the catalogue (SearchIndex.sync when the counts
    differ, the semantic index). A page's store must take the two locks in that order too: it took
    the catalogue's first and waited for the index's, so a search and a sync could block each other
    for ever. Here the page's store is caught waiting while a "search" holds the index's lock: the
    catalogue must stay free, and the page is stored once the search lets go."""
    import sys
    import threading


    alice = Identity.generate()
    now = _now_ms()
    signed = [decode_envelope(record(alice, _fake_id(f"lock{n}"), seq=now - 10), with_columns=True) for n in range(3)]
    with Dock.open(tmp_path / "dock") as dock:
        dock.search(UserInfo(semantic_spec={}))  # an index to keep up to date
        index = dock._search_index
        out: dict = {}
        storing = threading.Thread(target=lambda: out.update(result=ingest_page(dock, signed, "peer")), daemon=True)

        def in_store_batch() -> bool:
            frame = sys._current_frames().get(storing.ident)
            while frame is not None:
                if frame.f_code.co_name == "_store_batch":
                    return True
                frame = frame.f_back
            return False

        with index.lock:  # what a search holds while it reads the catalogue
            storing.start()
            wait_until(in_store_batch, 30, "the page's store reaching its locks")
            free = dock.catalogue._lock.acquire(timeout=5)  # a search reading the catalogue now
            if free:
                dock.catalogue._lock.release()
        storing.join(timeout=60)
        assert free, "the page's store held the catalogue's lock while waiting for the index's"
        assert not storing.is_alive() and out["result"] == (["stored"] * 3, {})
        assert set(index.row_of) == set(dock.catalogue.learnware_ids()) == {s.id for s in signed}


def test_a_sync_collects_less_often_and_puts_the_threshold_back():
    import gc

    from dock.network.sync import SYNC_GC_THRESHOLD, _FewerCollections

    before = gc.get_threshold()
    fewer = _FewerCollections()
    try:
        with fewer:  # two sync workers overlapping: the first to leave must not restore it
            with fewer:
                assert gc.get_threshold() == (max(SYNC_GC_THRESHOLD, before[0]), *before[1:])
            assert gc.get_threshold()[0] == max(SYNC_GC_THRESHOLD, before[0])
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("name", ["plain", "naïve – ü", "del\x7fete", 'quote " back \\ tab\t nl\n ctl\x01 \u2028'])
def test_the_workers_columns_are_what_the_node_made_of_the_record(name):
    # the semantic JSON is taken from the validation's (ensure_ascii=False) text when that is
    # byte-identical to the catalogue's json.dumps(sort_keys=True); DEL and non-ASCII are not
    from dock.network.signed_records import PreparedColumns
    from specs import SemanticView

    envelope = record(Identity.generate(), _fake_id(name), seq=_now_ms() - 10, name=name)
    signed = decode_envelope(envelope, with_columns=True)
    assert signed.semantic_spec["Name"]["Values"] == name
    assert signed.prepared == PreparedColumns(json.dumps(signed.semantic_spec, sort_keys=True),
                                              json.dumps(signed.model_config, sort_keys=True, default=list),
                                              SemanticView.columns(signed.semantic_spec))
    assert decode_envelope(envelope).prepared is None
