"""The catalogue's network tables: envelopes, tombstones, providers (0002), held tombstones and
trust (0004), fetch penalties and bad records (0005).

Kept apart from store.py so the catalogue's core stays small; it uses the same connection and
lock as its Catalogue (one DuckDB connection per process, serialised by that lock).
"""

from __future__ import annotations

from datetime import datetime, timezone

from dock.store.catalogue import Catalogue


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

    # -- tombstones for ids not known here (issue 11: held, bounded, never authoritative) ------
    def pending_tombstones(self, learnware_id: str) -> dict[str, tuple[int, bytes]]:
        """Tombstones held for an id: signer -> (seq, envelope)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT publisher, seq, envelope FROM pending_tombstones WHERE id = ?", [learnware_id]
            ).fetchall()
        return {r[0]: (int(r[1]), bytes(r[2])) for r in rows}

    def hold_tombstone(self, learnware_id: str, publisher: str, seq: int, envelope: bytes, *,
                       per_publisher: int, total: int) -> bool:
        """Keep a tombstone for an unknown id (the highest seq per id and signer); then drop the
        signer's oldest beyond `per_publisher` and everyone's oldest beyond `total`. False when
        an equal or higher one is already held."""
        with self._lock:
            held = self._con.execute(
                "SELECT seq FROM pending_tombstones WHERE id = ? AND publisher = ?", [learnware_id, publisher]
            ).fetchone()
            if held is not None and int(held[0]) >= seq:
                return False
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute(
                    "DELETE FROM pending_tombstones WHERE id = ? AND publisher = ?", [learnware_id, publisher]
                )
                self._con.execute(
                    "INSERT INTO pending_tombstones VALUES (?, ?, ?, ?, ?)",
                    [learnware_id, publisher, seq, envelope, datetime.now(timezone.utc)],
                )
                # oldest dropped first: beyond the signer's share, then beyond the total
                for partition, bound in (("PARTITION BY publisher", per_publisher), ("", total)):
                    self._con.execute(
                        "DELETE FROM pending_tombstones WHERE id || ' ' || publisher IN (SELECT id || ' ' || "
                        f"publisher FROM (SELECT id, publisher, row_number() OVER ({partition} ORDER BY "
                        "received_at DESC, id) AS age FROM pending_tombstones) WHERE age > ?)",
                        [bound],
                    )
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise
        return True

    def pending_count(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM pending_tombstones").fetchone()[0])

    # -- what budgets look at (dock/network/budgets.py) ------------------------------------------------
    def publisher_records(self, publisher: str) -> int:
        with self._lock:
            row = self._con.execute("SELECT count(*) FROM envelopes WHERE publisher = ?", [publisher]).fetchone()
        return int(row[0])

    def stored_bytes(self) -> int:
        """What the catalogue's byte budget counts: every envelope plus, per spec, the size of its
        points and weights as float64 (8 k (dim + 1) bytes; dock.network.ingest.record_cost for
        one record). Migration 0008 dropped that float64 copy; the budget keeps its unit, so a
        budget set before means the same number of records."""
        with self._lock:
            row = self._con.execute(
                "SELECT (SELECT coalesce(sum(octet_length(envelope)), 0) FROM envelopes) + "
                "(SELECT coalesce(sum(8 * k * (dim + 1)), 0) FROM stat_specs)"
            ).fetchone()
        return int(row[0])

    def eviction_candidates(self, protected: set[str], limit: int) -> list[tuple[str, int]]:
        """(id, bytes as stored_bytes counts them) of records that may be evicted, first to go first: never a record
        without an envelope (local, unsigned), whose zip is here, or whose publisher is protected
        (this node, trusted ids). Records that no peer but their publisher serves go before those
        other peers also hold; among equals the most recently added goes first, so a flood
        cannot flush an established catalogue."""
        with self._lock:
            rows = self._con.execute(
                "SELECT e.id, octet_length(e.envelope) + coalesce((SELECT sum(8 * s.k * (s.dim + 1)) "
                "FROM stat_specs s WHERE s.learnware_id = e.id), 0) "
                "FROM envelopes e JOIN learnwares l ON l.id = e.id "
                "WHERE NOT list_contains(?, e.publisher) AND e.id NOT IN (SELECT id FROM blobs) "
                "ORDER BY (SELECT count(*) FROM providers p WHERE p.id = e.id AND p.peer_id <> e.publisher) > 0, "
                "l.added_at DESC, e.id LIMIT ?",
                [sorted(protected), limit],
            ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    # -- the user's trust list (`lwdock trust`) ------------------------------------------------
    def trusted(self) -> list[tuple[str, str, datetime]]:
        with self._lock:
            rows = self._con.execute("SELECT id, note, added_at FROM trusted ORDER BY added_at, id").fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def trust(self, peer_id: str, note: str) -> None:
        with self._lock:
            self._con.execute(
                "INSERT INTO trusted VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET note = excluded.note",
                [peer_id, note, datetime.now(timezone.utc)],
            )

    def untrust(self, peer_id: str) -> bool:
        with self._lock:
            found = self._con.execute("SELECT 1 FROM trusted WHERE id = ?", [peer_id]).fetchone() is not None
            self._con.execute("DELETE FROM trusted WHERE id = ?", [peer_id])
        return found

    def drop_pending_tombstones(self, learnware_id: str) -> None:
        """Forget every held tombstone for an id whose record (and so its publisher) is now known."""
        with self._lock:
            self._con.execute("DELETE FROM pending_tombstones WHERE id = ?", [learnware_id])

    # -- what fetches learnt about liars (dock/network/fetch.py), kept across restarts --------
    def save_penalty(self, peer_id: str, strikes: int, until: float, reason: str, *, keep: int) -> None:
        """Record a provider's penalty (`until`: Unix seconds); drop expired ones, and the
        soonest to expire beyond `keep`."""
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute(
                    "INSERT INTO provider_penalties VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "strikes = excluded.strikes, until = excluded.until, reason = excluded.reason",
                    [peer_id, strikes, until, reason],
                )
                self._con.execute("DELETE FROM provider_penalties WHERE until <= ?", [_epoch_now()])
                self._con.execute(
                    "DELETE FROM provider_penalties WHERE peer_id IN (SELECT peer_id FROM provider_penalties "
                    "ORDER BY until DESC, peer_id OFFSET ?)", [keep])
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def current_penalties(self) -> dict[str, tuple[int, float, str]]:
        """peer -> (strikes, until in Unix seconds, reason) of penalties not yet served; expired
        rows are deleted."""
        with self._lock:
            now = _epoch_now()
            self._con.execute("DELETE FROM provider_penalties WHERE until <= ?", [now])
            rows = self._con.execute("SELECT peer_id, strikes, until, reason FROM provider_penalties").fetchall()
        return {r[0]: (int(r[1]), float(r[2]), r[3]) for r in rows}

    def mark_bad(self, learnware_id: str, publisher: str, seq: int, reason: str, *, keep: int) -> None:
        """Remember that the zip of this signed record (publisher, seq) does not match it; the
        oldest marks beyond `keep` are dropped."""
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.execute(
                    "INSERT INTO bad_records VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET publisher = "
                    "excluded.publisher, seq = excluded.seq, reason = excluded.reason, marked_at = excluded.marked_at",
                    [learnware_id, publisher, seq, reason, datetime.now(timezone.utc)],
                )
                self._con.execute(
                    "DELETE FROM bad_records WHERE id IN (SELECT id FROM bad_records "
                    "ORDER BY marked_at DESC, id OFFSET ?)", [keep])
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def bad_records(self) -> dict[str, str]:
        """id -> reason of records marked bad whose signed record still stands unchanged; marks
        of records since withdrawn, evicted or re-signed (another publisher or seq) are deleted."""
        with self._lock:
            self._con.execute(
                "DELETE FROM bad_records b WHERE NOT EXISTS (SELECT 1 FROM envelopes e "
                "WHERE e.id = b.id AND e.publisher = b.publisher AND e.seq = b.seq)"
            )
            rows = self._con.execute("SELECT id, reason FROM bad_records").fetchall()
        return {r[0]: r[1] for r in rows}


def _epoch_now() -> float:
    import time

    return time.time()
