"""Issue 11, cases 9-11: a learnware tries to escape its worker, one attack per mode.

Each attack runs as a hostile model in a real sandboxed worker: it must fail (PermissionError
from Landlock or seccomp) or get the worker killed with a clear reason, and an honest call in
the same worker (or the fresh one the runner starts) must still work afterwards. Where this
machine lacks a sandbox layer the whole module is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time

import numpy as np
import pytest

from dock.errors import RunnerError
from dock.runtime.sandbox import sandbox_report
from dock.runtime.worker import ModelWorker
from tests.dock.fixtures import model_folder, model_source

X4 = np.arange(12, dtype=np.float64).reshape(3, 4)

_REPORT = sandbox_report()
pytestmark = pytest.mark.skipif(not _REPORT["ok"], reason=f"no full sandbox here: {_REPORT['missing']}")

ATTACKS = """
import ctypes, errno, socket, subprocess
mode = int(X[0, 0])
arg = ARGS.get(mode)
if mode == 1:  # case 9: the dock's control socket (a named unix socket)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(arg)
if mode == 2:  # case 10: the key leaves over UDP
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"identity.key", ("127.0.0.1", arg))
if mode == 3:  # abstract unix socket
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(arg)
if mode == 4:  # netlink (routing, audit...)
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
if mode == 5:  # case 10: the identity key, by a relative path from the learnware's folder
    return np.array([len(open("../../identity.key").read())] * len(X))
if mode == 6:  # case 11: a user's files outside every allowed path (~/.ssh, /etc/shadow...)
    for path in arg:
        try:
            return np.array([len(open(path).read())] * len(X))  # a leak: the test fails
        except PermissionError:
            pass
    raise PermissionError(f"all {len(arg)} reads refused")
if mode == 7:  # case 9/11: the parent's environment, where the dock home is named
    return np.array([len(open(f"/proc/{os.getppid()}/environ", "rb").read())] * len(X))
if mode == 8:  # case 11: files in /dev/shm outlive the worker
    open("/dev/shm/lwdock-escape", "w").write("x")
if mode == 9:  # case 11: fork bomb
    for _ in range(300):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
if mode == 10:  # case 11: a setsid grandchild that outlives the worker
    subprocess.Popen(["sleep", "600"], start_new_session=True)
if mode == 11:  # exec another program
    os.execv("/bin/sh", ["sh", "-c", "true"])
if mode == 12:  # read another process's memory
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, os.getppid(), 0, 0) != 0:  # PTRACE_ATTACH
        raise PermissionError(ctypes.get_errno(), "ptrace refused")
if mode == 13:  # io_uring would run socket/open operations past the filter
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    if libc.syscall(425, 8, params) < 0:
        raise PermissionError(ctypes.get_errno(), "io_uring_setup refused")
