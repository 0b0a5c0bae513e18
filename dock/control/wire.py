"""Framing for the local control socket: 4-byte big-endian length + a msgpack map.

Request: {"id": int, "method": str, "params": map}. Reply: {"id": int, "ok": true, "result": any}
or {"id": int, "ok": false, "error": {"type": "NotFoundError", "message": str, "fields": map}}
(type: a name in dock/errors.py's REGISTRY; fields: its constructor's keywords, see
dock/control/codec.py). Specs cross as their compact bytes (`spec.to_bytes()`), never as pickles.
"""

from __future__ import annotations

import socket
import struct

import msgpack

from dock.errors import ControlProtocolError  # noqa: F401  (re-exported)

MAX_FRAME = 64 << 20  # requests and replies are records and specs, never zips: 64 MiB is plenty
_HEADER = struct.Struct(">I")




def send_frame(sock: socket.socket, obj: dict) -> None:
    body = msgpack.packb(obj, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ControlProtocolError(f"control message of {len(body)} bytes exceeds the {MAX_FRAME} byte limit")
    sock.sendall(_HEADER.pack(len(body)) + body)


def recv_frame(sock: socket.socket) -> dict | None:
    """The next frame, or None on a clean end of stream between frames."""
    header = _recv_exact(sock, _HEADER.size, allow_eof=True)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ControlProtocolError(f"control frame of {length} bytes exceeds the {MAX_FRAME} byte limit")
    body = _recv_exact(sock, length, allow_eof=False)
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ControlProtocolError(f"undecodable control frame: {exc}") from None
    if not isinstance(obj, dict):
        raise ControlProtocolError("control frame is not a map")
    return obj


def _recv_exact(sock: socket.socket, n: int, *, allow_eof: bool) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            if allow_eof and got == 0:
                return None
            raise ControlProtocolError(f"control stream ended after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
