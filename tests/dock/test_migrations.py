"""Upgrades that lose nothing: docks written by released lwdocks open with today's code.

tests/fixtures/docks/v<schema>-<commit>.zip are small docks built by tests/fixtures/docks/build_fixture.py
with that commit's code (v3: fb9f041, the last release before wave 2; v4: main after wave 2). Each
holds a manifest of what the dock held; every id asserted here comes from it, none is written in
this file. Also: a dock from a newer lwdock (schema or home layout) is refused untouched, and a
failing migration leaves the catalogue as it was.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.errors import StoreError
from dock.home import HOME_VERSION, DockHome
from dock.network.signed_records import decode_envelope
from dock.store import catalogue as catalogue_module
from dock.store.catalogue import MIGRATIONS, SCHEMA_VERSION, Catalogue
from dock.store.network_tables import NetworkStore

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "docks").glob("v*.zip"))


def _unpack(fixture: Path, tmp_path: Path) -> tuple[Path, dict]:
    with zipfile.ZipFile(fixture) as zf:
        zf.extractall(tmp_path)
    home = tmp_path / "home"
    home.chmod(0o700)
    return home, json.loads((tmp_path / "manifest.json").read_text())


def test_fixtures_cover_the_release_before_wave_2_and_today():
    names = [f.name for f in FIXTURES]
    assert any(n.startswith("v3-") for n in names), names  # fb9f041: migrations 0001-0003
    assert any(n.startswith("v4-") for n in names), names  # main after wave 2: + trust, held tombstones
    assert all(f.stat().st_size < 1_000_000 for f in FIXTURES)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_an_old_dock_opens_with_everything_intact(fixture, tmp_path):
    home, manifest = _unpack(fixture, tmp_path)
    old_schema = len(manifest["migrations"])
    assert old_schema <= SCHEMA_VERSION
    assert not (home / "VERSION").exists() or DockHome(home).version() <= HOME_VERSION

    with Dock.open(home) as dock:
        # the schema was brought up to date, each migration recorded once, in order
        assert dock.catalogue.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert dock.catalogue.schema_version == SCHEMA_VERSION
        assert DockHome(home).version() == HOME_VERSION
        # the same key: the node keeps its peer id (and so its published records stay its own)
        assert dock.identity.peer_id == manifest["peer_id"]

        records = {r.id: r for r in dock.list()}
        assert set(records) == set(manifest["learnwares"])
        network = NetworkStore(dock.catalogue)
        for lid, expected in manifest["learnwares"].items():
            record = records[lid]
            assert record.name == expected["name"]
            assert record.publisher == expected["publisher"]
            assert dock.has_zip(lid) is expected["has_zip"]
            assert dock.get_stat_specs(lid), "the statistical spec survived"
            # the signed envelope survived byte for byte and still verifies (an old record has no pieces)
            publisher, _, envelope = network.envelope(lid)
            assert publisher == expected["publisher"] == manifest["envelopes"][lid]
            signed = decode_envelope(envelope)
            assert signed.id == lid and signed.publisher == publisher
        assert network.tombstone(manifest["tombstone"]["id"])[0] == manifest["tombstone"]["publisher"]
        assert manifest["tombstone"]["id"] not in records
        # sync serves every stored envelope and tombstone again, in their stored order
        served = [lid for _, lid, _ in network.changes_after(0, 10_000)]
        assert set(served) == set(manifest["learnwares"]) | {manifest["tombstone"]["id"]}
        for lid, providers in manifest["providers"].items():
            assert sorted(network.providers(lid)) == providers
        assert [t["id"] for t in dock.trusted() if t["id"] in manifest["trusted"]] == manifest["trusted"]
        for lid, publisher in manifest["pending_tombstones"]:
            assert publisher in network.pending_tombstones(lid)

        # search still finds each learnware from its own spec, and a stored model still predicts
        for lid, expected in manifest["learnwares"].items():
            result = dock.search(UserInfo(stat_info=dock.get_stat_specs(lid)), limit=10)
            assert lid in [m.id for m in result.single]
            if expected["has_zip"]:
                with dock.load(lid) as loaded:
                    prediction = np.asarray(loaded.predict(np.asarray(expected["probe"])))
                np.testing.assert_allclose(prediction, np.asarray(expected["prediction"]), rtol=1e-5, atol=1e-6)

        # the upgraded dock takes new work: submit, load, predict, remove with a tombstone
        new_id = _submit_new(dock, tmp_path)
        with dock.load(new_id) as loaded:
            assert np.asarray(loaded.predict(np.ones((2, 4)))).shape[0] == 2
        dock.remove(new_id)
        assert network.tombstone(new_id)[0] == manifest["peer_id"]

    # and it opens again as it is, nothing applied twice
    with Dock.open(home) as dock:
        assert dock.catalogue.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert set(r.id for r in dock.list()) == set(manifest["learnwares"])


def _submit_new(dock, tmp_path: Path) -> str:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from dock.package.pack import pack_learnware
    from tests.dock.fixtures import semantic

    iris = load_iris()
    pkl = tmp_path / "tree.pkl"
    pkl.write_bytes(pickle.dumps(DecisionTreeClassifier(max_depth=2, random_state=0).fit(iris.data, iris.target)))
    zip_path = pack_learnware(tmp_path / "tree.zip", model_file=pkl, X=iris.data,
                              semantic_spec=semantic(name="after-upgrade"), K=8)
    return dock.submit(zip_path)


def test_a_catalogue_from_a_newer_lwdock_is_refused_untouched(tmp_path):
    db = tmp_path / "dock.duckdb"
    Catalogue(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', now())")
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"written by a newer lwdock.*schema version .*Upgrade lwdock"):
        Catalogue(db)
    assert db.read_bytes() == before
    # the honest path: without the stranger's migration it opens again
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM schema_migrations WHERE name = '9999_from_the_future'")
    con.close()
    cat = Catalogue(db)
    assert cat.schema_version == SCHEMA_VERSION
    cat.close()


def test_a_catalogue_that_skipped_a_migration_is_refused(tmp_path):
    db = tmp_path / "dock.duckdb"
    Catalogue(db).close()
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM schema_migrations WHERE name = ?", [MIGRATIONS[1][0]])
    con.close()
    with pytest.raises(StoreError, match=f"skipped migration.*{MIGRATIONS[1][0]}"):
        Catalogue(db)


def test_a_failing_migration_is_rolled_back_whole(tmp_path, monkeypatch):
    db = tmp_path / "dock.duckdb"
    Catalogue(db).close()
    broken = ("9000_half_done", "CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(catalogue_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(StoreError, match="migration 9000_half_done failed.*nothing of it was applied"):
        Catalogue(db)
    con = duckdb.connect(str(db))
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    names = [r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()]
    con.close()
    assert "half_done" not in tables and "9000_half_done" not in names
    # fixed forward, it applies
    fixed = ("9000_half_done", "CREATE TABLE half_done (x INTEGER);")
    monkeypatch.setattr(catalogue_module, "MIGRATIONS", [*MIGRATIONS, fixed])
    cat = Catalogue(db)
    assert cat.applied_migrations()[-1] == "9000_half_done"
    cat.close()


def test_a_home_from_a_newer_lwdock_is_refused_untouched(tmp_path):
    home = tmp_path / "home"
    Dock.open(home).close()
    assert (home / "VERSION").read_text().strip() == f"lwdock-home {HOME_VERSION}"
    (home / "VERSION").write_text(f"lwdock-home {HOME_VERSION + 1}\n")
    db_before = (home / "dock.duckdb").read_bytes()
    with pytest.raises(StoreError, match=r"made by a newer lwdock \(home layout 2.*Upgrade lwdock"):
        Dock.open(home)
    assert (home / "dock.duckdb").read_bytes() == db_before
    assert (home / "VERSION").read_text().strip() == f"lwdock-home {HOME_VERSION + 1}"
    (home / "VERSION").write_text("something else\n")
    with pytest.raises(StoreError, match="not 'lwdock-home <n>'"):
        Dock.open(home)
    # the honest path: a home that predates VERSION opens and gets one
    (home / "VERSION").unlink()
    Dock.open(home).close()
    assert DockHome(home).version() == HOME_VERSION


def test_home_migrations_run_in_order_once(tmp_path, monkeypatch):
    from dock import home as home_module

    home = tmp_path / "home"
    Dock.open(home).close()
    ran = []
    monkeypatch.setattr(home_module, "HOME_VERSION", HOME_VERSION + 1)
    monkeypatch.setattr(home_module, "HOME_MIGRATIONS",
                        {HOME_VERSION: ("a step", lambda root: ran.append(root))})
    Dock.open(home).close()
    Dock.open(home).close()
    assert ran == [home]
    assert DockHome(home).version() == HOME_VERSION + 1



def test_the_cli_says_so_in_one_line_and_the_old_dock_lists(tmp_path):
    from tests.helpers import run_cli

    home, manifest = _unpack(FIXTURES[0], tmp_path)
    (home / "VERSION").write_text(f"lwdock-home {HOME_VERSION + 1}\n")
    refused = run_cli(home, "list", check=False)
    assert refused.returncode == StoreError.exit_code != 0
    assert refused.stderr.strip().splitlines() == [
        f"error: the dock home {home} was made by a newer lwdock (home layout {HOME_VERSION + 1}; this lwdock "
        f"knows up to {HOME_VERSION}). Upgrade lwdock to open it; nothing was changed"
    ]
    (home / "VERSION").unlink()  # as the old lwdock left it
    listed = run_cli(home, "list", "--json", check=True)
    assert {item["id"] for item in json.loads(listed.stdout)} == set(manifest["learnwares"])
