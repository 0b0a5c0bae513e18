"""The Dock end to end on real files: a reference-layout zip imported, checked, stored, found,
loaded and run in a worker; bad input refused with the dock unchanged; restarts and recovery."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dock import CheckError, Dock, PackageError, UserInfo
from specs import generate_stat_spec

from .fixtures import fitted_iris_model, model_source, package_files, reference_files, semantic, write_zip

LINEAR = """
    W = np.asarray(self.w)
    return (X @ W[: X.shape[1]]).argmax(axis=1) % 3
"""


@pytest.fixture(scope="module")
def other_market(tmp_path_factory) -> list[Path]:
    """Four dim-4 learnwares trained on data unlike iris, so iris must be told apart by its spec.
    Built once for the module (four spec fits); the tests only read the zips."""
    tmp_path = tmp_path_factory.mktemp("other-market")
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    rng = np.random.default_rng(0)
    datasets = {
        "wine4": load_wine().data[:, :4],
        "cancer4": load_breast_cancer().data[:, :4],
        "diabetes4": load_diabetes().data[:, :4],
        "gauss4": rng.normal(5.0, 2.0, size=(200, 4)),
    }
    zips = []
    for name, X in datasets.items():
        source = model_source(LINEAR, init_body="self.w = np.eye(4, 3).tolist()\n")
        files = package_files(source, X, semantic(name=name), spec=generate_stat_spec(type="table", X=X).to_json_dict())
        zips.append(write_zip(tmp_path / f"{name}.zip", files))
    return zips


def _snapshot(dock: Dock) -> tuple:
    blobs = sorted(p.name for p in dock.home.blobs.rglob("*") if p.is_file())
    return tuple(r.id for r in dock.list()), tuple(blobs)


@pytest.fixture
def dock(tmp_path):
    with Dock.open(tmp_path / "home") as d:
        yield d


def test_reference_zip_is_found_top1_loaded_and_predicts_like_the_original(tmp_path, dock, other_market):
    model, X, y = fitted_iris_model()
    iris_zip = write_zip(tmp_path / "iris.zip", reference_files(model=model, X=X))
    others = [dock.submit(p) for p in other_market]
    iris_id = dock.submit(iris_zip)
    assert iris_id == hashlib.sha256(iris_zip.read_bytes()).hexdigest()
    assert len(set(others + [iris_id])) == 5 == len(dock.list())

    user_spec = generate_stat_spec(type="table", X=X)
    result = dock.search(UserInfo(stat_info={user_spec.type: user_spec}), limit=5)
    assert [m.id for m in result.single][0] == iris_id, [(m.name, m.score) for m in result.single]
    assert result.single[0].score > result.single[1].score

    with dock.load(iris_id) as learnware:
        predicted = learnware.predict(X)
    np.testing.assert_array_equal(predicted.reshape(-1), model.predict(X))
    # The learnware's code ran in the worker only: no module of this process comes from the dock.
    here = [m for m in list(sys.modules.values()) if str(getattr(m, "__file__", "")).startswith(str(dock.home.root))]
    assert here == []


def test_same_zip_twice_is_stored_once(tmp_path, dock):
    zip_path = write_zip(tmp_path / "iris.zip", reference_files())
    assert dock.submit(zip_path) == dock.submit(zip_path)
    assert len(dock.list()) == 1 and len(dock.blobs.ids()) == 1


def _zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buffer.getvalue()


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link")
    info.external_attr = 0o120777 << 16
    return info


def _bad_zips(tmp_path: Path) -> dict[str, tuple[Callable[[], bytes], type, str]]:
    """Each case's zip is built only when asked for (a model zip fits a spec: a parametrized test
    building all eleven for every case spent most of its time on zips it never submitted)."""
    files = reference_files()
    good = list(files.items())
    model, X, _ = fitted_iris_model()
    nan_spec = json.loads(files["stat_spec.json"])
    nan_spec["z"][0][0] = float("nan")
    short_beta = json.loads(files["stat_spec.json"])
    short_beta["beta"] = short_beta["beta"][:-1]
    bad_semantic = semantic()
    bad_semantic["Task"]["Values"] = ["Clasification"]
    raising = model_source("raise RuntimeError('model exploded')")
    wrong_shape = model_source("return np.zeros((len(X), 7))", output_shape=(3,))
    sleeper = model_source("time.sleep(3600)")

    def replaced(name: str, data: bytes) -> bytes:
        return _zip_with([(n, data if n == name else d) for n, d in good])

    def model_zip(source: str) -> bytes:
        return _zip_with(list(package_files(source, X, semantic()).items()))

    return {
        "dotdot": (lambda: _zip_with(good + [("../evil.py", b"x")]), PackageError, ".."),
        "absolute": (lambda: _zip_with(good + [("/etc/evil", b"x")]), PackageError, "absolute"),
        "symlink": (lambda: _zip_with(good + [(_symlink_entry(), b"/etc/passwd")]), PackageError, "link"),
        "bomb": (lambda: _zip_with(good + [("bomb.bin", b"\0" * (8 << 20))]), PackageError, "ratio"),
        "no_yaml": (lambda: _zip_with([(n, d) for n, d in good if n != "learnware.yaml"]), PackageError,
                    "learnware.yaml"),
        "nan_spec": (lambda: replaced("stat_spec.json", json.dumps(nan_spec).encode()), PackageError, "finite"),
        "short_beta": (lambda: replaced("stat_spec.json", json.dumps(short_beta).encode()), PackageError, "beta"),
        "bad_semantic": (
            lambda: replaced("semantic_specification.json", json.dumps(bad_semantic).encode()),
            PackageError,
            "Clasification",
        ),
        "predict_raises": (lambda: model_zip(raising), CheckError, "model exploded"),
        "wrong_shape": (lambda: model_zip(wrong_shape), CheckError, "shape"),
        "sleeps_forever": (lambda: model_zip(sleeper), CheckError, "did not answer"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "dotdot",
        "absolute",
        "symlink",
        "bomb",
        "no_yaml",
        "nan_spec",
        "short_beta",
        "bad_semantic",
        "predict_raises",
        "wrong_shape",
        "sleeps_forever",
    ],
)
def test_bad_input_is_refused_and_the_dock_is_unchanged(case, tmp_path, dock):
    dock.submit(write_zip(tmp_path / "iris.zip", reference_files()))
    before = _snapshot(dock)
    build, error, words = _bad_zips(tmp_path)[case]
    bad = tmp_path / f"{case}.zip"
    bad.write_bytes(build())
    with pytest.raises(error) as raised:
        dock.submit(bad, timeout=3.0)
    assert words.lower() in str(raised.value).lower(), str(raised.value)
    assert _snapshot(dock) == before
    assert list(dock.home.blob_tmp.iterdir()) == []


def test_restart_keeps_everything_and_remove_never_touches_another_blob(tmp_path, other_market):
    home = tmp_path / "home"
    model, X, y = fitted_iris_model()
    iris_zip = write_zip(tmp_path / "iris.zip", reference_files(model=model, X=X))
    other_zip = other_market[0]
    with Dock.open(home) as dock:
        iris_id, other_id = dock.submit(iris_zip), dock.submit(other_zip)
        other_blob = dock.blobs.path(other_id).read_bytes()
    with Dock.open(home) as dock:  # restart
        assert {r.id for r in dock.list()} == {iris_id, other_id}
        assert dock.get(iris_id[:10]).name == "iris-lr"
        assert dock.get_stat_specs(iris_id)["RKMETableSpecification"].dim == 4
        with dock.load(iris_id) as learnware:
            np.testing.assert_array_equal(learnware.predict(X).reshape(-1), model.predict(X))
        dock.remove(iris_id)
        assert dock.blobs.path(other_id).read_bytes() == other_blob
        assert [r.id for r in dock.list()] == [other_id]
        assert dock.submit(iris_zip) == iris_id  # added back: same id, own blob
        assert dock.blobs.path(other_id).read_bytes() == other_blob
    with Dock.open(home) as dock:
        assert {r.id for r in dock.list()} == {iris_id, other_id}


def test_open_recovers_from_a_crash_between_blob_and_catalogue(tmp_path):
    home = tmp_path / "home"
    zip_path = write_zip(tmp_path / "iris.zip", reference_files())
    with Dock.open(home) as dock:
        # What a crash after the blob write and before the insert leaves behind:
        orphan_id, _ = dock.blobs.put_file(zip_path)
        (dock.home.blob_tmp / "x.part").write_bytes(b"partial")
    with Dock.open(home) as dock:
        assert not dock.blobs.has(orphan_id)
        assert list(dock.home.blob_tmp.iterdir()) == []
        assert dock.submit(zip_path) == orphan_id and dock.has_zip(orphan_id)


def test_missing_file_and_unknown_id_errors(tmp_path, dock):
    with pytest.raises(PackageError, match="no such file"):
        dock.submit(tmp_path / "nope.zip")
    from dock import NotFoundError

    with pytest.raises(NotFoundError, match="no learnware"):
        dock.get("0123456789")
    assert not os.listdir(dock.home.blob_tmp)
