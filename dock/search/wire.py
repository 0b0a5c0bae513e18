"""Turning the dock's objects into plain msgpack-able values and back, for the control socket.

Generic over the dataclasses' fields so that fields added to Match/Mixture later travel too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dock.search.query import Match, Mixture, SearchResult, UserInfo


def user_info_to_wire(user_info: UserInfo) -> dict[str, Any]:
    return {
        "semantic_spec": user_info.semantic_spec,
        "stat_info": {kind: spec.to_bytes() for kind, spec in (user_info.stat_info or {}).items() if spec is not None},
    }


def user_info_from_wire(data: dict[str, Any]) -> UserInfo:
    from specs import spec_from_bytes

    stat_info = {kind: spec_from_bytes(blob) for kind, blob in (data.get("stat_info") or {}).items()}
    return UserInfo(semantic_spec=data.get("semantic_spec"), stat_info=stat_info)


# The info keys a search over peers reports (which peers answered, what each named), carried
# over the control socket only (never in a peer's search answer: docs/PROTOCOL.md section 9).
PEER_INFO_KEYS = ("peers_asked", "peers_answered", "peer_ids_dropped", "answering_peers", "listed_by")


def result_to_wire(result: SearchResult, info_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    wire = {
        "single": [dataclasses.asdict(m) for m in result.single],
        "multiple": dataclasses.asdict(result.multiple) if result.multiple else None,
    }
    if info_keys:
        wire["info"] = {k: result.info[k] for k in info_keys if k in result.info}
    return wire


def _build(cls, data: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def result_from_wire(data: dict[str, Any]) -> SearchResult:
    multiple = data.get("multiple")
    info = data.get("info")
    return SearchResult(
        single=[_build(Match, m) for m in data.get("single") or []],
        multiple=_build(Mixture, multiple) if multiple else None,
        info=dict(info) if isinstance(info, dict) else {},
    )
