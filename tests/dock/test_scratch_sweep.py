"""A killed dock process leaves its model workers' scratch folders behind; the next worker to
start removes them, and never a folder whose owner is still alive (dock/runtime/scratch.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dock.runtime.sandbox import sandbox_report
from dock.runtime.scratch import LOCK_SUFFIX, PREFIX, Scratch, sweep_abandoned
from dock.runtime.worker import ModelWorker
from tests.dock.fixtures import model_folder, model_source

OWNER = textwrap.dedent("""
    import sys, tempfile
    tempfile.tempdir = sys.argv[2]
    from dock.runtime.worker import ModelWorker
    worker = ModelWorker(sys.argv[1], {"class_name": "M", "kwargs": {}}, timeout=30)
    worker.start()
    print(worker._scratch.path, flush=True)
    sys.stdin.read()  # until killed
""")


def _age(scratch_path: str, seconds: float = 3600) -> None:
    """Make a lock file look older than the sweep's grace period for new ones."""
    past = time.time() - seconds
    os.utime(scratch_path + LOCK_SUFFIX, (past, past))


def _scratch_folders(folder: Path) -> set[str]:
    return {p.name for p in folder.glob(PREFIX + "*") if p.is_dir()}


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_killed_owners_scratch_is_swept_by_the_next_worker_and_a_live_one_is_kept(tmp_path, temp_folder):
    if not sandbox_report()["ok"]:
        pytest.skip("this machine cannot sandbox model code: no scratch folders are made")
    model = model_folder(tmp_path / "model", model_source("return X[:, 0]"))
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(model), str(temp_folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        dead = owner.stdout.readline().strip()
        assert dead.startswith(str(temp_folder / PREFIX)), dead
        owner.send_signal(signal.SIGKILL)  # no cleanup runs: the folder stays
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert Path(dead).is_dir()
    _age(dead)
    alive = Scratch()  # held by this process
    _age(alive.path)
    young = Scratch()
    young_path = young.path
    young.remove()
    assert not Path(young_path).exists()
    worker = ModelWorker(model, {"class_name": "M", "kwargs": {}}, timeout=30)
    try:
        worker.start()
        np.testing.assert_array_equal(worker.predict(np.ones((2, 3))), [1.0, 1.0])
        mine = Path(worker._scratch.path).name
        assert _scratch_folders(temp_folder) == {Path(alive.path).name, mine}
        assert not Path(dead + LOCK_SUFFIX).exists()
    finally:
        worker.close()
    assert _scratch_folders(temp_folder) == {Path(alive.path).name}
    alive.remove()
    assert not any(temp_folder.iterdir())


def test_new_lock_files_and_other_peoples_are_left_alone(temp_folder):
    fresh = temp_folder / f"{PREFIX}fresh"
    fresh.mkdir()
    (temp_folder / f"{PREFIX}fresh{LOCK_SUFFIX}").touch()  # unlocked but just made: may be mid-creation
    legacy = temp_folder / f"{PREFIX}legacy"  # an older lwdock's folder: no lock says its owner is gone
    legacy.mkdir()
    assert sweep_abandoned() == 0
    assert fresh.is_dir() and legacy.is_dir()
    _age(str(fresh))
    assert sweep_abandoned() == 1
    assert not fresh.exists() and legacy.is_dir()
