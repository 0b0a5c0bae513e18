"""The p2p layer's error tree: one root, `PeerError`, so callers can catch the network as a whole."""

from __future__ import annotations

from enum import IntEnum


class PeerError(Exception):
    """Root of every error the p2p layer raises on purpose."""


class ListenError(PeerError):
    """The node could not listen on an address (port in use, address not on this machine, no permission)."""


class IdentityError(PeerError):
    """A key file or a peer id that cannot be used (wrong format, wrong key type, unreadable)."""


class NodeNotRunning(PeerError):
    """The node was not started, or has stopped, so it cannot take commands."""


class DialError(PeerError):
    """Could not connect to a peer (address unreachable, handshake refused, wrong peer id)."""


class RequestTimeout(PeerError, TimeoutError):
    """A peer did not answer within the deadline, or went silent for longer than the idle timeout."""


class ProtocolViolation(PeerError):
    """The other side broke the wire format: bad varint, oversized frame, truncated stream, unknown tag."""


class ErrorCode(IntEnum):
    """Codes carried by an ERROR frame (see docs/PROTOCOL.md)."""

    TOO_LARGE = 1  # the request exceeded the protocol's size limit
    BAD_REQUEST = 2  # the request was malformed
    BUSY = 3  # all inbound slots for the protocol were taken
    INTERNAL = 4  # the handler failed; details stay on the server
    REFUSED = 5  # the handler declined (RequestRefused); the message says why
    TIMEOUT = 6  # the handler did not finish within its time limit
    NOT_FOUND = 7  # the blob is not served by this peer
    BAD_OFFSET = 8  # a blob was requested from beyond its end
    UNSUPPORTED = 9  # no handler for the protocol on this node


class RemoteError(PeerError):
    """The peer answered with an ERROR frame."""

    def __init__(self, code: int, message: str):
        try:
            self.code: ErrorCode | int = ErrorCode(code)
        except ValueError:
            self.code = code
        self.message = message
        name = self.code.name if isinstance(self.code, ErrorCode) else str(code)
        super().__init__(f"peer replied {name}: {message}" if message else f"peer replied {name}")


class RequestRefused(PeerError):
    """Raised by a request handler to send a REFUSED error with a message instead of a response."""


class ResponseTooLarge(ProtocolViolation):
    """A response grew beyond the caller's `max_response`."""


class TransferError(PeerError):
    """A blob transfer failed; the partial file is kept for a resume unless the subclass says otherwise."""


class TruncatedTransfer(TransferError):
    """The sender closed the stream before the announced length (a killed sender looks like a clean EOF)."""


class HashMismatch(TransferError):
    """The received bytes do not hash to what was announced or expected; the partial file was deleted."""


# What py-libp2p's swarm says when a peer cannot be reached, in words a user can act on. Matched
# on its message text (SwarmException carries no codes); anything unknown keeps its own words.
_DIAL_REASONS = (
    ("negative cache", "it failed on every address moments ago (offline, or its address changed); "
                       "lwdock dials it again later"),
    ("No known addresses", "no address is known for it (connect with its full /ip4/.../p2p/<id> address)"),
    ("connections available", "no connection to it and no address known"),
    ("Connection refused", "nothing listens at its address (is its node running?)"),
    ("Failed to connect after", "every attempt to connect failed (offline, or a firewall in between)"),
    ("fail to open connection", "the connection could not be opened (offline, or a firewall in between)"),
    ("blocked by connection gate", "this node refuses to dial its addresses"),
    ("No supported transport", "it offers no address this node can dial"),
    ("Maximum connections limit", "this node holds as many connections as it allows"),
)


def unreachable(peer_id: object, exc: BaseException) -> str:
    """One line for a failed dial: "peer X is unreachable: <why>", never a libp2p class name."""
    text = f"{exc} {exc.__cause__ or ''}"
    for needle, why in _DIAL_REASONS:
        if needle.lower() in text.lower():
            return f"peer {peer_id} is unreachable: {why}"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"peer {peer_id} is unreachable: {detail[:200]}"
