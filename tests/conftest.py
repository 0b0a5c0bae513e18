"""Suite-wide fixtures. No test touches the real user data dir: LWDOCK_HOME points into tmp."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What decides the bytes of a demo zip (a kept build of older code is dropped, never reused).
DEMO_ZIP_FILES = ("dock/demo/market.py", "dock/package/pack.py", "specs/table.py", "specs/rkme_fit.py")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "lwdock-home"
    monkeypatch.setenv("LWDOCK_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def demo_xdg_cache(request, tmp_path_factory) -> Path:
    """An XDG_CACHE_HOME (never the user's real cache) holding the eight demo zips where
    `dock.demo.network.demo_zip_cache()` looks for them, built once per session (and kept in
    pytest's cache folder when the cache plugin runs). Packing is deterministic, so every test that
    needs the demo market (`lwdock demo`, DemoNetwork, the preview tests) shares one build instead
    of training and packing the same eight learnwares each (~10 s apiece on 2 cores)."""
    import numpy as np
    import sklearn

    from dock.demo.market import build_demo_zips
    from dock.demo.network import demo_zip_cache

    cache = getattr(request.config, "cache", None)
    if cache is None:
        xdg = tmp_path_factory.mktemp("xdg-cache")
    else:
        digest = hashlib.sha256(f"{np.__version__} {sklearn.__version__}".encode())
        for rel in DEMO_ZIP_FILES:
            digest.update((ROOT / rel).read_bytes())
        kept = Path(cache.mkdir("lwdock-demo-xdg-cache"))
        xdg = kept / digest.hexdigest()[:16]
        for old in kept.iterdir():
            if old != xdg:
                shutil.rmtree(old, ignore_errors=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(xdg))
        folder = demo_zip_cache()
    build_demo_zips(folder, reuse_existing=True)
    return xdg


@pytest.fixture(scope="session")
def demo_zips_all(demo_xdg_cache) -> list[Path]:
    """The eight demo zips of `demo_xdg_cache`, in DEMO_LEARNWARES order."""
    from dock.demo.market import build_demo_zips
    from dock.demo.network import demo_zip_cache

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(demo_xdg_cache))
        return build_demo_zips(demo_zip_cache(), reuse_existing=True)
