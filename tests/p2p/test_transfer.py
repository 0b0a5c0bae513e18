"""Blob transfer: full, resumed, tampered, missing, frozen and killed senders."""

from __future__ import annotations

import hashlib
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from p2p import ErrorCode, HashMismatch, ProtocolViolation, RemoteError, RequestTimeout, TruncatedTransfer
from p2p.errors import TransferError
from p2p.pieces import BadLayer, BadPiece, file_pieces
from p2p.transfer import FETCH_PROTOCOL_ID
from tests.p2p.conftest import wait_until
from tests.p2p.lying_provider import LyingFetchHandler, serve_lies

ROOT = Path(__file__).resolve().parents[2]


class StallingFile:
    """A blob file that serves its first 1 MB, then waits for `release` (not a real file, so the
    sender reads it on its reader thread, as any file-like object)."""

    def __init__(self, path, release: threading.Event):
        self.f, self.release = open(path, "rb"), release

    def seek(self, *a):
        return self.f.seek(*a)

    def read(self, n):
        if self.f.tell() >= 1_000_000:
            self.release.wait(30)
        return self.f.read(n)

    def close(self):
        self.f.close()


@pytest.fixture
def blob(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 12345)
    path = tmp_path / "blob.zip"
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def provider_and_fetcher(make_node, blob):
    path, data, blob_id = blob
    provider, fetcher = make_node(), make_node()
    provider.serve_blobs(lambda requested: open(path, "rb") if requested == blob_id else None)
    fetcher.connect(provider.addrs[0])
    return provider, fetcher


