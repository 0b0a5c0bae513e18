"""A learnware's semantic spec changed by its publisher, as a newer signed record (issue 15).

A learnware's id is the sha256 of its zip, so a new semantic spec for the same zip is not a new
learnware: it is a newer version of the same record. Rules:

* Locally (`Dock.update_semantic`, `lwdock update ID --semantic F`): only the publisher of the
  record (this node's key signed it, or nobody did) may update it, and only while the zip is here.
  The new spec is validated in full and the zip is checked again against it (`check_zip`: the model
  runs in a worker, its outputs must fit the new Output/Task), so an update can never describe the
  model wrongly. Then a record with the same id, model, size and specs, the new semantic spec and
  seq = max(now ms, old seq + 1) is signed and replaces the old envelope, catalogue columns and
  index entry in one transaction; online, it is announced like a new record.
* From peers (`apply_update`, called by ingest for an id it already holds): applied only when the
  new record is signed by the SAME publisher as the stored one, has a HIGHER seq, and carries the
  same size, model config and spec bytes (only the semantic spec may change). Otherwise ignored.
  Sync serves the replaced envelope with a new cursor position, so peers that missed the gossip get
  the update on their next sync.
* `Dock.submit(zip, semantic_spec)` of a zip already stored with a different semantic spec raises
  SemanticConflict (nothing changes) instead of silently keeping the old one.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from dock.errors import NotFoundError, NotPublisherError, PackageError, SemanticConflict
from dock.network.signed_records import SignedRecord, sign_record
from dock.records import LearnwareRecord
from dock.store.network_tables import NetworkStore

log = logging.getLogger(__name__)


def check_zip(zip_path, semantic_spec: dict | None = None, *, limits=None) -> dict[str, Any]:
    """Every check `Dock.submit` runs, nothing stored: {"id", "semantic_spec", "stat_specs", "model"}.
    Raises what submit raises (PackageError, CheckError, SpecError...)."""
    from dock.package.reader import extract_package, read_folder
    from dock.package.submission_checks import check_package
    from dock.store.blobs import sha256_file

    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise PackageError(f"no such file: {zip_path}")
    learnware_id = sha256_file(zip_path)
    with tempfile.TemporaryDirectory(prefix="lwdock-check-") as tmp:
        folder = extract_package(zip_path, Path(tmp) / "learnware")
        package = read_folder(folder, zip_path.resolve(), learnware_id, semantic_spec)
        check_package(package, folder, limits=limits)
    return {"id": learnware_id, "semantic_spec": package.semantic_spec, "model": package.model_config,
            "stat_specs": {kind: repr(spec) for kind, spec in package.stat_specs.items()}}


def refuse_conflicting_resubmit(dock, learnware_id: str, semantic_spec: dict | None) -> None:
    """Called by submit for a zip already stored: a different semantic spec is an error, not a no-op."""
    if semantic_spec is None:
        return
    from specs import validate_semantic_spec

    new = validate_semantic_spec(semantic_spec)
    old = dock.catalogue.get(learnware_id).semantic_spec
    if _canonical(new) != _canonical(old):
        raise SemanticConflict(
            f"learnware {learnware_id[:12]}… is already in the dock with another semantic spec; nothing was "
            f"changed. To change it: lwdock update {learnware_id[:12]} --semantic FILE (Dock.update_semantic)")


def _canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, ensure_ascii=False)


def update_semantic(dock, learnware_id: str, semantic_spec: dict, *, limits=None) -> LearnwareRecord:
    """Replace a stored learnware's semantic spec by a newer signed record (see the module docstring)."""
    learnware_id = dock.resolve_id(learnware_id)
    network = NetworkStore(dock.catalogue)
    envelope = network.envelope(learnware_id)
    me = dock.identity.peer_id
    if envelope is not None and envelope[0] != me:
        raise NotPublisherError(
            f"learnware {learnware_id[:12]}… was published by {envelope[0][:16]}…, not by this node: only its "
            "publisher can update its semantic spec (publish your own version as a new learnware)")
    if not dock.catalogue.has_blob(learnware_id):
        raise NotFoundError(f"the zip of {learnware_id[:12]}… is not in this dock; fetch it first")
    old = dock.catalogue.get(learnware_id)
    zip_path = dock.blobs.path(learnware_id)
    checked = check_zip(zip_path, semantic_spec, limits=limits)  # validates in full and runs the model
    new_spec = checked["semantic_spec"]
    if _canonical(new_spec) == _canonical(old.semantic_spec):
        log.info("learnware %s: the semantic spec is unchanged", learnware_id[:12])
        return old
    seq = max(int(time.time() * 1000), (envelope[1] + 1) if envelope else 0)
    signed = sign_record(dock.identity, learnware_id=learnware_id, size=old.size, semantic_spec=new_spec,
                         model_config=old.model_config, spec_bytes=dock.catalogue.spec_bytes(learnware_id),
                         seq=seq, zip_path=zip_path)
    record = _replace(dock, old, signed)
    log.info("learnware %s: semantic spec updated (seq %d)", learnware_id[:12], seq)
    if dock.network is not None:
        dock.network.announce(signed)
    return record


