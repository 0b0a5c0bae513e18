"""Blob transfer throughput: the p2p fetch protocol vs a plain TCP socket copy, same file, same run.

The sender runs in a separate process in both cases (two processes, like two machines, and no
shared GIL); the receiver writes the bytes to a file and hashes them in both cases (the p2p fetch
uses /lwdock/fetch/2.0.0: each 256 KiB piece hashed once and checked against the root, as the dock
does), so the difference is the protocol stack (Noise encryption, yamux framing, py-libp2p's
Python I/O). The provider's piece layer is computed before the first timed run (the dock's
provider caches it too).

    python benchmarks/p2p_transfer.py [--mb 50] [--repeats 3] [--piece-kib 256] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1024 * 1024


def serve_tcp(path: Path) -> None:
    """Child process: accept one connection per line on stdin; send the file, close."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while sys.stdin.readline():
            conn, _ = server.accept()
            with conn, open(path, "rb") as f:
                conn.sendfile(f)


def serve_p2p(path: Path) -> None:
    """Child process: a P2PNode serving the file under its sha256 until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from p2p import P2PNode

    digest = hashlib.sha256(path.read_bytes()).digest()
    node = P2PNode()
    node.serve_blobs(lambda blob_id: (open(path, "rb"), digest) if blob_id == digest.hex() else None)
    node.start()
    print(node.addrs[0], flush=True)
    sys.stdin.read()
    node.stop()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcp_copy(port: int, child: subprocess.Popen, out: Path, size: int) -> float:
    child.stdin.write("go\n")
    child.stdin.flush()
    digest = hashlib.sha256()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, open(out, "wb") as f:
        received = 0
        while chunk := conn.recv(CHUNK):
            f.write(chunk)
            digest.update(chunk)
            received += len(chunk)
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - started
    assert received == size
    return elapsed


def start_child(mode: str, path: Path) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [sys.executable, __file__, mode, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return child, child.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--piece-kib", type=int, default=0, help="piece size (default: the record signer's)")
    parser.add_argument("--whole", action="store_true", help="legacy /lwdock/fetch/1.0.0 (whole-file hash), to compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from p2p import P2PNode
    from p2p.pieces import file_pieces

    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "blob.bin"
        blob.write_bytes(os.urandom(args.mb * 1024 * 1024))
        size = blob.stat().st_size
        blob_id = hashlib.sha256(blob.read_bytes()).hexdigest()
        pieces = file_pieces(blob, args.piece_kib * 1024 or None)
        tcp_child, port = start_child("--serve-tcp", blob)
        p2p_child, addr = start_child("--serve-p2p", blob)
        node = P2PNode()
        node.start()
        try:
            provider = node.connect(addr)
            warm = Path(tmp) / "warm"  # a one-piece fetch: the provider computes and caches the layer
            warm.write_bytes(blob.read_bytes()[: size - 1])
            node.fetch_blob(provider, blob_id, warm, pieces=pieces, expected_size=size)
            tcp_times, p2p_times, p2p_cpu = [], [], []
            for i in range(args.repeats):
                tcp_times.append(tcp_copy(int(port), tcp_child, Path(tmp) / f"tcp-{i}", size))
                partial = Path(tmp) / f"p2p-{i}"
                cpu_recv, cpu_send = time.process_time(), process_cpu(p2p_child.pid)
                started = time.perf_counter()
                result = node.fetch_blob(provider, blob_id, partial, pieces=None if args.whole else pieces,
                                         expected_size=size,
                                         expected_sha256=bytes.fromhex(blob_id))
                p2p_times.append(time.perf_counter() - started)
                p2p_cpu.append(max(time.process_time() - cpu_recv, process_cpu(p2p_child.pid) - cpu_send))
                assert result.size == size
            speed = node.stats()["libp2p_patches"]["speed"]  # "on", or why py-libp2p's slow paths run
        finally:
            node.stop()
            for child in (tcp_child, p2p_child):
                child.stdin.close()
                child.wait(30)
    mb = size / 1e6
    tcp_rate, p2p_rate = mb / statistics.median(tcp_times), mb / statistics.median(p2p_times)
    figures = {
        "size_mb": round(mb, 1),
        "piece_kib": 0 if args.whole else pieces.size // 1024,
        "tcp_mb_s": round(tcp_rate, 1),
        "p2p_mb_s": round(p2p_rate, 1),
        "ratio": round(p2p_rate / tcp_rate, 3),
        "tcp_s": [round(t, 3) for t in tcp_times],
        "p2p_s": [round(t, 3) for t in p2p_times],
        # Throughput if each side had a core to itself: size / CPU of the busier side. The
        # wall-clock figures above depend on what else the machine runs (see load_avg_1m).
        "p2p_cpu_bound_mb_s": round(mb / statistics.median(p2p_cpu), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "libp2p_fast_paths": speed,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        how = f"{figures['piece_kib']} KiB pieces" if figures["piece_kib"] else "one whole-file hash (1.0.0)"
        print(f"blob {figures['size_mb']} MB, {how}, median of {args.repeats} runs (sender in another process)")
        print(f"  plain TCP copy : {figures['tcp_mb_s']:8.1f} MB/s   {figures['tcp_s']}")
        print(f"  p2p fetch      : {figures['p2p_mb_s']:8.1f} MB/s   {figures['p2p_s']}")
        print(f"  p2p / TCP      : {figures['ratio']:.1%}  (target >= 50%; libp2p fast paths: {speed})")
        print(
            f"  p2p CPU-bound  : {figures['p2p_cpu_bound_mb_s']:8.1f} MB/s   (size / CPU s of the busier side; "
            f"load avg {figures['load_avg_1m']} on {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-tcp":
        serve_tcp(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve-p2p":
        serve_p2p(Path(sys.argv[2]))
    else:
        main()
