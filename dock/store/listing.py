"""Paged, sorted, filtered listing of the catalogue (issue 16): no screen or command reads a
million records to show fifty.

A page is found in two steps: the ids of the page from the narrow columns the order and the
filter need (DuckDB's top-N over them: tens of ms at 1M rows), then those rows' full records by
id. Paging is by `offset` or by `after`, an opaque cursor naming the last row of the previous
page (keyset paging: stable while records arrive, and as fast at page 20,000 as at page 1).

Sorts: "added" (newest first; the order Catalogue.list() always had), "name" (ignoring case), "size" (largest
first), "id"; a leading "-" reverses. Ties are broken by id, so every order is total.
Filters (all optional, combined with AND): data_type, task_type, library_type, license,
scenario (one of the record's scenarios), publisher (an id), name (case-insensitive substring of
the name), local (True: only records whose zip is here; False: only records known from peers).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from dock.errors import DockError
from dock.records import LearnwareRecord
from dock.store.catalogue import _RECORD_COLUMNS, Catalogue

MAX_LIMIT = 10_000
# sort name -> (column, descending by default)
# "name" orders by the stored lower-case name (migration 0009: 45 ms at 1M, lower(name) 170-250 ms).
SORTS = {"added": ("added_at", True), "name": ("name_key", False), "size": ("size", True), "id": ("id", False)}
# A row some other writer left without name_key: the slow, always right key (DuckDB evaluates the
# fallback for every row, so it is used only while such a row exists; counting them costs ~1 ms).
_NAME_FALLBACK = "coalesce(name_key, lower(name))"
# Up to this many ids, a page's rows are fetched by a literal IN list (DuckDB probes the id
# column's zone maps: ~10 ms at 1M rows), beyond it through unnest (a join, ~50 ms).
_LITERAL_IN_MAX = 1000
_EXACT_FILTERS = ("data_type", "task_type", "library_type", "license", "publisher")
FILTERS = (*_EXACT_FILTERS, "scenario", "name", "local")


@dataclass
class ListPage:
    records: list[LearnwareRecord]
    total: int  # records matching the filter, in all pages
    offset: int | None  # the offset asked for (None when paged by `after`)
    next_after: str | None  # pass as after= for the next page; None on the last page
    sort: str = "added"
    filter: dict[str, Any] = field(default_factory=dict)


def check_filter(wanted: dict[str, Any] | None) -> dict[str, Any]:
    if wanted is None:
        return {}
    if not isinstance(wanted, dict):
        raise DockError(f"a listing filter is a map of {', '.join(FILTERS)}; got {type(wanted).__name__}")
    unknown = sorted(set(wanted) - set(FILTERS))
    if unknown:
        raise DockError(f"unknown listing filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}")
    for key, value in wanted.items():
        if key == "local":
            if not isinstance(value, bool):
                raise DockError("listing filter local must be true or false")
        elif not isinstance(value, str) or not value or len(value) > 1000:
            raise DockError(f"listing filter {key} must be a non-empty string")
    return dict(wanted)


def _sort(sort: str | None) -> tuple[str, str, bool]:
    name = sort or "added"
    reverse = name.startswith("-")
    base = name[1:] if reverse else name
    if base not in SORTS:
        raise DockError(f"unknown sort {name!r}; one of {', '.join(SORTS)} (a leading '-' reverses)")
    column, descending = SORTS[base]
    return name, column, descending != reverse


def _where(wanted: dict[str, Any]) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    for key in _EXACT_FILTERS:
        if key in wanted:
            clauses.append(f"{key} = ?")
            params.append(wanted[key])
    if "scenario" in wanted:
        clauses.append("list_contains(scenarios, ?)")
        params.append(wanted["scenario"])
    if "name" in wanted:
        clauses.append("contains(lower(name), ?)")
        params.append(wanted["name"].lower())
    if "local" in wanted:
        negate = "" if wanted["local"] else "NOT "
        clauses.append(negate + "EXISTS (SELECT 1 FROM blobs b WHERE b.id = learnwares.id)")
    return clauses, params


def _encode_after(sort: str, value: Any, learnware_id: str) -> str:
    if hasattr(value, "isoformat"):
        value = {"t": value.isoformat()}
    raw = json.dumps([sort, value, learnware_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_after(after: str, sort: str) -> tuple[Any, str]:
    from datetime import datetime

    try:
        raw = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4))
        was_sort, value, learnware_id = json.loads(raw)
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(learnware_id, str):
            raise ValueError
    except Exception:
        raise DockError("the listing cursor (after=) is not one a listing returned") from None
    if was_sort != sort:
        raise DockError(f"the listing cursor (after=) was made for sort {was_sort!r}, not {sort!r}")
    return value, learnware_id


def count(catalogue: Catalogue, wanted: dict[str, Any] | None = None) -> int:
    clauses, params = _where(check_filter(wanted))
    sql = "SELECT count(*) FROM learnwares" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    with catalogue._lock:
        return int((catalogue._con.execute(sql, params).fetchone() or (0,))[0])


def list_page(catalogue: Catalogue, *, limit: int = 50, offset: int | None = None, after: str | None = None,
              sort: str | None = None, filter: dict[str, Any] | None = None) -> ListPage:  # noqa: A002
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise DockError(f"limit must be an integer in 1..{MAX_LIMIT}, got {limit!r}")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or offset < 0):
        raise DockError(f"offset must be a non-negative integer, got {offset!r}")
    if offset is not None and after is not None:
        raise DockError("page by offset or by after (a cursor), not both")
    wanted = check_filter(filter)
    sort_name, column, descending = _sort(sort)
    clauses, params = _where(wanted)
    total_sql = "SELECT count(*) FROM learnwares" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    page_clauses, page_params = list(clauses), list(params)
    if after is not None:
        value, last_id = _decode_after(after, sort_name)
        if column == "id":
            page_clauses.append("id < ?" if descending else "id > ?")
            page_params.append(last_id)
        else:
            page_clauses.append(f"({column} {'<' if descending else '>'} ? OR ({column} = ? AND id > ?))")
            page_params += [value, value, last_id]
    order = f"{column} {'DESC' if descending else 'ASC'}" + (", id" if column != "id" else "")
    ids_sql = (f"SELECT id, {column} FROM learnwares" + (" WHERE " + " AND ".join(page_clauses) if page_clauses
                                                          else "") + f" ORDER BY {order} LIMIT ? OFFSET ?")
    with catalogue._lock:
        con = catalogue._con
        if column == "name_key" and (con.execute("SELECT count(*) FROM learnwares WHERE name_key IS NULL")
                                     .fetchone() or (0,))[0]:
            ids_sql = ids_sql.replace("name_key", _NAME_FALLBACK)
        total = int((con.execute(total_sql, params).fetchone() or (0,))[0])
        keys = con.execute(ids_sql, [*page_params, limit + 1, offset or 0]).fetchall()
        more = len(keys) > limit
        keys = keys[:limit]
        ids = [k[0] for k in keys]
        if len(ids) <= _LITERAL_IN_MAX:
            rows = con.execute(f"SELECT {_RECORD_COLUMNS} FROM learnwares WHERE id IN ({', '.join('?' * len(ids))})",
                               ids).fetchall() if ids else []
        else:
            rows = con.execute(f"SELECT {_RECORD_COLUMNS} FROM learnwares WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                               [ids]).fetchall()
        by_id = {r[0]: r for r in rows}
        records = catalogue.records_from_rows([by_id[i] for i in ids if i in by_id])
    next_after = _encode_after(sort_name, keys[-1][1], keys[-1][0]) if more and keys else None
    return ListPage(records, total, offset if after is None else None, next_after, sort_name, wanted)


def page_to_wire(page: ListPage) -> dict[str, Any]:
    from dock.records import record_to_dict

    return {"records": [record_to_dict(r) for r in page.records], "total": page.total, "offset": page.offset,
            "next_after": page.next_after, "sort": page.sort, "filter": dict(page.filter)}


def page_from_wire(data: dict[str, Any]) -> ListPage:
    from dock.records import record_from_dict

    return ListPage([record_from_dict(r) for r in data["records"]], int(data["total"]), data.get("offset"),
                    data.get("next_after"), data.get("sort") or "added", dict(data.get("filter") or {}))
