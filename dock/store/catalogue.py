"""The DuckDB catalogue: records, statistical specs and the blob index, with named migrations
(dock/store/migrations.py).

One `Catalogue` per process, owned through `OwnerLock` (DuckDB allows one writer process per
file). A DuckDB connection is not thread-safe, so every call takes the catalogue's lock; the
daemon issue may move writes onto a single writer thread behind the same methods.

A spec's points are stored once, in its wire form (`spec_bytes`: what the signed record
carries, float32); search decodes them (dock/store/spec_rows.py). Before migration 0008 a
float64 copy sat beside it (docs/ARCHITECTURE.md "Storage per learnware").
"""

from __future__ import annotations

import builtins  # `list` names Catalogue.list inside the class: annotations say builtins.list
import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import duckdb

from dock.errors import NotFoundError, StoreError
from dock.home import PRIVATE_FILE, make_private
from dock.records import LearnwareRecord, compat_key
from dock.store.migrations import MIGRATIONS, SCHEMA_VERSION  # noqa: F401  (SCHEMA_VERSION: re-exported)

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def check_known(applied: list[str], db_path: Path) -> None:
    """StoreError when `applied` (migration names a catalogue records) are not a prefix of
    MIGRATIONS: the catalogue was written by a newer lwdock (or a fork) this one cannot read."""
    known = [name for name, _ in MIGRATIONS]
    unknown = sorted(set(applied) - set(known))
    if unknown:
        raise StoreError(
            f"the catalogue {db_path} was written by a newer lwdock: it has schema version "
            f"{len(applied)} (migrations up to {unknown[-1]}), this lwdock knows up to {SCHEMA_VERSION} "
            f"({known[-1]}). Upgrade lwdock to open it; nothing was changed"
        )
    missing = [name for name in known[:len(applied)] if name not in set(applied)]
    if missing:
        raise StoreError(f"the catalogue {db_path} skipped migration(s) {', '.join(missing)} that later ones "
                         "build on; it was not made by lwdock's migrations and is left as it is")


CHECKPOINT_THRESHOLD = "256MB"

_RECORD_COLUMNS = "id, semantic_json, model_json, size, publisher, created_at, spec_types"


