"""Suite-wide fixtures. No test touches the real user data dir: LWDOCK_HOME points into tmp."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "lwdock-home"
    monkeypatch.setenv("LWDOCK_HOME", str(home))
    return home
