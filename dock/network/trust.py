"""The user's trust list (Syncthing-style: explicit, local, never learnt from the network).

An id is a libp2p peer id, which names both a node (a peer that forwards and serves) and a
publisher (the key that signs records): one node key does both. Trusting an id means, here:
* records it publishes skip the per-publisher quota, are never evicted, and may evict others
  when the catalogue is full;
* records it forwards (gossip, sync, search answers) skip the per-peer ingest quota.
This node's own id is always trusted. The list lives in the catalogue (table `trusted`).
"""

from __future__ import annotations

import threading
from typing import Any

from dock.errors import DockError, TrustError  # noqa: F401  (TrustError: re-exported)
from dock.store.network_tables import NetworkStore

MAX_NOTE = 200




def check_peer_id(peer_id: Any) -> str:
    from p2p import IdentityError, public_key_from_peer_id

    try:
        public_key_from_peer_id(peer_id)
    except IdentityError:
        raise TrustError(
            f"{str(peer_id)[:60]!r} is not a peer id: give a node's or publisher's id as `lwdock status` "
            "or `lwdock show` prints it (12D3KooW..., an Ed25519 libp2p peer id)"
        ) from None
    return peer_id


class TrustList:
    """Cached view of the `trusted` table: checks run on every ingested record."""

    def __init__(self, catalogue, own_id: str):
        self._store = NetworkStore(catalogue)
        self.own_id = own_id
        self._lock = threading.Lock()
        self._ids: frozenset[str] | None = None

    def ids(self) -> frozenset[str]:
        with self._lock:
            if self._ids is None:
                self._ids = frozenset(row[0] for row in self._store.trusted())
            return self._ids | {self.own_id}

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self.ids()

    def add(self, peer_id: str, note: str = "") -> dict:
        check_peer_id(peer_id)
        if not isinstance(note, str) or len(note) > MAX_NOTE or not note.isprintable():
            raise TrustError(f"a trust note is one line of printable text, at most {MAX_NOTE} characters")
        self._store.trust(peer_id, note)
        with self._lock:
            self._ids = None
        return next(entry for entry in self.list() if entry["id"] == peer_id)

    def remove(self, peer_id: str) -> bool:
        found = self._store.untrust(peer_id)
        with self._lock:
            self._ids = None
        return found

    def list(self) -> list[dict]:
        return [{"id": pid, "note": note, "added_at": added.isoformat()} for pid, note, added in self._store.trusted()]