def test_full_transfer_with_progress(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob
    partial = tmp_path / "in" / "partial"
    partial.parent.mkdir()
    seen: list[tuple[int, int]] = []
    digest = bytes.fromhex(blob_id)
    result = fetcher.fetch_blob(
        provider.peer_id, blob_id, partial, expected_sha256=digest, progress=lambda r, t: seen.append((r, t))
    )
    assert partial.read_bytes() == data
    assert (result.size, result.sha256.hex(), result.resumed_from) == (len(data), blob_id, 0)
    assert seen[-1] == (len(data), len(data)) and [r for r, _ in seen] == sorted(r for r, _ in seen)


def test_resume_from_an_offset(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob
    partial = tmp_path / "partial"
    partial.write_bytes(data[:1_000_000])
    seen: list[int] = []
    result = fetcher.fetch_blob(provider.peer_id, blob_id, partial, progress=lambda r, t: seen.append(r))
    assert result.resumed_from == 1_000_000
    assert partial.read_bytes() == data
    assert seen[0] > 1_000_000  # the first million bytes were not sent again
    again = fetcher.fetch_blob(provider.peer_id, blob_id, partial)  # already complete: header only, verified
    assert (again.resumed_from, again.size) == (len(data), len(data)) and partial.read_bytes() == data


def test_raising_from_progress_aborts_and_keeps_the_partial(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob

    class Cancelled(Exception):
        pass

    def cancel_after_first_megabyte(received, total):
        if received >= 1_000_000:
            raise Cancelled

    partial = tmp_path / "partial"
    with pytest.raises(Cancelled):
        fetcher.fetch_blob(provider.peer_id, blob_id, partial, progress=cancel_after_first_megabyte)
    kept = partial.stat().st_size
    assert 1_000_000 <= kept < len(data) and partial.read_bytes() == data[:kept]
    assert fetcher.fetch_blob(provider.peer_id, blob_id, partial).resumed_from == kept


def test_tampered_bytes_are_detected_and_the_partial_deleted(make_node, blob, tmp_path):
    path, data, blob_id = blob
    bad = tmp_path / "tampered"
    bad.write_bytes(data[:500] + bytes([data[500] ^ 1]) + data[501:])
    provider, fetcher = make_node(), make_node()
    # The provider lies: it announces the real digest but serves other bytes.
    provider.serve_blobs(lambda requested: (open(bad, "rb"), bytes.fromhex(blob_id)))
    fetcher.connect(provider.addrs[0])
    partial = tmp_path / "partial"
    with pytest.raises(HashMismatch):
        fetcher.fetch_blob(provider.peer_id, blob_id, partial)
    assert not partial.exists()


def test_wrong_announced_hash_or_size_is_refused_before_download(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob
    partial = tmp_path / "partial"
    partial.write_bytes(data[:10])
    with pytest.raises(TransferError, match="not the expected"):
        fetcher.fetch_blob(provider.peer_id, blob_id, partial, expected_sha256=b"\x00" * 32)
    with pytest.raises(TransferError, match="over max_size"):
        fetcher.fetch_blob(provider.peer_id, blob_id, partial, max_size=1000)
    assert partial.read_bytes() == data[:10]  # a refused transfer leaves the partial alone


def test_missing_blob_and_bad_offset(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob
    with pytest.raises(RemoteError) as err:
        fetcher.fetch_blob(provider.peer_id, "ab" * 32, tmp_path / "none")
    assert err.value.code == ErrorCode.NOT_FOUND
    too_long = tmp_path / "too-long"
    too_long.write_bytes(data + b"extra")
    with pytest.raises(RemoteError) as err:
        fetcher.fetch_blob(provider.peer_id, blob_id, too_long)
    assert err.value.code == ErrorCode.BAD_OFFSET and not too_long.exists()
    with pytest.raises(ValueError):
        fetcher.fetch_blob(provider.peer_id, "../etc/passwd", tmp_path / "x")


def test_frozen_sender_times_out_and_keeps_the_partial(make_node, blob, tmp_path):
    path, data, blob_id = blob
    release = threading.Event()

    provider, fetcher = make_node(), make_node()
    provider.serve_blobs(lambda requested: (StallingFile(path, release), bytes.fromhex(blob_id)))
    fetcher.connect(provider.addrs[0])
    partial = tmp_path / "partial"
    started = time.monotonic()
    try:
        with pytest.raises(RequestTimeout):
            fetcher.fetch_blob(provider.peer_id, blob_id, partial, idle_timeout=1.0)
        assert time.monotonic() - started < 5
        assert partial.read_bytes() == data[: partial.stat().st_size] and partial.stat().st_size >= 1_000_000
    finally:
        release.set()


def _start_provider(path: Path, delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.p2p.blob_provider", str(path), str(delay)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    addr = proc.stdout.readline().strip()
    assert addr.startswith("/ip4/127.0.0.1/tcp/"), proc.stderr.read()
    return proc, addr


def test_killed_sender_is_detected_by_length_and_the_fetch_resumes_elsewhere(make_node, blob, tmp_path):
    path, data, blob_id = blob
    proc, addr = _start_provider(path, delay=0.02)  # ~3 MB/s: slow enough to be killed mid-way
    try:
        fetcher = make_node()
        remote_id = fetcher.connect(addr)
        partial = tmp_path / "partial"
        received: list[int] = []
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                fetcher.fetch_blob, remote_id, blob_id, partial, progress=lambda r, t: received.append(r)
            )
            wait_until(lambda: received and received[-1] >= 1_000_000, message="1 MB received")
            os.kill(proc.pid, signal.SIGKILL)
            with pytest.raises(TruncatedTransfer):
                future.result(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    kept = partial.stat().st_size
    assert 1_000_000 <= kept < len(data) and partial.read_bytes() == data[:kept]
    # Another provider finishes it from where the dead one stopped.
    other = make_node()
    other.serve_blobs(lambda requested: open(path, "rb") if requested == blob_id else None)
    fetcher.connect(other.addrs[0])
    result = fetcher.fetch_blob(other.peer_id, blob_id, partial, expected_sha256=bytes.fromhex(blob_id))
    assert result.resumed_from == kept and partial.read_bytes() == data


def test_stopped_sender_process_times_out(make_node, blob, tmp_path):
    path, data, blob_id = blob
    proc, addr = _start_provider(path, delay=0.02)
    try:
        fetcher = make_node()
        remote_id = fetcher.connect(addr)
        received: list[int] = []
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                fetcher.fetch_blob,
                remote_id,
                blob_id,
                tmp_path / "p",
                idle_timeout=1.0,
                progress=lambda r, t: received.append(r),
            )
            wait_until(lambda: received or future.done(), message="transfer under way")
            assert received, future.result()
            os.kill(proc.pid, signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                future.result(timeout=20)
            assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_receiver_that_stops_reading_does_not_hold_the_sender(make_node, tmp_path, monkeypatch):
    import p2p.libp2p_fixes

    monkeypatch.setattr(p2p.libp2p_fixes, "FRAME_WRITE_LIMIT", 1.0)
    data = os.urandom(40 * 1024 * 1024)
    path = tmp_path / "big"
    path.write_bytes(data)
    blob_id = hashlib.sha256(data).hexdigest()
    provider, fetcher = make_node(), make_node()
    provider.serve_blobs(lambda requested: (open(path, "rb"), bytes.fromhex(blob_id)))
    fetcher.connect(provider.addrs[0])
    received: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        future = pool.submit(
            fetcher.fetch_blob, provider.peer_id, blob_id, tmp_path / "p", progress=lambda r, t: received.append(r)
        )
        wait_until(lambda: received or future.done(), message="transfer under way")
        # Freeze the receiver's whole trio thread: nothing reads its socket any more.
        frozen = pool.submit(fetcher._call_sync, time.sleep, 8)
        started = time.monotonic()
        wait_until(lambda: provider.stats()["/lwdock/fetch/1.0.0"]["errors"] == 1, 10, message="sender gave up")
        assert time.monotonic() - started < 8
        frozen.result()
        with pytest.raises((TruncatedTransfer, RequestTimeout)):
            future.result(timeout=20)
    assert fetcher.fetch_blob(provider.peer_id, blob_id, tmp_path / "p").size == len(data)  # resumes, fresh stream


def test_one_peer_gets_at_most_its_share_of_transfer_slots(make_node, blob, tmp_path):
    """4 transfer slots, so one fetcher gets 2 at once: its third fetch is refused BUSY at once
    while a second fetcher is still served; once released, the first two complete."""
    path, data, blob_id = blob
    release = threading.Event()

    provider, greedy, other = make_node(), make_node(), make_node()
    provider.serve_blobs(lambda requested: (StallingFile(path, release), bytes.fromhex(blob_id)))
    for node in (greedy, other):
        node.connect(provider.addrs[0])
    try:
        with ThreadPoolExecutor(4) as pool:
            held = [pool.submit(greedy.fetch_blob, provider.peer_id, blob_id, tmp_path / f"g{i}") for i in range(2)]
            wait_until(lambda: all((tmp_path / f"g{i}").exists() and (tmp_path / f"g{i}").stat().st_size > 0
                                   for i in range(2)), message="two transfers under way")
            with pytest.raises(RemoteError) as err:
                greedy.fetch_blob(provider.peer_id, blob_id, tmp_path / "g2")
            assert err.value.code == ErrorCode.BUSY and "at most 2" in str(err.value)
            served = pool.submit(other.fetch_blob, provider.peer_id, blob_id, tmp_path / "o")
            wait_until(lambda: (tmp_path / "o").exists() and (tmp_path / "o").stat().st_size > 0,
                       message="the other peer served while the greedy one holds its two")
            release.set()
            assert served.result(timeout=30).size == len(data)
            assert [f.result(timeout=30).size for f in held] == [len(data)] * 2
    finally:
        release.set()


# ---------------------------------------------------------------- pieces (/lwdock/fetch/2.0.0)

PIECE = 256 * 1024


def test_pieces_full_transfer_then_resume_from_verified_pieces_only(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    path, data, blob_id = blob
    pieces = file_pieces(path)
    assert pieces.size == PIECE
    partial = tmp_path / "partial"
    result = fetcher.fetch_blob(provider.peer_id, blob_id, partial, pieces=pieces, expected_size=len(data))
    assert partial.read_bytes() == data and (result.size, result.resumed_from) == (len(data), 0)
    # A partial that ends mid-piece resumes from the last whole piece, which is re-checked.
    partial.write_bytes(data[:1_000_000])
    seen: list[int] = []
    result = fetcher.fetch_blob(provider.peer_id, blob_id, partial, pieces=pieces, progress=lambda r, t: seen.append(r))
    assert result.resumed_from == (1_000_000 // PIECE) * PIECE and partial.read_bytes() == data
    assert seen[0] > result.resumed_from
    # Complete already: the header only, every held piece re-checked, nothing appended.
    again = fetcher.fetch_blob(provider.peer_id, blob_id, partial, pieces=pieces, expected_size=len(data))
    assert (again.resumed_from, again.size) == (len(data), len(data)) and partial.read_bytes() == data
    assert provider.stats()[FETCH_PROTOCOL_ID]["requests"] == 3  # the piece protocol served all three


def test_a_bad_piece_is_detected_at_that_piece_and_the_partial_keeps_only_verified_ones(make_node, blob, tmp_path):
    path, data, blob_id = blob
    pieces = file_pieces(path)
    liar, honest, fetcher = make_node(), make_node(), make_node()
    stall = threading.Event()
    # Right header, 5 good pieces and a bit, then garbage, then silence (no EOF): a receiver that
    # only checked the whole file would wait out its idle timeout here instead of failing at once.
    handler = LyingFetchHandler(path, good_bytes=5 * PIECE + 1000, stall=stall)
    serve_lies(liar, handler)
    honest.serve_blobs(lambda requested: open(path, "rb") if requested == blob_id else None)
    for node in (liar, honest):
        fetcher.connect(node.addrs[0])
    partial = tmp_path / "partial"
    started = time.monotonic()
    try:
        with pytest.raises(BadPiece) as err:
            fetcher.fetch_blob(liar.peer_id, blob_id, partial, pieces=pieces, idle_timeout=20.0)
    finally:
        stall.set()
    assert time.monotonic() - started < 10
    assert err.value.index == 5 and err.value.verified_bytes == 5 * PIECE
    assert partial.read_bytes() == data[: 5 * PIECE]  # the bad piece's bytes were dropped
    # The honest provider resumes from the verified bytes, not from the liar's.
    result = fetcher.fetch_blob(honest.peer_id, blob_id, partial, pieces=pieces)
    assert result.resumed_from == 5 * PIECE and partial.read_bytes() == data


def test_a_layer_that_does_not_match_the_root_is_refused_before_the_body(make_node, blob, tmp_path):
    path, data, blob_id = blob
    pieces = file_pieces(path)
    liar, fetcher = make_node(), make_node()
    stall = threading.Event()
    n = -(-len(data) // PIECE)
    handler = LyingFetchHandler(path, good_bytes=len(data), stall=stall, layer_override=b"\x01" * 32 * n)
    serve_lies(liar, handler)
    fetcher.connect(liar.addrs[0])
    partial = tmp_path / "partial"
    partial.write_bytes(data[:PIECE])  # one verified piece already held: it must survive
    started = time.monotonic()
    try:
        with pytest.raises(BadLayer, match="refused before the body"):
            fetcher.fetch_blob(liar.peer_id, blob_id, partial, pieces=pieces, idle_timeout=20.0)
        assert time.monotonic() - started < 10
        assert partial.read_bytes() == data[:PIECE]
        # A layer longer than the blob can have is refused by its length prefix, before it is read.
        handler.layer_override = b"\x01" * 32 * (n + 5)
        with pytest.raises(ProtocolViolation, match="exceeds the limit"):
            fetcher.fetch_blob(liar.peer_id, blob_id, partial, pieces=pieces, expected_size=len(data))
    finally:
        stall.set()
    assert partial.read_bytes() == data[:PIECE]


def test_a_corrupt_piece_already_in_the_partial_is_cut_off_before_resuming(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    path, data, blob_id = blob
    partial = tmp_path / "partial"
    held = bytearray(data[: 3 * PIECE])
    held[PIECE + 7] ^= 0xFF  # piece 1 rotted on disk
    partial.write_bytes(bytes(held))
    result = fetcher.fetch_blob(provider.peer_id, blob_id, partial, pieces=file_pieces(path))
    assert result.resumed_from == PIECE and partial.read_bytes() == data


def test_a_wrong_piece_size_or_misaligned_offset_is_a_bad_request(provider_and_fetcher, blob, tmp_path):
    provider, fetcher = provider_and_fetcher
    _, data, blob_id = blob
    for piece_size, offset in ((PIECE + 1, 0), (PIECE, 1000)):
        request = struct.pack(">QI", offset, piece_size) + blob_id.encode()
        with pytest.raises(RemoteError) as err:
            fetcher.request(provider.peer_id, FETCH_PROTOCOL_ID, request, max_response=1 << 20)
        assert err.value.code == ErrorCode.BAD_REQUEST


def test_a_served_file_object_with_short_reads_gets_the_right_layer(make_node, blob, tmp_path):
    path, data, blob_id = blob

    class ShortReads:  # a file-like object that returns at most 64 KiB per read (tests.p2p.blob_provider does too)
        def __init__(self):
            self.f = open(path, "rb")

        def seek(self, *a):
            return self.f.seek(*a)

        def read(self, n=-1):
            return self.f.read(min(n, 65536) if n and n > 0 else 65536)

        def close(self):
            self.f.close()

    provider, fetcher = make_node(), make_node()
    provider.serve_blobs(lambda requested: ShortReads() if requested == blob_id else None)
    fetcher.connect(provider.addrs[0])
    result = fetcher.fetch_blob(provider.peer_id, blob_id, tmp_path / "p", pieces=file_pieces(path))
    assert result.size == len(data) and (tmp_path / "p").read_bytes() == data
