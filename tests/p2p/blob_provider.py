"""A blob provider in its own process, for the kill/freeze tests: `python -m tests.p2p.blob_provider
BLOB_PATH [DELAY]` serves BLOB_PATH under its sha256, reading it slowly (DELAY seconds per 64 KiB)
so a test can kill or freeze it mid-transfer. Prints its multiaddr, then serves until stdin closes."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path


class SlowFile:
    def __init__(self, path: Path, delay: float):
        self.f = open(path, "rb")
        self.delay = delay

    def seek(self, *args):
        return self.f.seek(*args)

    def read(self, n: int) -> bytes:
        time.sleep(self.delay)
        return self.f.read(min(n, 64 * 1024))

    def close(self) -> None:
        self.f.close()


def main() -> None:
    from p2p import P2PNode

    path = Path(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    blob_id = hashlib.sha256(path.read_bytes()).hexdigest()
    node = P2PNode()
    digest = bytes.fromhex(blob_id)
    node.serve_blobs(lambda requested: (SlowFile(path, delay), digest) if requested == blob_id else None)
    node.start()
    print(node.addrs[0], flush=True)
    sys.stdin.read()  # the test closes our stdin (or kills us)
    node.stop()


if __name__ == "__main__":
    main()
