"""The parent's side of a worker's budgets: its stderr and its scratch folder (dock/runtime/worker.py).

A worker's stderr is a pipe drained by one thread into a bounded tail (never a growing file:
1 GiB of stderr costs 16 KiB here), and past `output_limit_mb` the worker is killed. The same
thread measures the scratch folder every quarter second and kills the worker past
`disk_limit_mb` (RLIMIT_FSIZE in the worker bounds a single file between two checks).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time

log = logging.getLogger(__name__)
_STDERR_KEEP = 16 << 10  # bytes of stderr kept in memory, the newest
_WATCH_EVERY = 0.25  # seconds between scratch-folder size checks


class WorkerWatch:
    """One thread per worker: drains its stderr into a bounded tail and enforces the output,
    scratch-folder and thread-count budgets, killing the worker's process group over any of
    them (`reason` says why). Threads: the sandbox denies fork, but threads are tasks too and a
    thread bomb with tiny stacks would exhaust the machine's pids."""

    def __init__(self, proc: subprocess.Popen, scratch: str | None, disk_limit_mb, output_limit_mb, name: str,
                 max_threads: int | None = None):
        self.proc, self.scratch, self.name, self.max_threads = proc, scratch, name, max_threads
        self.disk_limit = int(disk_limit_mb) << 20 if disk_limit_mb else None
        self.output_limit = int(output_limit_mb) << 20 if output_limit_mb else None
        self.total = 0  # stderr bytes seen
        self.reason: str | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lwdock-worker-watch", daemon=True)
        self.thread.start()

    def tail(self, since: int, limit: int) -> bytes:
        with self._lock:
            new = self.total - since
            return bytes(self._buf[-min(new, limit, len(self._buf)):]) if new > 0 else b""

    def stop(self) -> None:
        self._stopped.set()
        self.thread.join(timeout=2.0)
        try:
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        except OSError:
            pass

    def _kill(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            log.warning("learnware %s: worker killed: %s", self.name, reason)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _run(self) -> None:
        assert self.proc.stderr is not None  # the worker is started with stderr=PIPE
        fd = self.proc.stderr.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        next_check = 0.0
        while not self._stopped.is_set():
            if poller.poll(int(_WATCH_EVERY * 1000)):
                try:
                    chunk = os.read(fd, 1 << 16)
                except (OSError, ValueError):
                    return
                if not chunk:
                    return  # EOF: the worker is gone
                with self._lock:
                    self.total += len(chunk)
                    self._buf += chunk
                    del self._buf[:-_STDERR_KEEP]
                if self.output_limit and self.total > self.output_limit:
                    self._kill(f"wrote more than {self.output_limit >> 20} MiB to stderr")
            now = time.monotonic()
            if now < next_check:
                continue
            next_check = now + _WATCH_EVERY
            if self.max_threads and _threads(self.proc.pid) > self.max_threads:
                self._kill(f"started more than {self.max_threads} threads")
            if self.scratch and self.disk_limit and _folder_bytes(self.scratch, self.disk_limit) > self.disk_limit:
                self._kill(f"its scratch folder grew past {self.disk_limit >> 20} MiB")


def _threads(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[17])  # field 20: num_threads
    except (OSError, ValueError, IndexError):
        return 0  # gone, or no /proc: nothing to count


def _folder_bytes(folder: str, stop_after: int) -> int:
    """Disk used beneath folder (allocated blocks, so sparse files count what they hold);
    stops counting once past stop_after, and counts every entry as at least one block so
    millions of empty files are a budget too."""
    total, stack = 0, [folder]
    while stack and total <= stop_after:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(st.st_blocks * 512, 4096)
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total
