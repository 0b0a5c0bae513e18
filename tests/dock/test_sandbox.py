"""Hostile learnwares: each misbehaviour is an error for that call, and the caller lives on.

What the sandbox stops is what dock/runtime/sandbox.py claims; the escape attempts of issue 11
(network, files, processes, budgets) are in tests/dock/test_sandbox_escape.py. Here: the basics
(raise, wrong shape, hang, hoard), writes outside the scratch folder, TCP and signals out, the
machine report, and the refusal when a layer is missing unless the caller opts out.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from dock.errors import RunnerError, RunnerTimeout
from dock.records import LearnwareRecord
from dock.runtime.loaded import LoadedLearnware
from dock.runtime.sandbox import REQUIRED_LAYERS, SKIP_ENV, sandbox_report
from dock.runtime.worker import ModelWorker, SandboxUnavailable
from tests.dock.fixtures import model_folder, model_source

X4 = np.arange(12, dtype=np.float64).reshape(3, 4)

HOSTILE = """
mode = int(X[0, 0])
if mode == 1:
    raise RuntimeError("model exploded")
if mode == 2:
    return X[:-1, 0]  # one row short
if mode == 3:
    while True:
        time.sleep(0.01)  # never returns
if mode == 4:
    hoard = []
    while True:
        hoard.append(np.ones(8 << 20))  # 64 MB more each turn, never freed
return X[:, 0]
"""


def _loaded(worker: ModelWorker) -> LoadedLearnware:
    record = LearnwareRecord(id="f" * 64, semantic_spec={"Output": {"Dimension": 1}},
                             model_config=worker.model_config, size=0)
    return LoadedLearnware(record, worker, {})


def test_raise_wrong_shape_hang_and_hoarding_each_fail_one_call(tmp_path):
    folder = model_folder(tmp_path / "hostile", model_source(HOSTILE))
    worker = ModelWorker(folder, {"class_name": "M", "kwargs": {}}, timeout=3, memory_limit_mb=600)
    with _loaded(worker) as lw:
        lw._worker.start()
        for mode, error, message in [(1, RunnerError, "model exploded"),
                                     (2, RunnerError, r"returned shape \(2,\) for 3 input rows"),
                                     (3, RunnerTimeout, "did not answer within 3s"),
                                     (4, RunnerError, "MemoryError|died")]:
            bad = X4.copy()
            bad[0, 0] = mode
            with pytest.raises(error, match=message):
                lw.predict(bad)
            np.testing.assert_array_equal(lw.predict(X4), X4[:, 0])  # the next call works


def _sandboxed(tmp_path, body: str, name: str) -> ModelWorker:
    folder = model_folder(tmp_path / name, model_source(body, extra="import socket, signal, tempfile"))
    worker = ModelWorker(folder, {"class_name": "M", "kwargs": {}}, timeout=10, memory_limit_mb=1024)
    worker.start()
    assert "landlock-fs" in worker.sandbox and "seccomp" in worker.sandbox, worker.sandbox
    return worker


def test_the_machine_report_says_what_holds():
    report = sandbox_report()
    if not report["ok"]:
        pytest.skip(f"this machine cannot sandbox model code: {report['missing']}")
    assert set(REQUIRED_LAYERS) <= set(report["layers"])
    assert report["attacks"] and all(v.startswith("stopped") for v in report["attacks"].values())
    assert "no sockets" in report["guarantees"]["seccomp"]


def test_writes_outside_the_scratch_folder_are_refused(tmp_path):
    outside = tmp_path / "outside.txt"
    body = f"""
target = {{1: {str(outside)!r}, 2: os.path.join(os.getcwd(), "planted.py")}}.get(int(X[0, 0]))
if target:
    with open(target, "w") as f:
        f.write("pwned")
    return X[:, 0]
fd, path = tempfile.mkstemp()  # the worker's own scratch folder: allowed
os.write(fd, b"ok")
os.close(fd)
return np.array([os.path.getsize(path)] * len(X))
"""
    with _sandboxed(tmp_path, body, "writer") as worker:
        for mode in (1, 2):
            with pytest.raises(RunnerError, match="PermissionError"):
                worker.predict(np.full((1, 4), float(mode)))
        np.testing.assert_array_equal(worker.predict(X4), [2, 2, 2])
        assert worker.running
    assert not outside.exists() and not (tmp_path / "writer" / "planted.py").exists()


def test_tcp_and_signals_out_are_refused(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    body = f"""
if X[0, 0] == 1:
    socket.create_connection(("127.0.0.1", {port}), timeout=5)
if X[0, 0] == 2:
    os.kill({sleeper.pid}, signal.SIGTERM)
return X[:, 0]
"""
    try:
        with _sandboxed(tmp_path, body, "net") as worker:
            for mode in (1.0, 2.0):
                with pytest.raises(RunnerError, match="PermissionError"):
                    worker.predict(np.full((1, 4), mode))
            assert sleeper.poll() is None  # still alive
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody connected
            np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])
    finally:
        server.close()
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()


def test_a_missing_layer_refuses_to_run_code_unless_the_caller_opts_out(tmp_path, monkeypatch):
    """On a machine without seccomp (pretended here) no model code runs; sandbox='off' runs it
    unconfined, and `sandbox` says so. Reading outside is then possible: that is what 'off' means."""
    secret = tmp_path / "secret.txt"
    secret.write_text("42")
    body = f"return np.array([float(open({str(secret)!r}).read())] * len(X))"
    folder = model_folder(tmp_path / "reader", model_source(body, init_body="print('MODEL CODE RAN')"))
    monkeypatch.setenv(SKIP_ENV, "netns")  # an optional layer missing: still runs, and says so
    with ModelWorker(folder, {"class_name": "M", "kwargs": {}}) as worker:
        assert "not available: netns" in worker.sandbox and "seccomp" in worker.sandbox
        with pytest.raises(RunnerError, match="PermissionError"):
            worker.predict(X4)
    monkeypatch.setenv(SKIP_ENV, "seccomp")
    assert not sandbox_report()["ok"] and "seccomp" in sandbox_report()["missing"]
    worker = ModelWorker(folder, {"class_name": "M", "kwargs": {}})
    with pytest.raises(SandboxUnavailable, match=r"cannot sandbox it \(seccomp: skipped.*--unsafe-no-sandbox"):
        worker.start()
    assert not worker.running
    with ModelWorker(folder, {"class_name": "M", "kwargs": {}}, sandbox="off") as worker:
        assert worker.sandbox == "sandbox: off"
        np.testing.assert_array_equal(worker.predict(X4), [42, 42, 42])
    monkeypatch.delenv(SKIP_ENV)
    with ModelWorker(folder, {"class_name": "M", "kwargs": {}}) as worker:  # the full sandbox again
        with pytest.raises(RunnerError, match="PermissionError"):
            worker.predict(X4)
    with pytest.raises(ValueError, match="sandbox must be"):
        ModelWorker(folder, {"class_name": "M", "kwargs": {}}, sandbox="maybe")
