"""Run a learnware's model in a separate worker process (dock/runtime/worker_main.py).

A learnware's code is untrusted and may hang, crash, leak memory or print: it never runs in the
dock's process. The worker gets its own process group (so a kill reaches anything it spawned),
an address-space limit, single-threaded BLAS, a minimal environment, and a deadline on every
request; replies are size-capped and schema-checked before the dock believes them.

Sandbox (dock/runtime/sandbox.py, on by default): Landlock read and write rules (no dock home,
identity key, ~/.ssh or parent environ; writes only in a private scratch folder), a seccomp
filter (no sockets of any family, no fork/exec, no ptrace, no signals out), no capabilities.
Where a layer is missing the worker refuses to run model code (SandboxUnavailable) unless the
caller opted out: `sandbox="off"` / `set_default_sandbox("off")` (the CLI's
`--unsafe-no-sandbox`). `ModelWorker.sandbox` says what is in force.

Budgets per worker (it cannot fork, so they are totals): address space (RLIMIT_AS), CPU seconds
(RLIMIT_CPU, a backstop to the per-call timeout), one file's size (RLIMIT_FSIZE), the scratch
folder's total (watched by the parent, which kills the worker over budget), stderr (read into a
bounded tail; past `output_limit_mb` the worker is killed), and each reply (refused from its
4-byte length, before any allocation, when larger than the call's output can be), threads
(past `max_threads` the worker is killed: fork is denied, threads are its only tasks).
`python=` runs the worker under another interpreter, e.g. a per-requirements venv (dock/runtime/venvs.py).
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from types import EllipsisType

import numpy as np

try:
    import resource
except ImportError:  # not POSIX: ModelWorker refuses to start there
    resource = None

from dock.errors import RunnerError, RunnerTimeout, SandboxUnavailable  # noqa: F401  (SandboxUnavailable: re-exported)
from dock.runtime import worker_main as wire
from dock.runtime.limits import DEFAULT_LIMITS, WorkerLimits
from dock.runtime.sandbox_watch import WorkerWatch
from dock.runtime.scratch import Scratch

log = logging.getLogger(__name__)
WORKER_SCRIPT = Path(wire.__file__).resolve()
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT",
             "LWDOCK_SANDBOX_SKIP")  # the last: tests pretending a layer is missing (-> refusal)
# One thread each: a dock runs several workers at once and BLAS pools per worker would thrash.
_THREAD_CAPS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
_STDERR_TAIL = 3000
_LOAD_REPLY_LIMIT = 1 << 20
_REPLY_BASE = 1 << 20  # room for an error message and traceback on top of the array
_BYTES_PER_OUTPUT_VALUE = 1024  # generous: a 256-character label string
_BYTES_PER_ROW_UNKNOWN = 64 << 10  # when the model declares no output_shape
_LIVE: weakref.WeakSet = weakref.WeakSet()
_default_sandbox = "on"




def set_default_sandbox(mode: str) -> None:
    """The sandbox mode of workers created with sandbox=None: "on" (refuse where a layer is
    missing) or "off" (unconfined; what `--unsafe-no-sandbox` sets for the whole process)."""
    global _default_sandbox
    _default_sandbox = sandbox_mode(mode)


def sandbox_mode(value) -> str:
    """None -> the process default; True/"on" -> "on"; False/"off" -> "off"."""
    if value is None:
        return _default_sandbox
    if value is True or value == "on":
        return "on"
    if value is False or value == "off":
        return "off"
    raise ValueError(f"sandbox must be 'on' or 'off' (or True/False), got {value!r}")


def protected_paths(extra=()) -> list[str]:
    """Folders no worker may read anything in, even through an allowed path's parent."""
    paths = [os.environ.get("HOME"), *extra]
    try:
        from dock.home import default_home

        paths.append(str(default_home()))
    except Exception:  # platformdirs missing: $HOME and the explicit ones still count
        pass
    return [str(Path(p).expanduser().resolve()) for p in paths if p]


def _worker_env() -> dict:
    # Only what a Python program needs: the dock's secrets and tokens stay out of the worker.
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update({k: "1" for k in _THREAD_CAPS})
    env["LWDOCK_WORKER"] = "1"
    return env


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _shape(value, name: str):
    if value is None:
        return None
    if not isinstance(value, list) or not all(type(v) is int and v >= 0 for v in value):
        raise RunnerError(f"worker reported a malformed {name}: {value!r}")
    return tuple(value)


