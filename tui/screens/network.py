"""The network: this node's peer id and addresses, its peers, what gossip brought, transfers.

Polls `DockBackend.network_status()` from a worker once a second (a read-only call); an embedded
dock answers "offline" with the reason."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Label, Static

from dock.cli.terminal_text import plain

from .. import messages as m
from ..backend import short_peer
from ..network_status import NetworkStatus, PeerInfo
from ..widgets.score import human_size
from .base import LwdockScreen

POLL_SECONDS = 1.0
NICKNAME_SHOWN = 16  # characters of a peer's nickname in its row


def status_table(status: NetworkStatus, dock_kind: str) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    state = Text("online", style="bold green") if status.online else Text("offline", style="bold yellow")
    table.add_row("State", state)
    if status.reason:  # Text cells (plain): a rich Table parses str cells as markup
        table.add_row("Why", plain(status.reason))
    table.add_row("Dock", plain(dock_kind))
    table.add_row("Peer id", plain(status.peer_id or "—"))
    table.add_row("Listening on", Text("\n").join(plain(a) for a in status.listen_addrs) or "—")
    table.add_row("Records", f"{status.records_received} received, {status.records_rejected} rejected "
                  "(a peer's row counts those that were news here)")
    if status.sync:  # one line while catching up from peers (issue 16)
        table.add_row("Sync", plain(status.sync))
    return table


def peer_cells(p: PeerInfo) -> tuple[Text, Text, Text, str, str]:
    """One peer row. The id is shortened (`lwdock peers` prints it whole); the nickname and address
    are what the peer says about itself: escaped, truncated, never trusted."""
    latency = "—" if p.latency_ms is None else (f"{p.latency_ms:.1f} ms" if p.latency_ms < 10 else
                                               f"{p.latency_ms:.0f} ms")
    nickname = plain(p.nickname[:NICKNAME_SHOWN] + ("…" if len(p.nickname) > NICKNAME_SHOWN else "")) \
        if p.nickname else Text("—", style="dim")
    return plain(short_peer(p.peer_id)), nickname, plain(p.address or "—"), str(p.records), latency


class NetworkScreen(LwdockScreen):
    BINDINGS = [Binding("ctrl+r", "poll", "Refresh")]
    PALETTE = (("Network: refresh", "ask the node for its status now", "poll"),)

    def __init__(self):
        super().__init__()
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="network-body"):
            yield Static("", id="network-status")
            yield Label("Peers", classes="section")
            yield DataTable(id="peers", cursor_type="row")
            yield Label("Transfers", classes="section")
            yield DataTable(id="transfers", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#peers", DataTable).add_columns("Peer", "Nickname", "Address", "Records", "Latency")
        self.query_one("#transfers", DataTable).add_columns("Learnware", "Peer", "Direction", "Progress")
        self.action_poll()
        self._timer = self.set_interval(POLL_SECONDS, self.action_poll)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()  # no polling while another screen is shown

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            self.action_poll()

    def action_poll(self) -> None:
        if not self.workers_busy(m.NETWORK):
            self.poll()

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.NETWORK)
    def poll(self) -> None:
        self.post_message(m.NetworkPolled(self.backend.network_status()))

    def on_network_polled(self, message: m.NetworkPolled) -> None:
        status = message.status
        self.query_one("#network-status", Static).update(status_table(status, self.backend.kind))
        peers = self.query_one("#peers", DataTable)
        peers.clear()
        for p in status.peers:
            peers.add_row(*peer_cells(p))
        transfers = self.query_one("#transfers", DataTable)
        transfers.clear()
        for t in status.transfers:
            done = f"{human_size(t.done_bytes)} / {human_size(t.total_bytes)}"
            transfers.add_row(plain(t.name or t.learnware_id[:12]), plain(short_peer(t.peer_id)), plain(t.direction),
                              done)
