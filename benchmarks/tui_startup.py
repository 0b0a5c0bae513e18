"""TUI startup: time from `lwdock` being started to the first frame on screen, on a populated dock.

    python benchmarks/tui_startup.py [--runs 5] [--synthetic 1000] [--home DOCK] [--keep] [--headless]

Each run is a fresh process started in a pseudo-terminal (120 x 36, a real Textual driver writing
to it; `--headless` uses Textual's headless driver instead), as `lwdock` starts: logging to the
home's file, `Dock.open`, importing the app, running it. The child reports wall-clock times
measured from the parent's spawn: `open_s` (dock opened), `import_s` (Textual app imported),
`paint_s` (Textual's Ready event: the first frame has been written) and `results_s` (the
learnware listing, loaded by a worker, is on screen), plus `paint_cpu_s`, the CPU seconds the
process used up to the first frame (what a loaded machine cannot inflate). Target: paint_s < 1.5 s.

The dock: the eight demo learnwares (`dock.demo.market`, packed and checked; about a minute,
once, unless --home gives a populated dock to copy) plus --synthetic N records with random
100-point specs and no zip (as records received from peers would be).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 36)


def child(home: str, report: str, spawned: float, headless: bool) -> None:
    """What `lwdock` does on startup, with timestamps."""
    sys.path.insert(0, str(ROOT))
    times = {}
    from tui.launcher import configure_logging

    configure_logging(home)
    from dock import Dock

    dock = Dock.open(home)
    times["open_s"] = time.time() - spawned
    from tui.app import LwdockApp
    from tui.backend import DockBackend
    from tui.widgets.results import ResultsTable

    times["import_s"] = time.time() - spawned

    class TimedApp(LwdockApp):
        def on_ready(self) -> None:
            times["paint_s"] = time.time() - spawned
            usage = resource.getrusage(resource.RUSAGE_SELF)
            times["paint_cpu_s"] = usage.ru_utime + usage.ru_stime
            self.set_interval(0.005, self._results_shown)

        def _results_shown(self) -> None:
            if self.screen.query(ResultsTable) and self.screen.query_one(ResultsTable).row_count:
                times["results_s"] = time.time() - spawned
                self.exit()

    app = TimedApp(DockBackend(dock))
    try:
        app.run(headless=headless, size=SIZE if headless else None)
    finally:
        dock.close()
    if app.return_code:
        raise SystemExit(f"the app failed (exit code {app.return_code})")
    Path(report).write_text(json.dumps(times))


def run_once(home: Path, headless: bool) -> dict:
    report = Path(tempfile.mkstemp(prefix="tui-startup-", suffix=".json")[1])
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
    spawned = time.time()
    cmd = [sys.executable, __file__, "--child", str(home), "--report", str(report), "--spawned", repr(spawned)]
    if headless:
        cmd.append("--headless")
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120)
        if proc.returncode:
            raise RuntimeError(proc.stderr.decode(errors="replace"))
    else:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)

        def drain() -> None:  # the terminal: read and drop what the app draws
            try:
                while os.read(master, 65536):
                    pass
            except OSError:
                pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        code = proc.wait(timeout=120)
        os.close(master)
        if code:
            raise RuntimeError(f"the TUI exited with {code}")
    try:
        return json.loads(report.read_text())
    finally:
        report.unlink(missing_ok=True)


def populate(home: Path, synthetic: int, demo: bool) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from dock import Dock
    from dock.demo.market import build_demo_zips
    from dock.records import LearnwareRecord
    from specs import RKMETableSpecification

    zips = build_demo_zips(home.parent / "zips", progress=lambda m: print(m, file=sys.stderr)) if demo else []
    with Dock.open(home) as dock:
        for path in zips:
            dock.submit(path)
        rng = np.random.default_rng(0)
        for i in range(synthetic):
            semantic = dict(dock.get(dock.list()[0].id).semantic_spec)
            semantic["Name"] = {"Type": "String", "Values": f"Synthetic learnware {i}"}
            record = LearnwareRecord(id=f"{i:064x}", semantic_spec=semantic, model_config={}, size=1)
            z = rng.normal(size=(100, 64))
            spec = RKMETableSpecification(z, rng.dirichlet(np.ones(100)), 2.0 ** -7)
            dock.catalogue.insert(record, [spec], None)  # a record without its zip, as peers send them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=0, help="extra records (no zip) in the dock")
    parser.add_argument("--home", type=Path, help="a populated dock to copy instead of building the demo one")
    parser.add_argument("--keep", action="store_true", help="keep the built dock and print where it is")
    parser.add_argument("--headless", action="store_true", help="Textual's headless driver, no terminal")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.report, args.spawned, args.headless)
        return
    work = Path(tempfile.mkdtemp(prefix="tui-startup-"))
    home = work / "home"
    try:
        if args.home:
            shutil.copytree(args.home, home)
        populate(home, args.synthetic, demo=args.home is None)
        from dock import Dock

        with Dock.open(home) as dock:
            count = len(dock.list())
        runs = [run_once(home, args.headless) for _ in range(args.runs)]
        driver = "headless" if args.headless else f"pty {SIZE[0]}x{SIZE[1]}"
        print(f"{count} learnwares, {args.runs} runs, {driver}, load average {os.getloadavg()[0]:.1f}")
        print(f"{'':10}{'median':>8}{'max':>8}")
        for key in ("open_s", "import_s", "paint_s", "results_s", "paint_cpu_s"):
            values = [r[key] for r in runs]
            print(f"{key:10}{statistics.median(values):8.3f}{max(values):8.3f}")
        verdict = "OK" if statistics.median(r["paint_s"] for r in runs) < 1.5 else "over"
        print(f"first paint target < 1.5 s: {verdict}")
    finally:
        if args.keep:
            print(f"dock kept at {home}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
