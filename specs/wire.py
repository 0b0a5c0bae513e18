"""The compact binary envelope of statistical specs: zstd(msgpack(dict)).

Specs travel between peers inside records, so the decoder treats its input as hostile: the
decompressed size is capped (a small zstd frame can expand to gigabytes), msgpack runs with
strict limits, and any failure becomes a SpecError. Array payloads are raw little-endian
float32 bytes; each spec kind checks their lengths against its own shape fields before
reshaping (see RKMETableSpecification.from_wire_dict).
"""

from __future__ import annotations

import threading

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
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise SpecError(f"spec bytes: not a valid zstd frame ({e})") from e
    # decompress() allocates the size a frame's header declares, whatever max_output_size says
    # (measured), so a declared size over the cap is refused first; a frame that declares none
    # is held to max_output_size (tests/specs/test_table_io.py, test_spec_limits.py: both bombs).
    if declared > max_size:
        raise SpecError(f"spec bytes: declared size {declared} is larger than {max_size} bytes")
    try:
        raw = _decompressor().decompress(data, max_output_size=max_size)
    except zstandard.ZstdError as e:
        if declared < 0:  # no declared size: past the cap, or cut short (zstd does not say which)
            raise SpecError(f"spec bytes: larger than {max_size} bytes decompressed, or not a valid zstd "
                            f"frame ({e})") from e
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


_local = threading.local()


def _decompressor():
    """This thread's decompressor: making one (its zstd context) cost ~15 us, half of unpacking
    a small spec, and a sync unpacks one per record (issue 16). Not shared: not thread-safe."""
    dctx = getattr(_local, "dctx", None)
    if dctx is None:
        import zstandard

        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx
