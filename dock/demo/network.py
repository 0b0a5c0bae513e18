"""A three-node demo network on 127.0.0.1, for `lwdock demo` and for trying lwdock out.

Two provider nodes run as real `lwdock node` processes, each holding different demo learnwares;
the third home ("me") holds a few of its own and is the one a user drives (the TUI opens it
with its own network service bootstrapped to the providers). Data files to search with are
written next to it. Everything lives under one folder; `stop()` ends the providers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

# Which demo learnwares each node holds (indices into demo_market.DEMO_LEARNWARES, by name).
NODE_LEARNWARES = {
    "alice": ("Iris species classifier", "Digits 0-3 recogniser", "Digits 3-6 recogniser"),
    "bob": ("Breast cancer diagnosis", "Digits 6-9 recogniser", "Even digits recogniser"),
    "me": ("Wine cultivar classifier", "Diabetes progression regressor"),
}


def demo_zip_cache() -> Path:
    """Where built demo zips are kept between runs, keyed by the demo list (a changed list, a
    new folder). Packing is deterministic, so a cached zip is what a rebuild would produce."""
    import hashlib

    import platformdirs

    from dock.demo.market import DEMO_LEARNWARES

    key = hashlib.sha256(repr(DEMO_LEARNWARES).encode()).hexdigest()[:12]
    return Path(platformdirs.user_cache_dir("lwdock", appauthor=False)) / f"demo-zips-{key}"


class DemoNetwork:
    def __init__(self, root: Path, progress: Callable[[str], None] = lambda message: None,
                 data_dir: Path | None = None):
        self.root = Path(root)
        # where the data files a user searches with are written (default: inside root, removed with
        # it; the TUI demo passes a folder the user keeps, next to what they save)
        self.data_dir = Path(data_dir) if data_dir is not None else self.root / "data"
        self.progress = progress
        self.procs: list[subprocess.Popen] = []
        self.bootstrap: list[str] = []
        self.data_files: dict[str, Path] = {}

    @property
    def my_home(self) -> Path:
        return self.root / "me"

    def start(self) -> "DemoNetwork":
        from dock.demo.market import DEMO_LEARNWARES, build_demo_zips
        from dock.dock import Dock

        zips = build_demo_zips(demo_zip_cache(), progress=self.progress, reuse_existing=True)
        by_name = {item.name: path for item, path in zip(DEMO_LEARNWARES, zips, strict=True)}
        for node, names in NODE_LEARNWARES.items():
            with Dock.open(self.root / node) as dock:
                for name in names:
                    if name in by_name:
                        self.progress(f"{node}: checking and storing {name}")
                        dock.submit(by_name[name])
        self._write_data_files()
        try:
            for node in ("alice", "bob"):
                self.progress(f"starting node {node}")
                self.bootstrap.append(self._start_node(self.root / node))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, home: Path) -> str:
        from dock.control.remote import DaemonUnavailable, RemoteDock
        from dock.home import DockHome

        log = open(home / "node-stderr.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dock.cli", "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--name", home.name],
            env=dict(os.environ, LWDOCK_HOME=str(home)),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"demo node {home.name} exited: {(home / 'node-stderr.log').read_text()[-2000:]}")
            try:
                with RemoteDock(DockHome(home)) as remote:
                    addrs = remote.status().get("addrs") or []
                if addrs:
                    return addrs[0]
            except DaemonUnavailable:
                pass
            time.sleep(0.1)  # the node is starting; poll, bounded by the deadline
        raise RuntimeError(f"demo node {home.name} did not come up within 60 s")

    def _write_data_files(self) -> None:
        """Data a new user can search with: labels in the last column, named 'label'."""
        from dock.demo.market import load_dataset

        data = self.data_dir
        data.mkdir(parents=True, exist_ok=True)
        for name, loader, classes in (("iris", "load_iris", None), ("digits_0-5", "load_digits", (0, 1, 2, 3, 4, 5))):
            X, y = load_dataset(loader, classes)
            path = data / f"{name}.csv"
            header = ",".join([f"x{i}" for i in range(X.shape[1])] + ["label"])
            np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6g")
            self.data_files[name] = path

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()

    def __enter__(self) -> "DemoNetwork":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
