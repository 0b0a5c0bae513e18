"""`RemoteDock`: the Dock API spoken over the owner's control socket (see dock/control/server.py).

Scripts, the CLI and the TUI use it when a daemon owns the home; `Dock.connect()` picks it or an
embedded `Dock` so callers need not care. Models still run in worker processes started here,
by the caller: the daemon only unpacks the zip and says where.
"""

from __future__ import annotations

import builtins
import itertools
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Self

from dock import errors
from dock.control.codec import error_from_wire
from dock.control.wire import ControlProtocolError, recv_frame, send_frame
from dock.errors import DaemonUnavailable, DockError  # noqa: F401  (DaemonUnavailable: re-exported)
from dock.home import DockHome, control_socket_path
from dock.records import LearnwareRecord, record_from_dict
from dock.search.wire import result_from_wire, user_info_to_wire

if TYPE_CHECKING:
    from dock.api import DockAPI
    from dock.network.fetch import Transfer
    from dock.runtime.limits import WorkerLimits
    from dock.runtime.loaded import LoadedLearnware
    from dock.search.query import SearchResult, UserInfo
    from dock.store.listing import ListPage



def resolve_limits(*args: Any, **kwargs: Any) -> Any:
    """dock.runtime.limits.resolve_limits, imported on first use: `lwdock list` against a running
    node must not pay for the runtime's imports (issue 16)."""
    from dock.runtime.limits import resolve_limits as resolve

    return resolve(*args, **kwargs)