def apply_update(dock, signed: SignedRecord) -> str:
    """A peer's record for an id stored here: "updated" when it is a valid newer version (same publisher,
    higher seq, same size/model/specs), else "duplicate" (the caller's old answer)."""
    network = NetworkStore(dock.catalogue)
    envelope = network.envelope(signed.id)
    if envelope is None or envelope[0] != signed.publisher or signed.seq <= envelope[1]:
        return "duplicate"
    old = dock.catalogue.get(signed.id)
    same_payload = (signed.size == old.size
                    and _canonical(signed.model_config or {}) == _canonical(old.model_config)
                    and dict(signed.spec_bytes or {}) == dock.catalogue.spec_bytes(signed.id))
    if not same_payload:
        log.info("record %s from %s: a newer seq but another model or spec; ignored",
                 signed.id[:12], signed.publisher[:12])
        return "duplicate"
    if _canonical(signed.semantic_spec or {}) == _canonical(old.semantic_spec):
        return "duplicate"
    _replace(dock, old, signed)
    log.info("learnware %s: semantic spec updated by its publisher (seq %d)", signed.id[:12], signed.seq)
    return "updated"


def _replace(dock, old: LearnwareRecord, signed: SignedRecord) -> LearnwareRecord:
    """Catalogue columns + envelope (a new sync position) in one transaction, then the search index."""
    import dataclasses

    record = dataclasses.replace(old, semantic_spec=dict(signed.semantic_spec or {}))
    cat = dock.catalogue
    with cat._lock:
        cat._con.execute("BEGIN TRANSACTION")
        try:
            cat._con.execute(
                "UPDATE learnwares SET name = ?, description = ?, data_type = ?, task_type = ?, library_type = ?, "
                "license = ?, scenarios = ?, input_dim = ?, output_dim = ?, semantic_json = ?, "
                "name_key = ? WHERE id = ?",  # name_key: the listing's sort key (migration 0009)
                [record.name, record.description, record.data_type, record.task_type, record.library_type,
                 record.license, record.scenarios, record.input_dim, record.output_dim,
                 json.dumps(record.semantic_spec, sort_keys=True), record.name.lower(), record.id])
            cat._con.execute("DELETE FROM envelopes WHERE id = ?", [record.id])
            cat._con.execute("INSERT INTO envelopes (id, publisher, seq, envelope) VALUES (?, ?, ?, ?)",
                             [record.id, signed.publisher, signed.seq, signed.envelope])
            cat._con.execute("COMMIT")
        except Exception:
            cat._con.execute("ROLLBACK")
            raise
    dock._index_remove(record.id)
    dock._index_add(record, dock.get_stat_specs(record.id).values())
    return record
