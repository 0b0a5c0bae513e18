"""The compact binary envelope of statistical specs: zstd(msgpack(dict)).

Specs travel between peers inside records, so the decoder treats its input as hostile: the
decompressed size is capped (a small zstd frame can expand to gigabytes), msgpack runs with
strict limits, and any failure becomes a SpecError. Array payloads are raw little-endian
float32 bytes; each spec kind checks their lengths against its own shape fields before
reshaping (see RKMETableSpecification.from_wire_dict).
"""

from __future__ import annotations

import io

from .errors import SpecError

# Twice the largest spec allowed (specs/limits.py: K x d <= 2^19 float32 values = 2 MiB), far below harm.
MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024
# Level 3 is zstd's default: float32 noise barely compresses anyway, the envelope keys do.
ZSTD_LEVEL = 3


def pack_spec(d: dict) -> bytes:
    """zstd(msgpack(d)); the frame records its content size so the reader can refuse early."""
    import msgpack
    import zstandard

    raw = msgpack.packb(d, use_bin_type=True)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(raw)


def unpack_spec(data, max_size: int = MAX_DECOMPRESSED_BYTES) -> dict:
    """Inverse of pack_spec. Raises SpecError on anything but a msgpack map with a str "t" key."""
    import msgpack
    import zstandard

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SpecError(f"spec bytes: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        # decompress(max_output_size=...) trusts a size declared in the frame header (measured:
        # it happily inflates past the cap), so refuse a declared size early and otherwise read
        # through a stream with a hard bound, which holds whatever the header says.
        declared = zstandard.frame_content_size(data)
        if declared > max_size:
            raise SpecError(f"spec bytes: declared size {declared} is larger than {max_size} bytes")
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            raw = reader.read(max_size + 1)
    except zstandard.ZstdError as e:
        raise SpecError(f"spec bytes: not a valid zstd frame ({e})") from e
    if len(raw) > max_size:
        raise SpecError(f"spec bytes: decompressed size is larger than {max_size} bytes")
    if not raw or (declared >= 0 and len(raw) != declared):
        raise SpecError(f"spec bytes: truncated zstd frame ({len(raw)} bytes of {declared} declared)")
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True)  # input already size-capped
    except Exception as e:  # msgpack raises several unrelated types (ExtraData, ValueError, ...)
        raise SpecError(f"spec bytes: not a valid msgpack document ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("t"), str):
        raise SpecError('spec bytes: expected a msgpack map with a string "t" (spec type) key')
    return obj
