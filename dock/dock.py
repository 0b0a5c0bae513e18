"""`Dock`: one node's store of learnwares, as a library.

Path of a learnware through `submit`: hash the zip (its id) -> read and validate the package
(hostile-input unzip, YAML, specs, semantic spec) -> run the checks with the model in a worker
process -> sign the record (validated as a receiver would) -> copy the zip into the blob store
(hash verified) -> insert record + specs in one DuckDB transaction. Any failure before the insert
stores nothing; a crash between the blob and the insert leaves an orphan blob that the next `open` deletes.
"""

from __future__ import annotations

import builtins
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Self

from dock.errors import DockBusyError, NotFoundError, PackageError
from dock.home import DockHome, OwnerLock
from dock.records import LearnwareRecord
from dock.store.blobs import BlobStore, is_learnware_id, sha256_file
from dock.store.catalogue import Catalogue

if TYPE_CHECKING:
    from dock.api import DockAPI
    from dock.network.fetch import Transfer
    from dock.runtime.limits import WorkerLimits
    from dock.runtime.loaded import LoadedLearnware
    from dock.search.engine import SearchIndex
    from dock.search.query import SearchResult, UserInfo
    from dock.store.listing import ListPage

log = logging.getLogger(__name__)


# Imported on first use, not with the module: `lwdock list` opens a Dock and must not pay for
# msgpack, the runtime (numpy) and the search (issue 16: the whole process <= 0.5 s;
# tests/dock/test_cli_imports.py keeps it so).
def sign_record(*args: Any, **kwargs: Any) -> Any:
    from dock.network.signed_records import sign_record as sign

    return sign(*args, **kwargs)


def resolve_limits(*args: Any, **kwargs: Any) -> Any:
    from dock.runtime.limits import resolve_limits as resolve

    return resolve(*args, **kwargs)


