"""Migrations 0008 (spec points stored once) and 0009 (the listing's columns) on a dock written by
main before them (fixture v6-6a74b26.zip, built by tests/fixtures/docks/build_fixture.py with that
commit's code): every spec survives, and a crash in the middle of the migration loses nothing.

Every id and value compared here is read from the fixture itself before the upgrade.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.store.catalogue import MIGRATIONS
from specs import load_spec, spec_from_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "docks" / "v6-6a74b26.zip"


@pytest.fixture
def main_dock(tmp_path) -> tuple[Path, dict]:
    with zipfile.ZipFile(FIXTURE) as zf:
        zf.extractall(tmp_path)
    home = tmp_path / "home"
    home.chmod(0o700)
    return home, json.loads((tmp_path / "manifest.json").read_text())


def _raw_specs(db: Path) -> dict[tuple[str, str], tuple]:
    """(id, type) -> (z float64, beta float64, spec_bytes) as main stored them (read-only)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT learnware_id, spec_type, k, dim, z, beta, spec_bytes FROM stat_specs").fetchall()
    finally:
        con.close()
    return {(lid, st): (np.frombuffer(z, "<f8").reshape(k, dim), np.frombuffer(b, "<f8"), bytes(sb))
            for lid, st, k, dim, z, b, sb in rows}


def _columns(db: Path) -> tuple[set[str], list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = {r[0] for r in con.execute("DESCRIBE stat_specs").fetchall()}
        applied = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
    finally:
        con.close()
    return columns, applied


def test_the_fixture_is_a_dock_from_before_0008(main_dock):
    home, manifest = main_dock
    columns, applied = _columns(home / "dock.duckdb")
    assert {"z", "beta", "spec_bytes"} <= columns
    assert applied == manifest["migrations"] and "0008_spec_points_once" not in applied


def test_0008_keeps_every_spec_and_drops_the_float64_copy(main_dock):
    home, manifest = main_dock
    before = _raw_specs(home / "dock.duckdb")
    assert {lid for lid, _ in before} == set(manifest["learnwares"])

    with Dock.open(home) as dock:
        assert dock.catalogue.applied_migrations() == [name for name, _ in MIGRATIONS]
        for (lid, kind), (z64, beta64, wire) in before.items():
            spec = dock.get_stat_specs(lid)[kind]
            # the stored wire form is untouched, byte for byte (it is what the signature covers)
            assert dock.catalogue.spec_bytes(lid)[kind] == wire
            # and search reads the same points main did, up to float32 rounding for a local spec
            # (exactly, for a peer's: its float64 copy had been widened from these bytes)
            np.testing.assert_allclose(spec.z, z64, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(spec.beta, beta64, rtol=1e-5, atol=1e-7)
            if not manifest["learnwares"][lid]["has_zip"]:
                np.testing.assert_array_equal(spec.z, spec_from_bytes(wire).z)
                np.testing.assert_array_equal(spec.z, z64)
            else:  # the full-precision spec it was packed with is still in its zip
                with zipfile.ZipFile(dock.blobs.path(lid)) as zf:
                    packed = load_spec(json.loads(zf.read("stat_spec.json")))
                np.testing.assert_array_equal(packed.z, z64)
            hits = dock.search(UserInfo(stat_info={kind: spec}), limit=10)
            assert lid in [m.id for m in hits.single]
        points = dock.catalogue.stat_points(next(iter(dock.catalogue.iter_stat_rows()))[0][2])
        assert {p[0] for p in points} <= set(manifest["learnwares"]) and points
    columns, applied = _columns(home / "dock.duckdb")
    assert "z" not in columns and "beta" not in columns and "spec_bytes" in columns
    assert applied == sorted(name for name, _ in MIGRATIONS)


def test_0009_fills_the_listing_columns_of_a_main_dock(main_dock):
    home, manifest = main_dock
    kinds: dict[str, set[str]] = {}
    for lid, kind in _raw_specs(home / "dock.duckdb"):
        kinds.setdefault(lid, set()).add(kind)
    with Dock.open(home) as dock:
        con = dock.catalogue._con  # noqa: SLF001
        rows = con.execute("SELECT id, name, name_key, spec_types FROM learnwares").fetchall()
        assert {r[0] for r in rows} == set(manifest["learnwares"])
        for lid, name, name_key, spec_types in rows:
            assert name_key == name.lower() and spec_types == sorted(kinds[lid])
            assert dock.get(lid).stat_spec_types == tuple(sorted(kinds[lid]))
        page = dock.list_page(limit=10, sort="name")
        assert [r.name.lower() for r in page.records] == sorted(r[1].lower() for r in rows)
        # a row another writer left without the columns still lists right (the fallbacks)
        some = rows[0][0]
        con.execute("UPDATE learnwares SET name_key = NULL, spec_types = NULL WHERE id = ?", [some])
        assert dock.get(some).stat_spec_types == tuple(sorted(kinds[some]))
        again = dock.list_page(limit=10, sort="name")
        assert [r.id for r in again.records] == [r.id for r in page.records]
        assert [r.stat_spec_types for r in again.records] == [r.stat_spec_types for r in page.records]


# Runs 0008 in a real process that dies (os._exit, no cleanup) after the migration's statements
# ran and before its transaction commits: _migrate stamps schema_migrations with _now() there.
CRASH = """
import os, sys
from pathlib import Path
from dock.store import catalogue
catalogue._now = lambda: os._exit(9)
catalogue.Catalogue(Path(sys.argv[1]))
"""


def test_a_crash_in_the_middle_of_0008_loses_nothing(main_dock):
    home, manifest = main_dock
    db = home / "dock.duckdb"
    before = _raw_specs(db)
    proc = subprocess.run([sys.executable, "-c", CRASH, str(db)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 9, proc.stderr[-2000:]
    # the crashed process left the catalogue as main wrote it: both copies, 0008 not recorded
    columns, applied = _columns(db)
    assert {"z", "beta"} <= columns and applied == manifest["migrations"]
    after = _raw_specs(db)
    assert after.keys() == before.keys()
    for key, (z, beta, wire) in before.items():
        np.testing.assert_array_equal(after[key][0], z)
        np.testing.assert_array_equal(after[key][1], beta)
        assert after[key][2] == wire
    # the honest path: the next open applies 0008 whole, every record and spec still there
    with Dock.open(home) as dock:
        assert dock.catalogue.applied_migrations() == sorted(name for name, _ in MIGRATIONS)
        assert {r.id for r in dock.list()} == set(manifest["learnwares"])
        for (lid, kind), (_, _, wire) in before.items():
            assert dock.catalogue.spec_bytes(lid)[kind] == wire
    assert "z" not in _columns(db)[0]
