"""Record propagation and late-joiner sync between real dock nodes on 127.0.0.1.

* spread: N nodes in a line (node i bootstraps to node i-1); a learnware is submitted on node 0
  (real checks, real signing); time until every node's catalogue holds its record.
* late joiner: a node with R signed records (made and signed directly, as remote publishers
  would, so the run does not spend minutes in submission checks); a fresh node bootstraps to it;
  time from start until it holds all R.

    python benchmarks/network_records.py [--nodes 10] [--records 100] [--sources 1,4] [--repeats 3] [--json]
    python benchmarks/network_records.py --nodes 1 --records 100000 --sources 1,4   # issue 16
Targets: spread to all of 10 nodes < 2 s (issue 5); late joiner: 100k records in <= 60 s from one
peer, <= 40 s from four (issue 16), a search mid-sync < 1 s. The late joiner runs in its own
process (its peak RSS is its own) with BENCH_BUDGETS; the sources are stored in bulk first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --compare: the late joiner (and the verify workers it spawns, which import this file again)
# runs the checkout named in LWDOCK_BENCH_CODE
sys.path.insert(0, os.environ.get("LWDOCK_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))


def _wait(condition, timeout: float, poll: float = 0.005) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(poll)
    return None


def _node(root: Path, name: str, bootstrap=()):
    from dock import Dock
    from dock.network.service import NetworkService

    service = NetworkService(Dock.open(root / name))
    service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=list(bootstrap))
    return service


def _zip(root: Path, seed: int) -> Path:
    from tests.dock.fixtures import model_source, package_files, semantic, write_zip

    X = np.random.default_rng(seed).normal(size=(50, 4))
    files = package_files(model_source("return (X[:, 0] > 0).astype(int)"), X, semantic(name=f"bench-{seed}"))
    return write_zip(root / f"lw{seed}.zip", files)


def spread(root: Path, n_nodes: int, repeats: int) -> dict:
    from dock.network.service import RECORDS_TOPIC

    nodes = [_node(root, "n0")]
    for i in range(1, n_nodes):
        nodes.append(_node(root, f"n{i}", [nodes[-1].node.addrs[0]]))
    try:
        ready = _wait(lambda: all(n.node.topic_peers(RECORDS_TOPIC) for n in nodes), 60)
        if ready is None:
            raise SystemExit("the gossip mesh did not form within 60 s")
        times = []
        for r in range(repeats):
            zip_path = _zip(root, r)
            learnware_id = nodes[0].dock.submit(zip_path)  # announces at the end of submit
            elapsed = _wait(lambda lid=learnware_id: all(n.dock.catalogue.exists(lid) for n in nodes), 30)
            times.append(float("inf") if elapsed is None else elapsed)
        return {
            "bench": "spread",
            "nodes": n_nodes,
            "topology": "line",
            "seconds_p50": statistics.median(times),
            "seconds_max": max(times),
            "runs": times,
            "target_s": 2.0,
        }
    finally:
        for n in nodes:
            n.stop()
            n.dock.close()


# The late joiner's budgets: the defaults (dock/network/budgets.py) deliberately refuse 100k records
# from one stranger (per-peer 2,000/h, per-publisher 1,000, 50k records, 1 GiB, 100 pages a session);
# a user who wants a whole network's catalogue raises them in config.toml [budgets] like this.
BENCH_BUDGETS = dict(max_records=2_000_000, max_bytes=64 << 30, per_publisher=1_000_000, per_peer=1_000_000,
                     sync_max_pages=100_000, sync_session_seconds=3600.0, serve_sync_pages=100_000)
RECORDS_PER_PUBLISHER = 1000


def _signed_records(n_records: int, first: int = 0) -> list:
    """n signed records from n/1000 publishers (made and signed directly, as remote publishers
    would, so the run does not spend minutes in submission checks)."""
    from dock.network.signed_records import sign_record
    from p2p import Identity
    from specs import generate_semantic_spec, generate_stat_spec

    spec = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(200, 16)))
    spec_bytes = {spec.type: spec.to_bytes()}
    publishers: dict[int, Identity] = {}
    out = []
    for i in range(first, first + n_records):
        publisher = publishers.setdefault(i // RECORDS_PER_PUBLISHER, Identity.generate())
        semantic = generate_semantic_spec(
            name=f"record {i}", description="benchmark", data_type="Table", task_type="Classification",
            library_type="Scikit-learn", scenarios=["Others"], license="MIT",
            input_description={"Dimension": 16, "Description": {}},
            output_description={"Dimension": 2, "Description": {}},
        )
        out.append(sign_record(publisher, learnware_id=os.urandom(32).hex(), size=1000 + i, semantic_spec=semantic,
                               model_config={"class_name": "M", "kwargs": {}}, spec_bytes=spec_bytes, seq=i + 1))
    return out


def _source(root: Path, name: str, signed: list):
    """A node holding `signed`, stored in bulk pages (the same path sync uses)."""
    from dock import Dock
    from dock.network.budgets import Budgets
    from dock.network.bulk_ingest import ingest_page
    from dock.network.service import NetworkService

    dock = Dock.open(root / name)
    for start in range(0, len(signed), 1000):
        ingest_page(dock, signed[start:start + 1000], None)
    service = NetworkService(dock, budgets=Budgets(**BENCH_BUDGETS))
    service.start(listen=["/ip4/127.0.0.1/tcp/0"])
    return service


def late_joiner(root: Path, n_records: int, n_sources: int = 1, compare: str | None = None) -> list[dict]:
    """A fresh node (its own process: its RSS is its own) bootstraps to `n_sources` peers that
    hold n_records between them (distinct records, split evenly); time until it holds them all,
    its peak RSS, and a search issued when it holds half. With `compare` (another checkout of
    lwdock, e.g. main), a late joiner running that code syncs from the same sources first, then
    one running this code: the same load, back to back."""
    made = time.monotonic()
    signed = _signed_records(n_records)
    share = -(-n_records // n_sources)
    sources = [_source(root, f"source{k}", signed[k * share:(k + 1) * share]) for k in range(n_sources)]
    setup = time.monotonic() - made
    del signed
    rows = []
    try:
        for n, code in enumerate([compare, None] if compare else [None]):
            row = _run_late_child(root / f"late{n}", n_records, sources, code)
            row.update(bench="late_joiner", sources=n_sources, setup_s=round(setup, 1),
                       target_s=60.0 if n_sources == 1 else 40.0, code=code or "this")
            rows.append(row)
    finally:
        for n in sources:
            n.stop()
            n.dock.close()
    return rows


def _run_late_child(home: Path, n_records: int, sources: list, code: str | None) -> dict:
    import subprocess

    # LWDOCK_BENCH_CHILD_PREFIX="py-spy record -o out.txt --format raw --subprocesses --" profiles it
    prefix = os.environ.get("LWDOCK_BENCH_CHILD_PREFIX", "").split()
    load_before = os.getloadavg()[0]
    sources_cpu = _own_cpu_seconds()  # this process serves the sources' pages while the child syncs
    child = subprocess.run(
        [*prefix, sys.executable, __file__, "--late-child", str(home), "--records", str(n_records),
         "--bootstrap", ",".join(s.node.addrs[0] for s in sources), *(["--code", code] if code else [])],
        capture_output=True, text=True, timeout=1800,
        env={**os.environ, "LWDOCK_BENCH_CODE": str(Path(code).resolve())} if code else None,
    )
    if child.returncode != 0:
        raise SystemExit(f"late joiner failed:\n{child.stderr[-3000:]}")
    if os.environ.get("LWDOCK_BENCH_DEBUG"):
        sys.stderr.write(child.stderr)
    row = json.loads([line for line in child.stdout.splitlines() if line.startswith("{")][-1])
    row["load_avg"] = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    row["cpu_sources_s"] = round(_own_cpu_seconds() - sources_cpu, 1)
    row["cpu_ms_per_record"] = round(1000 * sum(row.get(k) or 0.0 for k in (
        "cpu_node_s", "cpu_verify_workers_s", "cpu_sources_s")) / max(row.get("held") or 1, 1), 3)
    return row


def _own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The late joiner polls its catalogue's count every 50 ms (a DuckDB query under the catalogue's
# lock, which the pages' inserts take too): at most 50 ms late, and no measurable share of the
# node's CPU (at 5 ms the polling itself took ~2-5% of the run).
_POLL = 0.05


def late_child(home: Path, n_records: int, bootstrap: list[str]) -> None:
    """The late joiner's process: sync, watch RSS, search mid-sync; one JSON line on stdout."""
    import threading

    from dock import Dock
    from dock.network.budgets import Budgets
    from dock.network.service import NetworkService
    from dock.search.query import UserInfo
    from specs import generate_stat_spec

    dock = Dock.open(home)
    query = generate_stat_spec(type="table", X=np.random.default_rng(1).normal(size=(100, 16)))
    user_info = UserInfo(stat_info={query.type: query})
    dock.search(user_info)  # the index exists before the sync (a daemon's first search): kept up by add_many
    service = NetworkService(dock, budgets=Budgets(**BENCH_BUDGETS))
    peak = [_rss_mb()]
    stop = threading.Event()

    def watch_rss() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _rss_mb())

    threading.Thread(target=watch_rss, daemon=True).start()
    setup_cpu = _cpu_seconds()["cpu_node_s"]  # imports, opening the dock, the first search
    start = time.monotonic()
    service.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=bootstrap)
    search_ms = held_at_search = None
    try:
        if _wait(lambda: dock.catalogue.count() >= n_records // 2, 1500, _POLL) is not None:
            t = time.perf_counter()
            dock.search(user_info)
            search_ms, held_at_search = (time.perf_counter() - t) * 1000, dock.catalogue.count()
        elapsed = _wait(lambda: dock.catalogue.count() >= n_records, 1500, _POLL)
        total = time.monotonic() - start if elapsed is not None else float("inf")
        held = dock.catalogue.count()
        cpu = _cpu_seconds()
    finally:
        stop.set()
        service.stop()
        dock.close()
    print(json.dumps({"records": n_records, "seconds_to_all": round(total, 2), "held": held,
                      "records_per_s": round(held / total) if total else None, "peak_rss_mb": round(peak[0]),
                      "search_mid_sync_ms": None if search_ms is None else round(search_ms, 1),
                      "held_at_search": held_at_search, **cpu, "cpu_node_before_sync_s": setup_cpu}))


def _cpu_seconds() -> dict:
    """CPU seconds (user + system) of this process and of the verify pool's worker processes so
    far: where a late joiner's two cores went (the sources' share is the rest of the machine's)."""
    import resource

    from dock.network import verify_pool

    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = 0.0
    pool = verify_pool._pool
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            workers += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return {"cpu_node_s": round(usage.ru_utime + usage.ru_stime, 1), "cpu_verify_workers_s": round(workers, 1)}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--sources", default="1,4", help="late joiner rows: peers the records come from")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--late-child", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--compare", metavar="CHECKOUT",
                        help="also run the late joiner with the lwdock code in CHECKOUT (e.g. main), same sources")
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("LWDOCK_BENCH_DEBUG"):
        logging.getLogger("dock.network.sync_pages").setLevel(logging.DEBUG)
    if args.late_child:
        late_child(Path(args.late_child), args.records, args.bootstrap.split(","))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="lwdock-bench-") as tmp:
        if args.nodes > 1:
            rows.append(spread(Path(tmp) / "spread", args.nodes, args.repeats))
        for n_sources in (int(n) for n in args.sources.split(",")):
            rows += late_joiner(Path(tmp) / f"late{n_sources}", args.records, n_sources, args.compare)
    load = os.getloadavg()[0]
    for row in rows:
        row.setdefault("load_avg", round(load, 2))
        if args.json:
            print(json.dumps(row))
    if args.json:
        return
    for row in rows:
        if row["bench"] == "spread":
            runs = [round(t, 3) for t in row["runs"]]
            print(f"spread over {row['nodes']} nodes (line): p50 {row['seconds_p50']:.3f} s, max "
                  f"{row['seconds_max']:.3f} s (target < {row['target_s']} s); runs {runs}")
        else:
            print(f"late joiner ({row['code']}) from {row['sources']} peer(s): {row['held']}/{row['records']} records "
                  f"in "
                  f"{row['seconds_to_all']:.1f} s = {row['records_per_s']} records/s "
                  f"(target <= {row['target_s']:.0f} s); "
                  f"peak RSS {row['peak_rss_mb']} MB; search mid-sync {row['search_mid_sync_ms']} ms at "
                  f"{row['held_at_search']} held; setup {row['setup_s']} s; CPU node {row.get('cpu_node_s')} s + "
                  f"verify workers {row.get('cpu_verify_workers_s')} s + sources {row.get('cpu_sources_s')} s "
                  f"= {row.get('cpu_ms_per_record')} ms/record; load {row['load_avg']}")
    print(f"load average {load:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
