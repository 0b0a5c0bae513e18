"""Verifying a sync page's envelopes in worker processes (issue 16).

decode_envelope (Ed25519 signature, msgpack schema, semantic spec, stat specs, model config)
costs ~0.4 ms an envelope of pure Python, under the GIL: on the sync worker's thread it alone
capped a late joiner at ~2,500 records/s of one core, with storing the page waiting behind it.
A page of at least PARALLEL_FROM envelopes is cut into chunks decoded by a small pool of worker
processes (spawned, so no lock held by a thread of this process is inherited), while this
process stores the previous page (DuckDB releases the GIL). Results come back pickled as
SignedRecords; a rejected envelope comes back as its RecordError reason. Same checks, same
clock (the node's `now_ms` is passed along), same outcome as decoding here; if the pool cannot
run (no fork/spawn allowed, a worker died) the page is decoded on the calling thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from dock.network.signed_records import RecordError, SignedRecord, decode_envelope

log = logging.getLogger(__name__)

PARALLEL_FROM = 200  # envelopes: smaller pages are decoded on the calling thread (no round trip)
CHUNK = 125  # envelopes per task

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_pool_broken = False


def workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _pool_lock:
        if _pool is None and not _pool_broken:
            import multiprocessing

            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)
        return _pool


WORKER_GC_THRESHOLD = 50_000  # gc's first threshold in a worker (Python's default: 700 allocations)


def _init_worker() -> None:
    # A chunk's records (~60 objects each) live until the chunk is pickled back; at the default
    # threshold the collector kept walking them: ~4% of a worker's CPU (issue 16, session 6).
    # They hold no cycles, and a worker holds nothing else: reference counting frees them.
    import gc

    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])


def shutdown() -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def decode_chunk(envelopes: list[bytes], now_ms: int) -> list[SignedRecord | str]:
    # With the catalogue columns (PreparedColumns): the node, whose storing is the serial part of a
    # sync, then only stores. Session 5 measured this as more CPU in all (the record's view was
    # built and pickled back); read straight from the spec, and the semantic JSON taken from the
    # validation, it costs the workers ~5 us a record and saves the node ~15 (session 6).
    out: list[SignedRecord | str] = []
    for data in envelopes:
        try:
            out.append(decode_envelope(data, now_ms=now_ms, with_columns=True))
        except RecordError as exc:
            out.append(exc.reason)
    return out


def decode_page(envelopes: list[bytes], timeout: float = 60.0) -> list[SignedRecord | str]:
    """Each envelope decoded and verified, or the reason it was rejected, in order."""
    global _pool_broken
    now_ms = int(time.time() * 1000)
    if len(envelopes) < PARALLEL_FROM:
        return decode_chunk(envelopes, now_ms)
    pool = _get_pool()
    if pool is not None:
        try:
            futures = [pool.submit(decode_chunk, envelopes[i:i + CHUNK], now_ms)
                       for i in range(0, len(envelopes), CHUNK)]
            out: list[SignedRecord | str] = []
            for future in futures:
                out += future.result(timeout=timeout)
            return out
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("verifying in worker processes failed (%s); verifying on this thread from now on", exc)
            _pool_broken = True
            shutdown()
    return decode_chunk(envelopes, now_ms)
