"""What the network screen shows, as a small read-only interface.

The screen polls `status() -> NetworkStatus` from a worker about once a second; it must be cheap
and never block for long. `DockStatusNetwork` reads it from the dock's own `status()` dict (an
embedded `Dock` and a daemon's `RemoteDock` both have one: `online`, `peer_id`, `addrs`, `peers`,
`records_received`, `records_rejected`, `transfers`; missing keys read as empty), so the screen
shows whatever the node service reports as it grows. `OfflineNetwork` is for docks without one.
These dataclasses live in tui/ because dock has no typed status yet (dock cannot import tui).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dock.api import DockAPI


@dataclass(frozen=True)
class PeerInfo:
    peer_id: str
    address: str = ""
    records: int = 0  # records this peer handed us that were news here
    latency_ms: float | None = None
    nickname: str = ""  # the peer's own label (identify): escape, truncate, never trust


@dataclass(frozen=True)
class TransferInfo:
    learnware_id: str
    name: str
    peer_id: str
    done_bytes: int
    total_bytes: int
    direction: str = "in"  # "in" (fetching) or "out" (serving)
    state: str = "running"  # running | done | failed


@dataclass(frozen=True)
class NetworkStatus:
    online: bool
    reason: str = ""  # why offline, in words a user can act on
    peer_id: str | None = None
    listen_addrs: tuple[str, ...] = ()
    peers: tuple[PeerInfo, ...] = ()
    records_received: int = 0
    records_rejected: int = 0
    transfers: tuple[TransferInfo, ...] = field(default_factory=tuple)
    sync: str = ""  # catching up from peers, one line (dock.network.sync.progress_line); "" when idle


class NetworkStatusSource(Protocol):
    def status(self) -> NetworkStatus: ...


class OfflineNetwork:
    """A dock with no network at all."""

    def __init__(self, reason: str = "this dock has no network"):
        self._status = NetworkStatus(online=False, reason=reason)

    def status(self) -> NetworkStatus:
        return self._status


EMBEDDED_OFFLINE = ("embedded dock: no lwdock node runs for this home, so nothing is shared with peers "
                    "(start one with `lwdock node`, then open the TUI again to attach to it)")


class DockStatusNetwork:
    """The network as the dock reports it in `dock.status()`."""

    def __init__(self, dock: DockAPI):
        self.dock = dock

    def status(self) -> NetworkStatus:
        d = self.dock.status() or {}
        online = bool(d.get("online"))
        reason = ""
        if not online:
            if self.dock.mode == "embedded":
                reason = EMBEDDED_OFFLINE
            else:
                reason = f"the lwdock node (pid {d.get('pid', '?')}) runs without the peer-to-peer network"
        return NetworkStatus(
            online=online,
            reason=reason,
            peer_id=d.get("peer_id"),
            listen_addrs=tuple(str(a) for a in d.get("addrs") or ()),
            # peer_details: address, latency, nickname, records; older nodes only list ids in peers
            peers=tuple(_peer(p) for p in d.get("peer_details") or d.get("peers") or ()),
            records_received=int(d.get("records_received") or 0),
            records_rejected=int(d.get("records_rejected") or 0),
            transfers=tuple(_transfer(t) for t in d.get("transfers") or () if isinstance(t, dict)),
            sync=_sync_line(d.get("sync")),
        )


def _peer(p: Any) -> PeerInfo:
    if isinstance(p, dict):
        latency = p.get("latency_ms")
        return PeerInfo(str(p.get("peer_id") or p.get("id") or "?"), str(p.get("addr") or p.get("address") or ""),
                        int(p.get("records") or 0), float(latency) if isinstance(latency, (int, float)) else None,
                        str(p.get("nickname") or "")[:32])
    return PeerInfo(str(p))


def _transfer(t: dict) -> TransferInfo:
    return TransferInfo(str(t.get("id") or ""), str(t.get("name") or ""), str(t.get("peer") or ""),
                        int(t.get("done") or 0), int(t.get("total") or 0), str(t.get("direction") or "in"),
                        str(t.get("state") or "running"))


def _sync_line(sync: Any) -> str:
    from dock.network.sync import progress_line

    return progress_line(sync) if isinstance(sync, dict) else ""
