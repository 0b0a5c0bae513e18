"""Where a dock lives on disk, and the lock that makes one process its only owner.

Home: `$LWDOCK_HOME`, else the platform's user data dir. Nothing is created at import time;
`DockHome.create()` makes the folders when a dock is actually opened.

Layout:
    dock.duckdb        the catalogue (records, stat specs, blob index)
    blobs/ab/<id>.zip  learnware zips, content-addressed by sha256
    blobs/tmp/         partial writes; never read as blobs, swept at open
    cache/unpacked/    zips unpacked for running their model (rebuildable)
    owner.lock         flock'ed by the owning process; holds its pid and command line

Private to its user (another uid on the machine must not read the catalogue or the key, nor
plant a socket): the home and its folders are 0700, the catalogue and the lock 0600,
identity.key 0600. `create()` makes them so and tightens an existing home it owns.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from dock.errors import DockBusyError, StoreError

log = logging.getLogger(__name__)
HOME_ENV = "LWDOCK_HOME"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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
        """Make the home's folders (0700), and tighten the modes of an existing home we own."""
        for folder in (self.root, self.blobs, self.blob_tmp, self.unpacked.parent, self.unpacked):
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        for path, mode in ((self.root, PRIVATE_DIR), (self.blobs, PRIVATE_DIR), (self.blob_tmp, PRIVATE_DIR),
                           (self.unpacked.parent, PRIVATE_DIR), (self.unpacked, PRIVATE_DIR),
                           (self.root / "logs", PRIVATE_DIR), (self.root / "venvs", PRIVATE_DIR),
                           (self.lock_path, PRIVATE_FILE), (self.root / "identity.key", PRIVATE_FILE),
                           (self.root / "config.toml", PRIVATE_FILE)):
            make_private(path, mode)


def make_private(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it exists, is ours and is looser; never follows a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return  # not ours to change (and a link's target is not the home's)
    if stat.S_IMODE(st.st_mode) & ~mode:
        os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
        log.info("tightened %s to mode %o", path, stat.S_IMODE(st.st_mode) & mode)


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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
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
    Unix socket, a socket named by a hash of the home in a private folder: $XDG_RUNTIME_DIR, else
    /tmp/lwdock-<uid>. That folder is checked (private_socket_dir) by the server and the client
    alike: in /tmp another user could have made it first and be waiting with their own socket."""
    preferred = root / "control.sock"
    if len(str(preferred)) <= _MAX_UNIX_PATH:
        return preferred
    import hashlib

    base = private_socket_dir(Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/lwdock-{os.getuid()}"))
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return base / f"{digest}.sock"


def private_socket_dir(folder: Path) -> Path:
    """`folder`, created 0700 if missing; StoreError unless it is a real directory (not a
    symlink), owned by this user, that no one else may enter (mode 0700 or tighter)."""
    try:
        os.mkdir(folder, PRIVATE_DIR)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the control socket folder {folder}: {exc.strerror or exc}") from None
    st = os.lstat(folder)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "it is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "it is not a directory"
    elif st.st_uid != os.geteuid():
        problem = f"it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
    elif stat.S_IMODE(st.st_mode) & 0o077:
        problem = f"its mode is {stat.S_IMODE(st.st_mode):04o}; it must be 0700 (only you)"
    if problem:
        raise StoreError(f"refusing the control socket folder {folder}: {problem}. Another user could "
                         "impersonate your dock there; remove it (or fix it) and try again, or set "
                         "XDG_RUNTIME_DIR to a private folder")
    return folder
