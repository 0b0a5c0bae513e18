"""Where a dock lives on disk, and the lock that makes one process its only owner.

Home: `$LWDOCK_HOME`, else the platform's user data dir. Nothing is created at import time;
`DockHome.create()` makes the folders when a dock is actually opened.

Layout:
    dock.duckdb        the catalogue (records, stat specs, blob index)
    blobs/ab/<id>.zip  learnware zips, content-addressed by sha256
    blobs/tmp/         partial writes; never read as blobs, swept at open
    cache/unpacked/    zips unpacked for running their model (rebuildable)
    owner.lock         flock'ed by the owning process; holds its pid and command line
"""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import DockBusyError

HOME_ENV = "LWDOCK_HOME"


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("lwdock", appauthor=False))


@dataclass(frozen=True)
class DockHome:
    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None) -> "DockHome":
        return cls(Path(home).expanduser() if home is not None else default_home())

    @property
    def db_path(self) -> Path:
        return self.root / "dock.duckdb"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def blob_tmp(self) -> Path:
        return self.blobs / "tmp"

    @property
    def unpacked(self) -> Path:
        return self.root / "cache" / "unpacked"

    @property
    def lock_path(self) -> Path:
        return self.root / "owner.lock"

    def blob_path(self, learnware_id: str) -> Path:
        return self.blobs / learnware_id[:2] / f"{learnware_id}.zip"

    def create(self) -> None:
        for folder in (self.root, self.blobs, self.blob_tmp, self.unpacked):
            folder.mkdir(parents=True, exist_ok=True)


class OwnerLock:
    """An exclusive, non-blocking flock on `owner.lock`.

    DuckDB allows one writer process per file; a second one would get a terse IO error. This
    lock turns that into a message naming the process that owns the home. The kernel releases
    a flock when its process dies (even by SIGKILL), so a crash never leaves a stale lock.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, role: str = "embedded") -> None:
        """`role` ("daemon" or "embedded") is written for the next would-be owner to read: a
        daemon waits out a short-lived embedded owner (a CLI command) but not another daemon."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            error = DockBusyError(
                f"the dock at {self.path.parent} is in use by another process ({holder}); "
                "stop it, or talk to it instead of opening the dock a second time"
            )
            error.holder_role = holder.split(" ", 1)[0] if holder[:1].isalpha() else "unknown"
            raise error from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{role} pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None


_MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


def control_socket_path(root: Path) -> Path:
    """The daemon's control socket: `<home>/control.sock`, or, when that path is too long for a
    Unix socket, a per-user 0700 folder under the runtime dir named by a hash of the home."""
    preferred = root / "control.sock"
    if len(str(preferred)) <= _MAX_UNIX_PATH:
        return preferred
    import hashlib

    base = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/lwdock-{os.getuid()}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return base / f"{digest}.sock"