class RemoteDock:
    def __init__(self, home: DockHome, *, timeout: float = 600.0):
        self.home = home
        self.socket_path = control_socket_path(home.root)  # its folder is checked there (private)
        self._timeout = timeout
        self._sock = self._open_socket()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loaded: list[LoadedLearnware] = []
        self.daemon_pid = self._call("ping")["pid"]

    # -- plumbing --------------------------------------------------------------------------
    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            raise DaemonUnavailable(f"no daemon on {self.socket_path}: {exc.strerror or exc}") from None
        from dock.control.server import peer_uid  # only once a daemon answers: the server module is heavy

        uid = peer_uid(sock)  # the server's, from the kernel: a socket another user planted is refused
        if uid is not None and uid not in (os.geteuid(), 0):
            sock.close()
            raise errors.StoreError(f"refusing the control socket {self.socket_path}: it is served by uid {uid}, "
                                    f"not by you (uid {os.geteuid()}); another user may be impersonating your dock")
        return sock

    def _reconnect_if_closed(self) -> None:
        """The daemon drops idle clients: find that out before sending (never resend a request)."""
        import select

        readable, _, _ = select.select([self._sock], [], [], 0)
        if not readable:
            return
        try:
            closed = self._sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            closed = True
        if closed:
            self._sock.close()
            self._sock = self._open_socket()

    def _pending_refusal(self) -> dict | None:
        try:
            self._sock.settimeout(0.5)
            frame = recv_frame(self._sock)
        except (OSError, ControlProtocolError):
            return None
        finally:
            self._sock.settimeout(self._timeout)
        if frame is not None and frame.get("id") is None and frame.get("ok") is False:
            return frame
        return None

    def _call(self, method: str, _progress: Callable[[dict], None] | None = None, **params: Any) -> Any:
        """One request; `_progress(figures)` gets the progress frames a long call sends first."""
        with self._lock:
            request_id = next(self._ids)
            request = {"id": request_id, "method": method, "params": params}
            if _progress is not None:
                request["progress"] = True
            try:
                self._reconnect_if_closed()
                send_frame(self._sock, request)
                reply = recv_frame(self._sock)
                while reply is not None and "progress" in reply and reply.get("id") == request_id:
                    if _progress is not None:
                        _progress(reply["progress"])
                    reply = recv_frame(self._sock)
            except (OSError, ControlProtocolError) as exc:
                refusal = self._pending_refusal()  # refused clients get one frame, then the close
                if refusal is not None:
                    raise error_from_wire(refusal.get("error") or {}) from None
                raise DaemonUnavailable(f"lost the daemon's control socket: {exc}") from None
        if reply is not None and reply.get("id") is None and reply.get("ok") is False:
            raise error_from_wire(reply.get("error") or {})  # refused: too many clients, or not our uid
        if reply is None or reply.get("id") != request_id:
            raise DaemonUnavailable("the daemon closed the control socket")
        if reply.get("ok"):
            return reply.get("result")
        raise error_from_wire(reply.get("error") or {})

    def close(self) -> None:
        for loaded in self._loaded:
            loaded.close()
        self._loaded.clear()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Dock API (dock/api.py: DockAPI says what each method raises) -------------------
    mode = "daemon"

    @property
    def owner_pid(self) -> int:
        return int(self.daemon_pid)

    @property
    def online(self) -> bool:
        return bool(self.status().get("online"))

    def peer_id(self) -> str | None:
        """This node's peer id, read from the home's key (same user, same machine); None without one."""
        key = self.home.root / "identity.key"
        if not key.is_file():
            return None
        from p2p import load_or_create_identity

        return load_or_create_identity(key).peer_id

    def status(self) -> dict[str, Any]:
        return self._call("status")

    def stats(self) -> dict[str, Any]:
        return self._call("stats")

    def list(self, limit: int | None = None, offset: int | None = None, after: str | None = None,
             sort: str | None = None, filter: dict[str, Any] | None = None) -> list[LearnwareRecord]:  # noqa: A002
        if limit is None and offset is None and after is None and sort is None and filter is None:
            return [record_from_dict(r) for r in self._call("list")]
        return self.list_page(limit=limit or 50, offset=offset, after=after, sort=sort, filter=filter).records

    def list_page(self, limit: int = 50, offset: int | None = None, after: str | None = None,
                  sort: str | None = None, filter: dict[str, Any] | None = None) -> ListPage:  # noqa: A002
        from dock.store.listing import page_from_wire

        return page_from_wire(self._call("list_page", limit=limit, offset=offset, after=after, sort=sort,
                                         filter=filter))

    def sync(self, peer_id: str | None = None) -> builtins.list[str]:
        return list(self._call("sync", peer_id=peer_id))

    def count(self, filter: dict[str, Any] | None = None) -> int:  # noqa: A002
        return int(self._call("count", filter=filter))

    def get(self, learnware_id: str) -> LearnwareRecord:
        return record_from_dict(self._call("get", learnware_id=learnware_id))

    def resolve_id(self, id_or_prefix: str) -> str:
        return self._call("resolve_id", id_or_prefix=id_or_prefix)

    def submit(self, zip_path: str | os.PathLike[str], semantic_spec: dict[str, Any] | None = None, *,
               timeout: float | EllipsisType = ...) -> str:
        # The daemon reads the file itself: same machine, same user. The check's limits are the
        # daemon's (DEFAULT_LIMITS), with the timeout when one is given.
        timeout = resolve_limits(None, timeout=timeout).timeout
        return self._call(
            "submit", zip_path=str(Path(zip_path).resolve()), semantic_spec=semantic_spec, timeout=timeout
        )

    def remove(self, learnware_id: str) -> None:
        self._call("remove", learnware_id=learnware_id)

    def update_semantic(self, learnware_id: str, semantic_spec: dict[str, Any], *,
                        timeout: float | EllipsisType = ...) -> LearnwareRecord:
        # The node signs with its own key and announces the newer record to its peers.
        timeout = resolve_limits(None, timeout=timeout).timeout
        return record_from_dict(self._call("update_semantic", learnware_id=learnware_id,
                                           semantic_spec=semantic_spec, timeout=timeout))

    def export(self, learnware_id: str, dest: str | os.PathLike[str]) -> Path:
        return Path(self._call("export", learnware_id=learnware_id, dest=str(Path(dest).resolve())))

    def get_stat_specs(self, learnware_id: str) -> dict[str, Any]:
        from specs import spec_from_bytes

        return {t: spec_from_bytes(b) for t, b in self._call("stat_spec_bytes", learnware_id=learnware_id).items()}

    def has_zip(self, learnware_id: str) -> bool:
        return bool(self._call("has_zip", learnware_id=learnware_id))

    def local_ids(self) -> set[str]:
        return set(self._call("local_ids"))

    def zip_path(self, learnware_id: str) -> Path:
        return Path(self._call("zip_path", learnware_id=learnware_id))

    def search(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        return result_from_wire(self._call("search", user_info=user_info_to_wire(user_info), limit=limit))

    def fetch(self, learnware_id: str, progress: Callable[[Transfer], None] | None = None) -> Path:
        """As Dock.fetch; `progress(transfer)` as the daemon reports bytes arriving."""
        if progress is None:
            return Path(self._call("fetch", learnware_id=learnware_id))
        from dock.network import fetch

        def relay(figures: dict) -> None:
            progress(fetch.Transfer(learnware_id, figures["total"], figures["done"], figures["peer"], figures["state"]))

        return Path(self._call("fetch", _progress=relay, learnware_id=learnware_id))

    def trust(self, peer_id: str, note: str = "") -> dict[str, Any]:
        return self._call("trust", peer_id=peer_id, note=note)

    def untrust(self, peer_id: str) -> bool:
        return bool(self._call("untrust", peer_id=peer_id))

    def trusted(self) -> builtins.list[dict[str, Any]]:
        return self._call("trusted")

    def search_peers(self, user_info: UserInfo, limit: int = 10) -> SearchResult:
        return result_from_wire(self._call("search_peers", user_info=user_info_to_wire(user_info), limit=limit))

    def load(self, learnware_id: str, *, limits: WorkerLimits | None = None, timeout: float | EllipsisType = ...,
             memory_limit_mb: int | None | EllipsisType = ..., isolation: str = "process",
             sandbox: bool | str | None = None, allow_index: bool = False) -> LoadedLearnware:
        """As Dock.load: the daemon unpacks (fetching the zip if needed), the worker starts here."""
        from dock.runtime.loaded import start_learnware
        from specs import spec_from_bytes

        prepared = self._call("prepare_load", learnware_id=learnware_id)
        record = record_from_dict(prepared["record"])
        specs = {t: spec_from_bytes(b) for t, b in prepared["specs"].items()}
        loaded = start_learnware(record, Path(prepared["folder"]), specs, self.home.root / "venvs",
                                 limits=resolve_limits(limits, timeout=timeout, memory_limit_mb=memory_limit_mb),
                                 isolation=isolation, sandbox=sandbox, allow_index=allow_index)
        self._loaded.append(loaded)
        return loaded



if TYPE_CHECKING:
    _: type[DockAPI] = RemoteDock  # the type checker proves RemoteDock implements the dock API (dock/api.py)
