"""A real dock node receives garbage on every protocol it speaks, then still syncs and fetches.

Issue 11 case 1: three garbage bytes on `/meshsub/1.1.0` used to end the node's networking
("p2p node loop crashed") while the daemon kept running, deaf, and `lwdock status` failed.
"""

from __future__ import annotations

import json
import random

import msgpack
import pytest
import trio

from dock import Dock
from dock.network.service import SEARCH_PROTOCOL, SYNC_PROTOCOL, NetworkService
from p2p.framing import encode_frame
from p2p.transfer import FETCH_PROTOCOL_ID
from tests.helpers import run_cli, start_node, stop_node, wait_until

from .fixtures import fitted_iris_model, reference_files, write_zip

GOSSIP = ("/meshsub/1.0.0", "/meshsub/1.1.0", "/meshsub/1.2.0")
IDENTIFY = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0")
# (payload, whether a gossip stream counts it as a malformed frame)
GARBAGE = (
    (b"\x02\xff\xff", True),  # 3 bytes: a 2-byte frame nothing parses
    (b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f" + b"x" * 64, False),  # a huge length: py-libp2p resets the stream
    (encode_frame(random.Random(7).randbytes(300)), True),  # a valid length, random bytes
    (encode_frame(b"\x12\x40" + b"t" * 10), True),  # a truncated protobuf (a 64-byte field with 10 bytes)
    (b"\x85\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", False),  # a varint that never ends
)


def attack(attacker, victim_peer_id: str, protocol: str, payload: bytes) -> None:
    from p2p import peers

    async def go() -> None:
        try:
            stream = await peers.open_stream(attacker._host, victim_peer_id, protocol)
        except Exception:  # refused: the attacker is banned already
            return
        with trio.move_on_after(3):
            try:
                await stream.write(payload)
                await stream.close_write()
                while await stream.read(65536):
                    pass
            except Exception:
                pass
        try:
            await stream.reset()
        except Exception:
            pass

    attacker._call(go)


def attack_until_counted(attacker, victim, protocol: str, payload: bytes) -> None:
    """Each malformed gossip frame costs the attacker its connection: the next attack may race
    its redial, so attack until the victim has counted one more (or banned it)."""

    def record() -> dict:
        return victim.node.peer_penalties().get(attacker.peer_id, {"malformed_frames": 0, "banned": False})

    before = record()["malformed_frames"]

    def counted() -> bool:
        now = record()
        if now["malformed_frames"] > before or now["banned"]:
            return True
        attack(attacker, victim.node.peer_id, protocol, payload)
        return False

    wait_until(counted, 20, f"a malformed frame on {protocol} counted", interval=0.2)


@pytest.fixture(scope="module")
def iris_zip(tmp_path_factory):
    model, X, _y = fitted_iris_model()
    return write_zip(tmp_path_factory.mktemp("zips") / "iris.zip", reference_files(model=model, X=X))


@pytest.fixture
def services(tmp_path):
    started: list[NetworkService] = []

    def add(name: str, bootstrap: list[str] | None = None) -> NetworkService:
        service = NetworkService(Dock.open(tmp_path / name))
        service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=bootstrap or [])
        started.append(service)
        return service

    yield add
    for service in reversed(started):
        service.stop()
        service.dock.close()


def test_garbage_on_every_protocol_then_sync_and_fetch_still_work(services, iris_zip):
    from p2p import P2PNode

    victim = services("victim")
    attackers = []
    try:
        for protocol in (*GOSSIP, *IDENTIFY, SYNC_PROTOCOL, SEARCH_PROTOCOL, FETCH_PROTOCOL_ID):
            attacker = P2PNode()
            attacker.start()
            attackers.append(attacker)
            attacker.connect(victim.node.addrs[0])
            for payload, counted in GARBAGE:
                if protocol in GOSSIP and counted:
                    attack_until_counted(attacker, victim, protocol, payload)
                else:
                    attack(attacker, victim.node.peer_id, protocol, payload)
            assert victim.node.running and victim.node.stats()["restarts"] == 0, protocol
        penalties = victim.node.peer_penalties()
        gossip_attackers = {a.peer_id for a in attackers[: len(GOSSIP)]}
        for attacker in gossip_attackers:  # each malformed RPC cost a connection; the third a ban
            assert penalties[attacker]["malformed_frames"] >= 3 and penalties[attacker]["banned"]
        # what `lwdock status` shows: it answers, without the banned peers
        wait_until(lambda: not set(victim.status()["peers"]) & gossip_attackers, 10, "banned peers gone")
        assert victim.status()["online"]

        # An honest peer that published while nobody listened: the victim must sync it, then fetch.
        honest = services("honest")
        learnware_id = honest.dock.submit(iris_zip)
        honest.node.connect(victim.node.addrs[0])
        wait_until(lambda: victim.dock.catalogue.exists(learnware_id), 30, "the honest record synced")
        wait_until(lambda: honest.node.peer_id in victim.store.providers(learnware_id), 20, "the honest provider")
        fetched = victim.fetch(learnware_id)
        assert fetched.read_bytes() == iris_zip.read_bytes()
        assert honest.node.peer_id not in victim.node.peer_penalties()
    finally:
        for attacker in attackers:
            attacker.stop()


def test_a_lwdock_node_daemon_survives_case_1_and_status_answers(tmp_path):
    """The exact attack of the issue against a real `lwdock node` process."""
    from p2p import P2PNode

    home = tmp_path / "home"
    proc, status = start_node(home)
    attacker, honest = P2PNode(), P2PNode()
    try:
        attacker.start()
        honest.start()
        addr = status["addrs"][0]
        attacker.connect(addr)
        victim_id = addr.rsplit("/", 1)[1]
        attack(attacker, victim_id, "/meshsub/1.1.0", b"\x02\xff\xff")
        attack(attacker, victim_id, "/meshsub/1.1.0", b"\x02\xff\xff")

        def attacker_gone() -> bool:
            now = json.loads(run_cli(home, "status", "--json").stdout)
            return now["online"] and attacker.peer_id not in now["peers"]

        wait_until(attacker_gone, 20, "status answering without the attacker")
        honest.connect(addr)
        reply = msgpack.unpackb(honest.request(victim_id, SYNC_PROTOCOL, msgpack.packb({"after": 0, "limit": 10})))
        assert reply["items"] == [] and "next" in reply
        assert "p2p node loop crashed" not in (home.parent / f"{home.name}.log").read_text()
        assert proc.poll() is None
    finally:
        attacker.stop()
        honest.stop()
        stop_node(proc)
