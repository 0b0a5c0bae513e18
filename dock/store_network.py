"""The catalogue's network tables (migration 0002_network): envelopes, tombstones, providers.

Kept apart from store.py so the catalogue's core stays small; it uses the same connection and
lock as its Catalogue (one DuckDB connection per process, serialised by that lock).
"""

from __future__ import annotations

from datetime import datetime, timezone

from .store import Catalogue


class NetworkStore:
    def __init__(self, catalogue: Catalogue):
        self._con = catalogue._con
        self._lock = catalogue._lock

    def envelope(self, learnware_id: str) -> tuple[str, int, bytes] | None:
        """(publisher, seq, envelope bytes) of a record, if it is signed."""
        with self._lock:
            row = self._con.execute(
                "SELECT publisher, seq, envelope FROM envelopes WHERE id = ?", [learnware_id]
            ).fetchone()
        return (row[0], int(row[1]), bytes(row[2])) if row else None

    def add_envelope(self, learnware_id: str, publisher: str, seq: int, envelope: bytes) -> None:
        """Sign-after-the-fact for records stored before the network existed (see Dock.sign_unsigned)."""
        with self._lock:
            self._con.execute(
                "INSERT INTO envelopes (id, publisher, seq, envelope) VALUES (?, ?, ?, ?)",
                [learnware_id, publisher, seq, envelope],
            )
            self._con.execute("UPDATE learnwares SET publisher = ? WHERE id = ?", [publisher, learnware_id])

    def unsigned_ids(self) -> list[str]:
        with self._lock:
            rows = self._con.execute(
                "SELECT id FROM learnwares WHERE id NOT IN (SELECT id FROM envelopes) ORDER BY id"
            ).fetchall()
        return [r[0] for r in rows]

    def tombstone(self, learnware_id: str) -> tuple[str, int] | None:
        with self._lock:
            row = self._con.execute("SELECT publisher, seq FROM tombstones WHERE id = ?", [learnware_id]).fetchone()
        return (row[0], int(row[1])) if row else None

    def put_tombstone(self, learnware_id: str, publisher: str, seq: int, envelope: bytes) -> None:
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute("DELETE FROM tombstones WHERE id = ?", [learnware_id])
                self._con.execute(
                    "INSERT INTO tombstones (id, publisher, seq, envelope) VALUES (?, ?, ?, ?)",
                    [learnware_id, publisher, seq, envelope],
                )
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def changes_after(self, cursor: int, limit: int) -> list[tuple[int, str, bytes]]:
        """(n, id, envelope) of records and tombstones stored after `cursor`, oldest first."""
        with self._lock:
            rows = self._con.execute(
                "SELECT n, id, envelope FROM (SELECT n, id, envelope FROM envelopes "
                "UNION ALL SELECT n, id, envelope FROM tombstones) WHERE n > ? ORDER BY n LIMIT ?",
                [cursor, limit],
            ).fetchall()
        return [(int(n), lid, bytes(env)) for n, lid, env in rows]

    def add_blob(self, learnware_id: str, size: int) -> None:
        """Index a zip that arrived from a peer (the blob file is already in place)."""
        with self._lock:
            self._con.execute(
                "INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [learnware_id, size, datetime.now(timezone.utc)],
            )

    def add_provider(self, learnware_id: str, peer_id: str) -> None:
        with self._lock:
            self._con.execute(
                "INSERT INTO providers VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET seen_at = excluded.seen_at",
                [learnware_id, peer_id, datetime.now(timezone.utc)],
            )

    def providers(self, learnware_id: str) -> list[str]:
        """Peers known to hold the zip, most recently seen first."""
        with self._lock:
            rows = self._con.execute(
                "SELECT peer_id FROM providers WHERE id = ? ORDER BY seen_at DESC", [learnware_id]
            ).fetchall()
        return [r[0] for r in rows]

    def provider_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._con.execute("SELECT id, count(*) FROM providers GROUP BY id").fetchall()
        return {lid: int(n) for lid, n in rows}
