"""A hostile blob provider for the piece tests: a real P2PNode whose fetch handler (either
protocol) answers with the honest header of a blob, then what the test chooses: the first
`good_bytes` of the real body, then garbage, then EOF (or a stall, or nothing)."""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from pathlib import Path

import trio

from p2p.framing import FramedStream, encode_frame
from p2p.pieces import hash_file
from p2p.transfer import FETCH_PROTOCOL_ID, LEGACY_FETCH_PROTOCOL_ID, TAG_OK


class LyingFetchHandler:
    """Serves `path` under `blob_id` with honest headers and a body that turns to garbage."""

    is_stream_handler = True

    def __init__(self, path: Path, *, good_bytes: int, stall: threading.Event | None = None,
                 layer_override: bytes | None = None, piece_protocol: bool = True):
        self.data = Path(path).read_bytes()
        self.good_bytes = good_bytes
        self.stall = stall  # set: after the bad bytes, wait for it instead of closing
        self.layer_override = layer_override
        self.piece_protocol = piece_protocol
        self.requests: list[int] = []  # offsets asked for
        self.body_bytes_sent = 0

    def bind(self, stats: dict):
        return self.handle

    async def handle(self, stream) -> None:
        try:
            await self._lie(stream)
        except Exception:  # the receiver hung up on our lies: that is the point
            await stream.reset()

    async def _lie(self, stream) -> None:
        framed = FramedStream(stream, 10.0)
        request = await framed.read_frame(200)
        sha = hashlib.sha256(self.data).digest()
        if self.piece_protocol:
            offset, piece_size = struct.unpack(">QI", request[:12])
            _, _, layer = hash_file(io.BytesIO(self.data), piece_size)
            layer = self.layer_override if self.layer_override is not None else layer
            header = struct.pack(">BQ32sI", TAG_OK, len(self.data), sha, piece_size) + layer
        else:
            (offset,) = struct.unpack(">Q", request[:8])
            header = struct.pack(">BQ32s", TAG_OK, len(self.data), sha)
        self.requests.append(offset)
        await framed.write(encode_frame(header))
        honest = self.data[offset:max(offset, self.good_bytes)]
        garbage = b"\xa5" * ((len(self.data) - offset - len(honest)) // 2)
        for part in (honest, garbage):
            if part:
                await framed.write(part)
                self.body_bytes_sent += len(part)
        if self.stall is not None:
            while not self.stall.is_set():
                await trio.sleep(0.05)
        await stream.close()  # EOF: half a blob of garbage, then nothing


def serve_lies(node, handler: LyingFetchHandler) -> None:
    node.set_handler(FETCH_PROTOCOL_ID if handler.piece_protocol else LEGACY_FETCH_PROTOCOL_ID, handler)
