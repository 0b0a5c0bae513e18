"""What a node knows about each connected peer, for people: the address the connection came
from, a round-trip time (libp2p ping, `/ipfs/ping/1.0.0`) and the nickname the peer chose.

The nickname travels in identify's `agent_version` ("lwdock/<version> (name: <nickname>)", see
docs/PROTOCOL.md "Nicknames"). It is a label a stranger picked: shown truncated and escaped,
never used to decide anything (trust, providers, bans all key on peer ids).

py-libp2p 0.8.1 sends one process-wide AGENT_VERSION and stores none it receives, so two of its
internals are wrapped (checked first with libp2p_patches.problem; if either is reshaped the
nickname is simply not sent or shown, and everything else works). Runs on the trio thread.
"""

from __future__ import annotations

import logging
import re

import trio

from .libp2p_patches import Target, problem

logger = logging.getLogger(__name__)

MAX_NICKNAME = 32  # characters kept of a nickname (ours and theirs)
MAX_AGENT = 256  # characters of a peer's agent_version we keep at all
AGENT_KEY = "lwdock.agent_version"  # peerstore metadata key
PING_TIMEOUT = 5.0
IDENTIFY_WAIT = 3.0  # how long the "connected to" line waits for the peer's identify

_IDENTIFY = "libp2p.identity.identify.identify"
TARGETS = (
    Target(_IDENTIFY, "_mk_identify_protobuf", "nickname: our agent_version per host", ("host", "observed_multiaddr")),
    Target("libp2p.host.basic_host", "update_peerstore_from_identify", "nickname: keep the peer's agent_version",
           ("peerstore", "peer_id", "identify_msg")),
)
_AGENT_RE = re.compile(r"lwdock/[0-9A-Za-z.+-]{1,32} \(name: (.{1,256})\)", re.S)
_installed: str | None = None  # "on", or "off: <why>"


def check_nickname(name: str) -> str:
    """The nickname as we send it; ValueError saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise ValueError("a nickname cannot be empty")
    if len(name) > MAX_NICKNAME:
        raise ValueError(f"a nickname has at most {MAX_NICKNAME} characters; {name[:40]!r} has {len(name)}")
    if not name.isprintable() or "(" in name or ")" in name:
        raise ValueError(f"a nickname is printable text without parentheses: {name!r}")
    return name


def agent_version(nickname: str = "", version: str = "0.1.0") -> str:
    base = f"lwdock/{version}"
    return f"{base} (name: {nickname})" if nickname else base


def nickname_from_agent(agent: object) -> str:
    """The nickname in a peer's agent_version, printable characters only and truncated; "" if none."""
    if not isinstance(agent, str):
        return ""
    match = _AGENT_RE.fullmatch(agent[:MAX_AGENT])
    if not match:
        return ""
    return "".join(c for c in match.group(1) if c.isprintable())[:MAX_NICKNAME]


def install() -> str:
    """Wrap identify so each host sends its own agent_version and keeps its peers'. Idempotent."""
    global _installed
    if _installed is not None:
        return _installed
    broken = [why for t in TARGETS if (why := problem(t))]
    if broken:
        _installed = f"off: {broken[0]}"
        logger.warning("peer nicknames %s", _installed)
        return _installed
    import libp2p.host.basic_host as basic_host
    import libp2p.identity.identify.identify as identify

    make, update = identify._mk_identify_protobuf, basic_host.update_peerstore_from_identify

    def mk_identify_protobuf(host, observed_multiaddr):
        message = make(host, observed_multiaddr)
        mine = getattr(host, "lwdock_agent_version", None)
        if mine:
            message.agent_version = mine
        return message

    async def update_peerstore_from_identify(peerstore, peer_id, identify_msg):
        await update(peerstore, peer_id, identify_msg)
        try:
            peerstore.put(peer_id, AGENT_KEY, str(identify_msg.agent_version)[:MAX_AGENT])
        except Exception as exc:  # a peer that is gone meanwhile: nothing to keep
            logger.debug("keeping %s's agent version: %s", peer_id, exc)

    identify._mk_identify_protobuf = mk_identify_protobuf
    basic_host.update_peerstore_from_identify = update_peerstore_from_identify
    _installed = "on"
    return _installed


class PeerBook:
    """Addresses and round-trip times of connected peers (trio thread only)."""

    def __init__(self, host):
        self.host = host
        self.addrs: dict[str, str] = {}
        self.rtt_ms: dict[str, float] = {}

    def connected(self, peer: str, addr: str) -> None:
        self.addrs[peer] = addr

    def gone(self, peer: str) -> None:
        self.addrs.pop(peer, None)
        self.rtt_ms.pop(peer, None)

    def agent(self, peer: str) -> str | None:
        """The agent_version the peer's identify carried; None before it is identified."""
        from libp2p.peer.id import ID

        try:
            return str(self.host.get_peerstore().get(ID.from_base58(peer), AGENT_KEY))
        except Exception:  # not identified (yet), or no longer known
            return None

    def nickname(self, peer: str) -> str:
        return nickname_from_agent(self.agent(peer))

    async def ping(self, peer: str) -> float | None:
        """One ping round trip in ms (kept for the peer's row), or None when it fails."""
        from libp2p.custom_types import TProtocol
        from libp2p.host.ping import ID as PING_ID
        from libp2p.host.ping import perform_ping_roundtrip
        from libp2p.peer.id import ID

        try:
            with trio.fail_after(PING_TIMEOUT):
                stream = await self.host.new_stream(ID.from_base58(peer), [TProtocol(PING_ID)])
                try:
                    start = trio.current_time()
                    await perform_ping_roundtrip(stream)
                    rtt = (trio.current_time() - start) * 1000.0  # ms with decimals (libp2p rounds down)
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
        except Exception as exc:
            logger.debug("ping %s failed: %s", peer[:16], exc)
            return None
        if peer in self.addrs:
            self.rtt_ms[peer] = rtt
        return rtt

    async def introduce(self, peer: str) -> None:
        """Log one line once the peer is identified (or IDENTIFY_WAIT passed): who, where, how far."""
        with trio.move_on_after(IDENTIFY_WAIT):
            while self.agent(peer) is None and peer in self.addrs:
                await trio.sleep(0.05)
        rtt = await self.ping(peer)
        nick = self.nickname(peer)
        logger.info("connected to %s%s at %s%s", peer, f" ({nick})" if nick else "", self.addrs.get(peer) or "?",
                    f", {rtt:.1f} ms" if rtt is not None else "")

    async def refresh(self, peers: list[str]) -> None:
        for peer in peers:
            await self.ping(peer)

    def details(self, live: set[str]) -> list[dict]:
        """One dict per live peer: peer_id, addr, latency_ms (None until measured), nickname."""
        return [{"peer_id": p, "addr": self.addrs.get(p, ""), "latency_ms": self.rtt_ms.get(p),
                 "nickname": self.nickname(p)} for p in sorted(live)]
