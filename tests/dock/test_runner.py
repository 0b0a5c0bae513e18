"""The model worker: a learnware's model runs in another process, and its failures stay there."""

from __future__ import annotations

import io
import pickle
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dock.errors import RunnerError, RunnerTimeout
from dock.runtime import worker_main as wire
from dock.runtime.worker import ModelWorker
from tests.dock.fixtures import REFERENCE_PICKLE_INIT, fitted_iris_model, model_folder, model_source

X4 = np.arange(12, dtype=np.float64).reshape(3, 4)


def _worker(tmp_path, predict_body: str, *, name: str = "m", timeout: float = 10.0,
            memory_limit_mb: int | None = 1024, **src) -> ModelWorker:
    folder = model_folder(tmp_path / name, model_source(predict_body, **src))
    return ModelWorker(folder, {"class_name": "M", "kwargs": {}}, timeout=timeout,
                       memory_limit_mb=memory_limit_mb)


def test_pickled_sklearn_model_predicts_like_the_original(tmp_path):
    model, X, _ = fitted_iris_model()
    folder = model_folder(tmp_path / "lr", REFERENCE_PICKLE_INIT)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    config = {"class_name": "PickleLoadedModel", "module_path": "__init__.py",
              "kwargs": {"input_shape": (4,), "output_shape": (1,)}}
    with ModelWorker(folder, config, timeout=30) as worker:
        assert worker.input_shape == (4,) and worker.output_shape == (1,)
        assert {"predict", "fit", "finetune"} <= set(worker.methods)
        np.testing.assert_array_equal(worker.predict(X), model.predict(X))
    assert not worker.running
    # The learnware's code never entered this process.
    assert not [m for m in sys.modules if m.startswith("learnware")]


def test_relative_imports_kwargs_tuples_and_fit(tmp_path):
    src = model_source(
        "return scale(X) + self.offset",
        extra="from .helpers import scale",
        init_body="self.offset = 0.0\nself.kind = type(input_shape).__name__",
    ) + "\n    def fit(self, X, y):\n        self.offset = float(np.mean(y))\n"
    helpers = {"helpers.py": "def scale(X):\n    return X[:, 0] * 2\n"}
    folder = model_folder(tmp_path / "rel", src, files=helpers)
    with ModelWorker(folder, {"class_name": "M", "kwargs": {"input_shape": (4,)}}) as worker:
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 0] * 2)
        assert worker.call("fit", X4, np.array([1.0, 2.0, 3.0])) is None
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 0] * 2 + 2.0)
        assert worker.input_shape == (4,)
    with pytest.raises(RunnerError, match="bad method name"):
        worker.call("__class__", X4)


def test_predict_exception_text_reaches_the_caller(tmp_path):
    with _worker(tmp_path, "raise ValueError('boom 42: bad feature')") as worker:
        with pytest.raises(RunnerError, match="boom 42: bad feature") as info:
            worker.predict(X4)
        assert "ValueError" in str(info.value) and "predict" in str(info.value)
        assert worker.running  # an exception is data: the worker lives on


@pytest.mark.parametrize("body, message", [
    ("return {'a': 1}", "returned a dict"),
    ("return np.array([object(), object()])", "dtype object"),
    ("return None", "returned None"),
])
def test_wrong_output_type(tmp_path, body, message):
    with _worker(tmp_path, body) as worker:
        with pytest.raises(RunnerError, match=message):
            worker.predict(X4)


def test_list_and_torch_outputs_become_arrays(tmp_path):
    with _worker(tmp_path, "return [1, 2, 3]", name="lst") as worker:
        np.testing.assert_array_equal(worker.predict(X4), [1, 2, 3])
    pytest.importorskip("torch")
    body = "import torch\nreturn torch.from_numpy(X[:, :2].copy())"
    with _worker(tmp_path, body, name="torch", memory_limit_mb=4096) as worker:
        np.testing.assert_array_equal(worker.predict(X4), X4[:, :2])


def test_load_failure_carries_the_traceback(tmp_path):
    folder = model_folder(tmp_path / "bad", "import numpy\nraise ImportError('no module named magic_lib')\n")
    worker = ModelWorker(folder, {"class_name": "M", "kwargs": {}})
    with pytest.raises(RunnerError, match="load failed: ImportError: no module named magic_lib"):
        worker.start()
    assert not worker.running
    missing = model_folder(tmp_path / "nocls", model_source("return X"))
    with pytest.raises(RunnerError, match="has no attribute 'Nope'"):
        ModelWorker(missing, {"class_name": "Nope", "kwargs": {}}).start()


def test_timeout_kills_and_next_call_restarts(tmp_path):
    worker = _worker(tmp_path, "if len(X) == 7:\n    time.sleep(3600)\nreturn X[:, 0]", timeout=2)
    worker.start()
    first_pid = worker._proc.pid
    started = time.monotonic()
    with pytest.raises(RunnerTimeout, match="did not answer within 2s; worker killed"):
        worker.predict(np.zeros((7, 4)))
    assert time.monotonic() - started < 4
    assert not worker.running
    np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])  # a fresh worker
    assert worker._proc.pid != first_pid
    worker.close()


