"""The network layer (libp2p, trio). Knows bytes, peer ids and protocol ids, never learnwares.

Exports are lazy (PEP 562): `from p2p import Identity, verify` costs no libp2p/trio import
(~0.8 s, ~85 MB); only touching `P2PNode` (or the protocol modules) loads them.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Identity": "identity",
    "load_or_create_identity": "identity",
    "verify": "identity",
    "peer_id_from_public_key": "identity",
    "public_key_from_peer_id": "identity",
    "PeerError": "errors",
    "ListenError": "errors",
    "IdentityError": "errors",
    "NodeNotRunning": "errors",
    "DialError": "errors",
    "RequestTimeout": "errors",
    "ProtocolViolation": "errors",
    "RemoteError": "errors",
    "RequestRefused": "errors",
    "ResponseTooLarge": "errors",
    "TransferError": "errors",
    "TruncatedTransfer": "errors",
    "HashMismatch": "errors",
    "ErrorCode": "errors",
    "GossipMessage": "events",
    "PeerConnected": "events",
    "PeerDisconnected": "events",
    "P2PNode": "node",
    "NodeConfig": "node",
    "GossipConfig": "host",
    "ProtocolLimits": "reqresp",
    "FetchResult": "transfer",
    "FETCH_PROTOCOL_ID": "transfer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'p2p' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
