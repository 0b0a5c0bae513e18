"""Several real nodes in one process on 127.0.0.1: gossip through a middle node, search over
peers, fetch + verify, late-joiner sync, withdrawal, and garbage from a peer."""

from __future__ import annotations

import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.network.service import RECORDS_TOPIC, NetworkService
from specs import generate_stat_spec
from tests.helpers import wait_until

from .fixtures import fitted_iris_model, reference_files, write_zip


@pytest.fixture(scope="module")
def iris_zip(tmp_path_factory):
    model, X, y = fitted_iris_model()
    path = write_zip(tmp_path_factory.mktemp("zips") / "iris.zip", reference_files(model=model, X=X))
    return path, model, X


def test_publish_on_a_found_on_c_through_b_then_fetched_and_verified(net, iris_zip):
    zip_path, model, X = iris_zip
    a = net.add("a")
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    c = net.add("c", bootstrap=[b.node.addrs[0]])
    wait_until(lambda: len(b.node.peers()) == 2 and c.node.topic_peers(RECORDS_TOPIC), 20, "line topology a-b-c")
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC), 20, "a's gossip mesh")

    learnware_id = a.dock.submit(zip_path)
    wait_until(lambda: c.dock.catalogue.exists(learnware_id), 20, "the record to reach c through b")
    record = c.dock.get(learnware_id)
    assert record.publisher == a.node.peer_id and not c.dock.has_zip(learnware_id)

    spec = generate_stat_spec(type="table", X=X)
    found = c.dock.search(UserInfo(stat_info={spec.type: spec}))
    assert found.single[0].id == learnware_id

    # c is not connected to a: it learns a's address from a's "have" announcement and dials it.
    wait_until(lambda: a.node.peer_id in c._peer_addrs, 20, "a's have announcement at c")
    with c.dock.load(learnware_id) as learnware:
        np.testing.assert_array_equal(learnware.predict(X).reshape(-1), model.predict(X))
    assert c.dock.has_zip(learnware_id)
    assert c.dock.blobs.path(learnware_id).read_bytes() == zip_path.read_bytes()
    assert c.transfers[learnware_id].state == "done"


def test_late_joiner_syncs_and_withdrawal_spreads(net, iris_zip, tmp_path):
    zip_path, model, X = iris_zip
    a = net.add("a")
    learnware_id = a.dock.submit(zip_path)  # published while nobody listens
    late = net.add("late", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: late.dock.catalogue.exists(learnware_id), 20, "the late joiner to sync the record")
    wait_until(lambda: a.node.peer_id in late.store.providers(learnware_id), 10, "a recorded as provider")

    genuine = late.store.envelope(learnware_id)[2]
    a.dock.remove(learnware_id)  # ours: a signed tombstone goes out
    wait_until(lambda: not late.dock.catalogue.exists(learnware_id), 20, "the withdrawal to reach the late joiner")
    assert late.store.tombstone(learnware_id) is not None

    # A replay of the old, genuinely signed record is refused: the tombstone's seq is higher.
    assert late._ingest_bytes(genuine, a.node.peer_id) == "withdrawn"
    assert not late.dock.catalogue.exists(learnware_id)


def test_search_over_peers_merges_and_stores_remote_records(net, iris_zip):
    zip_path, model, X = iris_zip
    a = net.add("a")
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: b.node.peers(), 20, "b connected")
    b.node.unsubscribe(RECORDS_TOPIC)  # b hears nothing by gossip: only the search protocol can tell it
    learnware_id = a.dock.submit(zip_path)
    spec = generate_stat_spec(type="table", X=X)
    merged = b.search_peers(UserInfo(stat_info={spec.type: spec}), limit=5)
    assert merged.single[0].id == learnware_id
    assert b.dock.catalogue.exists(learnware_id)  # verified and stored, ready to fetch