def test_exit_and_segfault_are_errors_not_crashes(tmp_path):
    body = ("if X[0, 0] == 3:\n    sys.stderr.write('about to leave\\n'); sys.stderr.flush(); os._exit(3)\n"
            "if X[0, 0] == 11:\n    import ctypes; ctypes.string_at(0)\nreturn X[:, 0]")
    with _worker(tmp_path, body) as worker:
        with pytest.raises(RunnerError, match="exit code 3") as info:
            worker.predict(np.full((2, 4), 3.0))
        assert "about to leave" in str(info.value)  # the stderr tail comes along
        with pytest.raises(RunnerError, match="SIGSEGV"):
            worker.predict(np.full((2, 4), 11.0))
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])


def test_unbounded_allocation_is_stopped(tmp_path):
    body = ("if X[0, 0] == 5:\n    blocks = []\n    while True:\n"
            "        blocks.append(np.ones(8 << 20))  # 64 MB at a time, never freed\n"
            "return X[:, 0]")
    with _worker(tmp_path, body, memory_limit_mb=512) as worker:
        with pytest.raises(RunnerError, match="MemoryError|died"):
            worker.predict(np.full((2, 4), 5.0))
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])  # alive, or restarted


def test_prints_do_not_break_the_protocol(tmp_path):
    body = ("print('hello from predict', X.shape)\n"
            "os.write(1, b'\\x00\\x00\\x00\\x05junk!')  # raw bytes on fd 1, looks like a frame\n"
            "return X.sum(axis=1)")
    with _worker(tmp_path, body, init_body="print('loading')") as worker:
        for _ in range(3):
            np.testing.assert_array_equal(worker.predict(X4), X4.sum(axis=1))


def test_worker_environment_is_minimal(tmp_path, monkeypatch):
    monkeypatch.setenv("LWDOCK_TEST_SECRET", "hunter2")
    body = ("return np.array([len(os.environ.get('LWDOCK_TEST_SECRET', '')),\n"
            "                 int(os.environ.get('OMP_NUM_THREADS', '0'))])")
    with _worker(tmp_path, body) as worker:
        np.testing.assert_array_equal(worker.predict(X4), [0, 1])


def test_reply_size_is_capped(tmp_path):
    folder = model_folder(tmp_path / "big", model_source("return np.zeros((len(X), 1000))"))
    with ModelWorker(folder, {"class_name": "M", "kwargs": {}}, max_frame=10_000) as worker:
        with pytest.raises(RunnerError, match="byte reply"):
            worker.predict(X4)


def test_threads_share_one_worker(tmp_path):
    with _worker(tmp_path, "return X[:, 0] * 3") as worker:
        results, errors = [], []

        def run(i):
            try:
                X = np.full((5, 4), float(i))
                results.append(np.array_equal(worker.predict(X), X[:, 0] * 3))
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == [] and results == [True] * 8


def test_npy_decoding_refuses_lies_and_objects():
    good = wire.encode_array(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(wire.decode_array(good), np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="bytes follow"):
        wire.decode_array(good[:-8])  # header promises more than is there
    big = io.BytesIO()
    np.lib.format.write_array_header_1_0(big, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with pytest.raises(ValueError, match="bytes follow"):
        wire.decode_array(big.getvalue())  # never allocates 8 TB
    obj = io.BytesIO()
    np.lib.format.write_array_header_1_0(obj, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with pytest.raises(ValueError, match="not allowed"):
        wire.decode_array(obj.getvalue() + pickle.dumps(None))
    with pytest.raises(TypeError):
        wire.encode_array(np.array([object()]))
    assert wire.unpack_body(wire.pack_frame({"s": (1, (2, 3))})[4:]) == {"s": (1, (2, 3))}


def test_other_entry_files_load(tmp_path):
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "helpers.py").write_text("def double(X):\n    return X[:, 0] * 2\n")
    (folder / "model.py").write_text(model_source("return double(X)", extra="from .helpers import double"))
    (folder / "my-model.py").write_text(model_source("return X[:, 1]"))
    with ModelWorker(folder, {"class_name": "M", "module_path": "model.py", "kwargs": {}}) as worker:
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 0] * 2)
    with ModelWorker(folder, {"class_name": "M", "module_path": "my-model.py", "kwargs": {}}) as worker:
        np.testing.assert_array_equal(worker.predict(X4), X4[:, 1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has already exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_exits_when_the_dock_dies(tmp_path):
    """A dock killed mid-call must not leave its (hung) worker spinning forever."""
    import os
    import signal
    import subprocess

    folder = model_folder(tmp_path / "hang", model_source("while True:\n    pass"))
    script = (
        "import sys, threading, numpy as np\n"
        "from dock.runtime.worker import ModelWorker\n"
        f"w = ModelWorker({str(folder)!r}, {{'class_name': 'M', 'kwargs': {{}}}}, timeout=600)\n"
        "w.start()\n"
        "print(w._proc.pid, flush=True)\n"
        "w.predict(np.zeros((1, 4)))\n"
    )
    dock = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        worker_pid = int(dock.stdout.readline())
        assert _alive(worker_pid)
        os.kill(dock.pid, signal.SIGKILL)
        dock.wait()
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        assert not _alive(worker_pid)
    finally:
        dock.kill()
        dock.wait()
