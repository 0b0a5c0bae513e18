"""Fetching zips from hostile providers and publishers, with real nodes on 127.0.0.1 (issue 11,
case 2 and "a fetched zip checked against the record"):

* resume poisoning: a provider that announces the zip, sends the right header, good pieces,
  then garbage, then EOF, and re-announces itself to stay first in line. The fetch succeeds from
  the honest provider, resuming from verified pieces only; the liar is penalised and not asked
  again, whatever it announces.
* a publisher whose signed record does not match its own zip (other stat specs): the zip is
  refused and not stored, the record is marked bad and not fetched again from anyone.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import numpy as np
import pytest

from dock import Dock
from dock.network.service import HAVE_TOPIC, RECORDS_TOPIC, NetworkError, NetworkService
from p2p import P2PNode
from tests.helpers import wait_until
from tests.p2p.lying_provider import LyingFetchHandler, serve_lies

from .fixtures import fitted_iris_model, reference_files, write_zip

PIECE = 256 * 1024


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    """Three distinct learnware zips of ~2 MB (8+ pieces each): stored entries plus random weights."""
    model, X, _ = fitted_iris_model()
    folder = tmp_path_factory.mktemp("zips")
    paths = []
    for n in range(3):
        files = reference_files(model=model, X=X)
        files["weights.bin"] = os.urandom(2 * 1024 * 1024 + 1000 * n)
        paths.append(write_zip(folder / f"lw{n}.zip", files))
    return paths, X


@pytest.fixture
def services(tmp_path):
    started: list = []

    def add(name: str, bootstrap: list[str] | None = None) -> NetworkService:
        service = NetworkService(Dock.open(tmp_path / name))
        service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=bootstrap or [])
        started.append(service)
        return service

    def add_node(**kwargs) -> P2PNode:
        node = P2PNode(**kwargs)
        for topic in (RECORDS_TOPIC, HAVE_TOPIC):
            node.subscribe(topic)
        started.append(node)
        node.start()
        return node

    yield add, add_node
    for item in reversed(started):
        item.stop()
        if isinstance(item, NetworkService):
            item.dock.close()


def _announce_have(node: P2PNode, ids: list[str]) -> None:
    node.publish(HAVE_TOPIC, msgpack.packb({"ids": ids, "addrs": [node.addrs[0]]}))


def test_resume_poisoning_is_caught_at_the_bad_piece_and_the_liar_is_penalised(services, zips, tmp_path):
    add, add_node = services
    (zip1, zip2, _), _ = zips
    a = add("a")
    b = add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC) and b.node.topic_peers(RECORDS_TOPIC), 20, "a-b mesh")
    id1, id2 = a.dock.submit(zip1), a.dock.submit(zip2)
    wait_until(lambda: b.dock.catalogue.exists(id1) and b.dock.catalogue.exists(id2), 20, "both records at b")
    assert b._record_pieces(id1).size == PIECE  # the signed record carries the piece root

    # The liar: right header, 3 good pieces and a bit, then half a blob of garbage, then EOF.
    data1 = zip1.read_bytes()
    liar = add_node()
    handler = LyingFetchHandler(zip1, good_bytes=3 * PIECE + 5000)
    serve_lies(liar, handler)
    liar.connect(b.node.addrs[0])
    wait_until(lambda: b.node.peer_id in liar.topic_peers(HAVE_TOPIC), 20, "the liar in b's have mesh")
    _announce_have(liar, [id1, id2])
    wait_until(lambda: b.store.providers(id1)[:1] == [liar.peer_id], 20, "the liar first in line at b")
    assert b._providers(id1, a.node.peer_id)[0] == liar.peer_id

    # At every progress report the partial holds a prefix of the real zip: verified pieces only.
    partials = b.dock.home.blob_tmp
    unverified: list[str] = []
    peers_seen: list[str] = []

    def check_partial(transfer) -> None:
        peers_seen.append(transfer.peer)
        for path in partials.glob(f"{id1}*"):
            held = path.read_bytes()
            if held != data1[: len(held)]:
                unverified.append(f"{path.name}: {len(held)} bytes, not a prefix of the zip")

    path = b.fetch(id1, progress=check_partial)
    assert path.read_bytes() == data1 and b.dock.has_zip(id1)
    assert not unverified, unverified
    assert handler.requests == [0] and peers_seen and set(peers_seen) == {a.node.peer_id}  # liar: < 1 MiB
    # The honest provider resumed from the liar's verified pieces, not from byte 0 nor its garbage.
    assert b.transfers[id1].peer == a.node.peer_id and b.transfers[id1].resumed_from == 3 * PIECE
    assert liar.peer_id in b.penalties() and "piece 3" in b.penalties()[liar.peer_id]["reason"]

    # The liar announces again to get back in front: it stays last, and is not even asked.
    _announce_have(liar, [id1, id2])
    wait_until(lambda: b.store.providers(id2)[:1] == [liar.peer_id], 20, "the liar's new announcement at b")
    assert b._providers(id2, a.node.peer_id)[-1] == liar.peer_id
    assert b.fetch(id2).read_bytes() == zip2.read_bytes()
    assert handler.requests == [0] and b.transfers[id2].peer == a.node.peer_id


def test_a_zip_that_does_not_match_its_record_is_refused_and_never_fetched_again(services, zips, tmp_path):
    from dock.network.signed_records import sign_record
    from dock.package.reader import read_package
    from p2p import Identity
    from specs import generate_stat_spec

    add, add_node = services
    (zip1, _, zip3), X = zips
    a = add("a")
    b = add("b", bootstrap=[a.node.addrs[0]])
    # Mallory publishes zip3 under a record whose stat spec was made from other data.
    mallory = add_node(identity=Identity.generate())
    mallory.serve_blobs(lambda requested: open(zip3, "rb") if requested == id3 else None)
    mallory.connect(b.node.addrs[0])
    package = read_package(zip3)
    id3 = package.id
    other_spec = generate_stat_spec(type="table", X=np.asarray(X) * 3.0 + 1.0)
    signed = sign_record(mallory.identity, learnware_id=id3, size=zip3.stat().st_size,
                         semantic_spec=package.semantic_spec, model_config=package.model_config,
                         spec_bytes={other_spec.type: other_spec.to_bytes()}, seq=1, zip_path=zip3)
    wait_until(lambda: b.node.peer_id in mallory.topic_peers(RECORDS_TOPIC), 20, "mallory in b's mesh")
    mallory.publish(RECORDS_TOPIC, signed.envelope)
    wait_until(lambda: b.dock.catalogue.exists(id3), 20, "mallory's record at b")

    with pytest.raises(NetworkError, match=f"publisher {mallory.peer_id}") as err:
        b.fetch(id3)
    assert "RKMETableSpecification differs" in str(err.value) and "not stored" in str(err.value)
    assert not b.dock.has_zip(id3) and not b.dock.blobs.has(id3)
    assert not list(b.dock.home.blob_tmp.glob(f"{id3}*"))  # nothing of it left on disk
    served = mallory.stats()["/lwdock/fetch/2.0.0"]["requests"]
    with pytest.raises(NetworkError, match="marked bad"):
        b.fetch(id3)
    assert mallory.stats()["/lwdock/fetch/2.0.0"]["requests"] == served  # not asked again
    with pytest.raises(NetworkError, match="marked bad"):
        b.dock.load(id3)

    # The honest path still works: a's learnware, fetched and loaded at b.
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC), 20, "a's mesh")
    id1 = a.dock.submit(zip1)
    wait_until(lambda: b.dock.catalogue.exists(id1), 20, "a's record at b")
    with b.dock.load(id1) as learnware:
        assert learnware.predict(np.asarray(X)[:5]).shape[0] == 5
    assert Path(b.dock.blobs.path(id1)).read_bytes() == zip1.read_bytes()


def test_the_pieces_key_is_optional_and_strictly_typed(zips, tmp_path):
    from dock.network.ingest import sign_unsigned
    from dock.network.signed_records import RecordError, _seal, decode_envelope, sign_record
    from dock.store.network_tables import NetworkStore
    from p2p import Identity
    from p2p.pieces import file_pieces

    (zip1, _, _), _ = zips
    identity = Identity.generate()
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(zip1)
        store = NetworkStore(dock.catalogue)
        signed = decode_envelope(store.envelope(learnware_id)[2])
        assert signed.pieces == file_pieces(zip1) and signed.pieces.size == PIECE
        # A home from before records were signed: its records get a root when first signed.
        with dock.catalogue._lock:
            dock.catalogue._con.execute("DELETE FROM envelopes WHERE id = ?", [learnware_id])
        assert sign_unsigned(dock) == 1
        assert decode_envelope(store.envelope(learnware_id)[2]).pieces == file_pieces(zip1)
        record = dock.get(learnware_id)
        fields = dict(learnware_id=learnware_id, size=record.size, semantic_spec=record.semantic_spec,
                      model_config=record.model_config, spec_bytes=dock.catalogue.spec_bytes(learnware_id), seq=1)
    older = sign_record(identity, **fields)  # no zip: a record as older nodes sign them
    assert older.pieces is None and decode_envelope(older.envelope).id == learnware_id
    body = msgpack.unpackb(msgpack.unpackb(signed.envelope)["body"])
    good = {"size": PIECE, "root": b"\x07" * 32}
    assert decode_envelope(_seal(identity, {**body, "pieces": good})).pieces.root == b"\x07" * 32
    for bad in ({"size": PIECE + 1, "root": b"\x07" * 32}, {"size": 8192, "root": b"\x07" * 32},
                {"size": True, "root": b"\x07" * 32}, {"size": 1 << 25, "root": b"\x07" * 32},
                {"size": PIECE, "root": b"\x07" * 31}, {"size": PIECE, "root": "07" * 32},
                {**good, "extra": 1}, {"size": PIECE}, [PIECE, b"\x07" * 32]):
        with pytest.raises(RecordError, match="pieces"):
            decode_envelope(_seal(identity, {**body, "pieces": bad}))
    with pytest.raises(RecordError, match="exactly"):
        decode_envelope(_seal(identity, {**body, "piece": good}))


def test_a_record_without_pieces_is_fetched_whole_and_never_resumed_from_another_provider(services, zips):
    from dock.network.signed_records import sign_record
    from dock.package.reader import read_package
    from p2p import Identity

    add, add_node = services
    (_, _, zip3), _ = zips
    b = add("b")
    # An older publisher: its record has no pieces; it serves the zip honestly.
    old = add_node(identity=Identity.generate())
    package = read_package(zip3)
    old.serve_blobs(lambda requested: open(zip3, "rb") if requested == package.id else None)
    liar = add_node()
    handler = LyingFetchHandler(zip3, good_bytes=600_000, piece_protocol=False)  # good, garbage, EOF
    serve_lies(liar, handler)
    for node in (old, liar):
        node.connect(b.node.addrs[0])
        wait_until(lambda n=node: b.node.peer_id in n.topic_peers(RECORDS_TOPIC), 20, "the mesh with b")
    signed = sign_record(old.identity, learnware_id=package.id, size=zip3.stat().st_size,
                         semantic_spec=package.semantic_spec, model_config=package.model_config,
                         spec_bytes={k: s.to_bytes() for k, s in package.stat_specs.items()}, seq=1)
    assert signed.pieces is None
    old.publish(RECORDS_TOPIC, signed.envelope)
    wait_until(lambda: b.dock.catalogue.exists(package.id), 20, "the older record at b")
    _announce_have(liar, [package.id])
    wait_until(lambda: b.store.providers(package.id)[:1] == [liar.peer_id], 20, "the liar first in line")

    assert b.fetch(package.id).read_bytes() == zip3.read_bytes()
    assert handler.requests == [0]  # the liar was asked first, over 1.0.0
    # Its unverified bytes were dropped: the honest provider sent the whole zip again.
    assert b.transfers[package.id].peer == old.peer_id and b.transfers[package.id].resumed_from == 0
    assert old.stats()["/lwdock/fetch/1.0.0"]["requests"] == 1 and old.stats()["/lwdock/fetch/2.0.0"]["requests"] == 0
    assert not list(b.dock.home.blob_tmp.glob(f"{package.id}*"))


def test_a_record_whose_root_matches_no_provider_does_not_get_honest_providers_penalised(services, zips):
    """A publisher signs a root for other bytes than its id names: every honest provider's layer
    then disagrees with the record. Nobody proved the record right, so nobody is penalised; once a
    provider's bytes do prove a record right, those that disagreed with it are."""
    from dock.network.signed_records import sign_record
    from dock.package.reader import read_package
    from p2p import Identity

    add, add_node = services
    (zip1, _, zip3), _ = zips
    b = add("b")
    mallory, honest = add_node(identity=Identity.generate()), add_node()
    package = read_package(zip3)
    for node in (mallory, honest):
        node.serve_blobs(lambda requested: open(zip3, "rb") if requested == package.id else None)
        node.connect(b.node.addrs[0])
        wait_until(lambda n=node: b.node.peer_id in n.topic_peers(RECORDS_TOPIC), 20, "the mesh with b")
    signed = sign_record(mallory.identity, learnware_id=package.id, size=zip3.stat().st_size,
                         semantic_spec=package.semantic_spec, model_config=package.model_config,
                         spec_bytes={k: s.to_bytes() for k, s in package.stat_specs.items()}, seq=1,
                         zip_path=zip1)  # the root of other bytes
    mallory.publish(RECORDS_TOPIC, signed.envelope)
    wait_until(lambda: b.dock.catalogue.exists(package.id), 20, "mallory's record at b")
    _announce_have(honest, [package.id])
    wait_until(lambda: honest.peer_id in b.store.providers(package.id), 20, "the honest provider known at b")
    with pytest.raises(NetworkError, match="do not match the expected root"):
        b.fetch(package.id)
    assert b.penalties() == {} and not b.dock.has_zip(package.id)
