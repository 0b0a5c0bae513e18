"""`DockAPI`: the dock as the CLI, the TUI and scripts see it, whichever process owns the home.

Two classes implement it: the embedded `Dock` (dock/dock.py) and the daemon client `RemoteDock`
(dock/control/remote.py); `Dock.connect` returns one or the other. Both are checked against this
Protocol statically (the `_: type[DockAPI] = ...` lines at the end of each module, under
TYPE_CHECKING) and at run time (tests/dock/test_api_parity.py compares names and signatures, then
runs one scenario against both and compares results and errors). A method added to one class and
not here is invisible to typed callers; add it here first.

Errors: every method may also raise `DaemonUnavailable` (a `DockError`) when it speaks to a daemon
that went away; that is not repeated below. Errors come back through the daemon as the same class
with the same message.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from dock.home import DockHome
    from dock.network.fetch import Transfer
    from dock.records import LearnwareRecord
    from dock.runtime.limits import WorkerLimits
    from dock.runtime.loaded import LoadedLearnware
    from dock.search.query import SearchResult, UserInfo
    from dock.store.listing import ListPage


@runtime_checkable
class DockAPI(Protocol):
    """One dock's learnwares: store, list, search, run, remove; plus its trust list and status."""

    @property
    def mode(self) -> str:
        """"embedded" (this process owns the home) or "daemon" (a `lwdock node` owns it)."""
        ...

    @property
    def home(self) -> DockHome:
        """The home folder this dock lives in."""
        ...

    @property
    def owner_pid(self) -> int:
        """The pid of the process that owns the home: this one embedded, the daemon's otherwise."""
        ...

    @property
    def online(self) -> bool:
        """Whether the owner runs the peer-to-peer network (a daemon is asked each time)."""
        ...

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the learnwares loaded through this object and let go of the home (or the socket).

        Raises:
            Nothing; closing twice is harmless.
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- learnwares ------------------------------------------------------------------------
    def submit(self, zip_path: str | os.PathLike[str], semantic_spec: dict[str, Any] | None = None, *,
               timeout: float | EllipsisType = ...) -> str:
        """Check a learnware zip (its model runs in a worker under DEFAULT_LIMITS, `timeout` seconds
        per call when given) and store it; returns its id (the sha256 of the zip). The same bytes
        are stored once.

        Raises:
            PackageError: no such file; the zip or its learnware.yaml is malformed or hostile; or the
                semantic spec (argument or in the zip) or a stat spec is invalid (the message names it).
            CheckError: the model failed a check (load, input shape, predict, output shape).
        """
        ...

    def list(self, limit: int | None = None, offset: int | None = None, after: str | None = None,
             sort: str | None = None, filter: dict[str, Any] | None = None) -> list[LearnwareRecord]:  # noqa: A002
        """Every learnware record this dock knows (local zips and records known from peers),
        newest first; with any argument, one page of them as list_page() gives (limit 50 unless given).

        Raises:
            DockError: a bad limit, offset, cursor, sort or filter (the message says which).
        """
        ...

    def list_page(self, limit: int = 50, offset: int | None = None, after: str | None = None,
                  sort: str | None = None, filter: dict[str, Any] | None = None) -> ListPage:  # noqa: A002
        """One page of records: sort "added" (newest first, default), "name", "size" (largest first)
        or "id", a leading "-" reverses; filter keys data_type, task_type, library_type, license,
        scenario, publisher, name (substring), local (bool); page by offset or by after= (the
        previous page's next_after). The page says the total matching the filter.

        Raises:
            DockError: a bad limit, offset, cursor, sort or filter (the message says which).
        """
        ...

    def sync(self, peer_id: str | None = None) -> builtins.list[str]:
        """Start a sync session with `peer_id` (or every connected peer) now; the peers queued
        (one already syncing is not queued twice). Progress shows in status()["sync"].

        Raises:
            NetworkError: the dock is offline (no `lwdock node` running).
        """
        ...

    def count(self, filter: dict[str, Any] | None = None) -> int:  # noqa: A002
        """How many records match `filter` (list_page's keys), all of them without one.

        Raises:
            DockError: a bad filter.
        """
        ...

    def get(self, learnware_id: str) -> LearnwareRecord:
        """The record of an id or an unambiguous id prefix.

        Raises:
            NotFoundError: no learnware has that id or prefix, or the prefix is ambiguous.
        """
        ...

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of an id or an unambiguous id prefix.

        Raises:
            NotFoundError: no learnware has that id or prefix, or the prefix is ambiguous.
        """
        ...

    def get_stat_specs(self, learnware_id: str) -> dict[str, Any]:
        """The learnware's statistical specs by type name (e.g. "RKMETableSpecification").

        Raises:
            NotFoundError: unknown id or prefix.
        """
        ...

    def has_zip(self, learnware_id: str) -> bool:
        """Whether the learnware's zip is in this dock (else only its record is known).

        Raises:
            NotFoundError: unknown id or prefix.
        """
        ...

    def local_ids(self) -> set[str]:
        """The ids whose zip is in this dock.

        Raises:
            Nothing of its own.
        """
        ...

    def zip_path(self, learnware_id: str) -> Path:
        """Where the learnware's zip lies in this dock.

        Raises:
            NotFoundError: unknown id or prefix, or its zip is not in this dock.
        """
        ...

    def export(self, learnware_id: str, dest: str | os.PathLike[str]) -> Path:
        """Copy the learnware's zip to `dest` (a file, or a folder to put `<id>.zip` in); the path.

        Raises:
            NotFoundError: unknown id or prefix, or its zip is not in this dock.
            OSError: `dest` cannot be written.
        """
        ...

    def remove(self, learnware_id: str) -> None:
        """Remove a learnware here (and withdraw it from the network when this node published it).

        Raises:
            NotFoundError: unknown id or prefix.
        """
        ...

    def update_semantic(self, learnware_id: str, semantic_spec: dict[str, Any], *,
                        timeout: float | EllipsisType = ...) -> LearnwareRecord:
        """Replace a learnware's semantic spec by a newer signed record (higher seq) that peers apply
        (`lwdock update ID --semantic F`, issue 15; rules in dock/network/semantic_update.py). The zip
        is checked again against the new spec first (its model runs in a worker). Through a daemon,
        the node signs with its key and announces the record to its peers at once.

        Raises:
            NotFoundError: unknown id or prefix, or the zip is not in this dock.
            NotPublisherError: another node published it: only its publisher can update it.
            PackageError: the new semantic spec is invalid (the message names the field).
            CheckError: the model does not fit the new spec (e.g. its Output dimension).
        """
        ...

    # -- search, fetch and run -------------------------------------------------------------
    def search(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        """Rank this dock's learnwares for `user_info` (semantic filters, text, stat spec), with a
        mixture proposal when a stat spec is given (dock/search/engine.py).

        Raises:
            SearchError: the query's semantic spec or stat spec is invalid, or they disagree
                (e.g. the stat spec's dimension is not the query's Input.Dimension).
        """
        ...

    def search_peers(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        """As `search`, over this dock and every connected peer's; offline, this dock alone.

        Raises:
            SearchError: as `search`.
        """
        ...

    def fetch(self, learnware_id: str, progress: Callable[[Transfer], None] | None = None) -> Path:
        """Make the learnware's zip local (from a peer, verified); its path. `progress(transfer)`
        is called as bytes arrive.

        Raises:
            NotFoundError: unknown id, or the zip is not here and the dock is offline.
            NetworkError: no provider served a zip with the right hash.
        """
        ...

    def load(self, learnware_id: str, *, limits: WorkerLimits | None = None, timeout: float | EllipsisType = ...,
             memory_limit_mb: int | None | EllipsisType = ..., isolation: str = "process",
             sandbox: bool | str | None = None, allow_index: bool = False) -> LoadedLearnware:
        """Start the learnware's model in a worker process in the caller's process tree; the caller
        closes it (or closing this dock does). `limits` (dock/runtime/limits.py, default
        DEFAULT_LIMITS) holds every budget; `timeout` and `memory_limit_mb`, when given, override it
        (`memory_limit_mb=None`: no address-space limit).

        Raises:
            NotFoundError: unknown id, or its zip is neither here nor fetchable.
            PackageError: the zip or its model config is unusable.
            RunnerError: the worker could not start or load the model (RunnerTimeout past the limit).
            SandboxUnavailable: the sandbox is required and this machine lacks a layer.
            ValueError: `isolation` or a limit is not allowed.
        """
        ...

    # -- trust and status ------------------------------------------------------------------
    def trust(self, peer_id: str, note: str = "") -> dict[str, Any]:
        """Put a peer or publisher id on the trust list; the entry {"id", "note", "added_at"}.

        Raises:
            TrustError: `peer_id` is not a peer id, or the note is not one printable line.
        """
        ...

    def untrust(self, peer_id: str) -> bool:
        """Take an id off the trust list; False when it was not on it.

        Raises:
            Nothing of its own.
        """
        ...

    def trusted(self) -> builtins.list[dict[str, Any]]:
        """The trust list: [{"id", "note", "added_at"}], oldest first.

        Raises:
            Nothing of its own.
        """
        ...

    def peer_id(self) -> str | None:
        """This node's peer id (the publisher of what it publishes); None until it has a key.
        Never creates a key.

        Raises:
            Nothing of its own.
        """
        ...

    def status(self) -> dict[str, Any]:
        """What `lwdock status` shows: pid, home, online, peer_id, addrs, peers, records, zips,
        sandbox, and the network's figures when online.

        Raises:
            Nothing of its own.
        """
        ...

    def stats(self) -> dict[str, Any]:
        """{"home", "records", "zips"}: cheap counts.

        Raises:
            Nothing of its own.
        """
        ...


# The methods (not properties) of DockAPI, for tests and the control server's allow-list checks.
API_METHODS: tuple[str, ...] = tuple(
    name for name, value in vars(DockAPI).items()
    if callable(value) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
)
