"""Nodes as separate `lwdock node` processes on 127.0.0.1: records spread and zips move between
processes; a provider killed (SIGKILL) or frozen (SIGSTOP) mid-transfer does not stop a fetch,
which resumes from another provider; a daemon killed mid-write leaves a home that reopens clean."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dock import Dock
from dock.network.service import NetworkService
from tests.helpers import run_cli as cli
from tests.helpers import start_node, wait_until

from .fixtures import model_source, package_files, semantic, write_zip

BIG = 24 << 20  # large enough that a kill lands mid-transfer on loopback




class Daemons:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, home: Path, *bootstrap: str) -> tuple[subprocess.Popen, dict]:
        args = [arg for addr in bootstrap for arg in ("--bootstrap", addr)]
        proc, status = start_node(home, *args)
        self.procs.append(proc)
        return proc, status

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                proc.kill()
            proc.wait(10)


@pytest.fixture
def daemons():
    group = Daemons()
    yield group
    group.stop_all()


def _zip(tmp_path: Path, name: str, extra: bytes = b"") -> Path:
    X = np.random.default_rng(0).normal(size=(80, 4))
    files = package_files(model_source("return (X[:, 0] > 0).astype(int)"), X, semantic(name=name))
    if extra:
        files["weights.bin"] = extra
    return write_zip(tmp_path / f"{name}.zip", files)


def test_records_and_zips_move_between_daemon_processes(daemons, tmp_path):
    a_home, b_home = tmp_path / "a", tmp_path / "b"
    _, a = daemons.start(a_home)
    _, b = daemons.start(b_home, a["addrs"][0])
    zip_path = _zip(tmp_path, "small-model")
    learnware_id = cli(a_home, "submit", str(zip_path)).stdout.strip()

    wait_until(lambda: any(r["id"] == learnware_id for r in json.loads(cli(b_home, "list", "--json").stdout)),
               30, "the record at b")
    found = json.loads(cli(b_home, "search", "small", "--peers", "--json").stdout)
    assert found["single"][0]["id"] == learnware_id
    path = Path(cli(b_home, "fetch", learnware_id[:10]).stdout.strip())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == learnware_id
    peers = json.loads(cli(b_home, "peers", "--json").stdout)
    assert a["peer_id"] in peers


@pytest.mark.parametrize("how", ["sigkill", "sigstop"])
def test_fetch_survives_a_provider_dying_or_freezing_mid_transfer(how, daemons, tmp_path):
    zip_path = _zip(tmp_path, "big-model", extra=os.urandom(BIG))
    learnware_id = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    providers = {}
    for name in ("p1", "p2"):
        home = tmp_path / name
        cli(home, "submit", str(zip_path))  # both hold the same bytes (same id), before going online
        proc, status = daemons.start(home)
        providers[status["peer_id"]] = (proc, status)

    dock = Dock.open(tmp_path / "consumer")
    service = NetworkService(dock, fetch_idle_timeout=3.0)
    service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=[s["addrs"][0] for _, s in providers.values()])
    try:
        wait_until(lambda: dock.catalogue.exists(learnware_id) and len(service.store.providers(learnware_id)) == 2,
                   30, "the record and both providers at the consumer")
        hit = {}

        def on_progress(transfer):
            if not hit and 0 < transfer.done < transfer.total:
                proc = providers[transfer.peer][0]
                os.kill(proc.pid, signal.SIGKILL if how == "sigkill" else signal.SIGSTOP)
                hit["peer"], hit["at"] = transfer.peer, transfer.done

        service.fetch(learnware_id, progress=on_progress)
        transfer = service.transfers[learnware_id]
        assert hit, "the provider was never interrupted mid-transfer"
        assert transfer.state == "done" and transfer.peer != hit["peer"]
        assert transfer.resumed_from > 0, "the second provider should resume the partial, not restart"
        assert hashlib.sha256(dock.blobs.path(learnware_id).read_bytes()).hexdigest() == learnware_id
        assert list(dock.home.blob_tmp.iterdir()) == []
    finally:
        service.stop()
        dock.close()


def _writing_blob(tmp: Path) -> bool:
    try:
        return any(p.suffix == ".part" for p in tmp.iterdir())
    except FileNotFoundError:
        return False


def test_daemon_killed_during_a_write_reopens_clean(daemons, tmp_path):
    """SIGKILL the daemon while it writes a submitted zip's blob. The write lasts only tens of ms,
    so the test polls every millisecond and retries (a fresh daemon, a new zip) if it missed."""
    tmp = tmp_path / "home" / "blobs" / "tmp"
    for attempt in range(3):
        home = tmp_path / "home"
        proc, _ = daemons.start(home)
        zip_path = _zip(tmp_path, f"big-model-{attempt}", extra=os.urandom(BIG))
        submit = subprocess.Popen([sys.executable, "-m", "dock.cli", "submit", str(zip_path)],
                                  env=dict(os.environ, LWDOCK_HOME=str(home)), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        caught = False
        deadline = time.monotonic() + 60
        while submit.poll() is None and time.monotonic() < deadline:
            if _writing_blob(tmp):
                proc.kill()  # SIGKILL while the blob is being written
                caught = True
                break
            time.sleep(0.001)  # 1 ms polling interval of a deadline-bounded wait
        proc.wait(10)
        submit.wait(30)
        if caught:
            assert submit.returncode != 0  # the client was told it failed
            break
        proc.kill()
        proc.wait(10)
    assert caught, "never caught the daemon in the middle of a blob write in 3 attempts"
    with Dock.open(home) as dock:
        assert zip_path.stem not in [r.name for r in dock.list()]
        assert list(tmp.iterdir()) == []
        assert all(dock.catalogue.exists(i) for i in dock.blobs.ids())  # no orphan blob survives
        learnware_id = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        assert not dock.catalogue.exists(learnware_id)
        assert dock.submit(zip_path) == learnware_id


def test_a_fetch_through_the_daemon_reports_byte_progress(daemons, tmp_path):
    """A client of the daemon (RemoteDock, as the TUI and scripts use it) sees the bytes arrive:
    progress frames cross the control socket ahead of the reply."""
    a_home, b_home = tmp_path / "a", tmp_path / "b"
    zip_path = _zip(tmp_path, "progress-model", extra=os.urandom(8 << 20))
    learnware_id = cli(a_home, "submit", str(zip_path)).stdout.strip()
    _, a = daemons.start(a_home)
    daemons.start(b_home, a["addrs"][0])
    seen = []
    with Dock.connect(b_home) as remote:
        assert remote.mode == "daemon"
        wait_until(lambda: any(r.id == learnware_id for r in remote.list()), 30, "the record at b")
        path = remote.fetch(learnware_id, progress=seen.append)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == learnware_id
    size = zip_path.stat().st_size
    assert seen and seen[-1].done == seen[-1].total == size and seen[-1].state == "done"
    assert seen[-1].peer == a["peer_id"]
    assert [t.done for t in seen] == sorted(t.done for t in seen)
