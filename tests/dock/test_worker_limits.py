"""WorkerLimits (dock/runtime/limits.py): every worker budget in one frozen, validated dataclass; the
older keyword arguments map onto it; Dock.load passes it to a real worker."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from dock import Dock
from dock.errors import RunnerTimeout
from dock.runtime.limits import DEFAULT_LIMITS, WorkerLimits, WorkerLimitsError, resolve_limits
from dock.runtime.worker import ModelWorker
from dock.runtime.worker_main import MAX_FRAME

from .fixtures import model_folder, model_source, package_files, semantic, write_zip


@pytest.mark.parametrize(("changes", "message"), [
    ({"timeout": 0}, "worker limit timeout: 0 is not allowed; expected a positive number"),
    ({"timeout": float("nan")}, "worker limit timeout: nan is not allowed"),
    ({"timeout": None}, "worker limit timeout: None is not allowed; expected a positive number"),
    ({"memory_limit_mb": True}, "worker limit memory_limit_mb: True is not allowed; expected a positive integer"),
    ({"disk_limit_mb": -1}, "worker limit disk_limit_mb: -1 is not allowed"),
    ({"max_threads": 2.5}, "worker limit max_threads: 2.5 is not allowed"),
    ({"max_frame": MAX_FRAME + 1}, f"at most {MAX_FRAME} bytes"),
])
def test_bad_limits_are_refused_with_the_field_named(changes, message):
    with pytest.raises(WorkerLimitsError, match=message.replace("[", r"\[").replace("(", r"\(")):
        WorkerLimits(**changes)
    # The honest values of the same fields are accepted, and None means "no limit" where allowed.
    assert WorkerLimits(timeout=0.5, memory_limit_mb=None, disk_limit_mb=None, max_threads=None).timeout == 0.5


def test_limits_are_frozen_and_defaults_are_written_once():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.timeout = 1.0  # type: ignore[misc]
    assert DEFAULT_LIMITS == WorkerLimits()
    assert DEFAULT_LIMITS.effective_load_timeout == DEFAULT_LIMITS.timeout
    assert WorkerLimits(timeout=3, load_timeout=9).effective_load_timeout == 9


def test_keywords_map_onto_the_limits(tmp_path):
    folder = model_folder(tmp_path / "m", model_source("return X[:, 0]"))
    config = {"class_name": "M", "kwargs": {}}
    assert ModelWorker(folder, config).limits == DEFAULT_LIMITS  # nothing started: only the budgets
    base = WorkerLimits(timeout=5, disk_limit_mb=10)
    worker = ModelWorker(folder, config, limits=base, memory_limit_mb=None, max_threads=8)
    assert worker.limits == WorkerLimits(timeout=5, disk_limit_mb=10, memory_limit_mb=None, max_threads=8)
    assert (worker.timeout, worker.memory_limit_mb, worker.disk_limit_mb) == (5.0, None, 10)
    # `...` (the keywords' default) keeps the limits' value; an explicit value overrides it.
    assert resolve_limits(base) is base
    assert resolve_limits(base, timeout=7).timeout == 7 and resolve_limits(base, timeout=7).disk_limit_mb == 10
    with pytest.raises(WorkerLimitsError, match="worker limit output_limit_mb"):
        ModelWorker(folder, config, output_limit_mb=0)
    with pytest.raises(TypeError, match="unknown worker limit"):
        base.with_keywords(gpu_limit=1)


def test_dock_load_runs_the_worker_under_the_given_limits(tmp_path):
    # A model that sleeps on one input: a 1 s limit kills that call; the next call, on a fresh
    # worker under the same limits, answers.
    X = np.random.default_rng(0).normal(size=(60, 4))
    source = model_source("if X[0, 0] > 100:\n    time.sleep(30)\nreturn (X[:, 0] > 0).astype(int)")
    zip_path = write_zip(tmp_path / "sleepy.zip", package_files(source, X, semantic(dim=4, out_dim=2)))
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(zip_path)
        with dock.load(learnware_id, limits=WorkerLimits(timeout=1.0, load_timeout=30.0)) as loaded:
            started = time.monotonic()
            with pytest.raises(RunnerTimeout, match="did not answer within 1s; worker killed"):
                loaded.predict(np.full((2, 4), 1000.0))
            assert time.monotonic() - started < 10
            assert loaded.predict(X[:5]).shape == (5,)
        with pytest.raises(WorkerLimitsError, match="worker limit timeout: -1"):
            dock.load(learnware_id, timeout=-1)
        assert dock.load(learnware_id, timeout=5).predict(X[:2]).shape == (2,)  # closed with the dock


def test_a_bad_limit_on_the_command_line_is_one_line_and_nothing_is_stored(tmp_path):
    from tests.helpers import run_cli

    from .fixtures import write_reference_zip

    zip_path = write_reference_zip(tmp_path / "iris.zip")
    home = tmp_path / "home"
    refused = run_cli(home, "submit", str(zip_path), "--timeout", "0", check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip() == "error: worker limit timeout: 0.0 is not allowed; expected a positive number"
    assert run_cli(home, "list", "--json").stdout.strip() == "[]"
    assert run_cli(home, "submit", str(zip_path), "--timeout", "30").returncode == 0  # the honest path
