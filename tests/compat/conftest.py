"""Fixtures of the compat tests: the dock tests' real-network fixture, shared."""

from __future__ import annotations

import pytest

from tests.dock.fixtures import Net


@pytest.fixture
def net(tmp_path):
    """Real NetworkServices on 127.0.0.1 (tests/dock/fixtures.py Net), stopped after the test."""
    network = Net(tmp_path)
    yield network
    network.close()
