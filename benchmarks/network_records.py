"""Record propagation and late-joiner sync between real dock nodes on 127.0.0.1.

* spread: N nodes in a line (node i bootstraps to node i-1); a learnware is submitted on node 0
  (real checks, real signing); time until every node's catalogue holds its record.
* late joiner: a node with R signed records (made and signed directly, as remote publishers
  would, so the run does not spend minutes in submission checks); a fresh node bootstraps to it;
  time from start until it holds all R.

    python benchmarks/network_records.py [--nodes 10] [--records 100] [--repeats 3] [--json]
Targets (issue 5): spread to all of 10 nodes < 2 s; late joiner holds all 100 within 5 s.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wait(condition, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.005)
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


def late_joiner(root: Path, n_records: int) -> dict:
    from dock.network.ingest import ingest
    from dock.network.signed_records import sign_record
    from p2p import Identity
    from specs import generate_semantic_spec, generate_stat_spec

    source = _node(root, "source")
    publisher = Identity.generate()
    spec = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(200, 16)))
    for i in range(n_records):
        semantic = generate_semantic_spec(
            name=f"record {i}",
            description="benchmark",
            data_type="Table",
            task_type="Classification",
            library_type="Scikit-learn",
            scenarios=["Others"],
            license="MIT",
            input_description={"Dimension": 16, "Description": {}},
            output_description={"Dimension": 2, "Description": {}},
        )
        signed = sign_record(
            publisher,
            learnware_id=os.urandom(32).hex(),
            size=1000 + i,
            semantic_spec=semantic,
            model_config={"class_name": "M", "kwargs": {}},
            spec_bytes={spec.type: spec.to_bytes()},
            seq=i + 1,
        )
        ingest(source.dock, signed)
    start = time.monotonic()
    late = _node(root, "late", [source.node.addrs[0]])
    try:
        elapsed = _wait(lambda: late.dock.catalogue.count() >= n_records, 60)
        total = time.monotonic() - start if elapsed is not None else float("inf")
        return {
            "bench": "late_joiner",
            "records": n_records,
            "seconds_to_all": total,
            "target_s": 5.0,
            "held": late.dock.catalogue.count(),
        }
    finally:
        for n in (late, source):
            n.stop()
            n.dock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="lwdock-bench-") as tmp:
        rows = [spread(Path(tmp), args.nodes, args.repeats), late_joiner(Path(tmp), args.records)]
    load = os.getloadavg()[0]
    for row in rows:
        row["load_avg"] = round(load, 2)
        if args.json:
            print(json.dumps(row))
    if not args.json:
        s, lj = rows
        print(
            f"spread over {s['nodes']} nodes (line): p50 {s['seconds_p50']:.3f} s, max {s['seconds_max']:.3f} s "
            f"(target < {s['target_s']} s); runs {[round(t, 3) for t in s['runs']]}"
        )
        print(
            f"late joiner: all {lj['records']} records in {lj['seconds_to_all']:.3f} s "
            f"(target < {lj['target_s']} s), held {lj['held']}"
        )
        print(f"load average {load:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
