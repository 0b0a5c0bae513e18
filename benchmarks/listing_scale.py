"""Paged listing on a large catalogue (issue 16 item 3): `lwdock list --limit 50` and the TUI's
first listing (Dock.list_page, the call the TUI makes) on 1M records.

The catalogue is generated once with SQL straight into a dock's DuckDB file (records with a
realistic semantic spec of ~600 bytes, one small stat spec row each, all known from peers: no zips)
and cached in --cache; generating 1M takes about a minute. Listing does not read spec points,
so the spec rows' blobs are tiny; their count (what the listing's spec-type lookup scans) is real.

    python benchmarks/listing_scale.py [--records 1000000] [--cache /tmp/lwdock-bench-cache] [--json]
Targets: `lwdock list --limit 50` (a whole CLI process) and the TUI's first listing <= 0.5 s at 1M.
The TUI rows run the app under Textual's run_test in a fresh process per repeat (cold DuckDB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASKS = ["Classification", "Regression", "Clustering"]
DATA = ["Table", "Image", "Text"]


def generate(home: Path, n: int) -> float:
    from dock import Dock

    start = time.monotonic()
    dock = Dock.open(home)
    con = dock.catalogue._con
    semantic = json.dumps({"Name": {"Type": "String", "Values": "NAME"}, "Description": {
        "Type": "String", "Values": "a generated learnware for the listing benchmark " * 4},
        "Data": {"Type": "Class", "Values": ["Table"]}, "Task": {"Type": "Class", "Values": ["Classification"]},
        "Library": {"Type": "Class", "Values": ["Scikit-learn"]}, "Scenario": {"Type": "Tag", "Values": ["Others"]},
        "License": {"Type": "Class", "Values": ["MIT"]}}, sort_keys=True)
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO learnwares SELECT sha256(i::VARCHAR), 'learnware ' || i, 'generated', "
        "($2::VARCHAR[])[1 + i % 3], ($3::VARCHAR[])[1 + (i // 3) % 3], 'Scikit-learn', 'MIT', ['Others'], "
        "16, 2, replace($1, 'NAME', 'learnware ' || i), '{\"class_name\": \"M\", \"kwargs\": {}}', "
        "1000 + i % 100000, NULL, now() - to_seconds(i), now() - to_seconds(i), "
        "'learnware ' || i, ['RKMETableSpecification'] FROM range($4) t(i)",  # 0009: name_key, spec_types
        [semantic, DATA, TASKS, n])
    con.execute(
        "INSERT INTO stat_specs SELECT sha256(i::VARCHAR), 'RKMETableSpecification', 'table:16', 16, 1, 0.1, 100, "
        "'\\x00'::BLOB FROM range($1) t(i)", [n])
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    dock.close()
    return time.monotonic() - start


def measure(home: Path, repeats: int) -> dict:
    from dock import Dock

    opened = time.perf_counter()
    dock = Dock.open(home)
    open_s = time.perf_counter() - opened

    def timed(fn) -> float:
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        return round(statistics.median(runs) * 1000, 1)

    first = dock.list_page(limit=50)
    row = {
        "records": dock.count(),
        "open_ms": round(open_s * 1000, 1),
        "first_page_ms": timed(lambda: dock.list_page(limit=50)),
        "page_by_after_ms": timed(lambda: dock.list_page(limit=50, after=first.next_after)),
        "offset_half_ms": timed(lambda: dock.list_page(limit=50, offset=dock.count() // 2)),
        "sort_name_ms": timed(lambda: dock.list_page(limit=50, sort="name")),
        "filter_task_local_ms": timed(lambda: dock.list_page(limit=50, filter={"task_type": "Regression",
                                                                                "local": False})),
        "count_ms": timed(dock.count),
    }
    dock.close()
    cli = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dock.cli", "--home", str(home), "list", "--limit", "50", "--json"],
                       check=True, capture_output=True, env=_env())
        cli.append(time.perf_counter() - t)
    empty = Path(str(home) + "-empty")
    t0 = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dock.cli", "--home", str(empty), "list", "--limit", "50", "--json"],
                       check=True, capture_output=True, env=_env())
        t0.append(time.perf_counter() - t)
    human = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dock.cli", "--home", str(home), "list", "--limit", "50"],
                       check=True, capture_output=True, env=_env())
        human.append(time.perf_counter() - t)
    row["cli_list_limit_50_s"] = round(statistics.median(cli), 3)
    row["cli_list_limit_50_table_s"] = round(statistics.median(human), 3)  # the rich table, not --json
    row["cli_on_empty_dock_s"] = round(statistics.median(t0), 3)  # the process's own start-up
    row.update(tui_first_listing(home, repeats))
    return row


def small_dock(cache: Path, n: int = 1000) -> Path:
    """A 1k catalogue of the same kind: the TUI's start-up without the catalogue's size."""
    home = cache / f"listing-{n}"
    if not (home / "dock.duckdb").exists():
        generate(home, n)
    return home


def tui_first_listing(home: Path, repeats: int, prefix: str = "tui") -> dict:
    """The TUI's first listing, each run in a fresh process (cold DuckDB, as a user starting
    `lwdock`): the first listing call the app makes (DockBackend.search with no query: the
    catalogue's first page sorted by name, in the app's worker), and the app under Textual's
    run_test from its start until that page's rows are in the results table (Textual's own
    start-up included: compare the same row on a small dock)."""
    runs = [json.loads(subprocess.run([sys.executable, __file__, "--tui-probe", str(home)], check=True,
                                      capture_output=True, text=True, env=_env()).stdout.strip().splitlines()[-1])
            for _ in range(repeats)]
    return {f"{prefix}_{key}": round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}


def _tui_probe(home: Path) -> None:
    import asyncio

    from dock import Dock
    from tui.app import make_app
    from tui.widgets.results import ResultsTable

    opened = time.perf_counter()
    dock = Dock.open(home)
    open_ms = (time.perf_counter() - opened) * 1000
    app = make_app(dock=dock, cursor_blink=False)
    timing: dict = {"open_dock_ms": open_ms}
    listing = app.backend.search

    def first_listing(query):  # the app's own call, timed where it runs
        start = time.perf_counter()
        outcome = listing(query)
        timing.setdefault("first_listing_call_ms", (time.perf_counter() - start) * 1000)
        return outcome

    app.backend.search = first_listing

    async def scenario() -> None:
        start = time.perf_counter()
        async with app.run_test(size=(120, 36)) as pilot:
            deadline = time.monotonic() + 60
            while not app.screen.query(ResultsTable) or not app.screen.query_one(ResultsTable).rows_shown:
                if time.monotonic() > deadline:
                    raise SystemExit("the TUI showed no listing within 60 s")
                await pilot.pause(0.005)
            timing["start_to_first_rows_ms"] = (time.perf_counter() - start) * 1000
            timing["rows_shown"] = len(app.screen.query_one(ResultsTable).rows_shown)

    asyncio.run(scenario())
    dock.close()
    print(json.dumps(timing))


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lwdock-bench-cache"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tui-probe", type=Path, help=argparse.SUPPRESS)  # one TUI run in its own process
    args = parser.parse_args()
    if args.tui_probe is not None:
        _tui_probe(args.tui_probe)
        return
    home = args.cache / f"listing-{args.records}"
    generated = None
    if not (home / "dock.duckdb").exists():
        generated = round(generate(home, args.records), 1)
    row = measure(home, args.repeats)
    if args.records > 1000:
        row.update(tui_first_listing(small_dock(args.cache), args.repeats, prefix="tui_1k_dock"))
    row.update(generated_s=generated, load_avg=round(os.getloadavg()[0], 2), home=str(home))
    if args.json:
        print(json.dumps(row))
        return
    for key, value in row.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
