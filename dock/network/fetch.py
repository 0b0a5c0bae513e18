"""The fetch path of NetworkService: a zip from whichever provider can serve it, verified.

* A record that carries pieces (size + root, signed by its publisher): /lwdock/fetch/2.0.0, each
  piece checked as it arrives (p2p/pieces.py); the partial file holds verified pieces only and is
  resumed across providers and attempts. A provider that sends a wrong piece, a layer that does
  not match the root or a header for other bytes is penalised: tried last for PENALTY_SECONDS
  times its strikes, whatever it announces meanwhile (kept in the catalogue across restarts).
* An older record without pieces: /lwdock/fetch/1.0.0, the whole zip verified at the end; a
  failed attempt's bytes are dropped (no resume from another provider's unverified bytes).
* Either way the zip is checked against its record before it is stored (adopt_fetched_blob:
  the package's own checks, its specs and model config equal the record's); a mismatch is the
  publisher's doing (the bytes are the ones its record names): the record is marked bad and not
  fetched again from anyone while that signed record stands (restarts included).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dock.errors import DockError, NetworkError  # noqa: F401  (NetworkError: re-exported)
from dock.network.ingest import FetchedZipMismatch, adopt_fetched_blob
from dock.network.signed_records import RecordError, decode_envelope

log = logging.getLogger(__name__)




@dataclass
class Transfer:
    id: str
    total: int
    done: int = 0
    peer: str = ""
    state: str = "running"  # running | done | failed
    resumed_from: int = 0  # bytes already in the partial when the successful provider took over


BUSY_BACKOFF = (0.5, 1.0, 2.0, 4.0, None)  # waits between rounds when every provider says BUSY
PENALTY_SECONDS = 3600.0  # a provider that lied is tried last for this long (times its strikes)
# Kept in the catalogue across restarts (a restart must not forget a liar), bounded: a flood of
# liars or bad records costs at most this many rows each.
MAX_STORED_PENALTIES = 10_000
MAX_STORED_BAD_RECORDS = 10_000


@dataclass(frozen=True)
class Penalty:
    strikes: int
    until: float  # time.monotonic()
    reason: str


def _blame(exc: BaseException) -> str | None:
    """"lie": the provider is proven wrong whatever the record says (a piece that does not match a
    layer that matched the root, bytes that do not hash to what it announced, another digest than
    the id, a malformed header). "suspect": its header disagrees with the record (a layer that does
    not hash to the root, another size), which is its lie only if another provider's bytes prove the
    record right; otherwise the publisher's record may be the lie. None: busy, slow, gone, missing."""
    from p2p import HashMismatch, ProtocolViolation
    from p2p.framing import PeerClosed
    from p2p.pieces import BadAnnouncement, BadLayer

    if isinstance(exc, BadLayer) or (isinstance(exc, BadAnnouncement) and exc.about == "size"):
        return "suspect"
    if isinstance(exc, (HashMismatch, BadAnnouncement, ProtocolViolation)) and not isinstance(exc, PeerClosed):
        return "lie"
    return None


def _is_busy(exc: BaseException) -> bool:
    from p2p import ErrorCode, RemoteError

    return isinstance(exc, RemoteError) and exc.code == ErrorCode.BUSY


def restore_fetch_marks(store) -> tuple[dict[str, Penalty], dict[str, str]]:
    """The penalties and bad-record marks a previous run stored (dock/store/network_tables.py),
    as NetworkService keeps them: penalties on the monotonic clock."""
    now_wall, now_mono = time.time(), time.monotonic()
    penalties = {peer: Penalty(strikes, now_mono + (until - now_wall), reason)
                 for peer, (strikes, until, reason) in store.current_penalties().items()}
    bad = store.bad_records()
    if penalties or bad:
        log.info("restored %d provider penalties and %d bad-record marks", len(penalties), len(bad))
    return penalties, bad