def test_garbage_and_forged_records_are_rejected_and_counted(net, iris_zip):
    zip_path, _, _ = iris_zip
    a = net.add("a")
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC) and b.node.topic_peers(RECORDS_TOPIC), 20, "mesh")

    learnware_id = a.dock.submit(zip_path)
    wait_until(lambda: b.dock.catalogue.exists(learnware_id), 20, "a's genuine record at b")
    genuine = b.store.envelope(learnware_id)[2]

    import msgpack

    envelope = msgpack.unpackb(genuine, raw=False)
    forged = dict(envelope, body=envelope["body"].replace(b"iris-lr", b"evil-lr"))
    for bad in (b"\x00garbage", msgpack.packb(forged, use_bin_type=True), b"\xc1" * 100):
        a.node.publish(RECORDS_TOPIC, bad)
    wait_until(lambda: b.stats.rejected >= 3, 20, "three rejections at b")
    assert b.stats.rejected_by_peer.get(a.node.peer_id, 0) >= 3
    assert [r.name for r in b.dock.list()] == ["iris-lr"] and b.node.running


def test_fetch_asks_again_when_its_provider_is_busy_with_our_other_transfers(net, iris_zip, tmp_path):
    """A provider serves one peer at most 2 transfers at once. b already holds two (stalled), so
    b's dock.fetch is told BUSY; it waits, asks again, and completes once one of the two ends."""
    import threading

    from p2p.transfer import FETCH_PROTOCOL_ID

    zip_path, _, _ = iris_zip
    release = threading.Event()
    held = []

    class HeldFile:  # the provider's zip, whose first read waits for the test
        def __init__(self, path):
            self.f = open(path, "rb")

        def seek(self, *a):
            return self.f.seek(*a)

        def read(self, n):
            release.wait(30)
            return self.f.read(n)

        def close(self):
            self.f.close()

    dock = Dock.open(tmp_path / "a")
    a = NetworkService(dock)
    plain_open = a._open_blob

    def open_blob(blob_id):  # the first two transfers stall; later ones are served normally
        f = plain_open(blob_id)
        if f is None or len(held) >= 2:
            return f
        held.append(f.name)
        f.close()
        return HeldFile(held[-1])

    a._open_blob = open_blob
    a.start(listen=["/ip4/127.0.0.1/tcp/0"])
    net.nodes.append(a)
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC) and b.node.topic_peers(RECORDS_TOPIC), 20, "mesh")
    learnware_id = a.dock.submit(zip_path)
    wait_until(lambda: b.dock.catalogue.exists(learnware_id), 20, "the record at b")

    stalled = [threading.Thread(target=lambda i=i: b.node.fetch_blob(a.node.peer_id, learnware_id,
                                                                     tmp_path / f"held{i}"), daemon=True)
               for i in range(2)]
    for thread in stalled:
        thread.start()
    wait_until(lambda: len(held) == 2, 20, "two transfers holding b's share at a")
    fetched = []
    fetcher = threading.Thread(target=lambda: fetched.append(b.fetch(learnware_id)), daemon=True)
    fetcher.start()
    wait_until(lambda: a.node.stats()[FETCH_PROTOCOL_ID]["busy"] >= 1, 20, "b told BUSY")
    release.set()
    fetcher.join(30)
    assert fetched and fetched[0].read_bytes() == zip_path.read_bytes()
    assert b.transfers[learnware_id].state == "done"


def test_a_sync_limit_below_one_is_served_as_one(net, iris_zip):
    """limit 0 used to answer an empty page with more=true forever; a client following "ask again
    while more" never finished."""
    import msgpack

    zip_path, _, _ = iris_zip
    a = net.add("a")
    a.dock.submit(zip_path)
    for limit in (0, -5):
        reply = msgpack.unpackb(a._serve_sync("peer", msgpack.packb({"after": 0, "limit": limit})), raw=False)
        assert len(reply["items"]) == 1 and reply["next"] > 0
