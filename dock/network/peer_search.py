"""Search over peers (`/lwdock/search/1.0.0`, docs/PROTOCOL.md section 9).

Server side: the local search, plus the signed envelope of every id the answer names.

Client side: a peer's answer is a *hint*, never a result. A hostile peer can claim score 1.0
for an id that exists nowhere, or for a real record that fits badly (issue 11, case 5). So:

1. only the ids a peer lists (its singles and its mixture, at most limit + MIXTURE_MAX_SIZE of
   them) are looked at, and each must come with its signed record envelope among the answer's
   `records`; an id without one is dropped;
2. every envelope is verified and applied exactly like a gossiped record (signature, schema,
   model config, size, clock, tombstones, budgets; dock_network.ingest), so what survives is
   in the local catalogue;
3. the peer's scores, mmd2 and mixture are ignored: the result is the local search, run after
   step 2 on the user's own query, so every score and the mixture are computed here from the
   records' own specs (the same formula as a local search, by construction).

A record this node refuses to store (withdrawn by its publisher, over a budget) is therefore not
shown: it could not be shown, fetched or loaded from here either.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import msgpack

from dock.errors import DockError
from dock.network.signed_records import RecordError, decode_envelope
from dock.network.wire import SEARCH_PROTOCOL
from dock.network.wire import UNPACK as _UNPACK
from dock.search.mixture import MIXTURE_MAX_SIZE
from dock.search.query import SearchResult, UserInfo
from dock.search.wire import result_to_wire, user_info_from_wire, user_info_to_wire
from dock.store.blobs import is_learnware_id

log = logging.getLogger(__name__)

MAX_PARALLEL = 8  # peers asked at once


def serve_search(service, request: bytes) -> bytes:
    from p2p import RequestRefused

    try:
        query = msgpack.unpackb(request, **_UNPACK)
        user_info = user_info_from_wire(query["user_info"])
        limit = max(1, min(int(query.get("limit", 10)), 100))
    except Exception as exc:
        raise RequestRefused(f"bad search request: {exc}") from None
    try:
        result = service.dock.search(user_info, limit=limit)
    except DockError as exc:
        raise RequestRefused(str(exc)) from None
    # every id the answer names comes with its envelope: clients rank nothing they cannot verify
    mixed = list(result.multiple.ids) if result.multiple else []
    named = list(dict.fromkeys([m.id for m in result.single] + mixed))
    envelopes = [e[2] for e in (service.store.envelope(i) for i in named) if e]
    return msgpack.packb({"result": result_to_wire(result), "records": envelopes}, use_bin_type=True)


def listed_ids(result, cap: int) -> list[str]:
    """The learnware ids a peer's answer names (singles, then its mixture), well-formed, at most cap."""
    ids: list[str] = []
    if isinstance(result, dict):
        singles = result.get("single") if isinstance(result.get("single"), list) else []
        mixture = result.get("multiple") if isinstance(result.get("multiple"), dict) else {}
        mixed = mixture.get("ids") if isinstance(mixture.get("ids"), list) else []
        for value in [m.get("id") if isinstance(m, dict) else None for m in singles] + mixed:
            if isinstance(value, str) and is_learnware_id(value) and value not in ids:
                ids.append(value)
            if len(ids) >= cap:
                break
    return ids


def search_peers(service, user_info: UserInfo, limit: int = 10, *, timeout: float = 15.0) -> SearchResult:
    """Ask every connected peer, keep what verifies, rank everything here (see the module doc)."""
    request = msgpack.packb({"user_info": user_info_to_wire(user_info), "limit": limit}, use_bin_type=True)
    peers = list(service.node.peers())
    replies: list[tuple[str, object]] = []
    if peers:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(peers)), thread_name_prefix="lwdock-search") as pool:
            futures = {peer: pool.submit(_ask, service, peer, request, timeout) for peer in peers}
            replies = [(peer, future.result()) for peer, future in futures.items()]
    cap = limit + MIXTURE_MAX_SIZE
    answered = dropped = 0
    answering: list[str] = []
    listed_by: dict[str, list[str]] = {}  # learnware id -> the peers whose answer named it (verified)
    for peer, reply in replies:
        if reply is None:
            continue
        answered += 1
        answering.append(peer)
        dropped += _apply_answer(service, peer, reply, cap, listed_by)
    result = service.dock.search(user_info, limit=limit)
    result.info.update(peers_asked=len(peers), peers_answered=answered, peer_ids_dropped=dropped,
                       answering_peers=_named(service, answering), listed_by=listed_by)
    return result


def _named(service, peer_ids: list[str]) -> list[dict]:
    """[{peer_id, nickname}] for the answering peers (nicknames are the peers' own: escape them)."""
    try:
        nicknames = {d["peer_id"]: d.get("nickname", "") for d in service.node.peer_details()}
    except Exception:  # the node is stopping: ids alone
        nicknames = {}
    return [{"peer_id": p, "nickname": nicknames.get(p, "")} for p in peer_ids]


def _ask(service, peer: str, request: bytes, timeout: float):
    try:
        reply = msgpack.unpackb(service.node.request(peer, SEARCH_PROTOCOL, request, timeout=timeout), **_UNPACK)
    except Exception as exc:
        log.info("search on %s failed: %s", peer[:16], exc)
        return None
    return reply if isinstance(reply, dict) else None


def _apply_answer(service, peer: str, reply: dict, cap: int, listed_by: dict[str, list[str]]) -> int:
    """Verify and apply the records behind the ids a peer listed; returns how many ids were dropped."""
    wanted = set(listed_ids(reply.get("result"), cap))
    envelopes = reply.get("records") if isinstance(reply.get("records"), list) else []
    verified: set[str] = set()
    for envelope in envelopes[:cap]:
        if not isinstance(envelope, bytes):
            service.stats.reject(peer)
            continue
        try:
            signed = decode_envelope(envelope)
        except RecordError as exc:
            service.stats.receive(peer)
            service.stats.reject(peer)
            log.info("rejected a record in %s's search answer: %s", peer[:16], exc.reason)
            continue
        if signed.kind != "record" or signed.id not in wanted:
            continue  # not what the answer is about: not ours to store
        outcome = service.ingest_signed(signed, peer)
        if outcome in ("stored", "duplicate"):
            verified.add(signed.id)
            listed_by.setdefault(signed.id, []).append(peer)
    missing = wanted - verified
    if missing:
        log.info("search answer from %s: %d id(s) without a valid record dropped", peer[:16], len(missing))
    return len(missing)
