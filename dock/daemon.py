"""`lwdock node`: a headless node that owns a dock, serves it on the control socket and, unless
`--offline`, keeps it on the network.

It owns the home (owner lock + the DuckDB file) until SIGINT/SIGTERM, then shuts down in order:
stop taking requests, stop the network, close the dock (workers, catalogue), release the lock.
Logs go to `<home>/logs/node.log` and stderr.

Listen and bootstrap addresses come from the command line, else from `<home>/config.toml`:

    listen = ["/ip4/0.0.0.0/tcp/4001"]
    bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."]
    mdns = true        # also discover peers on the LAN (multicast DNS); off unless asked
    [budgets]          # what strangers may make this node store (dock/network/budgets.py)
    max_records = 50000
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import tomllib
from pathlib import Path

from dock.control.server import ControlServer, dock_methods
from dock.dock import Dock
from dock.errors import DockError
from dock.home import DockHome, control_socket_path

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ["/ip4/127.0.0.1/tcp/0"]  # local only unless the user says otherwise


def read_config(home: DockHome) -> dict:
    path = home.root / "config.toml"
    if not path.is_file():
        return {}
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DockError(f"{path}: not valid TOML: {exc}") from None
    for key in ("listen", "bootstrap"):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DockError(f"{path}: '{key}' must be a list of multiaddr strings")
    if not isinstance(config.get("mdns", False), bool):
        raise DockError(f"{path}: 'mdns' must be true or false")
    return config


def _open_as_daemon(home: DockHome, wait: float = 15.0) -> Dock:
    """Open the dock as its daemon. Another daemon is an error at once; an embedded owner (a CLI
    command, a script) is waited for, since it usually finishes within seconds."""
    import time

    from dock.errors import DockBusyError

    deadline = time.monotonic() + wait
    while True:
        try:
            return Dock.open(home.root, role="daemon")
        except DockBusyError as exc:
            if getattr(exc, "holder_role", "") == "daemon" or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)  # poll, bounded by `wait`


def configure_node_logging(home: DockHome, verbose: bool = False) -> tuple[Path, logging.handlers.MemoryHandler]:
    """Log to <home>/logs/node.log and the terminal. Lines for the terminal are held back (the
    returned handler) until the node has started: `held.flush()` then shows them, in order; a
    node that fails to start shows only its one error line (the file keeps everything)."""
    import logging.handlers

    logs = home.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "node.log"
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(fmt)
    root.addHandler(file_handler)
    # The CLI already put a stderr handler on the root logger (logging.basicConfig, wrapped so log
    # lines cannot carry control characters): reuse it, or every line shows twice on the terminal.
    terminal = [h for h in root.handlers if type(h) is logging.StreamHandler]
    for handler in terminal:
        root.removeHandler(handler)
    if not terminal:
        terminal = [logging.StreamHandler()]
    stream = terminal[0]
    stream.setLevel(logging.NOTSET)
    if hasattr(stream.formatter, "inner"):  # the CLI's escaping wrapper: keep it, change its format
        stream.formatter.inner = fmt
    else:
        stream.setFormatter(fmt)
    held = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1, target=stream,
                                          flushOnClose=False)
    root.addHandler(held)
    return path, held


def _show_on_terminal(held: logging.handlers.MemoryHandler) -> None:
    """The node started: show what was held back, then log to the terminal directly."""
    root = logging.getLogger()
    root.removeHandler(held)  # swapped first, flushed after: a line logged meanwhile is not lost
    if held.target is not None:
        root.addHandler(held.target)
    held.flush()


class NodeDaemon:
    """The owner process's pieces, started and stopped in order. Usable in-process by tests."""

    def __init__(
        self,
        home: str | os.PathLike | None = None,
        *,
        listen: list[str] | None = None,
        bootstrap: list[str] | None = None,
        offline: bool = False,
        mdns: bool | None = None,
        nickname: str = "",
    ):
        self.home = DockHome.resolve(home)
        self.nickname = nickname  # shown to peers (identify agent_version); never trusted
        self.listen, self.bootstrap, self.offline = listen, bootstrap, offline
        self.mdns = mdns  # None: as config.toml says (default off)
        self.dock: Dock | None = None
        self.network = None
        self.control: ControlServer | None = None

    def start(self) -> None:
        self.dock = _open_as_daemon(self.home)
        try:
            config = read_config(self.home)
            if not self.offline:
                from dock.network.service import NetworkService
                from p2p import NodeConfig, P2PNode

                mdns = config.get("mdns", False) if self.mdns is None else self.mdns
                node = P2PNode(identity=self.dock.identity, config=NodeConfig(enable_mdns=mdns, nickname=self.nickname))
                from dock.network.budgets import Budgets

                budgets = Budgets.from_config(config.get("budgets"), f"{self.home.root / 'config.toml'} [budgets]")
                self.network = NetworkService(self.dock, node, budgets=budgets)
                self.network.start(
                    listen=self.listen or config.get("listen") or DEFAULT_LISTEN,
                    bootstrap=self.bootstrap if self.bootstrap else config.get("bootstrap", []),
                )
            self.control = ControlServer(dock_methods(self.dock), control_socket_path(self.home.root))
            self.control.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.network is not None:
            self.network.stop()
            self.network = None
        if self.dock is not None:
            self.dock.close()
            self.dock = None


def run_node(
    home: str | os.PathLike | None = None,
    *,
    listen: list[str] | None = None,
    bootstrap: list[str] | None = None,
    offline: bool = False,
    mdns: bool | None = None,
    verbose: bool = False,
    nickname: str = "",
) -> int:
    daemon = NodeDaemon(home, listen=listen, bootstrap=bootstrap, offline=offline, mdns=mdns, nickname=nickname)
    # first: what start() logs (the bootstrap's "connected to" line) reaches the file and, once the
    # node is up, the terminal; a failed start shows only its error line
    log_path, held = configure_node_logging(daemon.home, verbose)
    try:
        daemon.start()  # raises DockBusyError naming the running owner: nothing else is touched
    except BaseException:
        held.buffer.clear()  # logging.shutdown flushes handlers: the error line alone is shown
        _show_on_terminal(held)
        raise
    _show_on_terminal(held)
    shutdown = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: shutting down", signal.Signals(signum).name)
        shutdown.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = daemon.dock.status()
    log.info(
        "lwdock node ready (pid %d): home %s, control socket %s, log %s",
        os.getpid(),
        daemon.home.root,
        daemon.control.socket_path,
        log_path,
    )
    if status.get("peer_id"):
        log.info("peer id %s, listening on %s", status["peer_id"], " ".join(status["addrs"]))
    try:
        while not shutdown.wait(1.0):
            pass
    finally:
        daemon.stop()
        log.info("lwdock node stopped")
    return 0
