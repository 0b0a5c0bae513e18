"""The catalogue's schema: named migrations, applied in order by Catalogue._migrate
(dock/store/catalogue.py), each in one transaction with its record in schema_migrations.

Append only: a migration, once released, never changes; fix forward with a new one.
"""

from __future__ import annotations

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
    (
        # What the network needs: each record's signed envelope (what was gossiped, served again
        # by sync), tombstones (signed withdrawals), and which peers hold which zips. `n` orders
        # both envelope tables for the sync protocol's cursor; a replaced row gets a new `n`.
        "0002_network",
        """
        CREATE SEQUENCE sync_order START 1;
        CREATE TABLE envelopes (
            id        VARCHAR PRIMARY KEY,
            publisher VARCHAR NOT NULL,
            seq       BIGINT NOT NULL,
            envelope  BLOB NOT NULL,
            n         BIGINT NOT NULL DEFAULT nextval('sync_order')
        );
        CREATE TABLE tombstones (
            id        VARCHAR PRIMARY KEY,
            publisher VARCHAR NOT NULL,
            seq       BIGINT NOT NULL,
            envelope  BLOB NOT NULL,
            n         BIGINT NOT NULL DEFAULT nextval('sync_order')
        );
        CREATE TABLE providers (
            id      VARCHAR NOT NULL,
            peer_id VARCHAR NOT NULL,
            seen_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (id, peer_id)
        );
        """,
    ),
    (
        # DuckDB answered `compat_key = ?` through this ART index with one point fetch per row,
        # dragging the BLOB columns along: 14-24 s per 1,000 specs against ~0.15 s by a scan.
        "0003_drop_stat_specs_compat_index",
        "DROP INDEX stat_specs_compat;",
    ),
    (
        # Issue 11. pending_tombstones: withdrawals of ids this node has no record of, held (per
        # id and signer, bounded in dock/network/budgets.py) until a record signed by the same key arrives;
        # a stranger's tombstone never lands in `tombstones`, so it cannot squat an id.
        # trusted: peer/publisher ids the user trusts (`lwdock trust`): exempt from quotas,
        # never evicted, may evict others when the catalogue is full.
        "0004_pending_tombstones_and_trust",
        """
        CREATE TABLE pending_tombstones (
            id          VARCHAR NOT NULL,
            publisher   VARCHAR NOT NULL,
            seq         BIGINT NOT NULL,
            envelope    BLOB NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (id, publisher)
        );
        CREATE TABLE trusted (
            id       VARCHAR PRIMARY KEY,
            note     VARCHAR NOT NULL,
            added_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # Issue 12: what a fetch learnt about liars outlives a restart (dock/network/fetch.py).
        # provider_penalties: a provider that sent a wrong piece/layer/header, tried last until
        # `until` (Unix seconds; rows past it are deleted). bad_records: a record whose zip did
        # not match it, never fetched again while the same signed record (publisher, seq) stands.
        # Both are bounded (oldest dropped) by the fetch path.
        "0005_fetch_penalties",
        """
        CREATE TABLE provider_penalties (
            peer_id VARCHAR PRIMARY KEY,
            strikes INTEGER NOT NULL,
            until   DOUBLE NOT NULL,
            reason  VARCHAR NOT NULL
        );
        CREATE TABLE bad_records (
            id        VARCHAR PRIMARY KEY,
            publisher VARCHAR NOT NULL,
            seq       BIGINT NOT NULL,
            reason    VARCHAR NOT NULL,
            marked_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # Issue 16 (sync): where each peer's sync stopped (the peer's own change counter `n`, see
        # 0002), so a restart resumes instead of re-reading the peer's whole catalogue. Named
        # 0007: the search index takes 0006; this one depends on no table of it.
        "0007_sync_cursors",
        """
        CREATE TABLE sync_cursors (
            peer_id    VARCHAR PRIMARY KEY,
            cursor     BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # Issue 16 (storage): each spec's points were stored twice in stat_specs: raw float64 z and
        # beta (52 KB at K=100, d=64) beside spec_bytes, the spec's wire form (float32, ~24 KB),
        # which the signed record carries. Search now reads the points from spec_bytes and the
        # float64 columns go. Nothing is lost: a record from a peer had its z/beta decoded from
        # these very spec_bytes (float32 widened), and a record submitted here was signed and
        # announced with these spec_bytes; the full-precision spec it was packed with stays in
        # its zip (the blob store). One transaction: a crash leaves the columns as they were.
        # DuckDB reuses the freed blocks for new rows; the file itself does not shrink.
        "0008_spec_points_once",
        """
        ALTER TABLE stat_specs DROP COLUMN z;
        ALTER TABLE stat_specs DROP COLUMN beta;
        """,
    ),
    (
        # Issue 16 (listing): what a page of the listing shows, on the record's own row, so a page
        # of 50 out of 1M never scans another column of the whole table: name_key (the name in
        # lower case, what "sort by name" orders by: lower() over 1M names cost 0.2-0.5 s per
        # page) and spec_types (the record's stat spec types, sorted: looked up in stat_specs by
        # id, a scan of 1M ids, 0.1-0.25 s). Every writer fills both; a row left NULL by some
        # other writer still lists right (the listing falls back to lower(name) / stat_specs).
        "0009_listing_columns",
        """
        ALTER TABLE learnwares ADD COLUMN name_key VARCHAR;
        ALTER TABLE learnwares ADD COLUMN spec_types VARCHAR[];
        UPDATE learnwares SET name_key = lower(name);
        UPDATE learnwares SET spec_types = t.types
          FROM (SELECT learnware_id, list(spec_type ORDER BY spec_type) AS types FROM stat_specs
                GROUP BY learnware_id) t
         WHERE t.learnware_id = learnwares.id;
        UPDATE learnwares SET spec_types = [] WHERE spec_types IS NULL;
        """,
    ),
]

# The schema version is the number of migrations applied; names, not numbers, are what is
# recorded (schema_migrations), so a version is always "these migrations, in this order".
SCHEMA_VERSION = len(MIGRATIONS)


