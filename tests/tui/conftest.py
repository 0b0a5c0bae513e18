"""TUI test fixtures: a real embedded dock seeded with demo learnwares, built once per session.

Packing + checks cost a few seconds per learnware, so the zips come from the session's one build
of the demo market (tests/conftest.py, kept in pytest's cache folder keyed by the code and library
versions that decide their bytes) and the seeded home is built once per session (cached likewise);
each test gets its own copy of that home.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Indices into dock.demo_market.DEMO_LEARNWARES: iris, digits 0-3, digits 6-9 (few: each costs seconds).
DEMO_INDICES = (0, 4, 6)
SUBMIT_ORDER = (4, 6, 0)  # DEMO_INDICES as submitted (snapshots show the dock's listing order)
SIZE = (120, 36)
IRIS_NAME = "Iris species classifier"
# What decides the bytes of a stored dock: its schema, record and blob layout, package reading.
STORAGE_FILES = ("dock/store/catalogue.py", "dock/records.py", "dock/store/blobs.py", "dock/home.py",
                 "dock/package/reader.py", "dock/dock.py", "dock/network/signed_records.py", "specs/wire.py",
                 "specs/table.py", "specs/registry.py")
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def _zip_key() -> str:
    import sklearn

    digest = hashlib.sha256()
    for rel in ("dock/demo/market.py", "dock/package/pack.py", "dock/package/reader.py", "specs/table.py",
                "specs/rkme_fit.py"):
        digest.update((ROOT / rel).read_bytes())
    digest.update(f"{np.__version__} {sklearn.__version__} {DEMO_INDICES}".encode())
    return digest.hexdigest()[:16]


def _fixed_identity(home: Path) -> None:
    """A fixed node key, so the publisher of what the dock publishes is the same in every build
    (snapshots show it)."""
    from p2p.identity import Identity

    home.mkdir(parents=True, exist_ok=True)
    key = home / "identity.key"
    key.write_bytes(Identity.from_seed(bytes(32)).to_key_file_bytes())
    key.chmod(0o600)


def _cache_dir(request, name: str) -> Path:
    """pytest's cache folder (kept across runs), or a session tmp folder without the cache plugin."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return request.getfixturevalue("tmp_path_factory").mktemp(name)
    return Path(cache.mkdir(name))


def _prune(cache_folder: Path) -> None:
    """Drop cached builds of older code (one key is kept at a time)."""
    for old in cache_folder.iterdir():
        shutil.rmtree(old, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_zips(demo_zips_all) -> list[Path]:
    """The DEMO_INDICES zips, taken from the session's one build of the demo market
    (tests/conftest.py demo_xdg_cache: packing is deterministic, so they are the bytes a build of
    just these three gives). In the order the seeded dock has always stored them: by the file names
    a three-item build gives (digits-2, digits-3, iris-1)."""
    return [demo_zips_all[i] for i in SUBMIT_ORDER]


def _home_key() -> str:
    import duckdb

    digest = hashlib.sha256(_zip_key().encode())
    for rel in STORAGE_FILES:
        path = ROOT / rel
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    digest.update(duckdb.__version__.encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def seeded_home(request, tmp_path_factory, demo_zips) -> Path:
    """A dock holding the demo zips. Submitting runs the checks (seconds per learnware), so the
    seeded home is cached too, keyed by the files that decide what is stored and how (not by
    search or reuse code, which reads the store afresh); tests only ever open copies."""
    from dock import Dock

    cached = _cache_dir(request, "lwdock-tui-home") / _home_key()
    if not (cached / ".complete").is_file():
        _prune(cached.parent)
        _fixed_identity(cached / "home")
        with Dock.open(cached / "home") as dock:
            for path in demo_zips:
                dock.submit(path)
        (cached / ".complete").touch()
    home = tmp_path_factory.mktemp("tui-seeded") / "home"
    shutil.copytree(cached / "home", home)
    return home


@pytest.fixture
def dock(seeded_home, tmp_path):
    from dock import Dock

    home = tmp_path / "home"
    shutil.copytree(seeded_home, home)
    with Dock.open(home) as opened:
        yield opened


@pytest.fixture
def iris_csv(tmp_path) -> Path:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.csv"
    rows = [",".join(IRIS_COLUMNS)] + [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(app, scenario, size=SIZE, messages: list | None = None):
    """Run `scenario(pilot)` against the app headless; returns what the scenario returns.
    Every message the app's nodes handle is appended to `messages` when given."""

    async def main():
        hook = messages.append if messages is not None else None
        async with app.run_test(size=size, message_hook=hook) as pilot:
            await settle(pilot)
            return await scenario(pilot)

    return asyncio.run(main())


async def settle(pilot) -> None:
    """Let running workers finish and their messages be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def wait_until(pilot, condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition()` while the app runs, until true or the deadline (then fail)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


async def type_into(pilot, selector: str, text: str) -> None:
    """Focus an Input and type `text` key by key (long paths are set at once: same events)."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    widget.value = ""
    await pilot.pause()
    if len(text) <= 30:
        await pilot.press(*text)
    else:
        widget.value = text
    await pilot.pause()


def result_names(app) -> list[str]:
    from tui.widgets.results import ResultsTable

    return [row.name for row in app.screen.query_one(ResultsTable).rows_shown if not row.is_mixture]


def plain(app_or_screen, selector: str) -> str:
    """The text a Static shows (markup, Rich Text and Rich tables alike), without styles."""
    import io

    from rich.console import Console
    from rich.text import Text

    screen = getattr(app_or_screen, "screen", app_or_screen)
    content = screen.query_one(selector).content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


async def reuse_and_save(pilot, out: Path) -> str:
    """On the reuse screen: run (ctrl+r), wait for the outcome, save the predictions to `out`
    (ctrl+s) and wait for the file; returns the metric line as shown."""
    from tui.screens.reuse import ReuseScreen

    assert isinstance(pilot.app.screen, ReuseScreen)
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, timeout=60, what="predictions")
    await pilot.pause()
    metric = plain(pilot.app.screen, "#reuse-metric")
    await type_into(pilot, "#save-path", str(out))
    await pilot.press("ctrl+s")
    await wait_until(pilot, out.is_file, what="the predictions file")
    return metric
