"""The README's main job, minus the screen: `lwdock demo`'s three-node network on 127.0.0.1.
Two real `lwdock node` processes hold demo learnwares; this node finds, fetches and runs them."""

from __future__ import annotations

import numpy as np

from dock import Dock, UserInfo
from dock.datafiles import load_table
from dock.demo.network import NODE_LEARNWARES, DemoNetwork
from dock.network.service import NetworkService
from specs import generate_stat_spec
from tests.helpers import wait_until


def test_demo_network_serves_search_fetch_and_reuse(tmp_path, monkeypatch, demo_xdg_cache):
    # the session's demo zips (tests/conftest.py), never the user's real cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(demo_xdg_cache))
    total = sum(len(names) for names in NODE_LEARNWARES.values())
    demo = DemoNetwork(tmp_path / "demo").start()
    procs = list(demo.procs)
    try:
        assert len(demo.procs) == 2 and all(p.poll() is None for p in demo.procs)
        with Dock.open(demo.my_home) as dock:
            network = NetworkService(dock)
            network.start(listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=demo.bootstrap)
            try:
                wait_until(lambda: dock.catalogue.count() == total, 30, "every node's records")

                X, y = load_table(demo.data_files["iris"], "label")
                spec = generate_stat_spec(type="table", X=X)
                best = dock.search(UserInfo(stat_info={spec.type: spec})).single[0]
                assert best.name == "Iris species classifier" and not dock.has_zip(best.id)
                with dock.load(best.id) as learnware:  # fetched from alice, verified, run here
                    accuracy = float(np.mean(learnware.predict(X).reshape(-1) == y))
                assert accuracy > 0.9 and dock.has_zip(best.id)

                X, _ = load_table(demo.data_files["digits_0-5"], "label")
                spec = generate_stat_spec(type="table", X=X)
                mixture = dock.search(UserInfo(stat_info={spec.type: spec})).multiple
                assert mixture is not None and len(mixture.ids) >= 2
            finally:
                network.stop()
    finally:
        demo.stop()
    assert all(p.poll() is not None for p in procs), "stop() must end the provider nodes"
