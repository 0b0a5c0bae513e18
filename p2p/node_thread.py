"""The node's thread and trio loop: start/stop, crash restarts, and calls into the loop.

P2PNode (p2p/node.py) subclasses NodeThread and supplies `_main(listen, bootstrap)` (the loop's
body, which sets `self._stop_event` and `self._scope`), `config` (stop_timeout, max_restarts,
restart_window), `peer_id` and `_stats`. See p2p/node.py for the thread contract.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from . import libp2p_patches
from .errors import NodeNotRunning, PeerError

if TYPE_CHECKING:
    from .node import NodeConfig

logger = logging.getLogger(__name__)


class NodeThread:
    # Set by P2PNode, the class built on this one; declared here for the type checker.
    config: NodeConfig
    peer_id: str
    _stats: dict[str, Any]
    _stop_event: trio.Event
    _scope: trio.CancelScope
    _main: Callable[[list[str], list[str]], Awaitable[None]]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopped
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._crash_times: list[float] = []
        self._bound_listen: list[str] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, listen: list[str] | None = None, bootstrap: list[str] | None = None, timeout: float = 30.0):
        """Start the node thread; returns once the host listens (bootstrap dials go on behind).
        Refuses (PeerError, naming what is missing) when the installed py-libp2p lacks a target
        of lwdock's correctness fixes (p2p/libp2p_patches.py): no unprotected node."""
        self._stats["libp2p_patches"] = libp2p_patches.install()
        with self._lock:
            if self._state != "new":
                raise PeerError(f"a P2PNode starts once; this one is {self._state}")
            self._state = "running"
        listen = list(listen or self.config.listen)
        bootstrap = list(self.config.bootstrap if bootstrap is None else bootstrap)
        self._thread = threading.Thread(
            target=self._thread_main, args=(listen, bootstrap), name=f"p2p-{self.peer_id[-8:]}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise PeerError(f"p2p node did not start listening within {timeout:.0f} s")
        if self._start_error is not None:
            self._state = "stopped"
            raise _start_failure(self._start_error) from self._start_error

    def stop(self) -> None:
        """Stop the node and wait for its thread. Idempotent; safe from any thread but the node's."""
        with self._lock:
            was, self._state = self._state, "stopped"
        if was != "running" or self._thread is None:
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("P2PNode.stop() called from the node's own thread (a listener or validator)")
        token = self._token
        if token is not None:
            try:
                trio.from_thread.run_sync(self._request_stop, trio_token=token)
            except (trio.RunFinishedError, RuntimeError):
                pass  # the loop is already gone
        self._thread.join(self.config.stop_timeout + 5)
        if self._thread.is_alive():
            logger.warning("p2p node thread did not finish within %.0f s", self.config.stop_timeout + 5)

    @property
    def running(self) -> bool:
        return self._state == "running" and self._token is not None and self._ready.is_set()

    def __enter__(self):
        if self._state == "new":
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _thread_main(self, listen: list[str], bootstrap: list[str]) -> None:
        try:
            while True:
                try:
                    trio.run(self._main, listen, bootstrap)
                    return  # stopped on request
                except BaseException as exc:
                    if not self._ready.is_set():
                        self._start_error = exc
                        return
                    self._token = None
                    if self._state != "running" or not self._may_restart(exc):
                        return
                    # Same ports as before: peers and bootstrap lists know us by them.
                    listen = self._bound_listen or listen
                    time.sleep(min(2.0 ** len(self._crash_times) / 4, 5.0))
                    if self._state != "running":
                        return
        finally:
            self._state = "stopped"
            self._token = None
            self._ready.set()

    def _may_restart(self, exc: BaseException) -> bool:
        now = time.monotonic()
        self._crash_times = [t for t in self._crash_times if now - t < self.config.restart_window]
        self._crash_times.append(now)
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # trio nests them, one per nursery
            leaf = leaf.exceptions[0]
        self._stats["last_crash"] = f"{type(leaf).__name__}: {leaf}"[:300]
        if len(self._crash_times) > self.config.max_restarts:
            logger.critical("p2p node loop crashed %d times within %.0f s; networking stays DOWN",
                            len(self._crash_times), self.config.restart_window, exc_info=exc)
            self._stats["networking"] = "down"
            return False
        self._stats["restarts"] += 1
        logger.error("p2p node loop crashed; restarting the networking (restart %d)",
                     self._stats["restarts"], exc_info=exc)
        return True

    def _restarting(self) -> bool:
        """True while the networking restarts after a crash, or is down for good after too many:
        then the read-only queries (peers, topic_peers, stats, peer_penalties) answer from what
        is known instead of raising, so `lwdock status` keeps answering and can say so."""
        if self._stats["networking"] == "down":
            return True
        return self._state == "running" and self._ready.is_set() and self._token is None

    def _request_stop(self) -> None:
        self._stop_event.set()

        async def watchdog() -> None:
            await trio.sleep(self.config.stop_timeout)
            logger.warning("p2p shutdown took over %.0f s; cancelling it", self.config.stop_timeout)
            self._scope.cancel()

        trio.lowlevel.spawn_system_task(watchdog)

    # ---- crossing into the trio thread --------------------------------------------------------

    def _check_thread(self) -> trio.lowlevel.TrioToken:
        if self._state == "running" and not self._ready.is_set() and threading.current_thread() is not self._thread:
            self._ready.wait(30)  # a call racing start(): wait for the loop rather than fail
        token = self._token
        if token is None or self._state != "running":
            raise NodeNotRunning("the p2p node is not running (start() it first, or it has stopped)")
        if threading.current_thread() is self._thread:
            raise RuntimeError("blocking P2PNode call from the node thread (inside a listener or validator)")
        return token

    def _call(self, async_fn, *args):
        token = self._check_thread()
        try:
            return trio.from_thread.run(async_fn, *args, trio_token=token)
        except (trio.RunFinishedError, trio.Cancelled) as exc:
            raise NodeNotRunning("the p2p node stopped during the call") from exc

    def _call_sync(self, fn, *args):
        token = self._check_thread()
        try:
            return trio.from_thread.run_sync(fn, *args, trio_token=token)
        except trio.RunFinishedError as exc:
            raise NodeNotRunning("the p2p node stopped during the call") from exc


def _start_failure(error: BaseException) -> PeerError:
    """What start() raises: a PeerError the loop raised on purpose (a listen failure) as it is,
    else a PeerError naming the innermost cause; never trio's "Exceptions from Trio nursery"."""
    leaf = error
    if isinstance(error, BaseExceptionGroup):
        ours = error.subgroup(lambda e: isinstance(e, PeerError))
        leaf = ours if ours is not None else error
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # trio nests them, one per nursery
            leaf = leaf.exceptions[0]
    if isinstance(leaf, PeerError):
        return type(leaf)(*leaf.args) if type(leaf).__init__ is PeerError.__init__ else leaf
    return PeerError(f"p2p node failed to start: {type(leaf).__name__}: {leaf}")


def _deep_copy(stats: dict) -> dict:
    return {k: (_deep_copy(v) if isinstance(v, dict) else v) for k, v in stats.items()}
