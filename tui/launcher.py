"""The `lwdock` console script: no arguments (or only `--home`) opens the TUI, anything else is
a CLI command handed to `dock.cli.parser.main`. Textual is imported only on the TUI path, so
`lwdock --help` and every subcommand cost what they cost before the TUI existed."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path


def _tui_home(argv: list[str]) -> tuple[bool, str | None]:
    """(opens the TUI?, --home value). Only `[]`, `--home X` and `--home=X` open the TUI."""
    if not argv:
        return True, None
    if len(argv) == 2 and argv[0] == "--home":
        return True, argv[1]
    if len(argv) == 1 and argv[0].startswith("--home="):
        return True, argv[0].split("=", 1)[1]
    return False, None


def configure_logging(home: str | os.PathLike | None) -> Path | None:
    """Send every library's logging to `<home>/logs/tui.log` (never to the terminal under the UI).

    Falls back to a NullHandler when the file cannot be opened. Returns the log file's path."""
    from dock.cli.terminal_text import SafeFormatter
    from dock.home import DockHome

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging.captureWarnings(True)
    try:
        folder = DockHome.resolve(home).root / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "tui.log"
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
        # log lines quote names and model errors; people read this file with tail and less
        handler.setFormatter(SafeFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")))
        root.setLevel(logging.INFO)
    except OSError:
        path, handler = None, logging.NullHandler()
    root.addHandler(handler)
    return path


def report_unexpected(app) -> None:
    """One line on stderr for a bug that ended the app (its traceback is in the log), never the
    traceback itself."""
    error = getattr(app, "unexpected_error", None)
    if error is None:
        return
    first = " ".join(str(error).split())[:200]
    where = f"; the details are in {app.log_path}" if app.log_path else ""
    print(f"lwdock: the terminal UI stopped on an unexpected error ({type(error).__name__}: {first}){where}",
          file=sys.stderr)


def run_tui(home: str | None = None) -> int:
    """Attach to the home's running node (daemon) if there is one, else open the dock embedded."""
    from dock import Dock, DockError

    log_path = configure_logging(home)
    try:
        dock = Dock.connect(home)
    except DockError as exc:
        print(f"lwdock: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        from .app import make_app

        app = make_app(dock=dock, log_path=log_path)
        app.run()
        report_unexpected(app)
        return app.return_code or 0
    finally:
        dock.close()


def _is_interactive_demo(argv: list[str]) -> bool:
    """`lwdock demo` opens the demo network in the TUI when run in a terminal; `--headless`,
    `--json`, `--help` or a non-terminal stdout keep the printed demo of dock.cli."""
    if not argv or argv[0] != "demo":
        return False
    plain = {"--headless", "--json", "--help", "-h", "--home"}
    return not plain.intersection(argv) and not any(a.startswith("--home=") for a in argv) and sys.stdout.isatty()


def demo_output_dir() -> Path:
    """Where the demo's data files go, and what the user saves (predictions.csv): a folder they
    keep and can find again, not the temporary one (LWDOCK_DEMO_OUTPUT overrides it)."""
    return Path(os.environ.get("LWDOCK_DEMO_OUTPUT") or Path.home() / "lwdock-demo-output").expanduser()


class _Stop(BaseException):
    """SIGHUP (the terminal closed) or SIGTERM before the app runs: unwind, so the demo's folder
    and its node processes are removed as on a normal exit. BaseException: no `except Exception`
    on the way swallows it."""


def _on_signals(handler) -> dict:
    previous = {}
    for sig in (signal.SIGHUP, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def run_demo_tui(keep: bool = False) -> int:
    """Three nodes on 127.0.0.1 in a temporary folder (two `lwdock node` processes holding demo
    learnwares, and this one), then the TUI on this node. The temporary folder is removed on exit,
    on SIGHUP (the terminal closed) and on SIGTERM; the data files and what the user saves stay in
    demo_output_dir()."""
    import shutil
    import tempfile
    import time

    from dock import Dock
    from dock.demo.network import DemoNetwork
    from dock.network.service import NetworkService

    app = None
    stopped_by: list[int] = []  # the signal that ended the demo, if one did

    def stop(signum, _frame):
        stopped_by.append(signum)
        if app is not None and app.is_running:  # the UI restores the terminal, then the finally below runs
            loop = getattr(app, "_loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(lambda: app.exit(return_code=128 + signum))
                return
        raise _Stop(signum)

    previous = _on_signals(stop)
    root = Path(tempfile.mkdtemp(prefix="lwdock-demo-"))
    output = demo_output_dir()
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    say(f"lwdock demo: building a three-node network in {root} (first run trains and packs the demo models)")
    demo = DemoNetwork(root, progress=say, data_dir=output)
    dock = network = None
    try:
        demo.start()
        log_path = configure_logging(demo.my_home)
        dock = Dock.open(demo.my_home)
        network = NetworkService(dock, nickname="me")
        network.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=demo.bootstrap)
        deadline = time.monotonic() + 15
        while dock.catalogue.count() < 8 and time.monotonic() < deadline:
            time.sleep(0.1)  # records arrive by sync from the two peers; bounded wait
        names = ", ".join(path.name for path in demo.data_files.values())
        files = "\n".join(f"  {path}" for path in demo.data_files.values())
        notice = (f"A demo network: you, alice and bob on 127.0.0.1. Search with one of these data files "
                  f"(ctrl+o on the search screen; labels in column 'label'):\n{files}\n"
                  f"What you save (predictions.csv) goes to {output} too; it stays after the demo.")
        hint = f"demo files and saves: {_tilde(output)} ({names}; ctrl+o)"  # fits 80 columns
        from .app import make_app

        app = make_app(dock=dock, log_path=log_path, startup_notice=notice, status_hint=hint)
        previous_cwd = os.getcwd()
        os.chdir(output)  # the file picker starts at the data files; a relative save lands beside them
        try:
            app.run()
        finally:
            os.chdir(previous_cwd)
        report_unexpected(app)
        return app.return_code or 0
    except _Stop as stopped:
        return 128 + int(stopped.args[0])
    except Exception:
        # The signal's _Stop raised inside a library call (DuckDB turns it into its own interrupt
        # error): still a stop, not a crash.
        if stopped_by:
            return 128 + stopped_by[0]
        raise
    finally:
        _on_signals(signal.SIG_IGN)  # a second signal must not cut the clean-up short
        try:
            if network is not None:
                network.stop()
            if dock is not None:
                dock.close()
            demo.stop()
        finally:
            if keep:
                say(f"demo homes kept in {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _tilde(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    opens_tui, home = _tui_home(argv)
    if opens_tui:
        return run_tui(home)
    if _is_interactive_demo(argv):
        return run_demo_tui(keep="--keep" in argv)
    from dock.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
