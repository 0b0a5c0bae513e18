"""The scratch folder of one model worker, and the sweep of folders whose owner died.

A sandboxed model may write only in its own scratch folder (in the system's temp folder). The
worker's owner removes it when the worker stops, but a dock process that is killed (SIGKILL,
OOM killer, power loss) cannot: its folders would pile up in /tmp forever. So each folder has a
lock file *beside* it (out of the model's reach: the sandbox lets it write only inside the
folder), flock'ed by the owning process for the folder's life. The kernel drops the lock when
that process dies, however it dies; the next worker to start anywhere on the machine removes
every folder whose lock it can take. A process id would not do: pids are reused, and differ
across containers sharing one /tmp; a lock is held by whoever holds it.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import shutil
import tempfile
import time

log = logging.getLogger(__name__)

PREFIX = "lwdock-scratch-"
LOCK_SUFFIX = ".lock"
YOUNG_SECONDS = 60.0  # a lock file this new may be between its creation and its flock: not swept


class Scratch:
    """A private folder (0700) and the held lock that says its owner is alive."""

    def __init__(self) -> None:
        sweep_abandoned()
        fd, lock_path = tempfile.mkstemp(prefix=PREFIX, suffix=LOCK_SUFFIX)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.path = lock_path[: -len(LOCK_SUFFIX)]
            os.mkdir(self.path, 0o700)
        except BaseException:
            os.close(fd)
            os.unlink(lock_path)
            raise
        self._fd: int | None = fd
        self._lock_path = lock_path

    def remove(self) -> None:
        """Delete the folder, then the lock (in that order: a sweep never sees a folder unlocked)."""
        if self._fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            os.unlink(self._lock_path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def sweep_abandoned(folder: str | None = None, young_seconds: float = YOUNG_SECONDS) -> int:
    """Remove scratch folders (and their lock files) whose owning process has ended; return how many.

    Folders of other users are left alone (the temp folder's sticky bit would refuse anyway), and
    so are folders without a lock file (made by an older lwdock: nothing says their owner is gone).
    """
    folder = folder or tempfile.gettempdir()
    removed = 0
    now = time.time()
    for lock_path in glob.glob(os.path.join(glob.escape(folder), PREFIX + "*" + LOCK_SUFFIX)):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile, another user's, or a symlink planted by someone
        try:
            info = os.fstat(fd)
            if info.st_uid != os.getuid() or now - info.st_mtime < young_seconds:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its owner is alive
            shutil.rmtree(lock_path[: -len(LOCK_SUFFIX)], ignore_errors=True)
            os.unlink(lock_path)
            removed += 1
        except OSError as exc:
            log.debug("scratch sweep: %s: %s", lock_path, exc)
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d scratch folder(s) left by model workers whose process ended", removed)
    return removed
