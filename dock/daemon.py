"""`lwdock node`: a headless node that owns a dock and serves it on the control socket.

It owns the home (owner lock + the DuckDB file) until SIGINT/SIGTERM, then shuts down in order:
stop taking requests, stop the network, close the dock (workers, catalogue), release the lock.
Logs go to `<home>/logs/node.log` and stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from .control_server import ControlServer, dock_methods
from .dock import Dock
from .home import DockHome, control_socket_path

log = logging.getLogger(__name__)


def configure_node_logging(home: DockHome, verbose: bool = False) -> Path:
    logs = home.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "node.log"
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler()):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return path


class NodeDaemon:
    """The owner process's pieces, started and stopped in order. Usable in-process by tests."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = DockHome.resolve(home)
        self.dock: Dock | None = None
        self.control: ControlServer | None = None
        self.stopped = threading.Event()

    def status(self) -> dict[str, Any]:
        assert self.dock is not None
        return {
            "pid": os.getpid(),
            "home": str(self.home.root),
            "online": False,
            "peer_id": None,
            "addrs": [],
            "peers": [],
            "records": self.dock.catalogue.count(),
            "zips": len(self.dock.catalogue.blob_ids()),
        }

    def start(self) -> None:
        self.dock = Dock.open(self.home.root)
        methods = dock_methods(self.dock)
        methods["status"] = self.status
        methods["peers"] = lambda: self.status()["peers"]
        self.control = ControlServer(methods, control_socket_path(self.home.root))
        try:
            self.control.start()
        except BaseException:
            self.dock.close()
            raise

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.dock is not None:
            self.dock.close()
            self.dock = None
        self.stopped.set()


def run_node(home: str | os.PathLike | None = None, *, verbose: bool = False) -> int:
    daemon = NodeDaemon(home)
    daemon.start()  # raises DockBusyError naming the running owner: nothing else is touched
    log_path = configure_node_logging(daemon.home, verbose)
    shutdown = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: shutting down", signal.Signals(signum).name)
        shutdown.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info(
        "lwdock node ready: home %s, control socket %s, log %s (pid %d)",
        daemon.home.root,
        daemon.control.socket_path,
        log_path,
        os.getpid(),
    )
    try:
        while not shutdown.wait(1.0):
            pass
    finally:
        daemon.stop()
        log.info("lwdock node stopped")
    return 0
