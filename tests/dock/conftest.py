"""Fixtures shared by the dock tests."""

from __future__ import annotations

import pytest

from .fixtures import Net


@pytest.fixture
def net(tmp_path):
    """Real NetworkServices on 127.0.0.1 (tests/dock/fixtures.py Net), stopped after the test."""
    network = Net(tmp_path)
    yield network
    network.close()
