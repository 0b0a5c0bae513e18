"""`lwdock list` with paging (issue 16): `--limit/--offset/--after/--sort/--filter KEY=VALUE`.

Without any of them the command lists every record as it always did (a JSON list); with any,
it reads one page (dock/store/listing.py: two narrow queries, ~constant time at 1M records) and
`--json` prints {"records", "total", "offset", "next_after", "sort", "filter"}.
"""

from __future__ import annotations

from dock.cli import output as out
from dock.errors import DockError


def paging_asked(args) -> bool:
    return any(getattr(args, name, None) is not None for name in ("limit", "offset", "after", "sort")) or bool(
        getattr(args, "filter", None))


def parse_filters(items: list[str] | None) -> dict:
    wanted: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DockError(f"--filter takes KEY=VALUE (e.g. task_type=Classification), got {item!r}")
        if key == "local":
            if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise DockError(f"--filter local=true or local=false, got {value!r}")
            wanted[key] = value.lower() in ("true", "yes", "1")
        else:
            wanted[key] = value
    return wanted


def list_paged(dock, args) -> dict:
    page = dock.list_page(limit=args.limit if args.limit is not None else 50, offset=args.offset, after=args.after,
                          sort=args.sort, filter=parse_filters(args.filter) or None)
    local = dock.local_ids()
    records = [dict(r.summary(), local=r.id in local) for r in page.records]
    result = {"records": records, "total": page.total, "offset": page.offset, "next_after": page.next_after,
              "sort": page.sort, "filter": page.filter}
    if not args.json:
        if records or page.total == 0:
            out.records_table(records)
        first = (page.offset or 0) + 1
        shown = f"{first}-{first + len(records) - 1}" if page.offset is not None and records else f"{len(records)}"
        hint = ""
        if page.next_after is not None:
            hint = (f"; next page: --offset {(page.offset or 0) + len(records)}" if page.offset is not None
                    else f"; next page: --after {page.next_after}")
        out.info(f"showing {shown} of {page.total:,} (sorted by {page.sort}){hint}")
    return result
