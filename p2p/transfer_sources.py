"""Reading a blob for the sender of a fetch (transfer.BlobServer): from the page cache on the trio
thread when it can, else on a reader thread of its own."""

from __future__ import annotations

import os
import queue
import threading

import trio

from .errors import TransferError

CHUNK = 1024 * 1024  # bytes per file read / stream write on the sending side


def open_source(f, start: int, end: int):
    """A real file is read from the trio thread while its pages are cached (_CachedFileSource);
    any other file-like object (or a kernel without RWF_NOWAIT) gets a reader thread."""
    try:
        fd = f.fileno()
        os.preadv(fd, [bytearray(1)], start if start < end else 0, os.RWF_NOWAIT)
    except (AttributeError, OSError, ValueError) as exc:  # io.UnsupportedOperation is an OSError
        if not isinstance(exc, BlockingIOError):  # BlockingIOError: supported, page just not cached
            return _FileSource(f, start, end)
    return _CachedFileSource(f, start, end)


class _CachedFileSource:
    """Reads a blob with preadv(RWF_NOWAIT) on the trio thread; only a read the page cache cannot
    serve goes to a worker thread.

    The reader thread of _FileSource cost the sender ~12% of its trio thread (py-spy,
    benchmarks/p2p_transfer.py): every chunk handed over woke the other thread, and the trio thread
    then waited for the GIL. A 256 KiB copy out of the page cache takes ~30 us, less than that
    hand-over; RWF_NOWAIT guarantees it never waits for the disk (EAGAIN instead), so the event
    loop is not blocked by a cold file. The kernel's readahead, triggered by the sequential reads,
    keeps the next chunks cached.
    """

    def __init__(self, f, start: int, end: int):
        self._f, self._fd, self._pos, self._end = f, f.fileno(), start, end
        self._buf = bytearray(min(CHUNK, max(end - start, 0)))  # reused: see next()

    async def next(self) -> memoryview | None:
        """The next chunk, a view of a buffer that the following call overwrites (the caller has
        written it to the stream by then); a fresh 1 MiB per chunk faulted its pages in each time."""
        n = min(CHUNK, self._end - self._pos)
        if n <= 0:
            return None
        buf = memoryview(self._buf)[:n]
        try:
            got = os.preadv(self._fd, [buf], self._pos, os.RWF_NOWAIT)
        except BlockingIOError:  # not in the page cache: wait for the disk off the event loop
            got = await trio.to_thread.run_sync(os.preadv, self._fd, [buf], self._pos)
        except OSError as exc:
            raise TransferError(f"cannot read the blob: {exc}") from exc
        if got == 0:
            return None  # the file shrank: the caller reports it
        self._pos += got
        return buf if got == n else buf[:got]

    def close(self) -> None:
        self._f.close()


class _FileSource:
    """Reads a blob ahead on a thread of its own (the mirror of _FileSink: one trio thread hop
    per chunk cost up to a GIL switch interval each). The thread closes the file when done."""

    def __init__(self, f, start: int, end: int):
        self._q: queue.Queue = queue.Queue(maxsize=16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(f, start, end), name="p2p-blob-reader", daemon=True)
        self._thread.start()

    def _run(self, f, pos: int, end: int) -> None:
        try:
            f.seek(pos)
            while pos < end and not self._stop.is_set():
                chunk = f.read(min(CHUNK, end - pos))
                if not chunk:
                    break
                pos += len(chunk)
                self._offer(chunk)
            self._offer(None)
        except BaseException as exc:  # handed to the trio side, raised there
            self._offer(exc)
        finally:
            f.close()

    def _offer(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    async def next(self) -> bytes | None:
        try:
            item = self._q.get_nowait()
        except queue.Empty:
            # mypy (2.4) misreads run_sync's `*args: Unpack[Ts]` followed by keyword-only options.
            item = await trio.to_thread.run_sync(self._q.get, abandon_on_cancel=True)  # type: ignore[call-arg]
        if isinstance(item, BaseException):
            raise TransferError(f"cannot read the blob: {item}") from item
        return item

    def close(self) -> None:
        self._stop.set()  # the thread stops at its next chunk (or when a stalled read returns)
        try:
            self._q.put_nowait(None)  # wakes a getter abandoned by a cancelled next()
        except queue.Full:
            pass