class Dock:
    mode = "embedded"  # RemoteDock says "daemon"

    def __init__(self, home: DockHome, catalogue: Catalogue, lock: OwnerLock):
        self.home = home
        self.catalogue = catalogue
        self.blobs = BlobStore(home)
        self._lock = lock
        self._loaded: list[LoadedLearnware] = []
        self._closed = False
        self._search_index: SearchIndex | None = None  # built on the first search
        self._identity = None  # this node's signing key, loaded on first use
        self._trust_list = None  # dock.network.trust.TrustList, on first use
        self.network = None  # a dock.network.NetworkService attaches itself here when online

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def open(cls, home: str | os.PathLike | None = None, *, role: str = "embedded") -> "Dock":
        """Open (creating if needed) the dock in `home`, else `$LWDOCK_HOME`, else the user data dir.
        Raises DockBusyError naming the owner when another process has it open."""
        dock_home = DockHome.resolve(home)
        dock_home.create()
        lock = OwnerLock(dock_home.lock_path)
        lock.acquire(role)
        try:
            dock_home.upgrade()  # refuses a home made by a newer lwdock (dock/home.py)
            catalogue = Catalogue(dock_home.db_path)
        except BaseException:
            lock.release()
            raise
        dock = cls(dock_home, catalogue, lock)
        dock._recover()
        return dock

    @classmethod
    def connect(cls, home: str | os.PathLike | None = None, *, wait: float = 5.0) -> DockAPI:
        """The running daemon's dock (over its control socket) if one owns `home`, else this dock
        opened embedded. Both offer the same methods.

        When the home is owned but its socket does not answer yet (a daemon starting up), retry for
        `wait` seconds before giving up with the owner's name.
        """
        import time

        from dock.control.remote import DaemonUnavailable, RemoteDock

        dock_home = DockHome.resolve(home)
        deadline = time.monotonic() + wait
        while True:
            try:
                return RemoteDock(dock_home)
            except DaemonUnavailable:
                pass
            try:
                return cls.open(dock_home.root)
            except DockBusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)  # the owner is starting its control socket; poll, bounded by `wait`

    def _recover(self) -> None:
        """Make disk and catalogue agree after a crash: sweep partial writes, drop orphan blobs."""
        swept = self.blobs.sweep_tmp()
        indexed = self.catalogue.blob_ids()
        on_disk = self.blobs.ids()
        for orphan in on_disk - indexed:
            self.blobs.remove(orphan)
        for lost in indexed - on_disk:
            log.warning("blob of %s is missing from disk; it must be fetched again", lost[:12])
            self.catalogue.forget_blob(lost)
        if swept or (on_disk - indexed):
            log.info("recovered: %d partial writes, %d orphan blobs removed", swept, len(on_disk - indexed))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for loaded in self._loaded:
            loaded.close()
        self._loaded.clear()
        if self._search_index is not None:
            self._search_index.close()  # its files' descriptors (the data is saved at each write)
        self.catalogue.close()
        self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def owner_pid(self) -> int:
        return os.getpid()

    @property
    def online(self) -> bool:
        return self.network is not None

    def peer_id(self) -> str | None:
        """This node's peer id; None until it has a key (never creates one)."""
        if self._identity is None and not (self.home.root / "identity.key").is_file():
            return None
        return self.identity.peer_id

    # -- learnwares ------------------------------------------------------------------------
    def submit(self, zip_path: str | os.PathLike[str], semantic_spec: dict[str, Any] | None = None, *,
               timeout: float | EllipsisType = ...) -> str:
        """Check a learnware zip and store it; returns its id. The same bytes are stored once.
        (DockAPI.submit in dock/api.py says what it raises.)"""
        from dock.package.reader import extract_package, read_folder
        from dock.package.submission_checks import check_package

        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise PackageError(f"no such file: {zip_path}")
        learnware_id = sha256_file(zip_path)
        if self.catalogue.exists(learnware_id):
            from dock.network.semantic_update import refuse_conflicting_resubmit

            refuse_conflicting_resubmit(self, learnware_id, semantic_spec)  # another spec: SemanticConflict
            log.info("learnware %s is already in the dock", learnware_id[:12])
            return learnware_id
        with tempfile.TemporaryDirectory(prefix="lwdock-check-") as tmp:
            folder = extract_package(zip_path, Path(tmp) / "learnware")
            package = read_folder(folder, zip_path.resolve(), learnware_id, semantic_spec)
            check_package(package, folder, limits=resolve_limits(None, timeout=timeout))
        # Sign (which validates the record as a receiver would) before the blob is written, so a
        # record that cannot exist never leaves a copied zip behind.
        signed = sign_record(
            self.identity, learnware_id=learnware_id, size=zip_path.stat().st_size,
            semantic_spec=package.semantic_spec, model_config=package.model_config,
            spec_bytes={kind: spec.to_bytes() for kind, spec in package.stat_specs.items()}, seq=_now_ms(),
            zip_path=zip_path,  # the piece root: same bytes as the blob about to be stored
        )
        stored_id, created = self.blobs.put_file(zip_path, expected_id=learnware_id)
        record = LearnwareRecord(
            id=stored_id,
            semantic_spec=package.semantic_spec,
            model_config=package.model_config,
            size=signed.size,
            publisher=signed.publisher,
            stat_spec_types=tuple(sorted(package.stat_specs)),
        )
        try:
            self.catalogue.insert(record, package.stat_specs.values(), blob_size=record.size, envelope=signed)
        except BaseException:
            if created:
                self.blobs.remove(stored_id)
            raise
        self._index_add(record, package.stat_specs.values())
        log.info("stored learnware %s (%s)", stored_id[:12], record.name)
        if self.network is not None:
            self.network.announce(signed)
        return stored_id

    @property
    def identity(self):
        """This node's Ed25519 key (`<home>/identity.key`, 0600): signs what it publishes."""
        if self._identity is None:
            from p2p import load_or_create_identity

            self._identity = load_or_create_identity(self.home.root / "identity.key")
        return self._identity

    @property
    def trust_list(self):
        """The user's trust list (dock/network/trust.py), cached; this node's own id is always in it."""
        if self._trust_list is None:
            from dock.network.trust import TrustList

            self._trust_list = TrustList(self.catalogue, self.identity.peer_id)
        return self._trust_list

    def trust(self, peer_id: str, note: str = "") -> dict[str, Any]:
        """Trust a peer or publisher id (`lwdock trust`): exempt from quotas, never evicted."""
        return self.trust_list.add(peer_id, note)

    def untrust(self, peer_id: str) -> bool:
        """Remove an id from the trust list; False when it was not on it."""
        return self.trust_list.remove(peer_id)

    def trusted(self) -> builtins.list[dict[str, Any]]:
        """The trust list: [{"id", "note", "added_at"}], oldest first."""
        return self.trust_list.list()

    def _index_add(self, record: LearnwareRecord, stat_specs) -> None:
        if self._search_index is not None:
            self._search_index.add(record, stat_specs)

    def _index_remove(self, learnware_id: str) -> None:
        if self._search_index is not None:
            self._search_index.remove(learnware_id)

    def resolve_id(self, id_or_prefix: str) -> str:
        if is_learnware_id(id_or_prefix) and self.catalogue.exists(id_or_prefix):
            return id_or_prefix
        return self.catalogue.resolve_prefix(id_or_prefix)

    def list(self, limit: int | None = None, offset: int | None = None, after: str | None = None,
             sort: str | None = None, filter: dict[str, Any] | None = None) -> list[LearnwareRecord]:  # noqa: A002
        if limit is None and offset is None and after is None and sort is None and filter is None:
            return self.catalogue.list()
        return self.list_page(limit=limit or 50, offset=offset, after=after, sort=sort, filter=filter).records

    def list_page(self, limit: int = 50, offset: int | None = None, after: str | None = None,
                  sort: str | None = None, filter: dict[str, Any] | None = None) -> ListPage:  # noqa: A002
        """One page of the catalogue, sorted and filtered (dock/store/listing.py), with the total."""
        from dock.store.listing import list_page

        return list_page(self.catalogue, limit=limit, offset=offset, after=after, sort=sort, filter=filter)

    def count(self, filter: dict[str, Any] | None = None) -> int:  # noqa: A002
        """How many records match `filter` (all of them without one)."""
        from dock.store.listing import count

        return count(self.catalogue, filter)

    def get(self, learnware_id: str) -> LearnwareRecord:
        return self.catalogue.get(self.resolve_id(learnware_id))

    def get_stat_specs(self, learnware_id: str) -> dict[str, Any]:
        from specs import spec_from_bytes

        learnware_id = self.resolve_id(learnware_id)
        return {t: spec_from_bytes(b) for t, b in self.catalogue.spec_bytes(learnware_id).items()}

    def has_zip(self, learnware_id: str) -> bool:
        return self.catalogue.has_blob(self.resolve_id(learnware_id))

    def zip_path(self, learnware_id: str) -> Path:
        learnware_id = self.resolve_id(learnware_id)
        if not self.catalogue.has_blob(learnware_id):
            raise NotFoundError(f"the zip of {learnware_id[:12]}… is not in this dock")
        return self.blobs.path(learnware_id)

    def export(self, learnware_id: str, dest: str | os.PathLike[str]) -> Path:
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{self.resolve_id(learnware_id)}.zip"
        shutil.copyfile(self.zip_path(learnware_id), dest)
        return dest

    def remove(self, learnware_id: str) -> None:
        """Remove a learnware here. If this node published it, also withdraw it from the network
        with a signed tombstone; a record published by someone else may come back by sync."""
        from dock.network.ingest import withdraw_if_ours

        learnware_id = self.resolve_id(learnware_id)
        tombstone = withdraw_if_ours(self, learnware_id)
        self._forget(learnware_id)
        if tombstone is not None and self.network is not None:
            self.network.announce(tombstone)

    def _forget(self, learnware_id: str) -> None:
        self.catalogue.delete(learnware_id)
        self._index_remove(learnware_id)
        # Catalogue first: a crash after it leaves an orphan blob, which `open` sweeps.
        self.blobs.remove(learnware_id)
        shutil.rmtree(self.home.unpacked / learnware_id, ignore_errors=True)

    # -- semantic updates and checks without storing (issue 15) -----------------------------
    def check(self, zip_path: str | os.PathLike[str], semantic_spec: dict[str, Any] | None = None, *,
              timeout: float | EllipsisType = ...) -> dict[str, Any]:
        """Run every check `submit` runs on a zip and store nothing (`lwdock check ZIP`); returns
        {"id", "semantic_spec", "model", "stat_specs"} or raises what submit would."""
        from dock.network.semantic_update import check_zip

        return check_zip(zip_path, semantic_spec, limits=resolve_limits(None, timeout=timeout))

    def update_semantic(self, learnware_id: str, semantic_spec: dict[str, Any], *,
                        timeout: float | EllipsisType = ...) -> LearnwareRecord:
        """Replace a learnware's semantic spec by a newer signed record that peers apply (`lwdock update
        ID --semantic F`; rules in dock/network/semantic_update.py). Publisher only; the zip is checked
        again against the new spec first."""
        from dock.network.semantic_update import update_semantic

        return update_semantic(self, learnware_id, semantic_spec, limits=resolve_limits(None, timeout=timeout))

    # -- search and reuse ------------------------------------------------------------------
    def search(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        """Rank this dock's learnwares for a user (see dock/search/engine.py); the index is built on first use."""
        from dock.search import engine

        if self._search_index is None:
            self._search_index = engine.SearchIndex.from_catalogue(self.catalogue)
        return engine.search(self._search_index, self.catalogue, user_info, limit=limit)

    def prepare_load(self, learnware_id: str) -> tuple[LearnwareRecord, Path]:
        """The record and the unpacked folder a worker starts from (the control API's load step).
        Online, a zip this dock does not hold is fetched from a peer first (and verified)."""
        import dataclasses

        from dock.package.model_config import check_model_files

        record = self.get(learnware_id)
        if not self.catalogue.has_blob(record.id) and self.network is not None:
            self.network.fetch(record.id)
        folder = self._unpacked(record.id)
        # The record's model config may come from a stranger: the worker is only ever pointed at
        # a .py file inside this package (checked again here, against the files themselves).
        config = check_model_files(folder, record.model_config)
        return dataclasses.replace(record, model_config=config), folder

    def fetch(self, learnware_id: str, progress: Callable[[Transfer], None] | None = None) -> Path:
        """Make the learnware's zip local (from a peer); its path. Needs the network.
        `progress(transfer)` is called as bytes arrive (transfer.done, .total, .peer, .state)."""
        learnware_id = self.resolve_id(learnware_id)
        if self.catalogue.has_blob(learnware_id):
            return self.blobs.path(learnware_id)
        if self.network is None:
            raise NotFoundError(
                f"the zip of {learnware_id[:12]}… is not in this dock and the dock is offline: "
                "start `lwdock node` (with --bootstrap) to fetch it from peers"
            )
        return self.network.fetch(learnware_id, progress=progress)

    def sync(self, peer_id: str | None = None) -> builtins.list[str]:
        """Start catching up from `peer_id` (or every connected peer) now; the peers queued.
        Progress: status()["sync"]. Needs the network."""
        if self.network is None:
            from dock.errors import NetworkError

            raise NetworkError("syncing needs the node online: start `lwdock node` (with --bootstrap), "
                               "then run `lwdock sync` beside it")
        return self.network.sync_peers(peer_id)

    def search_peers(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        """Search this dock and every connected peer's; offline, just this dock."""
        if self.network is None:
            return self.search(user_info, limit=limit)
        return self.network.search_peers(user_info, limit=limit)

    def load(self, learnware_id: str, *, limits: WorkerLimits | None = None, timeout: float | EllipsisType = ...,
             memory_limit_mb: int | None | EllipsisType = ..., isolation: str = "process",
             sandbox: bool | str | None = None, allow_index: bool = False) -> LoadedLearnware:
        """Start the learnware's model in its own worker process and return a handle to it.

        isolation "process": the worker runs the dock's Python and packages. "venv": the worker
        runs in a venv built from the learnware's requirements.txt / environment.yaml, cached per
        requirements set under `<home>/venvs/` (dock/runtime/venvs.py); offline unless allow_index.
        sandbox: None = the process default (the full sandbox, or a refusal where the machine lacks
        a layer, unless --unsafe-no-sandbox); "off" = unconfined (dock/runtime/worker.py).
        limits: the worker's budgets (dock/runtime/limits.py); `timeout`/`memory_limit_mb` override them.
        """
        from dock.runtime.loaded import start_learnware

        record, folder = self.prepare_load(learnware_id)
        loaded = start_learnware(record, folder, self.get_stat_specs(record.id), self.home.root / "venvs",
                                 limits=resolve_limits(limits, timeout=timeout, memory_limit_mb=memory_limit_mb),
                                 isolation=isolation, sandbox=sandbox, allow_index=allow_index)
        self._loaded.append(loaded)
        return loaded

    def _unpacked(self, learnware_id: str) -> Path:
        from dock.package.reader import extract_package

        folder = self.home.unpacked / learnware_id
        marker = folder / ".lwdock-complete"
        if marker.is_file():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        extract_package(self.zip_path(learnware_id), folder)
        marker.touch()
        return folder

    def local_ids(self) -> set[str]:
        """Ids whose zip is in this dock (the others are records known from peers)."""
        return self.catalogue.blob_ids()

    def status(self) -> dict[str, Any]:
        """What `lwdock status` shows: counts, and the network's state when online."""
        status = {"pid": os.getpid(), "home": str(self.home.root), "online": False, "peer_id": None, "addrs": [],
                  "peers": [], "records": self.catalogue.count(), "zips": len(self.catalogue.blob_ids())}
        if self.network is not None:
            status.update(self.network.status())
        status["sandbox"] = _sandbox_status()
        return status

    def stats(self) -> dict[str, Any]:
        return {"home": str(self.home.root), "records": self.catalogue.count(), "zips": len(self.catalogue.blob_ids())}


def _now_ms() -> int:
    """Sequence numbers are publish times in ms: a re-publish after a withdrawal sorts later."""
    import time

    return int(time.time() * 1000)


def _sandbox_status() -> dict:
    """What confines learnware code on this machine (a probe process, ~0.1 s, cached per process)."""
    from dock.runtime.sandbox import sandbox_report

    report = sandbox_report()
    keys = ("ok", "summary", "layers", "missing", "guarantees", "attacks")
    return {key: report.get(key) for key in keys}


if TYPE_CHECKING:
    _: type[DockAPI] = Dock  # the type checker proves Dock implements the dock API (dock/api.py)
