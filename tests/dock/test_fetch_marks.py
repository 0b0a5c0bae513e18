"""A restart does not forget a liar: fetch penalties and bad-record marks live in the catalogue
(migration 0005_fetch_penalties), bounded and expiring. The fetches that make them are tested
in tests/dock/test_fetch_pieces.py; here the service is restarted over the same dock home."""

from __future__ import annotations

import time

import pytest

from dock import Dock
from dock.network import fetch as fetch_module
from dock.network.fetch import NetworkError, Transfer
from dock.network.ingest import ingest
from dock.network.service import NetworkService
from dock.network.signed_records import sign_record
from dock.store.network_tables import NetworkStore
from p2p.identity import Identity
from specs import generate_stat_spec
from tests.dock.fixtures import iris, semantic


def _foreign_record(dock, publisher: Identity, learnware_id: str, seq: int) -> None:
    X, _ = iris()
    spec = generate_stat_spec(type="table", X=X, K=8, seed=0)
    signed = sign_record(publisher, learnware_id=learnware_id, size=1000, semantic_spec=semantic(),
                         model_config={"class_name": "M", "kwargs": {}}, spec_bytes={spec.type: spec.to_bytes()},
                         seq=seq)
    assert ingest(dock, signed, from_peer=publisher.peer_id) in ("stored", "duplicate")


def _mark_bad(service, learnware_id: str, reason: str) -> None:
    with pytest.raises(NetworkError, match="marked bad"):
        service._mark_bad(learnware_id, "publisher", reason, Transfer(learnware_id, 1000), None)


def test_penalties_and_bad_records_survive_a_restart(tmp_path):
    home = tmp_path / "home"
    publisher, liar, honest = Identity.generate(), Identity.generate(), Identity.generate()
    bad_id, good_id = "b" * 64, "c" * 64
    with Dock.open(home) as dock:
        _foreign_record(dock, publisher, bad_id, seq=1)
        _foreign_record(dock, publisher, good_id, seq=1)
        service = NetworkService(dock)
        service._penalise(liar.peer_id, "piece 3 does not match the root")
        service._penalise(liar.peer_id, "piece 4 does not match the root")
        _mark_bad(service, bad_id, "spec differs")

    with Dock.open(home) as dock:
        service = NetworkService(dock)
        penalties = service.penalties()
        assert set(penalties) == {liar.peer_id}  # the honest provider is not penalised
        assert penalties[liar.peer_id]["strikes"] == 2 and "piece 4" in penalties[liar.peer_id]["reason"]
        assert penalties[liar.peer_id]["seconds_left"] > fetch_module.PENALTY_SECONDS
        assert set(service.bad_records) == {bad_id}
        service.start(listen=["/ip4/127.0.0.1/tcp/0"])
        try:
            with pytest.raises(NetworkError, match="is not fetched: .*spec differs"):
                service.fetch(bad_id)
            # the honest path: the other record is not marked, its fetch asks its provider (offline)
            with pytest.raises(NetworkError) as honest_path:
                service.fetch(good_id)
            assert "not fetched" not in str(honest_path.value)
        finally:
            service.stop()
        # a third strike after the restart counts on from the stored two
        service._penalise(liar.peer_id, "header for other bytes")
        assert service.penalties()[liar.peer_id]["strikes"] == 3
        assert honest.peer_id not in service.penalties()


def test_a_served_penalty_and_a_re_signed_record_are_forgotten(tmp_path):
    home = tmp_path / "home"
    publisher, liar = Identity.generate(), Identity.generate()
    bad_id = "d" * 64
    with Dock.open(home) as dock:
        _foreign_record(dock, publisher, bad_id, seq=1)
        store = NetworkStore(dock.catalogue)
        store.save_penalty(liar.peer_id, 1, time.time() - 1, "served its time", keep=10)
        store.save_penalty(publisher.peer_id, 1, time.time() + 60, "still serving", keep=10)
        _mark_bad(NetworkService(dock), bad_id, "spec differs")
        # the publisher re-signs the record (a higher seq): the old mark no longer applies to it
        dock.remove(bad_id)
        _foreign_record(dock, publisher, bad_id, seq=2)
    with Dock.open(home) as dock:
        service = NetworkService(dock)
        assert set(service.penalties()) == {publisher.peer_id}
        assert service.bad_records == {}


def test_stored_marks_are_bounded(tmp_path):
    with Dock.open(tmp_path / "home") as dock:
        store = NetworkStore(dock.catalogue)
        peers = [Identity.generate().peer_id for _ in range(5)]
        for i, peer in enumerate(peers):
            store.save_penalty(peer, 1, time.time() + 100 + i, "lied", keep=3)
        assert set(store.current_penalties()) == set(peers[2:])  # those that expire soonest went first
        publisher = Identity.generate()
        ids = [f"{i:x}" * 64 for i in range(1, 5)]
        for lid in ids:
            _foreign_record(dock, publisher, lid, seq=1)
            store.mark_bad(lid, publisher.peer_id, 1, "bad", keep=2)
        assert set(store.bad_records()) == set(ids[2:])  # the oldest marks went first
