"""Reading learnware zips: the reference layout imports unchanged; hostile zips are refused whole."""

from __future__ import annotations

import hashlib
import json
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from dock.errors import PackageError
from dock.package.reader import extract_package, load_learnware_yaml, read_package, write_package_zip
from tests.dock.fixtures import reference_files, semantic, write_reference_zip, write_zip


def _leftovers(parent: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def test_reference_zip_reads_unchanged(tmp_path):
    zip_path = write_reference_zip(tmp_path / "ref.zip")
    pkg = read_package(zip_path)
    assert pkg.id == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert pkg.zip_path == zip_path.resolve()
    assert pkg.model_config["class_name"] == "PickleLoadedModel"
    assert pkg.model_config["module_path"] == "__init__.py"  # the reference's default filled in
    assert pkg.model_config["kwargs"]["input_shape"] == (4,)  # !!python/tuple read as a tuple
    assert pkg.model_config["kwargs"]["output_shape"] == (1,)
    spec = pkg.stat_specs["RKMETableSpecification"]
    assert spec.type == "RKMETableSpecification" and spec.dim == 4
    assert pkg.semantic_spec["Name"]["Values"] == "iris-lr"
    assert pkg.requirements == "scikit-learn\n" and pkg.environment is None
    assert _leftovers(tmp_path, {"ref.zip"}) == []  # the temporary extraction is gone


def test_given_semantic_spec_wins_and_one_is_required(tmp_path):
    files = reference_files()
    zip_path = write_zip(tmp_path / "a.zip", files)
    pkg = read_package(zip_path, semantic_spec=semantic(name="given"))
    assert pkg.semantic_spec["Name"]["Values"] == "given"
    del files["semantic_specification.json"]
    bare = write_zip(tmp_path / "b.zip", files)
    with pytest.raises(PackageError, match="semantic_specification.json is missing"):
        read_package(bare)
    assert read_package(bare, semantic_spec=semantic()).semantic_spec["Name"]["Values"] == "iris-lr"


def test_folder_in_zip_is_the_root(tmp_path):
    zip_path = write_zip(tmp_path / "folder.zip", reference_files(), prefix="my_learnware/")
    with zipfile.ZipFile(zip_path, "a") as zf:  # what macOS Finder adds beside the folder
        zf.writestr("__MACOSX/my_learnware/._learnware.yaml", b"finder noise")
    root = extract_package(zip_path, tmp_path / "out")
    assert (root / "learnware.yaml").is_file() and (root / "model.pkl").is_file()
    assert not (root / "__MACOSX").exists() and not (root / "my_learnware").exists()
    assert read_package(zip_path).model_config["class_name"] == "PickleLoadedModel"


def _raw_zip(path: Path, entries: list[tuple], **zip_kw) -> Path:
    """entries: (name, data) or (ZipInfo, data); duplicates allowed (zipfile only warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", **zip_kw) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


BOMB = b"\0" * (8 * 1024 * 1024)  # deflates to ~8 KB
# "Billion laughs": 9 lines, 10**8 nodes if a consumer walks it as a tree.
ALIAS_BOMB = ("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))).encode()


@pytest.mark.parametrize(
    "entries, limits, message",
    [
        ([("../evil.txt", b"x")], {}, r"'\.\.' in path"),
        ([("ok/../../evil.txt", b"x")], {}, r"'\.\.' in path"),
        ([("/etc/evil", b"x")], {}, "absolute path"),
        ([("C:/evil", b"x")], {}, "absolute path"),
        ([("..\\evil.txt", b"x")], {}, "backslash"),
        ([(_symlink_info("link"), "/etc/passwd")], {}, "symbolic link"),
        ([("a.txt", b"1"), ("a.txt", b"2")], {}, "duplicate"),
        ([("A.txt", b"1"), ("a.txt", b"2")], {}, "duplicate"),
        ([("a", b"1"), ("a/b", b"2")], {}, "parent is a file"),
        ([(f"f{i}.txt", b"x") for i in range(11)], {"max_entries": 10}, "12 entries; at most 10"),
        ([("bomb.bin", BOMB)], {}, "compression ratio over 200"),
        ([("bomb.bin", BOMB)], {"max_total_bytes": 1 << 20, "max_ratio": 1e9},
         "exceed the 1048576 byte limit"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "backslash", "symlink", "duplicate",
         "case-duplicate", "file-as-folder", "too-many", "ratio-bomb", "size-bomb"],
)
def test_hostile_zip_refused_and_nothing_left(tmp_path, entries, limits, message):
    zip_path = _raw_zip(tmp_path / "bad.zip", [("learnware.yaml", b"{}"), *entries],
                        compression=zipfile.ZIP_DEFLATED)
    assert zip_path.stat().st_size < 64 * 1024  # every one of these is small on disk
    with pytest.raises(PackageError, match=message):
        extract_package(zip_path, tmp_path / "dest", **limits)
    assert _leftovers(tmp_path, {"bad.zip"}) == []
    with pytest.raises(PackageError, match=message):  # read_package goes through the same gate
        read_package(zip_path, **limits)


def test_lying_sizes_cannot_expand(tmp_path):
    """A header that declares 100 bytes for 8 MiB of zeros: extraction stops, nothing is kept."""
    zip_path = _raw_zip(tmp_path / "liar.zip", [("bomb.bin", BOMB)], compression=zipfile.ZIP_DEFLATED)
    data = bytearray(zip_path.read_bytes())
    real = len(BOMB).to_bytes(4, "little")
    lie = (100).to_bytes(4, "little")
    # Uncompressed size sits at offset 22 of the local header and 24 of the central entry.
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    assert data[local + 22:local + 26] == real and data[central + 24:central + 28] == real
    data[local + 22:local + 26] = lie
    data[central + 24:central + 28] = lie
    zip_path.write_bytes(bytes(data))
    with pytest.raises(PackageError, match="bomb.bin"):
        extract_package(zip_path, tmp_path / "dest", max_ratio=1e9)
    assert _leftovers(tmp_path, {"liar.zip"}) == []


def test_not_a_zip_and_missing_file(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip")
    with pytest.raises(PackageError, match="not a readable zip"):
        read_package(junk)
    with pytest.raises(PackageError, match="no such file"):
        read_package(tmp_path / "absent.zip")


def test_destination_must_be_empty(tmp_path):
    zip_path = write_reference_zip(tmp_path / "ref.zip")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_package(zip_path, tmp_path / "dest")
    assert (tmp_path / "dest" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert (extract_package(zip_path, tmp_path / "empty") / "learnware.yaml").is_file()


def _read_with(tmp_path, change) -> None:
    files = reference_files()
    change(files)
    read_package(write_zip(tmp_path / "pkg.zip", files))


def _spec(files: dict, **changes) -> None:
    spec = json.loads(files["stat_spec.json"])
    spec.update(changes)
    files["stat_spec.json"] = json.dumps(spec).encode()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.pop("learnware.yaml"), "learnware.yaml is missing"),
        (lambda f: f.pop("stat_spec.json"), "stat_spec.json is missing"),
        (lambda f: f.pop("__init__.py"), "__init__.py is missing"),
        (lambda f: f.update({"learnware.yaml": b"model: !!python/object/apply:os.system ['touch PWNED']\n"}),
         "learnware.yaml: could not determine a constructor"),
        (lambda f: f.update({"learnware.yaml": b"model: !!python/name:os.system\n"}),
         "learnware.yaml: could not determine a constructor"),
        (lambda f: f.update({"learnware.yaml": ALIAS_BOMB}),
         "alias bomb"),
        (lambda f: f.update({"learnware.yaml": b"model: [unclosed\n"}), "learnware.yaml: while parsing"),
        (lambda f: f.update({"learnware.yaml": b"model: " + b"[" * 1500 + b"]" * 1500}), "nested too deeply"),
        (lambda f: f.update({"learnware.yaml": b"model: {class_name: M, kwargs: {a: " + b"[" * 40 + b"]" * 40
                                               + b"}}"}), "nested more than 32 levels"),
        (lambda f: f.update({"learnware.yaml": b"model: {class_name: M, kwargs: {a: 99999999999999999999}}"}),
         "beyond 64 bits"),
        (lambda f: f.update({"learnware.yaml": b"model:\n  class_name: 'os.system'\n"}),
         "not a Python identifier"),
        (lambda f: f.update({"learnware.yaml": b"model:\n  class_name: M\n  module_path: ../x.py\n"}),
         "relative path inside the package"),
        (lambda f: f.update({"learnware.yaml": b"model:\n  class_name: M\n  kwargs: {when: 2001-12-14}\n"}),
         "holds a date"),
        (lambda f: f.update({"learnware.yaml": b"stat_specifications:\n- {module_path: os, class_name: "
                                               b"RKMETableSpecification, file_name: stat_spec.json}\n"}),
         "module_path 'os'"),
        (lambda f: f.update({"learnware.yaml": b"stat_specifications:\n- {module_path: specs, class_name: "
                                               b"Evil, file_name: stat_spec.json}\n"}),
         "unknown stat spec class 'Evil'"),
        (lambda f: _spec(f, beta=[0.5, 0.5]), r"stat_spec.json: beta: shape \(2,\) does not match"),
        (lambda f: f.update({"stat_spec.json": f["stat_spec.json"].replace(b'"gamma":0.1', b'"gamma":NaN')}),
         "stat_spec.json: gamma"),
        (lambda f: _spec(f, z=[[float("nan")] * 4] * 8), "stat_spec.json: z and beta must be finite"),
        (lambda f: f.update({"stat_spec.json": b"{not json"}), "stat_spec.json: not valid JSON"),
        (lambda f: f.update({"semantic_specification.json": json.dumps(
            {**semantic(), "Data": {"Type": "Class", "Values": ["Tabel"]}}).encode()}),
         r"semantic_specification.json: Data: 'Tabel' is not one of"),
        (lambda f: f.update({"semantic_specification.json": b"[1, 2]"}), "must be a JSON object"),
        (lambda f: f.update({"requirements.txt": b"\xff\xfe\x00bad"}), "requirements.txt: not UTF-8"),
    ],
    ids=["no-yaml", "no-spec", "no-module", "yaml-apply", "yaml-name", "yaml-alias-bomb", "yaml-syntax",
         "yaml-deep", "kwargs-deep", "kwargs-bigint", "bad-class-name", "module-escape", "yaml-date",
         "spec-module", "spec-class", "spec-shapes", "spec-nan-gamma", "spec-nan-z", "spec-not-json",
         "semantic-value", "semantic-type", "req-binary"],
)
def test_bad_contents_refused(tmp_path, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PackageError, match=message):
        _read_with(tmp_path, change)
    assert not (tmp_path / "PWNED").exists()
    assert _leftovers(tmp_path, {"pkg.zip"}) == []


def test_old_reference_spec_name_is_accepted(tmp_path):
    files = reference_files()
    old_name = files["learnware.yaml"].replace(b"RKMETableSpecification", b"RKMEStatSpecification")
    files["learnware.yaml"] = old_name
    spec = json.loads(files["stat_spec.json"])
    del spec["type"]
    files["stat_spec.json"] = json.dumps(spec).encode()
    pkg = read_package(write_zip(tmp_path / "old.zip", files))
    assert list(pkg.stat_specs) == ["RKMETableSpecification"]


def test_yaml_loader_accepts_tuples_only():
    assert load_learnware_yaml("a: !!python/tuple [1, 2]\nb: [3]\n") == {"a": (1, 2), "b": [3]}
    with pytest.raises(PackageError):
        load_learnware_yaml("a: !!python/object:os.system {}\n")


def test_write_package_zip_is_deterministic(tmp_path):
    folder = tmp_path / "lw"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("bee")
    (folder / "a.txt").write_text("ay")
    (folder / "sub" / "c.py").write_text("print('c')")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"junk")
    one = write_package_zip(folder, tmp_path / "one.zip").read_bytes()
    for f in folder.rglob("*"):  # new mtimes, same content
        f.touch()
    two = write_package_zip(folder, tmp_path / "two.zip").read_bytes()
    assert one == two
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        assert zf.namelist() == ["a.txt", "b.txt", "sub/c.py"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in zf.infolist()} == {stat.S_IFREG | 0o644}
    (folder / "link").symlink_to(folder / "a.txt")
    with pytest.raises(PackageError, match="link"):
        write_package_zip(folder, tmp_path / "three.zip")
    assert not (tmp_path / "three.zip").exists()


def test_written_zip_round_trips(tmp_path):
    src = extract_package(write_reference_zip(tmp_path / "ref.zip"), tmp_path / "src")
    again = write_package_zip(src, tmp_path / "again.zip")
    pkg = read_package(again)
    assert pkg.model_config["kwargs"]["input_shape"] == (4,)
    assert pkg.id == hashlib.sha256(again.read_bytes()).hexdigest()
