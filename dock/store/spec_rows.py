"""Spec points for search, read from the catalogue's one stored copy of each spec: its wire form
(`stat_specs.spec_bytes`, zstd(msgpack) with float32 points; docs/PROTOCOL.md section 6), the
bytes the signed record carries. Migration 0008 dropped the float64 copy that sat beside it.

Decoding goes through specs.spec_from_bytes, the same code that reads a spec from a peer, so a
spec searched here is exactly the spec every other node holds (float32 points widened to
float64, weights summing to 1). Apart from the Catalogue so that opening one (`lwdock list`)
never imports numpy or the spec code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from specs import SpecError, spec_from_bytes

if TYPE_CHECKING:
    from dock.store.catalogue import Catalogue

log = logging.getLogger(__name__)
SHOWN_UNREADABLE = 5  # unreadable stored specs named one by one in the log; the rest are counted


def decode_points(spec_bytes: bytes, k: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(z (k, dim), beta (k,)) as float64 from a stored spec's wire bytes."""
    spec = spec_from_bytes(bytes(spec_bytes))
    z, beta = np.asarray(spec.z, dtype=np.float64), np.asarray(spec.beta, dtype=np.float64)
    if z.shape != (k, dim):  # the row's shape columns were written from the same spec
        raise ValueError(f"stored spec has points {z.shape}, its row says ({k}, {dim})")
    return z, beta


def stat_points(catalogue: Catalogue, key: str, ids: list[str] | None = None
                ) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """(id, gamma, z, beta) of every spec with this compatibility key (optionally among ids)."""
    sql = "SELECT learnware_id, gamma, k, dim, spec_bytes FROM stat_specs WHERE compat_key = ?"
    params: list[Any] = [key]
    if ids is not None:
        sql += " AND list_contains(?, learnware_id)"
        params.append(ids)
    with catalogue._lock:
        rows = catalogue._con.execute(sql + " ORDER BY learnware_id", params).fetchall()
    return [(lid, gamma, *decode_points(blob, k, dim)) for lid, gamma, k, dim, blob in rows]


def iter_stat_rows(catalogue: Catalogue, ids: list[str] | None = None, batch: int = 1000
                   ) -> Iterator[list[tuple[str, str, str, float, np.ndarray, np.ndarray]]]:
    """Batches (lists) of (learnware_id, spec_type, compat_key, gamma, z, beta) for every
    spec (or those of these learnwares), in one streamed scan.

    The scan runs on its own cursor (DuckDB: a second connection to the same database, a
    consistent snapshot), so the catalogue's lock is not held between batches. One scan,
    not one query per batch: each `IN (...)` query re-reads the whole BLOB table, which
    made building a search index over 10k learnwares take 35 s instead of a few.
    """
    sql = "SELECT learnware_id, spec_type, compat_key, gamma, k, dim, spec_bytes FROM stat_specs"
    params: list[Any] = []
    if ids is not None:
        sql += " WHERE learnware_id IN (SELECT unnest(?))"
        params.append(list(ids))
    unreadable = 0
    for rows in catalogue.streamed(sql, params, batch):
        out = []
        for lid, st, key, g, k, dim, blob in rows:
            try:
                out.append((lid, st, key, float(g), *decode_points(blob, k, dim)))
            except (SpecError, ValueError) as exc:
                # Stored specs were checked before they were stored, so this is a damaged file or
                # a bug; one unreadable row must not make every search fail. The learnware stays
                # findable by its text and filters. The first few are named, then only counted.
                unreadable += 1
                if unreadable <= SHOWN_UNREADABLE:
                    log.warning("learnware %s: its stored %s spec cannot be read (%s); it is left out of "
                                "statistical search", lid, st, exc)
        yield out
    if unreadable > SHOWN_UNREADABLE:
        log.warning("%d stored specs in all could not be read and are left out of statistical search",
                    unreadable)
