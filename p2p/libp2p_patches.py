"""Every py-libp2p internal lwdock touches, checked before use; installs libp2p_fixes/_speed.

lwdock patches py-libp2p 0.8.1 where its public API gives no way to fix what is wrong. Such
patches break silently on an upgrade: a renamed method is simply never called again. So each
target is listed here, tagged CORRECTNESS (the node is unsafe without it) or PERFORMANCE
(only slower without it), and checked for its shape before anything is installed:

* a missing or reshaped CORRECTNESS target makes `install()` raise PeerError naming it and the
  libp2p version: P2PNode.start() refuses rather than run unprotected;
* a missing PERFORMANCE target (or another libp2p version than PINNED_VERSION) leaves
  py-libp2p's own paths in place, logs a warning, and `state()` says why; P2PNode.stats() shows
  it as stats()["libp2p_patches"].

Shapes checked: the attribute exists, is a class/callable, has the parameters we call it with;
an instance attribute we read must be assigned in its class's __init__ (its code's co_names).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import PeerError

logger = logging.getLogger(__name__)

PINNED_VERSION = "0.8.1"

_YAMUX = "libp2p.stream_muxer.yamux.yamux"
_PUBSUB = "libp2p.pubsub.pubsub"
_SCORE = "libp2p.pubsub.score"


@dataclass(frozen=True)
class Target:
    module: str
    name: str  # "Class", "Class.method", or a module global
    why: str
    params: tuple[str, ...] = ()  # parameters it must accept (a method's, without self)
    init_attrs: tuple[str, ...] = ()  # instance attributes set in the class's __init__

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


CORRECTNESS = (
    # global swaps (no seam): libp2p_fixes
    Target("libp2p.stream_muxer.muxer_multistream", "Yamux", "cancel-safe yamux: built by name, muxer_opt ignored"),
    Target(_YAMUX, "read_exactly", "hostile frames: yamux reads frame headers through it", ("reader", "n")),
    Target(_YAMUX, "HEADER_SIZE", "hostile frames"),
    Target(_YAMUX, "TYPE_GO_AWAY", "hostile frames"),
    Target(_YAMUX, "YAMUX_HEADER_FORMAT", "hostile frames"),
    Target(_YAMUX, "Yamux._write_frame", "cancel-safe yamux: every frame write goes through it", ("data",)),
    Target(_YAMUX, "Yamux.handle_incoming", "hostile frames: reads headers with read_exactly"),
    Target(_YAMUX, "Yamux", "cancel-safe yamux", init_attrs=("secured_conn", "_write_lock", "peer_id")),
    Target("libp2p.transport.tcp.tcp", "_set_reuse_flags", "exclusive listen: sets SO_REUSEPORT", ("sock",)),
    Target("libp2p.network.connection.swarm_connection", "logging", "logging: root logger calls"),
    Target("libp2p.tools.utils", "logging", "logging: root logger calls"),
    # overridden or called private members (seams: subclasses, set_stream_handler): host.py,
    # scoring.py, defences.py, peers.py
    Target("libp2p.host.basic_host", "BasicHost._swarm_stream_handler", "hostile peers: the stream guard wraps it",
           ("net_stream",)),
    Target(_PUBSUB, "Pubsub.push_msg", "hostile peers: guard, score gate, contained failures",
           ("msg_forwarder", "msg")),
    Target(_PUBSUB, "Pubsub.handle_subscription", "hostile peers: graylisted subscriptions ignored",
           ("origin_id", "sub_message")),
    Target(_PUBSUB, "Pubsub.notify_subscriptions", "silent drops: replaces the 32-slot channel",
           ("publish_message",)),
    Target(_PUBSUB, "Pubsub._forget_all_subscriptions", "ghost peers: a gone peer's subscriptions", ("peer_id",)),
    Target(_PUBSUB, "Pubsub", "silent drops, seqnos, ghost peers",
           init_attrs=("peer_queues", "counter", "peers", "peer_topics", "router")),
    Target("libp2p.pubsub.rpc_queue", "RpcQueue", "silent drops: queue depth", init_attrs=("_queue",)),
    Target("libp2p.pubsub.gossipsub", "GossipSub.handle_rpc", "hostile peers: graylisted control ignored",
           ("rpc", "sender_peer_id")),
    Target("libp2p.pubsub.gossipsub", "GossipSub.remove_peer", "bounded memory: rate-limit table", ("peer_id",)),
    Target("libp2p.pubsub.gossipsub", "GossipSub", "hostile peers: scoring",
           init_attrs=("scorer", "message_rate_limits")),
    Target(_SCORE, "PeerScorer.on_invalid_message", "scoring: only 'reject' counts", ("peer", "topic")),
    Target(_SCORE, "PeerScorer.add_peer_ip", "scoring: IP colocation", ("peer", "ip_str")),
    Target(_SCORE, "PeerScorer.remove_peer_ip", "scoring: IP colocation", ("peer",)),
    Target(_SCORE, "PeerScorer.remove_peer", "scoring: survives a reconnect", ("peer",)),
    Target(_SCORE, "PeerScorer.on_heartbeat", "scoring: decay", ("dt_seconds",)),
    Target(_SCORE, "PeerScorer.penalize_behavior", "scoring: guard penalties (P5)", ("peer", "amount")),
    Target(_SCORE, "PeerScorer.score", "scoring", ("peer", "topics")),
    Target(_SCORE, "PeerScorer", "scoring", init_attrs=("invalid_messages", "behavior_penalty", "params")),
)

PERFORMANCE = (
    Target(_YAMUX, "MAX_MESSAGE_SIZE", "frames sized to one Noise message"),
    Target(_YAMUX, "MAX_WINDOW_SIZE", "fast DATA delivery, open_window"),
    Target(_YAMUX, "TYPE_DATA", "fast DATA delivery"),
    Target(_YAMUX, "YamuxStream", "window hysteresis, batched writes, direct reads (built by name)",
           init_attrs=("rw_lock", "window_lock", "target_recv_window", "recv_window", "send_window", "closed",
                       "recv_closed", "send_closed", "reset_received", "_zero_window_waits",
                       "_pending_recv_release", "stream_id", "conn")),
    Target(_YAMUX, "YamuxStream.read", "direct reads", ("n",)),
    Target(_YAMUX, "YamuxStream.write", "batched writes", ("data",)),
    Target(_YAMUX, "YamuxStream.send_window_update", "open_window", ("increment",)),
    Target(_YAMUX, "YamuxStream._auto_tune_and_send_window_update", "window hysteresis", ("bytes_read",)),
    Target(_YAMUX, "YamuxStream._grow_to_delta", "window hysteresis", ("buffered",)),
    Target(_YAMUX, "YamuxStream._apply_autotune_epoch", "window hysteresis", ("buffered",)),
    Target(_YAMUX, "Yamux._read_data_body", "fast DATA delivery", ("length",)),
    Target(_YAMUX, "Yamux._finalize_stream_locked", "fast DATA delivery", ("stream", "fully_closed")),
    Target(_YAMUX, "Yamux", "fast DATA delivery",
           init_attrs=("streams", "stream_buffers", "stream_events", "streams_lock", "event_shutting_down")),
    Target(_YAMUX, "_yamux_data_read_timeout", "PY_YAMUX_* knobs read once"),
    Target(_YAMUX, "_yamux_disable_hysteresis", "PY_YAMUX_* knobs read once"),
    Target(_YAMUX, "_yamux_batch_threshold_divisor", "PY_YAMUX_* knobs read once"),
    Target("libp2p.security.noise.transport", "Transport.secure_inbound", "buffered Noise (seam)", ("conn",)),
    Target("libp2p.security.noise.transport", "Transport.secure_outbound", "buffered Noise (seam)",
           ("conn", "peer_id")),
    Target("libp2p.security.noise.io", "MAX_PLAINTEXT_LENGTH", "buffered Noise"),
    Target("libp2p.security.noise.io", "NoiseTransportReadWriter", "buffered Noise",
           init_attrs=("noise_state",)),
    Target("libp2p.security.noise.io", "NoiseTransportReadWriter.encrypt", "buffered Noise", ("data",)),
    Target("libp2p.security.secure_session", "SecureSession._reset_internal_buffer", "copy-free reads"),
    Target("libp2p.security.secure_session", "SecureSession", "copy-free reads",
           ("local_peer", "local_private_key", "remote_peer", "remote_permanent_pubkey", "is_initiator", "conn")),
    # the Noise library under py-libp2p: _BufferedNoiseTransport decrypts with its cipher state directly
    Target("noise.connection", "NoiseConnection", "buffered Noise: decrypt in place", init_attrs=("noise_protocol",)),
    Target("noise.noise_protocol", "NoiseProtocol", "buffered Noise: decrypt in place",
           init_attrs=("cipher_state_decrypt",)),
    Target("noise.state", "CipherState.decrypt_with_ad", "buffered Noise: decrypt in place", ("ad", "ciphertext")),
)


def problem(target: Target) -> str | None:
    """Why `target` cannot be patched as written, or None when it has the expected shape."""
    try:
        obj = importlib.import_module(target.module)
    except ImportError as exc:
        return f"module {target.module} is gone ({exc})"
    for part in target.name.split("."):
        if not hasattr(obj, part):
            return f"{target.path} is gone"
        obj = getattr(obj, part)
    if target.params:
        if not callable(obj):
            return f"{target.path} is no longer callable"
        have: Mapping[str, inspect.Parameter]
        try:
            have = inspect.signature(obj.__init__ if isinstance(obj, type) else obj).parameters
        except (TypeError, ValueError):
            have = {}
        missing = [p for p in target.params if p not in have]
        if missing:
            return f"{target.path} no longer takes {', '.join(missing)}"
    if target.init_attrs:
        init = getattr(obj, "__init__", None)
        names = set(getattr(getattr(init, "__code__", None), "co_names", ()))
        missing = [a for a in target.init_attrs if a not in names]
        if missing:
            return f"{target.path}.__init__ no longer sets {', '.join(missing)}"
    return None


_state: dict | None = None


def installed_version() -> str:
    try:
        return importlib.metadata.version("libp2p")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def install() -> dict:
    """Check every target, then install the fixes and (if possible) the speed patches, once per
    process. Raises PeerError when a CORRECTNESS target is missing (every call, not just the
    first). Returns state(): {"version", "speed": "on" | "off: <why>", "fixes": "on"}."""
    global _state
    if _state is not None:
        if _state["fixes"] != "on":
            raise PeerError(_state["fixes"])
        return dict(_state)
    version = installed_version()
    broken = [(t, why) for t in CORRECTNESS if (why := problem(t))]
    if broken:
        target, why = broken[0]
        others = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        message = (f"py-libp2p {version} lacks what lwdock's fix for {target.why} needs: {why}{others}; "
                   f"lwdock is tested with libp2p {PINNED_VERSION}: pip install libp2p=={PINNED_VERSION}")
        logger.critical("%s", message)
        _state = {"version": version, "speed": "off: fixes missing", "fixes": message}
        raise PeerError(message)
    speed = "on"
    if version != PINNED_VERSION:
        speed = f"off: libp2p {version} is not {PINNED_VERSION}, which the fast paths were written for"
    elif slow := [(t, why) for t in PERFORMANCE if (why := problem(t))]:
        speed = f"off: {slow[0][1]} ({slow[0][0].why})"
    from . import libp2p_fixes

    libp2p_fixes.quiet_libp2p_logging()
    libp2p_fixes.install_exclusive_listen()
    if speed == "on":
        from . import libp2p_speed

        libp2p_speed.install_speed()
        libp2p_fixes.install_yamux(libp2p_speed.FastYamux)
    else:
        logger.warning("py-libp2p fast paths %s: transfers will be slower (correctness fixes are on)", speed)
        libp2p_fixes.install_yamux(libp2p_fixes.CancelSafeYamux)
    _state = {"version": version, "speed": speed, "fixes": "on"}
    return dict(_state)


def state() -> dict:
    """What install() did: {"version", "speed", "fixes"}; {} before it ran."""
    return dict(_state or {})


def speed_on() -> bool:
    return _state is not None and _state.get("speed") == "on"
