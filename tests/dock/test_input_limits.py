"""Bad input that still hurt (issue 11, case 12): small-entry zip bombs, unbounded K and
dimension, oversized or deeply nested semantic specs. Each is refused with a clear error before
it costs memory or disk, nothing is stored, and the honest path still works afterwards."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from dock.dock import Dock
from dock.errors import PackageError
from dock.package.reader import extract_package, read_package
from tests.dock.fixtures import reference_files, semantic, write_zip

MIB = 1024 * 1024


def _small_entry_bomb(path, entries: int = 480):
    """The issue's bomb: many 1 MiB entries of zeros (each under the per-entry ratio floor)."""
    zeros = b"\0" * MIB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("learnware.yaml", b"{}")
        for i in range(entries):
            zf.writestr(f"pad/{i:04d}.bin", zeros)
    return path


def test_many_small_entries_bomb_is_refused_before_extraction(tmp_path):
    bomb = _small_entry_bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 600 * 1024  # ~480 MiB inside ~530 KiB on disk
    with pytest.raises(PackageError, match="archive expands to more than"):
        extract_package(bomb, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]  # nothing extracted, no partial
    with pytest.raises(PackageError, match="possible zip bomb"):
        read_package(bomb)
    # the honest path: a real learnware zip, and a compressible but modest archive, still extract
    honest = write_zip(tmp_path / "iris.zip", reference_files())
    assert read_package(honest).semantic_spec["Name"]["Values"] == "iris-lr"
    modest = _small_entry_bomb(tmp_path / "modest.zip", entries=6)  # 6 MiB: under the 8 MiB floor
    assert len(list((extract_package(modest, tmp_path / "ok") / "pad").iterdir())) == 6


def test_archive_ratio_is_counted_while_streaming(tmp_path):
    """Headers that understate sizes cannot slip past the archive budget: bytes are counted."""
    bomb = _small_entry_bomb(tmp_path / "bomb.zip", entries=40)
    # max_archive_ratio=1 -> limit is the 8 MiB floor; the declared sizes (40 MiB) trip it in the plan
    with pytest.raises(PackageError, match="archive expands to more than 8388608 bytes"):
        extract_package(bomb, tmp_path / "dest", max_archive_ratio=1)
    assert not (tmp_path / "dest").exists()


def _dock_state(dock):
    return (sorted(r.id for r in dock.list()), sorted(p.name for p in dock.home.blobs.rglob("*") if p.is_file()))


@pytest.fixture
def dock(tmp_path):
    with Dock.open(tmp_path / "home") as d:
        yield d


def test_oversized_and_deeply_nested_semantic_specs_store_nothing(tmp_path, dock):
    big = semantic()
    big["Description"]["Values"] = "x" * 900_000
    # an unknown key nested 900 deep: parses, but copying it recursively used to crash submit
    nested = json.dumps(semantic())[:-1] + ', "Extension": ' + '{"k": ' * 900 + "{}" + "}" * 900 + "}"
    before = _dock_state(dock)
    for text, words in ((json.dumps(big), "larger than 262144 bytes"), (nested, "nested more than 16 levels deep")):
        files = reference_files()
        files["semantic_specification.json"] = text.encode()
        bad = write_zip(tmp_path / "bad.zip", files)
        with pytest.raises(PackageError, match=words):
            dock.submit(bad)
        assert _dock_state(dock) == before  # no record, no orphan blob
        assert list(dock.home.blob_tmp.iterdir()) == []
    # JSON nested past the parser's recursion limit: a clear error too, not a RecursionError
    files = reference_files()
    files["semantic_specification.json"] = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PackageError, match="nested too deeply"):
        dock.submit(write_zip(tmp_path / "deep.zip", files))
    assert _dock_state(dock) == before
    lid = dock.submit(write_zip(tmp_path / "iris.zip", reference_files()))  # the honest path
    assert [r.id for r in dock.list()] == [lid]


def test_too_many_points_in_a_zip_spec_is_refused(tmp_path):
    files = reference_files()
    rng = np.random.default_rng(0)
    K = 1001
    files["stat_spec.json"] = json.dumps({"type": "RKMETableSpecification", "z": rng.normal(size=(K, 4)).tolist(),
                                          "beta": [1 / K] * K, "gamma": 0.1, "num_points": K}).encode()
    with pytest.raises(PackageError, match="K=1001 points is not allowed; at most 1000"):
        read_package(write_zip(tmp_path / "wide.zip", files))


def test_a_gossiped_record_with_deeply_nested_semantic_json_is_a_record_error():
    """The same nesting from a peer: a RecordError (rejected), never a RecursionError in the validator."""
    import time

    from dock.network.signed_records import RecordError, _seal, decode_envelope
    from p2p.identity import Identity

    identity = Identity.from_seed(bytes(32))
    body = {"kind": "record", "id": "ab" * 32, "seq": 1, "created": int(time.time() * 1000), "size": 10,
            "semantic": "[" * 100_000 + "]" * 100_000, "model": json.dumps({"class_name": "M"}), "specs": {}}
    with pytest.raises(RecordError, match="nested too deeply"):
        decode_envelope(_seal(identity, body))
    honest = {**body, "semantic": json.dumps(semantic()), "specs": {}}
    with pytest.raises(RecordError, match="specs must map"):  # the checks go on to the next field
        decode_envelope(_seal(identity, honest))