return X[:, 0]
"""


@pytest.fixture
def home(tmp_path):
    """A fake dock home with an identity key and one unpacked learnware, as Dock.load sees it."""
    root = tmp_path / "home"
    (root / "unpacked").mkdir(parents=True)
    (root / "identity.key").write_text("SECRET-SIGNING-KEY")
    return root


def _attacker(home, args: dict) -> ModelWorker:
    source = model_source(ATTACKS, extra=f"ARGS = {args!r}")
    folder = model_folder(home / "unpacked" / ("a" * 64), source)
    return ModelWorker(folder, {"class_name": "M", "kwargs": {}}, timeout=20, memory_limit_mb=1024,
                       protect=(str(home),))


def _attack(worker: ModelWorker, mode: int, match: str = "PermissionError") -> None:
    with pytest.raises(RunnerError, match=match):
        worker.predict(np.full((2, 4), float(mode)))
    np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])  # the honest path, right after


def test_no_network_of_any_kind(home):
    sockdir = tempfile.mkdtemp(prefix="lw-", dir="/tmp")  # unix socket paths must be short
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind(os.path.join(sockdir, "control.sock"))
    control.listen(1)
    control.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0lwdock-test-{os.getpid()}")
    abstract.listen(1)
    abstract.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    try:
        args = {1: os.path.join(sockdir, "control.sock"), 2: udp.getsockname()[1], 3: abstract.getsockname()}
        with _attacker(home, args) as worker:
            for mode in (1, 2, 3, 4):
                _attack(worker, mode)
        with pytest.raises(BlockingIOError):
            control.accept()  # the control socket saw nobody
        with pytest.raises(BlockingIOError):
            abstract.accept()
        with pytest.raises(BlockingIOError):
            udp.recv(100)  # and nothing arrived over UDP
    finally:
        control.close()
        abstract.close()
        udp.close()
        shutil.rmtree(sockdir, ignore_errors=True)


def test_no_dock_home_key_user_files_or_parent_environ(home, tmp_path):
    secret = tmp_path / "dot-ssh" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_text("PRIVATE")
    others = [p for p in ("/etc/shadow", "/etc/passwd", os.path.expanduser("~/.bashrc")) if os.path.exists(p)]
    with _attacker(home, {6: [str(secret), *others]}) as worker:
        for mode in (5, 6, 7):
            _attack(worker, mode)


def test_no_shm_no_processes_no_exec_no_ptrace_no_io_uring(home):
    with _attacker(home, {}) as worker:
        pid = worker._proc.pid
        for mode in (8, 9, 10, 11, 12, 13):
            _attack(worker, mode)
        assert worker._proc.pid == pid  # every attack was refused inside the same worker
        children = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == pid]
        assert children == []  # not one of the 300 forks, no setsid grandchild
    assert not os.path.exists("/dev/shm/lwdock-escape")


def _ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


BUDGETS = """
mode = int(X[0, 0])
if mode == 1:  # memory past the cap
    hoard = [np.ones(1 << 27) for _ in range(40)]  # 40 x 1 GiB
if mode == 2:  # fill the scratch folder: 1 MiB files, then wait to be noticed
    block = b"x" * (1 << 20)
    for i in range(100):
        with open(os.path.join(tempfile.gettempdir(), f"fill-{i}"), "wb") as f:
            f.write(block)
    time.sleep(60)
if mode == 3:  # flood stderr
    line = b"y" * (1 << 20)
    for _ in range(1 << 12):
        os.write(2, line)
if mode == 4:  # a reply far larger than 2 rows of output_shape (1,) can be
    return np.zeros((len(X), 4_000_000))
if mode == 5:  # one file larger than the per-file limit
    with open(os.path.join(tempfile.gettempdir(), "big"), "wb") as f:
        for _ in range(64):
            f.write(b"z" * (1 << 20))
if mode == 6:  # CPU, past RLIMIT_CPU (the call timeout is longer)
    while True:
        pass
if mode == 7:  # thread bomb with tiny stacks (fork is denied; threads are tasks too)
    import threading
    threading.stack_size(64 << 10)
    try:
        while True:
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    except RuntimeError:  # out of address space: keep what it has, as an attacker would
        time.sleep(60)
return X[:, 0]
"""


def test_memory_disk_output_reply_and_cpu_budgets(tmp_path):
    folder = model_folder(tmp_path / "hog", model_source(BUDGETS, extra="import tempfile"))
    worker = ModelWorker(folder, {"class_name": "M", "kwargs": {}}, timeout=30, memory_limit_mb=800,
                         disk_limit_mb=32, output_limit_mb=8, cpu_limit_s=2, max_threads=64)
    cases = [(1, "MemoryError"),
             (2, "killed: its scratch folder grew past 32 MiB"),
             (3, "killed: wrote more than 8 MiB to stderr"),
             (4, r"byte reply, more than this call's output can be"),
             (5, "File too large"),
             (6, "SIGXCPU|SIGKILL"),
             (7, "killed: started more than 64 threads")]
    with worker:
        for mode, message in cases:
            started = time.monotonic()
            with pytest.raises(RunnerError, match=message):
                worker.predict(np.full((2, 4), float(mode)))
            assert time.monotonic() - started < 25, mode
            np.testing.assert_array_equal(worker.predict(X4), X4[:, 0])
            scratch = worker._scratch and worker._scratch.path
            assert scratch and sum(e.stat().st_size for e in os.scandir(scratch)) <= 64 << 20