class ModelWorker:
    """One learnware model, loaded in its own process. Thread-safe (one lock per worker).

    `timeout` bounds every call (and the load, unless `load_timeout` is given); a call that
    overruns kills the worker and raises RunnerTimeout, and the next call starts a fresh one.
    """

    def __init__(self, folder: str | os.PathLike, model_config: dict, *, limits: WorkerLimits | None = None,
                 timeout: float | EllipsisType = ..., memory_limit_mb: int | None | EllipsisType = ...,
                 python: str | None = None, load_timeout: float | None | EllipsisType = ...,
                 max_frame: int | EllipsisType = ..., sandbox: bool | str | None = None,
                 cpu_limit_s: int | None | EllipsisType = ..., disk_limit_mb: int | None | EllipsisType = ...,
                 output_limit_mb: int | None | EllipsisType = ..., max_threads: int | None | EllipsisType = ...,
                 protect=()):
        # Budgets: `limits` (else DEFAULT_LIMITS), with any keyword given here on top (`...`: as limits).
        self.limits = (limits or DEFAULT_LIMITS).with_keywords(
            timeout=timeout, memory_limit_mb=memory_limit_mb, load_timeout=load_timeout, max_frame=max_frame,
            cpu_limit_s=cpu_limit_s, disk_limit_mb=disk_limit_mb, output_limit_mb=output_limit_mb,
            max_threads=max_threads)
        if os.name != "posix":
            raise RunnerError("the model runner needs a POSIX system (process groups, rlimits, poll)")
        self.folder = Path(folder).resolve()
        module_path = model_config.get("module_path") or "__init__.py"
        self.model_config = {"class_name": model_config["class_name"], "module_path": module_path,
                             "kwargs": dict(model_config.get("kwargs") or {})}
        self.timeout = float(self.limits.timeout)
        self.load_timeout = self.limits.effective_load_timeout
        self.memory_limit_mb = self.limits.memory_limit_mb
        self.python = python or sys.executable
        self.max_frame = self.limits.max_frame
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.methods: tuple = ()
        self.load_notes: tuple = ()
        self.start_seconds: float | None = None
        self.sandbox_mode = sandbox_mode(sandbox)
        self.use_sandbox = self.sandbox_mode == "on"
        self.sandbox = "sandbox: not started"  # what confines the running worker, as it reported
        self.cpu_limit_s, self.disk_limit_mb = self.limits.cpu_limit_s, self.limits.disk_limit_mb
        self.output_limit_mb, self.max_threads = self.limits.output_limit_mb, self.limits.max_threads
        self.protect = protected_paths(protect)
        self._scratch: Scratch | None = None
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._watch: WorkerWatch | None = None
        self._stderr_mark = 0
        _LIVE.add(self)

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> ModelWorker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._kill()
        except Exception:  # interpreter shutdown: best effort only
            pass

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the worker and load the model (no-op if it is already running)."""
        with self._lock:
            if not self.running:
                self._spawn_and_load()

    def close(self) -> None:
        """Stop the worker: EOF on its stdin lets it exit; it is killed if it does not."""
        with self._lock:
            proc = self._proc
            if proc is not None:
                try:
                    proc.stdin.close()
                    proc.wait(timeout=1.0)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group: children the model spawned die too
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # stuck in the kernel (D state): leave it to init
                pass
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._scratch is not None:
            self._scratch.remove()
            self._scratch = None

    def _command(self) -> tuple[list, dict]:
        cmd = [self.python, "-I", "-B", str(WORKER_SCRIPT)]  # -B: leave the package folder unwritten
        # One file may take half the scratch budget: past that the write fails (EFBIG) before the
        # watcher's next look could find the folder over budget and kill the worker.
        file_limit = max(1, int(self.disk_limit_mb) // 2) if self.disk_limit_mb else None
        for flag, value in (("--memory-limit-mb", self.memory_limit_mb), ("--cpu-limit-s", self.cpu_limit_s),
                            ("--file-limit-mb", file_limit)):
            if value:
                cmd += [flag, str(int(value))]
        env = _worker_env()
        if not self.use_sandbox:
            log.warning("running learnware code WITHOUT a sandbox (%s): it can read your files, "
                        "use the network and start processes", self.folder)
            return cmd, env
        inside = [p for p in self.protect if p == str(self.folder) or p.startswith(str(self.folder) + os.sep)]
        if inside:
            raise RunnerError(f"refusing to run a learnware from {self.folder}: that folder contains "
                              f"{inside[0]}, which model code must not read")
        # A fresh scratch folder per process: the only place the sandboxed model may write.
        self._scratch = Scratch()
        cmd += ["--sandbox", self._scratch.path, "--require-sandbox"]
        for path in self.protect:
            cmd += ["--protect", path]
        env["TMPDIR"] = self._scratch.path
        return cmd, env

    def _spawn_and_load(self) -> None:
        self._kill()
        t0 = time.monotonic()
        self._stderr_mark = 0
        try:
            cmd, env = self._command()
            # start_new_session instead of preexec_fn: preexec_fn can deadlock a threaded parent
            # (the dock runs trio and UI threads); the rlimit is set by the worker on itself,
            # first thing, and by us through prlimit below where the OS offers it.
            self._proc = subprocess.Popen(
                cmd, cwd=self.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, start_new_session=True, bufsize=0, close_fds=True)
        except OSError as exc:
            self._kill()
            raise RunnerError(f"cannot start the model worker with {self.python}: {exc}") from exc
        except BaseException:
            self._kill()
            raise
        scratch = self._scratch.path if self._scratch is not None else None
        self._watch = WorkerWatch(self._proc, scratch, self.disk_limit_mb, self.output_limit_mb,
                                  self.model_config["class_name"], self.max_threads)
        if self.memory_limit_mb and hasattr(resource, "prlimit"):
            limit = int(self.memory_limit_mb) * 1024 * 1024
            try:
                resource.prlimit(self._proc.pid, resource.RLIMIT_AS, (limit, limit))
            except (OSError, ValueError):
                pass  # already exited, or the worker's own limit is lower; its load will tell
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        try:
            reply = self._roundtrip({"op": "load", **self.model_config}, self.load_timeout, "load",
                                    _LOAD_REPLY_LIMIT)
            self.input_shape = _shape(reply.get("input_shape"), "input_shape")
            self.output_shape = _shape(reply.get("output_shape"), "output_shape")
            methods, notes = reply.get("methods", []), reply.get("notes", [])
            self.sandbox = str(reply.get("sandbox", "sandbox: unknown"))[:200]
            if not (isinstance(methods, list) and isinstance(notes, list)
                    and all(isinstance(m, str) for m in methods + notes)):
                raise RunnerError("worker sent a malformed load reply")
            self.methods, self.load_notes = tuple(methods), tuple(notes)
        except BaseException:
            self._kill()
            raise
        self.start_seconds = time.monotonic() - t0

    # -------------------------------------------------------------- calls

    def predict(self, X) -> np.ndarray:
        out = self.call("predict", X)
        if out is None:
            raise RunnerError(f"{self.model_config['class_name']}.predict returned None")
        return out

    def call(self, method: str, X, y=None, *, timeout: float | None = None) -> np.ndarray | None:
        """Call `method(X)` or `method(X, y)` on the model (predict, fit, finetune, ...).

        `timeout` overrides the worker's for this call (fitting may need longer than predicting).
        """
        if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
            raise RunnerError(f"bad method name {method!r}")
        try:
            req = {"op": "call", "method": method, "X": wire.encode_array(X),
                   "y": None if y is None else wire.encode_array(y)}
        except (TypeError, ValueError) as exc:
            raise RunnerError(f"cannot send the input to the worker: {exc}") from exc
        with self._lock:
            if not self.running:
                self._spawn_and_load()  # first call, or the last one killed it
            reply = self._roundtrip(req, self.timeout if timeout is None else float(timeout), method,
                                    self._reply_limit(X))
        result = reply.get("result")
        if result is None:
            return None
        try:
            return wire.decode_array(result)
        except ValueError as exc:
            raise RunnerError(f"{method}: worker sent a malformed array: {exc}") from exc

    # -------------------------------------------------------------- wire

    def _reply_limit(self, X) -> int:
        """The largest reply this call's output can need; a bigger one is refused unread."""
        shape = np.shape(X)
        rows = int(shape[0]) if shape else 1
        per_row = (int(np.prod(self.output_shape)) * _BYTES_PER_OUTPUT_VALUE if self.output_shape is not None
                   else _BYTES_PER_ROW_UNKNOWN)
        return min(self.max_frame, _REPLY_BASE + rows * max(per_row, _BYTES_PER_OUTPUT_VALUE))

    def _roundtrip(self, req: dict, timeout: float, what: str, limit: int) -> dict:
        deadline = time.monotonic() + timeout
        self._stderr_mark = self._watch.total if self._watch else 0
        try:
            frame = wire.pack_frame(req)
        except Exception as exc:  # TypeError, ValueError, OverflowError from msgpack
            raise RunnerError(f"{what}: cannot encode the request: {exc}") from exc
        self._write_all(frame, deadline, timeout, what)
        head = self._read_exact(4, deadline, timeout, what)
        size = int.from_bytes(head, "big")
        limit = min(limit, self.max_frame)
        if size > limit:
            self._kill()
            raise RunnerError(f"{what}: worker announced a {size} byte reply, more than this call's "
                              f"output can be (limit {limit}); killed")
        try:
            reply = wire.unpack_body(self._read_exact(size, deadline, timeout, what))
        except Exception as exc:  # msgpack raises several types on garbage
            self._kill()
            raise RunnerError(f"{what}: worker sent an unreadable reply ({exc}); killed") from exc
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._kill()
            raise RunnerError(f"{what}: worker sent a reply without 'ok'; killed")
        if not reply["ok"]:
            error, tb = reply.get("error"), reply.get("traceback")
            if str(error).startswith("SandboxUnavailable:"):
                self._kill()
                raise SandboxUnavailable(
                    f"refusing to run learnware code: this machine cannot sandbox it "
                    f"({str(error)[20:300].strip()}). Run it unconfined only if you trust its publisher: "
                    f"--unsafe-no-sandbox (on submit/pack, or on `lwdock node` when a node runs the "
                    f"checks) or sandbox='off' (Python). `lwdock status` shows what this machine offers.")
            msg = f"{self.model_config['class_name']} {what} failed: {str(error)[:4000]}"
            tail = self._tail(str(tb or ""), 15)
            raise RunnerError(msg + (f"\n{tail}" if tail else "") + self._stderr_note())
        return reply

    def _fail(self, what: str, timeout: float, timed_out: bool):
        if timed_out:
            self._kill()
            raise RunnerTimeout(f"model did not answer within {timeout:g}s; worker killed ({what})")
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=2.0)  # it closed its pipe: it is exiting, or about to
            except subprocess.TimeoutExpired:
                pass
        if self._watch is not None:
            self._watch.thread.join(timeout=2.0)  # its last stderr lines, read to EOF
        reason = self._watch.reason if self._watch is not None else None
        note = self._stderr_note()
        self._kill()
        cause = f"killed: {reason}" if reason else _describe_exit(code)
        raise RunnerError(f"model worker died during {what} ({cause}){note}")

    def _write_all(self, data: bytes, deadline: float, timeout: float, what: str) -> None:
        fd = self._proc.stdin.fileno()
        poller = select.poll()  # poll, not select: fds above 1024 are normal in a busy dock
        poller.register(fd, select.POLLOUT)
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(what, timeout, True)
            if not poller.poll(max(1, int(remaining * 1000))):
                continue
            try:
                view = view[os.write(fd, view[: 1 << 20]):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                self._fail(what, timeout, False)

    def _read_exact(self, n: int, deadline: float, timeout: float, what: str) -> bytes:
        fd = self._proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        buf = bytearray(n)  # allocated once, after the size was checked against the limit
        view, got = memoryview(buf), 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(what, timeout, True)
            if not poller.poll(max(1, int(remaining * 1000))):
                continue
            try:
                k = os.readv(fd, [view[got:]])
            except BlockingIOError:
                continue
            if not k:
                self._fail(what, timeout, False)
            got += k
        return buf

    def _stderr_note(self) -> str:
        """The worker's stderr since the current request began, last few KB."""
        if self._watch is None:
            return ""
        text = self._watch.tail(self._stderr_mark, _STDERR_TAIL).decode("utf-8", "replace").strip()
        return f"\nworker stderr:\n{text}" if text else ""

    @staticmethod
    def _tail(text: str, lines: int) -> str:
        return "\n".join(text.strip().splitlines()[-lines:])


@atexit.register
def _close_all() -> None:
    for worker in list(_LIVE):
        try:
            worker._kill()
        except Exception:
            pass


def summarise_model_failure(error: RunnerError) -> str:
    """One line for a user from a model's own exception: "the model rejected the data: X has 65
    features, but StandardScaler is expecting 64 features as input" (the worker's traceback and
    stderr, the lines after the first, stay in the error for the log / --debug)."""
    first = str(error).split("\n", 1)[0]
    for method, lead in (("load", "the model file could not be loaded (is it a fitted model saved with pickle "
                                  "or joblib?)"),
                         ("predict", "the model rejected the data"), ("predict_proba", "the model rejected the data")):
        marker = f" {method} failed: "
        if marker in first:
            cause = first.split(marker, 1)[1]
            exc_type, sep, rest = cause.partition(": ")
            if method != "load" and exc_type != "ValueError":
                lead = "the model failed on the data"  # a bug of the model's, perhaps: keep its type
            elif method != "load" and sep:
                cause = rest  # "ValueError: X has 65 ...": the message says it better than the type
            return f"{lead}: {cause}"
    return first
