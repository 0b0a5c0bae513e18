"""The catalogue, the blob store and the owner lock, on real DuckDB files and real folders."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dock.errors import DockBusyError, NotFoundError, StoreError
from dock.home import DockHome, OwnerLock
from dock.records import LearnwareRecord, compat_key
from dock.store.blobs import BlobStore, sha256_file
from dock.store.catalogue import MIGRATIONS, Catalogue
from specs import generate_semantic_spec, generate_stat_spec, spec_from_bytes


def _record(lid: str, name: str = "m") -> LearnwareRecord:
    semantic = generate_semantic_spec(
        name=name,
        description="d",
        data_type="Table",
        task_type="Classification",
        library_type="Scikit-learn",
        scenarios=["Nature"],
        license="MIT",
        input_description={"Dimension": 3, "Description": {}},
        output_description={"Dimension": 2, "Description": {}},
    )
    return LearnwareRecord(id=lid, semantic_spec=semantic, model_config={"class_name": "M", "kwargs": {}}, size=10)


def _spec(seed=0):
    X = np.random.default_rng(seed).normal(size=(60, 3))
    return generate_stat_spec(type="table", X=X, K=8, seed=seed)


def test_catalogue_round_trip_and_reopen(tmp_path):
    db = tmp_path / "c.duckdb"
    cat = Catalogue(db)
    spec = _spec()
    lid = "a" * 64
    cat.insert(_record(lid, "first"), [spec], blob_size=10)
    cat.close()

    cat = Catalogue(db)  # a restart: migrations are not re-applied, data is all there
    assert cat.applied_migrations() == [name for name, _ in MIGRATIONS]
    record = cat.get(lid)
    assert record.name == "first" and record.scenarios == ["Nature"] and record.input_dim == 3
    assert record.stat_spec_types == ("RKMETableSpecification",)
    ((got_id, gamma, z, beta),) = cat.stat_points(compat_key(spec))
    assert got_id == lid and gamma == spec.gamma
    # the points are stored once, in the spec's wire form (float32): exactly what peers receive
    wire = spec_from_bytes(spec.to_bytes())
    np.testing.assert_array_equal(z, wire.z)
    np.testing.assert_array_equal(beta, wire.beta)
    np.testing.assert_allclose(z, spec.z, rtol=1e-6, atol=1e-7)
    assert "z" not in {r[0] for r in cat._con.execute("DESCRIBE stat_specs").fetchall()}  # noqa: SLF001
    assert cat.has_blob(lid) and cat.count() == 1
    cat.close()


def test_duplicate_insert_is_refused_and_leaves_one_row(tmp_path):
    cat = Catalogue(tmp_path / "c.duckdb")
    lid = "b" * 64
    cat.insert(_record(lid), [_spec()], blob_size=10)
    with pytest.raises(StoreError, match="already in the catalogue"):
        cat.insert(_record(lid), [_spec()], blob_size=10)
    assert cat.count() == 1
    assert len(cat.stat_points(compat_key(_spec()))) == 1
    cat.close()


def test_prefix_resolution(tmp_path):
    cat = Catalogue(tmp_path / "c.duckdb")
    cat.insert(_record("abcd" + "0" * 60), [_spec()], blob_size=None)
    cat.insert(_record("abce" + "0" * 60), [_spec(1)], blob_size=None)
    assert cat.resolve_prefix("ABCD") == "abcd" + "0" * 60
    with pytest.raises(NotFoundError, match="no learnware"):
        cat.resolve_prefix("abcc")
    with pytest.raises(NotFoundError, match="too short"):
        cat.resolve_prefix("ab")
    cat.close()


def test_ambiguous_prefix(tmp_path):
    cat = Catalogue(tmp_path / "c.duckdb")
    cat.insert(_record("abcd1" + "0" * 59), [_spec()], blob_size=None)
    cat.insert(_record("abcd2" + "0" * 59), [_spec(1)], blob_size=None)
    with pytest.raises(NotFoundError, match="ambiguous"):
        cat.resolve_prefix("abcd")
    cat.close()


def test_blob_store_verifies_hash_and_never_leaves_partials(tmp_path):
    home = DockHome(tmp_path / "home")
    home.create()
    blobs = BlobStore(home)
    data = b"learnware bytes" * 1000
    good = hashlib.sha256(data).hexdigest()
    with pytest.raises(StoreError, match="does not match"):
        blobs.put_stream(io.BytesIO(data), expected_id="0" * 64)
    assert not blobs.has("0" * 64) and list(home.blob_tmp.iterdir()) == []
    lid, created = blobs.put_stream(io.BytesIO(data), expected_id=good)
    assert (lid, created) == (good, True)
    assert sha256_file(blobs.path(lid)) == good
    assert blobs.put_stream(io.BytesIO(data)) == (good, False)
    (home.blob_tmp / "crash.part").write_bytes(b"half")
    assert blobs.sweep_tmp() == 1 and blobs.ids() == {good}


def test_owner_lock_names_the_owner_across_processes(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    lock = OwnerLock(home / "owner.lock")
    lock.acquire()
    code = textwrap.dedent(f"""
        from pathlib import Path
        from dock.home import OwnerLock
        from dock.errors import DockBusyError
        try:
            OwnerLock(Path({str(home / "owner.lock")!r})).acquire()
        except DockBusyError as exc:
            print(exc)
    """)
    message = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "in use by another process" in message and "pid" in message
    lock.release()
    second = OwnerLock(home / "owner.lock")
    second.acquire()  # released: a new owner may take it
    second.release()


def test_second_open_in_same_process_is_refused(tmp_path):
    from dock import Dock

    first = Dock.open(tmp_path / "home")
    try:
        with pytest.raises(DockBusyError):
            Dock.open(tmp_path / "home")
    finally:
        first.close()
    Dock.open(tmp_path / "home").close()
