"""What the dock does with signed records from the network, and when it withdraws its own.

Rules (docs/PROTOCOL.md "Records"):
* A record is stored when its id is unknown and no tombstone with a seq >= its seq exists.
  A replayed record after a withdrawal is therefore refused, as is any record with a bad
  signature or schema (decode_envelope runs before this module sees anything).
* A tombstone counts only when signed by the record's publisher; it removes the record (and
  a local zip of it) if its seq is higher, and is kept so later replays are refused.
* Two publishers may publish the same bytes (same id): the first record stays; the second
  publisher is recorded as a provider of the zip.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import DockError, StoreError
from .records import LearnwareRecord
from .signed_records import SignedRecord, sign_record, sign_tombstone
from .store_network import NetworkStore

log = logging.getLogger(__name__)


def withdraw_if_ours(dock, learnware_id: str) -> SignedRecord | None:
    """Store (and return) a tombstone when this node published the record, else None."""
    network = NetworkStore(dock.catalogue)
    envelope = network.envelope(learnware_id)
    if envelope is None or envelope[0] != dock.identity.peer_id:
        return None
    import time

    tombstone = sign_tombstone(dock.identity, learnware_id, seq=max(int(time.time() * 1000), envelope[1] + 1))
    network.put_tombstone(learnware_id, tombstone.publisher, tombstone.seq, tombstone.envelope)
    return tombstone


def ingest(dock, signed: SignedRecord, from_peer: str | None = None) -> str:
    """Apply a verified record or tombstone; returns what happened: "stored", "duplicate",
    "withdrawn" (refused: a tombstone says so), "removed" (a tombstone applied), "ignored"."""
    network = NetworkStore(dock.catalogue)
    if signed.kind == "tombstone":
        return _apply_tombstone(dock, network, signed)
    tombstone = network.tombstone(signed.id)
    if tombstone is not None and tombstone[0] == signed.publisher and tombstone[1] >= signed.seq:
        return "withdrawn"
    if dock.catalogue.exists(signed.id):
        # Whoever else publishes the same bytes evidently has them.
        network.add_provider(signed.id, signed.publisher)
        return "duplicate"
    record = LearnwareRecord(
        id=signed.id,
        semantic_spec=signed.semantic_spec,
        model_config=signed.model_config,
        size=signed.size,
        publisher=signed.publisher,
        stat_spec_types=tuple(sorted(signed.spec_bytes or {})),
    )
    specs = signed.stat_specs()
    try:
        dock.catalogue.insert(record, specs.values(), blob_size=None, envelope=signed)
    except StoreError:
        return "duplicate"  # another thread stored it first
    dock._index_add(record, specs.values())
    network.add_provider(signed.id, signed.publisher)
    if from_peer and from_peer != signed.publisher:
        log.debug("record %s from %s via %s", signed.id[:12], signed.publisher[:12], from_peer[:12])
    return "stored"


def _apply_tombstone(dock, network: NetworkStore, tomb: SignedRecord) -> str:
    existing = network.tombstone(tomb.id)
    if existing is not None and existing[1] >= tomb.seq:
        return "duplicate"
    envelope = network.envelope(tomb.id)
    if envelope is not None and envelope[0] != tomb.publisher:
        return "ignored"  # only the publisher may withdraw its record
    network.put_tombstone(tomb.id, tomb.publisher, tomb.seq, tomb.envelope)
    if envelope is not None and envelope[1] < tomb.seq:
        dock._forget(tomb.id)
        return "removed"
    return "stored"


class FetchedZipMismatch(DockError):
    """A fetched zip is not what its signed record says (bad package, other specs or model)."""

    def __init__(self, reason: str):
        super().__init__(f"fetched zip does not match its record: {reason}")
        self.reason = reason


def check_against_record(dock, learnware_id: str, path: Path) -> None:
    """Before a fetched zip is stored or loaded: the package checks a local submit gets (hostile
    zip structure, yaml, spec files), then its id, stat specs and model config must equal the
    record's. Raises FetchedZipMismatch saying what differs."""
    from specs.wire import unpack_spec

    from .package import read_package

    signed = _signed_record(dock, learnware_id)
    try:
        package = read_package(path)
    except Exception as exc:  # hostile bytes: any failure to read them is a mismatch
        raise FetchedZipMismatch(f"the zip is not a valid learnware: {exc}") from None
    if package.id != learnware_id:
        raise FetchedZipMismatch(f"its bytes hash to {package.id[:12]}…, not to the record's id")
    if set(package.stat_specs) != set(signed.spec_bytes):
        raise FetchedZipMismatch(f"its stat specs are {sorted(package.stat_specs)}, the record's "
                                 f"{sorted(signed.spec_bytes)}")
    for kind, spec in package.stat_specs.items():
        # Compared in the wire form the publisher signed (float32 arrays), unpacked: any zstd framing.
        try:
            same = unpack_spec(spec.to_bytes()) == unpack_spec(signed.spec_bytes[kind])
        except Exception as exc:
            raise FetchedZipMismatch(f"its {kind} cannot be compared: {exc}") from None
        if not same:
            raise FetchedZipMismatch(f"its {kind} differs from the one in the record")
    if _canonical(package.model_config) != _canonical(signed.model_config):
        raise FetchedZipMismatch(f"its model config {_canonical(package.model_config)[:200]} differs from the "
                                 "record's")


def _signed_record(dock, learnware_id: str):
    """The record as its publisher signed it (the catalogue re-encodes specs)."""
    from .signed_records import decode_envelope

    stored = NetworkStore(dock.catalogue).envelope(learnware_id)
    if stored is None:
        raise FetchedZipMismatch("no signed record to check it against")
    return decode_envelope(stored[2])


def _canonical(model_config: dict) -> str:
    import json

    return json.dumps(model_config, sort_keys=True, default=list)


def adopt_fetched_blob(dock, learnware_id: str, path: Path) -> None:
    """Check a fetched zip against its record, then move it into the blob store (its hash checked
    again on the way). On a mismatch the zip is deleted, never stored (FetchedZipMismatch)."""
    try:
        check_against_record(dock, learnware_id, path)
    except FetchedZipMismatch:
        path.unlink(missing_ok=True)
        raise
    stored_id, _ = dock.blobs.put_file(path, expected_id=learnware_id)
    size = os.path.getsize(dock.blobs.path(stored_id))
    NetworkStore(dock.catalogue).add_blob(stored_id, size)
    path.unlink(missing_ok=True)


def sign_unsigned(dock) -> int:
    """Sign, as this node's, local records stored before the dock signed records (migration
    0002). Records without a local zip cannot be vouched for and stay unsigned (not gossiped)."""
    network = NetworkStore(dock.catalogue)
    local = dock.catalogue.blob_ids()
    count = 0
    for learnware_id in network.unsigned_ids():
        if learnware_id not in local:
            continue
        record = dock.catalogue.get(learnware_id)
        signed = sign_record(
            dock.identity,
            learnware_id=learnware_id,
            size=record.size,
            semantic_spec=record.semantic_spec,
            model_config=record.model_config,
            spec_bytes=dock.catalogue.spec_bytes(learnware_id),
            seq=int(record.created_at.timestamp() * 1000),
            zip_path=dock.blobs.path(learnware_id),
        )
        network.add_envelope(learnware_id, signed.publisher, signed.seq, signed.envelope)
        count += 1
    return count
