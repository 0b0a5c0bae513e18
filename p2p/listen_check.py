"""Saying why a listen address failed. py-libp2p only logs a failed listen (at debug level) and
carries on with the others, so the node finds the failure by what is missing and asks the OS the
reason with the same bind the TCP transport makes (SO_REUSEADDR, no SO_REUSEPORT: see
p2p/libp2p_fixes.py), closed at once."""

from __future__ import annotations

import logging
import os
import socket

from .errors import ListenError


class _ListenFailureLogged(logging.Filter):
    """Drops py-libp2p's ERROR line for a failed TCP listen: the node raises a ListenError saying
    the same, and the CLI prints it as one line; two lines (one a library's) would be noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to start TCP listener")


def quiet_listen_failure_log() -> None:
    tcp_logger = logging.getLogger("libp2p.transport.tcp.tcp")
    if not any(isinstance(f, _ListenFailureLogged) for f in tcp_logger.filters):
        tcp_logger.addFilter(_ListenFailureLogged())


def listen_failure(requested: list[str], listening: set[str]) -> ListenError:
    """A ListenError naming the first requested address that is not listening and why, as
    `cannot listen on /ip4/127.0.0.1/tcp/4001: address already in use`."""
    failed = [a for a in requested if a not in listening] or list(requested)
    return ListenError("; ".join(f"cannot listen on {a}: {_reason(a)}" for a in failed))


def _reason(addr: str) -> str:
    parts = addr.split("/")
    try:
        family = {"ip4": socket.AF_INET, "ip6": socket.AF_INET6}[parts[1]]
        host, port = parts[2], int(parts[4]) if parts[3] == "tcp" else None
    except (IndexError, KeyError, ValueError):
        return "not a TCP address this node can listen on"
    if port is None:
        return "not a TCP address this node can listen on"
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        return os.strerror(exc.errno).lower() if exc.errno else str(exc)
    finally:
        probe.close()
    return "the transport refused it (the port was free again when checked)"


__all__ = ["listen_failure"]
