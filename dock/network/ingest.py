"""What the dock does with signed records from the network, and when it withdraws its own.

Rules (docs/PROTOCOL.md "Records"):
* A record is stored when its id is unknown, no tombstone *signed by its publisher* with a seq
  >= its seq is known, and the budgets (dock/network/budgets.py) allow it. A replayed record after a
  withdrawal is therefore refused, as is any record with a bad signature, schema, model config
  or a far-future seq (decode_envelope runs before this module sees anything).
* A tombstone counts only when signed by the record's publisher; it removes the record (and
  a local zip of it) if its seq is higher, and is kept so later replays are refused. Anyone
  else's tombstone for a known record is ignored.
* A tombstone for an id not known here is *held* per (id, signer) in `pending_tombstones`
  (bounded per signer and in total, oldest dropped), never served by sync, and applied only when
  a record of that id signed by the same key arrives: a stranger's tombstone can therefore never
  hide a record or block its real publisher's later withdrawal (issue 11, case 4).
* Two publishers may publish the same bytes (same id): the first record stays; the second
  publisher is recorded as a provider of the zip.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dock.errors import DockError, FetchedZipMismatch, StoreError  # noqa: F401  (FetchedZipMismatch: re-exported)
from dock.network.signed_records import SignedRecord, sign_record, sign_tombstone
from dock.records import LearnwareRecord
from dock.store.network_tables import NetworkStore

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


def ingest(dock, signed: SignedRecord, from_peer: str | None = None, admission=None) -> str:
    """Apply a verified record or tombstone; returns what happened: "stored", "duplicate",
    "withdrawn" (refused: a tombstone says so), "removed" (a tombstone applied), "held" (a
    tombstone for an unknown id, kept pending), "ignored". `admission` (dock.network.budgets.Admission)
    raises BudgetRefused before a new record is stored when a budget is spent."""
    network = NetworkStore(dock.catalogue)
    if signed.kind == "tombstone":
        return _apply_tombstone(dock, network, signed, admission)
    tombstone = network.tombstone(signed.id)
    if tombstone is not None and tombstone[0] == signed.publisher and tombstone[1] >= signed.seq:
        return "withdrawn"
    if dock.catalogue.exists(signed.id):
        # Whoever else publishes the same bytes evidently has them.
        network.add_provider(signed.id, signed.publisher)
        from dock.network.semantic_update import apply_update  # its publisher's newer semantic spec (issue 15)

        return apply_update(dock, signed)
    held = network.pending_tombstones(signed.id)
    pending = held.get(signed.publisher)
    if pending is not None and pending[0] >= signed.seq:
        # The publisher withdrew this record before we saw it: its tombstone now counts.
        network.put_tombstone(signed.id, signed.publisher, pending[0], pending[1])
        network.drop_pending_tombstones(signed.id)
        return "withdrawn"
    specs = signed.stat_specs()
    cost = record_cost(signed, specs.values())
    if admission is not None:
        admission.check(signed, from_peer, cost)
    record = LearnwareRecord(
        id=signed.id,
        semantic_spec=signed.semantic_spec,
        model_config=signed.model_config,
        size=signed.size,
        publisher=signed.publisher,
        stat_spec_types=tuple(sorted(signed.spec_bytes or {})),
    )
    # Under the catalogue's lock (re-entrant) so that no reader sees the record stored while the
    # tombstones it makes moot are still held.
    with dock.catalogue._lock:
        try:
            dock.catalogue.insert(record, specs.values(), blob_size=None, envelope=signed)
        except StoreError:
            return "duplicate"  # another thread stored it first
        if held:
            network.drop_pending_tombstones(signed.id)  # older ones of its publisher, anyone else's
    dock._index_add(record, specs.values())
    network.add_provider(signed.id, signed.publisher)
    if admission is not None:
        admission.stored(cost, from_peer)
    if from_peer and from_peer != signed.publisher:
        log.debug("record %s from %s via %s", signed.id[:12], signed.publisher[:12], from_peer[:12])
    return "stored"


def record_cost(signed: SignedRecord, specs) -> int:
    """Bytes a stored record takes in the catalogue's budget: its envelope plus the float64 copies
    of its spec points and weights that search reads (NetworkStore.stored_bytes counts the same)."""
    return len(signed.envelope) + sum(8 * (int(s.z.size) + int(s.beta.size)) for s in specs)


def _apply_tombstone(dock, network: NetworkStore, tomb: SignedRecord, admission=None) -> str:
    existing = network.tombstone(tomb.id)
    if existing is not None and existing[0] == tomb.publisher and existing[1] >= tomb.seq:
        return "duplicate"
    envelope = network.envelope(tomb.id)
    if envelope is None and dock.catalogue.exists(tomb.id):
        return "ignored"  # a local record never signed: nobody else may withdraw it
    if envelope is not None and envelope[0] != tomb.publisher:
        return "ignored"  # only the publisher may withdraw its record
    if envelope is None and (existing is None or existing[0] != tomb.publisher):
        # Unknown id (or one whose record came from another key): not authoritative yet.
        budgets = admission.budgets if admission is not None else None
        held = network.hold_tombstone(
            tomb.id, tomb.publisher, tomb.seq, tomb.envelope,
            per_publisher=budgets.pending_per_publisher if budgets else 100,
            total=budgets.pending_tombstones if budgets else 10_000,
        )
        return "held" if held else "duplicate"
    network.put_tombstone(tomb.id, tomb.publisher, tomb.seq, tomb.envelope)
    if envelope is not None and envelope[1] < tomb.seq:
        dock._forget(tomb.id)
        return "removed"
    return "stored"




def check_against_record(dock, learnware_id: str, path: Path) -> None:
    """Before a fetched zip is stored or loaded: the package checks a local submit gets (hostile
    zip structure, yaml, spec files), then its id, stat specs and model config must equal the
    record's. Raises FetchedZipMismatch saying what differs."""
    from dock.package.reader import read_package
    from specs.wire import unpack_spec

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
    from dock.network.signed_records import decode_envelope

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
