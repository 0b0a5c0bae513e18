"""The local control API: the process that owns a dock serves it on a Unix socket in its home.

Only the owner (the daemon, `lwdock node`) opens the DuckDB file; the CLI, scripts and the TUI
talk to it through `RemoteDock` (dock/remote.py). The socket file is mode 0600: only the user
who owns the dock can use it. Each connection is served on its own thread; the dock's store
serialises its own DuckDB access.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable

from .control_codec import result_to_wire, user_info_from_wire
from .control_wire import ControlProtocolError, recv_frame, send_frame
from .errors import CheckError, DockError
from .records import record_to_dict

log = logging.getLogger(__name__)


def dock_methods(dock) -> dict[str, Callable[..., Any]]:
    """The allow-list of what a client may ask, each taking and returning plain values."""

    def prepare_load(learnware_id: str) -> dict:
        record, folder = dock.prepare_load(learnware_id)
        return {"record": record_to_dict(record), "folder": str(folder), "specs": dock.catalogue.spec_bytes(record.id)}

    return {
        "ping": lambda: {"pid": os.getpid(), "home": str(dock.home.root)},
        "stats": dock.stats,
        "list": lambda: [record_to_dict(r) for r in dock.list()],
        "get": lambda learnware_id: record_to_dict(dock.get(learnware_id)),
        "resolve_id": dock.resolve_id,
        "submit": lambda zip_path, semantic_spec=None, timeout=60.0: dock.submit(
            zip_path, semantic_spec, timeout=timeout
        ),
        "remove": dock.remove,
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
            dock.search_peers(user_info_from_wire(user_info), limit=limit)
        ),
        "status": dock.status,
        "peers": lambda: dock.status()["peers"],
    }


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        sock: socket.socket = self.request
        while True:
            try:
                request = recv_frame(sock)
            except (ControlProtocolError, OSError) as exc:
                log.warning("dropping control connection: %s", exc)
                return
            if request is None:
                return
            with ProgressRelay(sock, request) as relay:
                reply = self.server.control.dispatch(request, relay.report if relay.wanted else None)
            try:
                send_frame(sock, reply)
            except (ControlProtocolError, OSError) as exc:
                log.warning("could not reply on the control socket: %s", exc)
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


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    control: "ControlServer"


class ControlServer:
    def __init__(self, methods: dict[str, Callable[..., Any]], socket_path: Path):
        self.methods = methods
        self.socket_path = socket_path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.socket_path.exists():
            # Only the owner (who holds the home's lock) gets here: a socket file left by a
            # crashed owner is stale.
            self.socket_path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600: only this user may connect
        try:
            self._server = _Server(str(self.socket_path), _Handler)
        finally:
            os.umask(old_umask)
        self._server.control = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="lwdock-control", daemon=True)
        self._thread.start()
        log.info("control API listening on %s", self.socket_path)

    def dispatch(self, request: dict, progress: Callable | None = None) -> dict:
        request_id = request.get("id")
        method = self.methods.get(request.get("method"))  # type: ignore[arg-type]
        params = request.get("params") or {}
        if method is None or not isinstance(params, dict):
            error = {"type": "DockError", "message": f"unknown control method {request.get('method')!r}"}
            return {"id": request_id, "ok": False, "error": error}
        if "progress" in params:  # a callback, ours to give: never a client's value
            error = {"type": "DockError", "message": "bad parameters: progress"}
            return {"id": request_id, "ok": False, "error": error}
        if progress is not None:
            params = dict(params, progress=progress)
        try:
            return {"id": request_id, "ok": True, "result": method(**params)}
        except DockError as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
            if isinstance(exc, CheckError):
                error.update(check=exc.check, reason=exc.reason)
            return {"id": request_id, "ok": False, "error": error}
        except TypeError as exc:
            return {"id": request_id, "ok": False, "error": {"type": "DockError", "message": f"bad parameters: {exc}"}}
        except Exception as exc:  # a bug or a SpecError: report it, keep serving
            log.exception("control method %s failed", request.get("method"))
            kind = "SpecError" if type(exc).__name__ == "SpecError" else "DockError"
            return {"id": request_id, "ok": False, "error": {"type": kind, "message": str(exc)}}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
