"""The DuckDB catalogue: records, statistical specs and the blob index, with named migrations.

One `Catalogue` per process, owned through `OwnerLock` (DuckDB allows one writer process per
file). A DuckDB connection is not thread-safe, so every call takes the catalogue's lock; the
daemon issue may move writes onto a single writer thread behind the same methods.

Stat spec points are stored as raw little-endian float64 bytes next to their shape, so search
loads them with one `np.frombuffer(...).reshape(k, dim)` and no parsing.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb
import numpy as np

from .errors import NotFoundError, StoreError
from .records import LearnwareRecord, compat_key

log = logging.getLogger(__name__)

# Append only: a migration, once released, never changes; fix forward with a new one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_catalogue",
        """
        CREATE TABLE learnwares (
            id           VARCHAR PRIMARY KEY,
            name         VARCHAR NOT NULL,
            description  VARCHAR NOT NULL,
            data_type    VARCHAR,
            task_type    VARCHAR,
            library_type VARCHAR,
            license      VARCHAR,
            scenarios    VARCHAR[] NOT NULL,
            input_dim    INTEGER,
            output_dim   INTEGER,
            semantic_json VARCHAR NOT NULL,
            model_json   VARCHAR NOT NULL,
            size         BIGINT NOT NULL,
            publisher    VARCHAR,
            created_at   TIMESTAMPTZ NOT NULL,
            added_at     TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE stat_specs (
            learnware_id VARCHAR NOT NULL,
            spec_type    VARCHAR NOT NULL,
            compat_key   VARCHAR NOT NULL,
            dim          INTEGER NOT NULL,
            k            INTEGER NOT NULL,
            gamma        DOUBLE NOT NULL,
            num_points   BIGINT,
            z            BLOB NOT NULL,
            beta         BLOB NOT NULL,
            spec_bytes   BLOB NOT NULL,
            PRIMARY KEY (learnware_id, spec_type)
        );
        CREATE INDEX stat_specs_compat ON stat_specs (compat_key);
        CREATE TABLE blobs (
            id        VARCHAR PRIMARY KEY,
            size      BIGINT NOT NULL,
            stored_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
]

_RECORD_COLUMNS = "id, semantic_json, model_json, size, publisher, created_at"


class Catalogue:
    def __init__(self, db_path: Path):
        try:
            self._con = duckdb.connect(str(db_path))
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the catalogue {db_path}: {exc}") from exc
        self._lock = threading.RLock()
        self._migrate()

    # -- lifecycle -------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
            done = {row[0] for row in self._con.execute("SELECT name FROM schema_migrations").fetchall()}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                log.info("applying migration %s", name)
                self._con.execute("BEGIN TRANSACTION")
                try:
                    self._con.execute(sql)
                    self._con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _now()])
                    self._con.execute("COMMIT")
                except Exception:
                    self._con.execute("ROLLBACK")
                    raise

    def applied_migrations(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- writes ----------------------------------------------------------------------------
    def insert(self, record: LearnwareRecord, stat_specs: Iterable[Any], blob_size: int | None) -> None:
        """Insert a record, its specs and (when the zip is local) its blob row, atomically."""
        specs = list(stat_specs)
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute(
                    "INSERT INTO learnwares VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    ],
                )
                for spec in specs:
                    z = np.ascontiguousarray(spec.z, dtype="<f8")
                    beta = np.ascontiguousarray(spec.beta, dtype="<f8")
                    self._con.execute(
                        "INSERT INTO stat_specs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            record.id,
                            spec.type,
                            compat_key(spec),
                            int(spec.dim),
                            int(z.shape[0]),
                            float(spec.gamma),
                            int(getattr(spec, "num_points", 0) or 0),
                            z.tobytes(),
                            beta.tobytes(),
                            spec.to_bytes(),
                        ],
                    )
                if blob_size is not None:
                    self._con.execute(
                        "INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [record.id, blob_size, _now()]
                    )
                self._con.execute("COMMIT")
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
                self._con.execute("DELETE FROM blobs WHERE id = ?", [learnware_id])
                self._con.execute("DELETE FROM learnwares WHERE id = ?", [learnware_id])
                self._con.execute("COMMIT")
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
            types = self._spec_types([learnware_id])
        if row is None:
            raise NotFoundError(f"no learnware with id {learnware_id!r} in this dock")
        return _record_from_row(row, types.get(learnware_id, ()))

    def list(self, where: str = "", params: list | None = None) -> list[LearnwareRecord]:
        """All records matching an optional SQL condition on `learnwares`, newest first."""
        sql = f"SELECT {_RECORD_COLUMNS} FROM learnwares"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY added_at DESC, id"
        with self._lock:
            rows = self._con.execute(sql, params or []).fetchall()
            types = self._spec_types([r[0] for r in rows])
        return [_record_from_row(r, types.get(r[0], ())) for r in rows]

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

    def stat_points(self, key: str, ids: list[str] | None = None) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
        """(id, gamma, z, beta) of every spec with this compatibility key (optionally among ids)."""
        sql = "SELECT learnware_id, gamma, k, dim, z, beta FROM stat_specs WHERE compat_key = ?"
        params: list[Any] = [key]
        if ids is not None:
            sql += " AND list_contains(?, learnware_id)"
            params.append(ids)
        with self._lock:
            rows = self._con.execute(sql + " ORDER BY learnware_id", params).fetchall()
        out = []
        for lid, gamma, k, dim, z, beta in rows:
            out.append((lid, gamma, np.frombuffer(z, "<f8").reshape(k, dim), np.frombuffer(beta, "<f8")))
        return out

    def _spec_types(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not ids:
            return {}
        rows = self._con.execute(
            "SELECT learnware_id, list(spec_type ORDER BY spec_type) FROM stat_specs "
            "WHERE list_contains(?, learnware_id) GROUP BY learnware_id",
            [ids],
        ).fetchall()
        return {lid: tuple(types) for lid, types in rows}


def _record_from_row(row: tuple, spec_types: tuple[str, ...]) -> LearnwareRecord:
    lid, semantic_json, model_json, size, publisher, created_at = row
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