class FetchMixin:
    """Fetch methods of NetworkService (which provides node, dock, store, transfers, _lock,
    _fetch_locks, _peer_addrs, progress_listeners, _penalties, bad_records, announce_have)."""

    # -- zips ------------------------------------------------------------------------------
    def _open_blob(self, blob_id: str):
        if not self.dock.catalogue.has_blob(blob_id):
            return None
        return open(self.dock.blobs.path(blob_id), "rb")

    def fetch(self, learnware_id: str, *, progress: Callable[[Transfer], None] | None = None) -> Path:
        """Get a zip from whichever provider can serve it. With a record that carries pieces, every
        piece is checked as it arrives and a partial (verified pieces only) is resumed across
        providers; a provider that sends a wrong piece or layer is penalised (tried last for a
        while). An older record without pieces: the whole zip is verified at the end and a failed
        attempt's bytes are dropped. Either way the zip is checked against its record before it
        is stored (adopt_fetched_blob); a mismatch marks the record bad."""
        with self._lock:
            lock = self._fetch_locks.setdefault(learnware_id, threading.Lock())
        with lock:
            if self.dock.catalogue.has_blob(learnware_id):
                return self.dock.blobs.path(learnware_id)
            record = self.dock.catalogue.get(learnware_id)
            if learnware_id in self.bad_records:
                raise NetworkError(f"{learnware_id[:12]}… is not fetched: {self.bad_records[learnware_id]}")
            pieces = self._record_pieces(learnware_id)
            providers = self._providers(learnware_id, record.publisher)
            if not providers:
                raise NetworkError(f"no known peer holds the zip of {learnware_id[:12]}…; is its publisher online?")
            self.dock.home.blob_tmp.mkdir(parents=True, exist_ok=True)
            if pieces is not None:  # verified pieces only: kept across providers and attempts
                partial = self.dock.home.blob_tmp / f"{learnware_id}.{pieces.root.hex()[:16]}.pieces"
            else:
                partial = self.dock.home.blob_tmp / f"{learnware_id}.fetch"
                partial.unlink(missing_ok=True)  # unverified bytes from some earlier provider
            transfer = self.transfers[learnware_id] = Transfer(learnware_id, record.size)
            suspects: dict[str, str] = {}  # providers whose header disagreed with the record
            for wait in BUSY_BACKOFF:
                errors, all_busy = [], True
                for peer in providers:
                    transfer.peer = peer
                    try:
                        path = self._fetch_from(peer, learnware_id, record, pieces, partial, transfer, progress)
                    except FetchedZipMismatch as exc:
                        self._mark_bad(learnware_id, record.publisher, exc.reason, transfer, progress)
                    except Exception as exc:  # try the next provider
                        # a failed dial already names the peer ("peer X is unreachable: why")
                        errors.append(str(exc) if str(exc).startswith("peer ") else f"{peer[:16]}…: {exc}")
                        all_busy = all_busy and _is_busy(exc)
                        log.info("fetch of %s from %s failed: %s", learnware_id[:12], peer[:16], exc)
                        blame = _blame(exc)
                        if blame == "lie":
                            self._penalise(peer, f"{type(exc).__name__} fetching {learnware_id[:12]}: {exc}")
                        elif blame == "suspect":
                            suspects[peer] = f"{type(exc).__name__} fetching {learnware_id[:12]}: {exc}"
                        if pieces is None:
                            partial.unlink(missing_ok=True)  # no resume from another provider's unverified bytes
                    else:
                        # The record proved right (the zip matched it): whoever disagreed with it lied.
                        for suspect, reason in suspects.items():
                            self._penalise(suspect, reason)
                        return path
                if not all_busy or wait is None:
                    break
                # Every provider refused at once because we already hold our share of its transfer
                # slots (several fetches in parallel): one of ours ends soon, so ask again.
                log.info("every provider of %s is busy; asking again in %.1f s", learnware_id[:12], wait)
                time.sleep(wait)
            transfer.state = "failed"
            self._notify(transfer, progress)
            raise NetworkError(
                f"could not fetch {learnware_id[:12]}… from {len(providers)} provider(s): " + "; ".join(errors)
            )

    def _fetch_from(self, peer: str, learnware_id: str, record, pieces, partial: Path, transfer, progress) -> Path:
        """One attempt from one provider; raises what went wrong."""
        self._dial_if_needed(peer)
        result = self.node.fetch_blob(
            peer,
            learnware_id,
            partial,
            pieces=pieces,
            expected_sha256=bytes.fromhex(learnware_id),
            expected_size=record.size,
            idle_timeout=self.fetch_idle_timeout,
            progress=lambda done, total: self._progress(transfer, done, progress),
        )
        transfer.resumed_from = result.resumed_from
        adopt_fetched_blob(self.dock, learnware_id, partial)
        transfer.state, transfer.done = "done", record.size
        self._notify(transfer, progress)
        self.announce_have([learnware_id])
        return self.dock.blobs.path(learnware_id)

    def _record_pieces(self, learnware_id: str):
        """The piece size and root the record's signed envelope carries, or None (an older record)."""
        stored = self.store.envelope(learnware_id)
        if stored is None:
            return None
        try:
            return decode_envelope(stored[2]).pieces
        except RecordError as exc:  # stored after verification: cannot happen short of a damaged database
            log.warning("stored envelope of %s does not decode: %s", learnware_id[:12], exc.reason)
            return None

    def _mark_bad(self, learnware_id: str, publisher: str | None, reason: str, transfer, progress) -> None:
        message = (f"its zip does not match the record signed by publisher {publisher or '?'} ({reason}); "
                   "the zip was not stored and the record is marked bad")
        self.bad_records[learnware_id] = message
        signed = self.store.envelope(learnware_id)
        if signed is not None:  # the mark holds while this signed record stands (restarts included)
            self.store.mark_bad(learnware_id, signed[0], signed[1], message, keep=MAX_STORED_BAD_RECORDS)
        transfer.state = "failed"
        self._notify(transfer, progress)
        log.warning("fetched zip of %s refused: %s", learnware_id[:12], message)
        raise NetworkError(f"{learnware_id[:12]}… refused: {message}")

    def _penalise(self, peer: str, reason: str) -> None:
        """Remember a provider that lied (wrong piece, layer, header): tried last until the penalty
        expires, longer for each offence. A "have" re-announcement does not clear it."""
        now = time.monotonic()
        with self._lock:
            for forgiven in [p for p, penalty in self._penalties.items() if penalty.until <= now]:
                del self._penalties[forgiven]  # served its time: the table holds current penalties only
            strikes = self._penalties.get(peer, Penalty(0, 0.0, "")).strikes + 1
            self._penalties[peer] = Penalty(strikes, now + PENALTY_SECONDS * strikes, reason)
        self.store.save_penalty(peer, strikes, time.time() + PENALTY_SECONDS * strikes, reason,
                                keep=MAX_STORED_PENALTIES)
        log.warning("provider %s penalised (%d strike(s)): %s", peer[:16], strikes, reason)

    def penalties(self) -> dict[str, dict]:
        """Providers currently penalised: {peer: {strikes, seconds_left, reason}} (for `lwdock status`)."""
        now = time.monotonic()
        with self._lock:
            return {peer: {"strikes": p.strikes, "seconds_left": round(p.until - now), "reason": p.reason}
                    for peer, p in self._penalties.items() if p.until > now}

    def _providers(self, learnware_id: str, publisher: str | None) -> list[str]:
        known = self.store.providers(learnware_id)
        if publisher and publisher not in known:
            known.append(publisher)
        connected = set(self.node.peers())
        penalised = self.penalties()
        known = [p for p in known if p != self.node.peer_id]
        # Penalised providers last (an honest one is tried first), then connected peers first.
        return sorted(known, key=lambda p: (p in penalised, p not in connected))

    def _dial_if_needed(self, peer: str) -> None:
        if peer in self.node.peers():
            return
        for addr in self._peer_addrs.get(peer, []):
            try:
                self.node.connect(addr)
                return
            except Exception as exc:
                log.info("could not dial provider %s at %s: %s", peer[:16], addr, exc)

    def _progress(self, transfer: Transfer, done: int, callback) -> None:
        transfer.done = done
        self._notify(transfer, callback)

    def _notify(self, transfer: Transfer, callback) -> None:
        for listener in [callback, *self.progress_listeners]:
            if listener is not None:
                try:
                    listener(transfer)
                except Exception:
                    log.exception("progress listener failed")