class Catalogue:
    def __init__(self, db_path: Path):
        try:
            self._con = duckdb.connect(str(db_path))
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the catalogue {db_path}: {exc}") from exc
        self._lock = threading.RLock()
        self._path = Path(db_path)
        # Bumped by insert/delete: the search index re-counts the catalogue only when this moved
        # (or RECOUNT_SECONDS passed), as count(*) cost 1-7 ms per search on a loaded machine.
        self.writes = 0
        try:
            self._migrate()
            # DuckDB checkpoints (folds the WAL into the file) whenever the WAL passes this; each
            # checkpoint rewrites the primary-key indexes whole, so at the 16 MB default a sync
            # storing ~25 KB per record spent most of its time checkpointing (1-3 s every 600
            # records at 50k held). 256 MB: a checkpoint every ~10k synced records (issue 16).
            self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        except BaseException:
            self._con.close()
            raise
        # The catalogue is private (other users must not read it); DuckDB creates its files with
        # the umask's mode, so tighten them (after the migrations' writes made the .wal). The
        # home itself is 0700 (dock/home.py), which covers files DuckDB makes later.
        for path in (Path(db_path), Path(f"{db_path}.wal")):
            make_private(path, PRIVATE_FILE)

    # -- lifecycle -------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION: each pending migration, in order, in a transaction
        of its own that also records it (a crash leaves the schema at the last whole step).
        A catalogue that has migrations this lwdock does not know was written by a newer one:
        refused before anything is written (an older lwdock never "downgrades" a dock)."""
        with self._lock:
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
            applied = [row[0] for row in
                       self._con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
            check_known(applied, self._path)
            done = set(applied)
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                log.info("applying migration %s to %s", name, self._path)
                self._con.execute("BEGIN TRANSACTION")
                try:
                    self._con.execute(sql)
                    self._con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _now()])
                    self._con.execute("COMMIT")
                except Exception as exc:
                    try:  # an interrupt inside DuckDB (a signal) may have ended the transaction already
                        self._con.execute("ROLLBACK")
                    except duckdb.Error:
                        pass
                    raise StoreError(f"cannot upgrade the catalogue {self._path}: migration {name} failed "
                                     f"({' '.join(str(exc).split())}); nothing of it was applied") from exc

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        """How many of MIGRATIONS this catalogue has (SCHEMA_VERSION once opened)."""
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0])

    def applied_migrations(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- writes ----------------------------------------------------------------------------
    def insert(
        self, record: LearnwareRecord, stat_specs: Iterable[Any], blob_size: int | None, envelope: Any = None
    ) -> None:
        """Insert a record, its specs, (when the zip is local) its blob row and (when signed) its
        envelope (a dock.network.signed_records.SignedRecord), atomically."""
        specs = list(stat_specs)
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute(
                    "INSERT INTO learnwares VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        record.id,
                        record.name,
                        record.description,
                        record.data_type,
                        record.task_type,
                        record.library_type,
                        record.license,
                        record.scenarios,
                        record.input_dim,
                        record.output_dim,
                        json.dumps(record.semantic_spec, sort_keys=True),
                        json.dumps(record.model_config, sort_keys=True, default=list),
                        record.size,
                        record.publisher,
                        record.created_at,
                        _now(),
                        *listing_columns(record.name, specs),  # 0009: name_key, spec_types
                    ],
                )
                for spec in specs:
                    self._con.execute(
                        "INSERT INTO stat_specs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [record.id, spec.type, compat_key(spec), int(spec.dim), int(spec.z.shape[0]),
                         float(spec.gamma), int(getattr(spec, "num_points", 0) or 0), spec.to_bytes()],
                    )
                if blob_size is not None:
                    self._con.execute(
                        "INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [record.id, blob_size, _now()]
                    )
                if envelope is not None:
                    self._con.execute(
                        "INSERT INTO envelopes (id, publisher, seq, envelope) VALUES (?, ?, ?, ?)",
                        [record.id, envelope.publisher, envelope.seq, envelope.envelope],
                    )
                self._con.execute("COMMIT")
                self.writes += 1
            except duckdb.ConstraintException as exc:
                self._con.execute("ROLLBACK")
                raise StoreError(f"learnware {record.id[:12]}… is already in the catalogue") from exc
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def delete(self, learnware_id: str) -> None:
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute("DELETE FROM stat_specs WHERE learnware_id = ?", [learnware_id])
                self._con.execute("DELETE FROM envelopes WHERE id = ?", [learnware_id])
                self._con.execute("DELETE FROM blobs WHERE id = ?", [learnware_id])
                self._con.execute("DELETE FROM learnwares WHERE id = ?", [learnware_id])
                self._con.execute("COMMIT")
                self.writes += 1
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def forget_blob(self, learnware_id: str) -> None:
        with self._lock:
            self._con.execute("DELETE FROM blobs WHERE id = ?", [learnware_id])

    # -- reads -----------------------------------------------------------------------------
    def exists(self, learnware_id: str) -> bool:
        with self._lock:
            row = self._con.execute("SELECT 1 FROM learnwares WHERE id = ?", [learnware_id]).fetchone()
        return row is not None

    def resolve_prefix(self, prefix: str) -> str:
        """Full id from an unambiguous prefix (people type the first few characters)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4:
            raise NotFoundError(f"id prefix {prefix!r} is too short: give at least 4 characters")
        with self._lock:
            rows = self._con.execute("SELECT id FROM learnwares WHERE starts_with(id, ?) LIMIT 2", [prefix]).fetchall()
        if not rows:
            raise NotFoundError(f"no learnware with id {prefix!r} in this dock")
        if len(rows) > 1:
            raise NotFoundError(f"id prefix {prefix!r} is ambiguous: give more characters")
        return rows[0][0]

    def get(self, learnware_id: str) -> LearnwareRecord:
        with self._lock:
            row = self._con.execute(f"SELECT {_RECORD_COLUMNS} FROM learnwares WHERE id = ?", [learnware_id]).fetchone()
            if row is None:
                raise NotFoundError(f"no learnware with id {learnware_id!r} in this dock")
            return self.records_from_rows([row])[0]

    def list(self, where: str = "", params: list | None = None) -> list[LearnwareRecord]:
        """All records matching an optional SQL condition on `learnwares`, newest first."""
        sql = f"SELECT {_RECORD_COLUMNS} FROM learnwares"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY added_at DESC, id"
        with self._lock:
            return self.records_from_rows(self._con.execute(sql, params or []).fetchall())

    def records_from_rows(self, rows: builtins.list[tuple]) -> builtins.list[LearnwareRecord]:
        """Records from rows of _RECORD_COLUMNS. Their spec types come from the row (0009); only a
        row some other writer left without them costs a look-up in stat_specs."""
        missing = [row[0] for row in rows if row[6] is None]
        with self._lock:
            types = self._spec_types(missing) if missing else {}
        return [_record_from_row(row, tuple(row[6]) if row[6] is not None else types.get(row[0], ()))
                for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM learnwares").fetchone()[0])

    def has_blob(self, learnware_id: str) -> bool:
        with self._lock:
            return self._con.execute("SELECT 1 FROM blobs WHERE id = ?", [learnware_id]).fetchone() is not None

    def blob_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._con.execute("SELECT id FROM blobs").fetchall()}

    def spec_bytes(self, learnware_id: str) -> dict[str, bytes]:
        with self._lock:
            rows = self._con.execute(
                "SELECT spec_type, spec_bytes FROM stat_specs WHERE learnware_id = ?", [learnware_id]
            ).fetchall()
        return {t: bytes(b) for t, b in rows}

    def stat_points(self, key: str, ids: builtins.list[str] | None = None
                    ) -> builtins.list[tuple[str, float, np.ndarray, np.ndarray]]:
        """(id, gamma, z, beta) of every spec with this compatibility key (optionally among ids)."""
        from dock.store.spec_rows import stat_points

        return stat_points(self, key, ids)

    # -- reads for the search index (dock/search/engine.py) ----------------------------------------
    # These never filter stat_specs with `compat_key = ?`: DuckDB (2.0.1) answers that through
    # the stat_specs_compat ART index with one point fetch per row, which with the BLOB columns
    # took 14-24 s for 1,000 specs, against ~0.15 s for the same rows by a sequential scan.
    def search_rows(self, ids: builtins.list[str] | None = None) -> builtins.list[tuple]:
        """(id, name, description, data_type, task_type, library_type, license, scenarios,
        input_dim, output_dim, semantic_json) of every learnware (or of these): what search
        keeps in memory."""
        sql = (
            "SELECT id, name, description, data_type, task_type, library_type, license, scenarios, "
            "input_dim, output_dim, semantic_json FROM learnwares"
        )
        with self._lock:
            if ids is None:
                return self._con.execute(sql + " ORDER BY id").fetchall()
            return self._con.execute(sql + " WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)]).fetchall()

    def semantic_fields(self, ids: builtins.list[str] | None = None, with_json: bool = False) -> builtins.list[tuple]:
        """(id, name, description, data_type, task_type, library_type, license, scenarios,
        input_dim, output_dim[, semantic_json]) of every learnware (or of these): what the
        search's semantic filter and text index are built from (the JSON, ~1 KB, only if asked)."""
        sql = ("SELECT id, name, description, data_type, task_type, library_type, license, scenarios, "
               f"input_dim, output_dim{', semantic_json' if with_json else ''} FROM learnwares")
        with self._lock:
            if ids is None:
                return self._con.execute(sql + " ORDER BY id").fetchall()
            return self._con.execute(sql + " WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)]).fetchall()

    def iter_semantic_fields(self, ids: builtins.list[str] | None = None, batch: int = 10000,
                             with_json: bool = False):
        """`semantic_fields` in batches from a streamed scan on a cursor of its own (a consistent
        snapshot; the catalogue's lock is not held between batches): building the text index
        of a million learnwares from one fetchall held ~1 GB of tuples at once."""
        sql = ("SELECT id, name, description, data_type, task_type, library_type, license, scenarios, "
               f"input_dim, output_dim{', semantic_json' if with_json else ''} FROM learnwares")
        params: builtins.list[Any] = []
        if ids is not None:
            sql += " WHERE id IN (SELECT unnest(?))"
            params.append(list(ids))
        return self.streamed(sql + " ORDER BY id", params, batch)

    def streamed(self, sql: str, params: builtins.list[Any], batch: int):
        """Batches of one query's rows from a cursor of its own: DuckDB gives a second connection
        to the same database, a consistent snapshot, so the catalogue's lock is not held between
        batches (a scan of a million rows must not stop every other call meanwhile)."""
        with self._lock:
            cursor = self._con.cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def id_fingerprint(self) -> tuple[int, int]:
        """(count, xor of DuckDB's hash of every id): what a persisted search index compares
        on open to know it holds exactly these learnwares (one scan of the id column)."""
        with self._lock:
            count, xor = self._con.execute(
                "SELECT count(*), coalesce(bit_xor(hash(id)), 0) FROM learnwares").fetchone() or (0, 0)
        return int(count), int(xor)

    def hash_ids(self, ids: builtins.list[str]) -> int:
        """xor of DuckDB's hash of these ids (the index updates its fingerprint with it)."""
        with self._lock:
            (xor,) = self._con.execute("SELECT coalesce(bit_xor(hash(x)), 0) FROM unnest(?::VARCHAR[]) t(x)",
                                       [list(ids)]).fetchone() or (0,)
        return int(xor)

    def learnware_ids(self) -> builtins.list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute("SELECT id FROM learnwares ORDER BY id").fetchall()]

    def iter_stat_rows(self, ids: builtins.list[str] | None = None, batch: int = 1000):
        """Batches of (learnware_id, spec_type, compat_key, gamma, z, beta) for every spec (or
        those of these learnwares), in one streamed scan (dock/store/spec_rows.py)."""
        from dock.store.spec_rows import iter_stat_rows

        return iter_stat_rows(self, ids, batch)

    def _spec_types(self, ids: builtins.list[str]) -> dict[str, tuple[str, ...]]:
        if not ids:
            return {}
        rows = self._con.execute(
            "SELECT learnware_id, list(spec_type ORDER BY spec_type) FROM stat_specs "
            "WHERE list_contains(?, learnware_id) GROUP BY learnware_id",
            [ids],
        ).fetchall()
        return {lid: tuple(types) for lid, types in rows}


def listing_columns(name: str, specs: Iterable[Any]) -> tuple[str, builtins.list[str]]:
    """(name_key, spec_types) of a new learnwares row (migration 0009): what the listing sorts by
    and shows without reading other tables. Every writer of learnwares rows calls this."""
    return name.lower(), sorted({spec.type for spec in specs})


def _record_from_row(row: tuple, spec_types: tuple[str, ...]) -> LearnwareRecord:
    lid, semantic_json, model_json, size, publisher, created_at = row[:6]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    return LearnwareRecord(
        id=lid,
        semantic_spec=json.loads(semantic_json),
        model_config=json.loads(model_json),
        size=int(size),
        publisher=publisher,
        created_at=created_at,
        stat_spec_types=spec_types,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)
