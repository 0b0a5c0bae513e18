"""Where a dock lives on disk, and the lock that makes one process its only owner.

Home: `$LWDOCK_HOME`, else the platform's user data dir. Nothing is created at import time;
`DockHome.create()` makes the folders when a dock is actually opened.

Layout:
    dock.duckdb        the catalogue (records, stat specs, blob index)
    blobs/ab/<id>.zip  learnware zips, content-addressed by sha256
    blobs/tmp/         partial writes; never read as blobs, swept at open
    cache/unpacked/    zips unpacked for running their model (rebuildable)
    owner.lock         flock'ed by the owning process; holds its pid and command line
    identity.key       this node's Ed25519 key (PKCS#8 PEM, p2p/identity.py)
    config.toml        the daemon's settings (dock/daemon.py)
    VERSION            the version of this layout (HOME_VERSION): "lwdock-home <n>"

Versions: the catalogue's schema has its own (dock/store/catalogue.py, SCHEMA_VERSION); VERSION
covers everything else in the home (the files above, the blobs layout, identity.key's format,
config.toml's keys). `DockHome.upgrade()`, run under the owner lock at open, refuses a home made
by a newer lwdock and applies HOME_MIGRATIONS to an older one, one step and one VERSION write at
a time. A home without VERSION predates it (lwdock before issue 12) and has layout 1.

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
from typing import Callable

from dock.errors import DockBusyError, StoreError

log = logging.getLogger(__name__)
HOME_ENV = "LWDOCK_HOME"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


# Layout 1: everything above, as lwdock has written it since the first release. A change to the
# home's files appends a step here (version n -> n+1, a function of the home's root) and bumps
# HOME_VERSION; a released step never changes.
HOME_VERSION = 1
HOME_MIGRATIONS: dict[int, tuple[str, Callable[[Path], None]]] = {}
_VERSION_PREFIX = "lwdock-home "


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


    @property
    def version_path(self) -> Path:
        return self.root / "VERSION"

    def version(self) -> int:
        """The layout version VERSION records; 1 when there is none (a home from before it)."""
        try:
            text = self.version_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return 1
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read {self.version_path}: {exc}") from None
        number = text[len(_VERSION_PREFIX):] if text.startswith(_VERSION_PREFIX) else ""
        if not number.isdigit() or int(number) < 1:
            raise StoreError(f"{self.version_path} says {text[:60]!r}, not '{_VERSION_PREFIX}<n>'; "
                             "it is not a dock home this lwdock wrote. Nothing was changed")
        return int(number)

    def upgrade(self) -> None:
        """Check the home's layout version and bring it to HOME_VERSION (call under the owner
        lock). A newer home is refused untouched: an older lwdock must not rewrite its files."""
        found = self.version()
        if found > HOME_VERSION:
            raise StoreError(f"the dock home {self.root} was made by a newer lwdock (home layout {found}; "
                             f"this lwdock knows up to {HOME_VERSION}). Upgrade lwdock to open it; "
                             "nothing was changed")
        for step in range(found, HOME_VERSION):
            name, migrate = HOME_MIGRATIONS[step]
            log.info("upgrading the home %s: %s (layout %d -> %d)", self.root, name, step, step + 1)
            migrate(self.root)
            self._write_version(step + 1)
        if not self.version_path.exists():
            self._write_version(HOME_VERSION)

    def _write_version(self, version: int) -> None:
        tmp = self.version_path.with_name("VERSION.tmp")
        tmp.write_text(f"{_VERSION_PREFIX}{version}\n", encoding="utf-8")
        os.chmod(tmp, PRIVATE_FILE)
        os.replace(tmp, self.version_path)  # atomic: VERSION is always one whole version


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
