"""Gossip latency: a message published on one of N in-process nodes in a line, until all N hold it.

Every node is a full P2PNode (own trio thread, Noise, yamux, GossipSub) on 127.0.0.1, all in one
process, so they share one GIL: the figures are pessimistic next to N machines. Messages are sent
one at a time from the END of the line (N-1 hops, the worst case) and from a random node; then a
burst of 100 from one end checks nothing is dropped.

    python benchmarks/p2p_gossip.py [--nodes 10] [--messages 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "/lwdock/bench/1"


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.002)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from p2p import GossipMessage, P2PNode

    arrivals: dict[bytes, dict[str, float]] = {}
    lock = threading.Lock()

    def recorder(node_id: str):
        def on_event(event) -> None:  # runs on the node's thread: just a timestamp
            if isinstance(event, GossipMessage):
                with lock:
                    arrivals.setdefault(event.data, {})[node_id] = time.perf_counter()

        return on_event

    nodes = [P2PNode() for _ in range(args.nodes)]
    started = time.perf_counter()
    for node in nodes:
        node.subscribe(TOPIC)
        node.add_listener(recorder(node.peer_id))
        node.start()
    try:
        for left, right in zip(nodes, nodes[1:], strict=False):
            left.connect(right.addrs[0])
        for left, right in zip(nodes, nodes[1:], strict=False):
            wait_for(lambda a=left, b=right: b.peer_id in a.topic_peers(TOPIC), 20, "subscriptions")
            wait_for(lambda a=left, b=right: a.peer_id in b.topic_peers(TOPIC), 20, "subscriptions")
        setup = time.perf_counter() - started

        def one(publisher: P2PNode, tag: bytes) -> float:
            others = {n.peer_id for n in nodes if n is not publisher}
            sent = time.perf_counter()
            publisher.publish(TOPIC, tag)
            wait_for(lambda: others <= set(arrivals.get(tag, {})), 30, f"delivery of {tag!r}")
            return max(arrivals[tag][p] for p in others) - sent

        end_to_end = [one(nodes[0], b"end-%d" % i) for i in range(args.messages)]
        rng = random.Random(7)
        anywhere = [one(rng.choice(nodes), b"any-%d" % i) for i in range(args.messages)]

        sent = time.perf_counter()
        tags = [b"burst-%d" % i for i in range(args.burst)]
        for tag in tags:
            nodes[0].publish(TOPIC, tag)
        others = {n.peer_id for n in nodes[1:]}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(others <= set(arrivals.get(t, {})) for t in tags):
            time.sleep(0.01)
        burst_time = time.perf_counter() - sent
        burst_delivered = sum(len(others & set(arrivals.get(t, {}))) for t in tags)
    finally:
        for node in nodes:
            node.stop()

    figures = {
        "nodes": args.nodes,
        "setup_s": round(setup, 2),
        "line_end_p50_ms": round(statistics.median(end_to_end) * 1000, 1),
        "line_end_p95_ms": round(percentile(end_to_end, 0.95) * 1000, 1),
        "random_p50_ms": round(statistics.median(anywhere) * 1000, 1),
        "random_p95_ms": round(percentile(anywhere, 0.95) * 1000, 1),
        "burst": args.burst,
        "burst_delivered": f"{burst_delivered}/{args.burst * (args.nodes - 1)}",
        "burst_s": round(burst_time, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    load = figures["load_avg_1m"]
    print(f"{args.nodes} nodes in a line, one process (setup {figures['setup_s']} s, load avg {load})")
    print(
        f"  from the end of the line ({args.nodes - 1} hops): p50 {figures['line_end_p50_ms']} ms, "
        f"p95 {figures['line_end_p95_ms']} ms   (target < 2000 ms)"
    )
    print(f"  from a random node:              p50 {figures['random_p50_ms']} ms, p95 {figures['random_p95_ms']} ms")
    print(f"  burst of {args.burst} from one end: {figures['burst_delivered']} deliveries in {figures['burst_s']} s")


if __name__ == "__main__":
    main()
