"""Signed learnware records and tombstones: what the network carries about a learnware.

Wire form (msgpack), see docs/PROTOCOL.md "Records":

    envelope = {"v": 1, "pub": <publisher peer id, str>, "body": <bin>, "sig": <bin, 64>}
    sig      = Ed25519 signature by `pub` over uvarint(len(DOMAIN)) || DOMAIN || body
    body     = msgpack map:
      record:    {"kind": "record", "id": <64 hex>, "seq": int, "created": int ms, "size": int,
                  "semantic": <JSON text>, "model": <JSON text>, "specs": {<spec type>: <bin>},
                  "pieces": {"size": int, "root": <bin, 32>}}     ("pieces" optional: older records lack it)
      tombstone: {"kind": "tombstone", "id": <64 hex>, "seq": int, "created": int ms}

The signature covers the body's exact bytes, so nobody re-encodes anything to verify it, and
it is checked (against the key inside the publisher's peer id) before the body is decoded.
Every limit is checked before the thing it limits is used.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from dock.errors import DockError, RecordError  # noqa: F401  (RecordError: re-exported)
from dock.store.blobs import is_learnware_id

DOMAIN = b"lwdock/record/v1"
MAX_ENVELOPE = 4 << 20  # a K=100, d=64 record is ~25 KB; this leaves room for wide tables
MAX_SEMANTIC = 256 << 10
MAX_SPECS = 8
# A receiver refuses a record or tombstone whose seq or created lies further than this in its
# future (ms). seq is compared as well as created because lwdock's seqs are publish times in ms:
# without a bound, one tombstone with seq 2^63-1 would out-rank every later withdrawal forever.
MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
_UNPACK_LIMITS = dict(raw=False, strict_map_key=True, max_bin_len=MAX_ENVELOPE, max_str_len=MAX_SEMANTIC,
                      max_array_len=64, max_map_len=64, max_ext_len=0)




@dataclass(frozen=True)
class SignedRecord:
    kind: str  # "record" or "tombstone"
    id: str
    publisher: str
    seq: int
    created_ms: int
    envelope: bytes
    size: int = 0
    semantic_spec: dict | None = None
    model_config: dict | None = None
    spec_bytes: dict[str, bytes] | None = None
    pieces: Any = None  # p2p.pieces.Pieces (piece size, root) or None: the zip is then verified whole
    # the specs decode_envelope parsed and validated from spec_bytes, so storing does not parse
    # them again (issue 16); not part of the record's identity
    parsed_specs: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # the catalogue columns storing derives from it (PreparedColumns), made once by the verify
    # worker that decoded it; None: derived when stored
    prepared: Any = field(default=None, compare=False, repr=False)

    def stat_specs(self) -> dict[str, Any]:
        from specs import spec_from_bytes

        if self.parsed_specs is not None:
            return dict(self.parsed_specs)
        return {kind: spec_from_bytes(blob) for kind, blob in (self.spec_bytes or {}).items()}


def _seal(identity, body: dict) -> bytes:
    body_bytes = msgpack.packb(body, use_bin_type=True)
    envelope = {"v": 1, "pub": identity.peer_id, "body": body_bytes, "sig": identity.sign(DOMAIN, body_bytes)}
    return msgpack.packb(envelope, use_bin_type=True)


def sign_record(identity, *, learnware_id: str, size: int, semantic_spec: dict, model_config: dict,
                spec_bytes: dict[str, bytes], seq: int, created_ms: int | None = None,
                zip_path=None) -> SignedRecord:
    """`zip_path`: the zip itself, whose piece root the record then carries (fetchers verify
    each piece against it); without it the record has no "pieces" (fetchers verify the whole)."""
    body = {
        "kind": "record", "id": learnware_id, "seq": int(seq),
        "created": int(created_ms if created_ms is not None else time.time() * 1000), "size": int(size),
        "semantic": json.dumps(semantic_spec, sort_keys=True, ensure_ascii=False),
        "model": json.dumps(model_config, sort_keys=True, default=list),
        "specs": {kind: bytes(blob) for kind, blob in sorted(spec_bytes.items())},
    }
    if zip_path is not None:
        from p2p.pieces import file_pieces

        pieces = file_pieces(zip_path)
        body["pieces"] = {"size": pieces.size, "root": pieces.root}
    return decode_envelope(_seal(identity, body))


def sign_tombstone(identity, learnware_id: str, seq: int) -> SignedRecord:
    body = {"kind": "tombstone", "id": learnware_id, "seq": int(seq), "created": int(time.time() * 1000)}
    return decode_envelope(_seal(identity, body))


def decode_envelope(data: bytes, *, now_ms: int | None = None, with_columns: bool = False) -> SignedRecord:
    """Check size, envelope schema and signature, then the body's schema and contents.
    `now_ms` (default: this machine's clock) bounds seq and created (MAX_CLOCK_SKEW_MS).
    `with_columns`: a record comes with its PreparedColumns (the verify workers', issue 16)."""
    from p2p import verify

    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_ENVELOPE:
        raise RecordError(f"envelope larger than {MAX_ENVELOPE} bytes")
    envelope = _unpack(bytes(data), "envelope")
    if set(envelope) != {"v", "pub", "body", "sig"} or envelope["v"] != 1:
        raise RecordError("envelope must be {v: 1, pub, body, sig}")
    publisher, body_bytes, sig = envelope["pub"], envelope["body"], envelope["sig"]
    if not isinstance(publisher, str) or not isinstance(body_bytes, bytes) or not isinstance(sig, bytes):
        raise RecordError("envelope fields have the wrong types")
    if not verify(publisher, DOMAIN, body_bytes, sig):
        raise RecordError(f"bad signature (claimed publisher {publisher[:16]}…)")
    body = _unpack(body_bytes, "body")
    kind, learnware_id, seq, created = body.get("kind"), body.get("id"), body.get("seq"), body.get("created")
    if not isinstance(learnware_id, str) or not is_learnware_id(learnware_id):
        raise RecordError("id must be 64 lowercase hex characters (the zip's sha256)")
    if not _is_int(seq) or seq < 0 or not _is_int(created) or created < 0:
        raise RecordError("seq and created must be non-negative integers")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    for field_name, value in (("seq", seq), ("created", created)):
        if value > now + MAX_CLOCK_SKEW_MS:
            raise RecordError(f"{field_name} {value} is {(value - now) // 1000} s in the future "
                              f"(at most {MAX_CLOCK_SKEW_MS // 60000} min ahead of this node's clock)")
    common = dict(id=learnware_id, publisher=publisher, seq=seq, created_ms=created, envelope=bytes(data))
    if kind == "tombstone":
        if set(body) != {"kind", "id", "seq", "created"}:
            raise RecordError("a tombstone has exactly kind, id, seq, created")
        return SignedRecord(kind="tombstone", **common)
    if kind != "record":
        raise RecordError(f"unknown kind {kind!r}")
    if set(body) - {"pieces"} != {"kind", "id", "seq", "created", "size", "semantic", "model", "specs"}:
        raise RecordError("a record has exactly kind, id, seq, created, size, semantic, model, specs "
                          "(and optionally pieces)")
    size = _size(body["size"])
    pieces = _pieces(body["pieces"]) if "pieces" in body else None
    semantic, semantic_text = _semantic(body["semantic"])  # the cheap check first
    spec_bytes, parsed = _specs(body["specs"])
    model = _model(body["model"])
    columns = _columns(semantic, semantic_text, model) if with_columns else None
    return SignedRecord(kind="record", size=size, semantic_spec=semantic, model_config=model,
                        spec_bytes=spec_bytes, pieces=pieces, parsed_specs=parsed, prepared=columns, **common)


@dataclass(frozen=True)
class PreparedColumns:
    """What storing a record derives from its semantic spec and model config, made once."""

    semantic_json: str  # as the catalogue and the search index keep it: json.dumps(spec, sort_keys=True)
    model_json: str
    fields: tuple  # SemanticView.columns: the index's semantic fields, the catalogue's columns


def prepared_columns(signed: SignedRecord) -> PreparedColumns:
    return _columns(signed.semantic_spec or {}, None, signed.model_config)


def _columns(semantic: dict, text: str | None, model: dict | None) -> PreparedColumns:
    """`text`: the spec's JSON as validation made it (ensure_ascii=False). In ASCII without DEL it
    is exactly the catalogue's (ensure_ascii=True) JSON, whose encoder escapes only those
    (tests/dock/test_sync_bulk.py): the usual case, one json.dumps less a record."""
    from specs.semantic import SemanticView

    if text is None or not text.isascii() or "\x7f" in text:
        text = json.dumps(semantic, sort_keys=True)
    return PreparedColumns(text, json.dumps(model, sort_keys=True, default=list), SemanticView.columns(semantic))


def _unpack(data: bytes, what: str) -> dict:
    try:
        value = msgpack.unpackb(data, **_UNPACK_LIMITS)
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        raise RecordError(f"undecodable {what}: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise RecordError(f"{what} is not a map")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value < 2**63


def _size(value: Any) -> int:
    if not _is_int(value) or value <= 0:
        raise RecordError("size must be a positive integer")
    return value


def _pieces(value: Any):
    from p2p.pieces import MAX_PIECE, MIN_PIECE, Pieces, is_valid_piece_size

    if not isinstance(value, dict) or set(value) != {"size", "root"}:
        raise RecordError("pieces must be {size, root}")
    if not is_valid_piece_size(value["size"]):
        raise RecordError(f"pieces.size must be a power of two in {MIN_PIECE}..{MAX_PIECE}")
    if not isinstance(value["root"], bytes) or len(value["root"]) != 32:
        raise RecordError("pieces.root must be 32 bytes")
    return Pieces(value["size"], value["root"])


def _semantic(text: Any) -> tuple[dict, str]:
    from specs import SpecError
    from specs.semantic import validate_semantic_spec_json

    if not isinstance(text, str):
        raise RecordError("semantic must be JSON text")
    try:
        return validate_semantic_spec_json(json.loads(text))
    except (ValueError, SpecError) as exc:
        raise RecordError(f"semantic spec: {exc}") from None
    except RecursionError:  # json parses nesting recursively: "[[[[..." from a peer
        raise RecordError("semantic spec: nested too deeply") from None


def _model(text: Any) -> dict:
    """The same rules as a local zip's learnware.yaml (dock/package/model_config.py): class_name an
    identifier, module_path a relative .py inside the package, kwargs plain and bounded."""
    from dock.package.model_config import ModelConfigError, model_config_from_json

    try:
        return model_config_from_json(text)
    except ModelConfigError as exc:
        raise RecordError(str(exc)) from None


def _specs(value: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    from specs import SpecError, spec_from_bytes

    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_SPECS:
        raise RecordError(f"specs must map 1..{MAX_SPECS} spec types to bytes")
    parsed = {}
    for kind, blob in value.items():
        if not isinstance(kind, str) or not isinstance(blob, bytes):
            raise RecordError("specs must map spec type names to bytes")
        try:
            spec = spec_from_bytes(blob)
            if not _validated_when_built(spec):
                spec.validate()
        except SpecError as exc:
            raise RecordError(f"stat spec {kind}: {exc}") from None
        if spec.type != kind:
            raise RecordError(f"stat spec filed under {kind!r} is a {spec.type}")
        parsed[kind] = spec
    return dict(value), parsed


# The built-in kinds' constructors run validate() (specs/table.py RKMETableSpecification.__init__,
# which the image and text kinds extend), and spec_from_bytes builds through them: a second
# validate() cost ~7 us a record for nothing. A plugin's class (registered or an entry point) may
# build without validating, so it is validated here as before.
_BUILT_IN_SPEC_CLASSES = {("specs.table", "RKMETableSpecification"), ("specs.image", "RKMEImageSpecification"),
                          ("specs.text", "RKMETextSpecification")}


def _validated_when_built(spec: Any) -> bool:
    cls = type(spec)
    return (cls.__module__, cls.__qualname__) in _BUILT_IN_SPEC_CLASSES
