"""The local control API: the process that owns a dock serves it on a Unix socket in its home.

Only the owner (the daemon, `lwdock node`) opens the DuckDB file; the CLI, scripts and the TUI
talk to it through `RemoteDock` (dock/control/remote.py). The socket file is mode 0600: only the user
who owns the dock can use it, and each client's uid is checked again from the kernel
(SO_PEERCRED) in case the file's mode is not enough (a socket in a folder another user made).
Each connection is served on its own thread, at most MAX_CLIENTS at once (more get an error
frame and are closed), and a client silent for CLIENT_IDLE_SECONDS is dropped; the dock's store
serialises its own DuckDB access.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable

from dock.control.codec import error_to_wire
from dock.control.wire import recv_frame, send_frame
from dock.errors import (
    ControlProtocolError,
    ControlRequestError,
    DockBusyError,
    DockError,
    InternalError,
    error_kind,
)
from dock.records import record_to_dict
from dock.search.wire import PEER_INFO_KEYS, result_to_wire, user_info_from_wire
from dock.store.listing import page_to_wire

log = logging.getLogger(__name__)

MAX_CLIENTS = 32
# Between requests (a call that runs long is not idle). RemoteDock reconnects when it finds its
# connection closed, so an attached TUI left open survives this.
CLIENT_IDLE_SECONDS = 300.0


def dock_methods(dock) -> dict[str, Callable[..., Any]]:
    """The allow-list of what a client may ask, each taking and returning plain values."""

    def prepare_load(learnware_id: str) -> dict:
        record, folder = dock.prepare_load(learnware_id)
        return {"record": record_to_dict(record), "folder": str(folder), "specs": dock.catalogue.spec_bytes(record.id)}

    return {
        "ping": lambda: {"pid": os.getpid(), "home": str(dock.home.root)},
        "stats": dock.stats,
        "list": lambda limit=None, offset=None, after=None, sort=None, filter=None: [  # noqa: A006
            record_to_dict(r) for r in dock.list(limit=limit, offset=offset, after=after, sort=sort, filter=filter)
        ],
        "list_page": lambda limit=50, offset=None, after=None, sort=None, filter=None: page_to_wire(  # noqa: A006
            dock.list_page(limit=limit, offset=offset, after=after, sort=sort, filter=filter)
        ),
        "count": lambda filter=None: dock.count(filter),  # noqa: A006
        "sync": lambda peer_id=None: dock.sync(peer_id),
        "get": lambda learnware_id: record_to_dict(dock.get(learnware_id)),
        "resolve_id": dock.resolve_id,
        "submit": lambda zip_path, semantic_spec=None, timeout=60.0: dock.submit(
            zip_path, semantic_spec, timeout=timeout
        ),
        "remove": dock.remove,
        # `lwdock update ID --semantic F` while the node runs (issue 15): the node's key signs the newer
        # record and its network announces it; the publisher check is the node's (NotPublisherError)
        "update_semantic": lambda learnware_id, semantic_spec, timeout=60.0: record_to_dict(
            dock.update_semantic(learnware_id, semantic_spec, timeout=timeout)
        ),
        "export": lambda learnware_id, dest: str(dock.export(learnware_id, dest)),
        "stat_spec_bytes": lambda learnware_id: dock.catalogue.spec_bytes(dock.resolve_id(learnware_id)),
        "has_zip": dock.has_zip,
        "local_ids": lambda: sorted(dock.catalogue.blob_ids()),
        "zip_path": lambda learnware_id: str(dock.zip_path(learnware_id)),
        "search": lambda user_info, limit=10: result_to_wire(dock.search(user_info_from_wire(user_info), limit=limit)),
        "prepare_load": prepare_load,
        "trust": lambda peer_id, note="": dock.trust(peer_id, note),
        "untrust": dock.untrust,
        "trusted": dock.trusted,
        "fetch": lambda learnware_id, progress=None: str(dock.fetch(learnware_id, progress=progress)),
        "search_peers": lambda user_info, limit=10: result_to_wire(
            dock.search_peers(user_info_from_wire(user_info), limit=limit), info_keys=PEER_INFO_KEYS
        ),
        "status": dock.status,
        "peers": lambda: dock.status()["peers"],
    }


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(self.server.control.idle_timeout)
        while True:
            try:
                request = recv_frame(sock)
            except TimeoutError:
                log.info("closing an idle control connection")
                return
            except (ControlProtocolError, OSError) as exc:
                log.warning("dropping control connection: %s", exc)
                return
            if request is None:
                return
            with ProgressRelay(sock, request) as relay:
                reply = self.server.control.dispatch(request, relay.report if relay.wanted else None)
            try:
                send_frame(sock, reply)
            except OSError as exc:
                log.warning("could not reply on the control socket: %s", exc)
                return
            except Exception as exc:  # nothing was sent: the reply could not be encoded (too big, or a bug)
                if not isinstance(exc, ControlProtocolError):
                    log.error("control method %s returned what cannot be sent", request.get("method"), exc_info=exc)
                    exc = InternalError(f"internal error in the lwdock node: its reply could not be encoded "
                                        f"({type(exc).__name__}: {exc})")
                try:
                    send_frame(sock, {"id": reply.get("id"), "ok": False, "error": error_to_wire(exc)})
                except (ControlProtocolError, OSError):
                    return


PROGRESS_METHODS = {"fetch"}  # methods that take `progress` and report while they run


class ProgressRelay:
    """Sends {"id", "progress": {...}} frames ahead of the reply while a long call runs, for
    clients that asked ({"progress": true} in the request).

    The call reports from wherever it runs (a fetch: the p2p node's thread), which must never
    block on a slow client; so report() only keeps the latest figures, and a thread of the relay
    sends them, at most every PROGRESS_INTERVAL, and once more at the end, before the reply.
    """

    PROGRESS_INTERVAL = 0.1

    def __init__(self, sock: socket.socket, request: dict):
        self.wanted = bool(request.get("progress")) and request.get("method") in PROGRESS_METHODS
        self._sock, self._id = sock, request.get("id")
        self._latest: dict | None = None
        self._sent: dict | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self, transfer) -> None:
        self._latest = {"done": int(transfer.done), "total": int(transfer.total or 0),
                        "peer": str(getattr(transfer, "peer", "") or ""), "state": str(transfer.state)}

    def _send_latest(self) -> bool:
        latest = self._latest
        if latest is None or latest == self._sent:
            return True
        try:
            send_frame(self._sock, {"id": self._id, "progress": latest})
        except (ControlProtocolError, OSError):
            return False  # the client went away: the reply will fail the same way
        self._sent = latest
        return True

    def _run(self) -> None:
        while not self._done.wait(self.PROGRESS_INTERVAL):
            if not self._send_latest():
                return
        self._send_latest()

    def __enter__(self) -> "ProgressRelay":
        if self.wanted:
            self._thread = threading.Thread(target=self._run, name="lwdock-control-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()  # the last progress frame goes out before the reply


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket, from the kernel (None where the
    platform has no SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid


def _refuse(sock: socket.socket, error: DockError) -> None:
    """One error frame (id null) for a client we will not serve, then the caller closes it."""
    try:
        sock.settimeout(1.0)  # never let a refused client hold the accept loop
        send_frame(sock, {"id": None, "ok": False, "error": error_to_wire(error)})
    except (ControlProtocolError, OSError):
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64  # a burst of CLI commands waits in the backlog instead of failing to connect
    control: "ControlServer"

    def server_activate(self) -> None:
        super().server_activate()
        self._clients = threading.BoundedSemaphore(self.control.max_clients)
        self._refused, self._last_refusal_log = 0, -1e9

    def verify_request(self, request, client_address) -> bool:
        uid, me = peer_uid(request), os.geteuid()
        if uid is not None and uid not in (me, 0):  # root may (it can read the home anyway)
            log.warning("refused a control client of uid %s (this dock serves uid %s)", uid, me)
            _refuse(request, DockError(f"this dock's control socket serves uid {me} only, not uid {uid}"))
            return False
        if not self._clients.acquire(blocking=False):
            self._refused += 1
            now = time.monotonic()
            if now - self._last_refusal_log >= 10.0:  # a flood of clients must not flood the log too
                log.warning("refused %d control client(s): %d already connected", self._refused,
                            self.control.max_clients)
                self._refused, self._last_refusal_log = 0, now
            _refuse(request, DockBusyError(f"the lwdock node already serves {self.control.max_clients} "
                    "control clients; close some (other CLI commands or TUIs on this home) and retry"))
            return False
        return True

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._clients.release()

    def process_request(self, request, client_address) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread never started: give its slot back
            self._clients.release()
            raise


class ControlServer:
    def __init__(self, methods: dict[str, Callable[..., Any]], socket_path: Path, *,
                 max_clients: int = MAX_CLIENTS, idle_timeout: float = CLIENT_IDLE_SECONDS):
        self.methods = methods
        self.socket_path = socket_path
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.socket_path.exists():
            # Only the owner (who holds the home's lock) gets here: a socket file left by a
            # crashed owner is stale.
            self.socket_path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600: only this user may connect
        try:
            self._server = _Server(str(self.socket_path), _Handler, bind_and_activate=False)
            self._server.control = self
            try:
                self._server.server_bind()
                self._server.server_activate()
            except BaseException:
                self._server.server_close()
                raise
        finally:
            os.umask(old_umask)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lwdock-control", daemon=True)
        self._thread.start()
        log.info("control API listening on %s", self.socket_path)

    def dispatch(self, request: dict, progress: Callable | None = None) -> dict:
        """One request's reply. Parameters are bound against the method's signature first, so a
        request that does not fit is answered as such (ControlRequestError); whatever the method
        raises is sent as its registered class, and anything unregistered (a TypeError inside the
        method included) is a bug: logged here with its traceback, sent as an InternalError."""
        request_id = request.get("id")
        name = request.get("method")
        method = self.methods.get(name) if isinstance(name, str) else None
        params = request.get("params") or {}
        try:
            if method is None:
                raise ControlRequestError(f"unknown control method {str(name)[:100]!r}")
            if not isinstance(params, dict):
                raise ControlRequestError(f"bad parameters for {name!r}: a map of names to values is expected")
            if "progress" in params:  # a callback, ours to give: never a client's value
                raise ControlRequestError(f"bad parameters for {name!r}: 'progress' is not a client's to give")
            if progress is not None:
                params = dict(params, progress=progress)
            try:
                bound = inspect.signature(method).bind(**params)
            except TypeError as exc:
                raise ControlRequestError(f"bad parameters for {name!r}: {exc}") from None
            return {"id": request_id, "ok": True, "result": method(*bound.args, **bound.kwargs)}
        except Exception as exc:  # keep serving whatever happened
            if error_kind(exc) is None:
                log.error("control method %s failed", name, exc_info=exc)
            elif not isinstance(exc, DockError):
                log.info("control method %s: %s: %s", name, type(exc).__name__, exc)
            return {"id": request_id, "ok": False, "error": error_to_wire(exc)}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
