"""Packing a developer's model: the zip reads, passes the checks, predicts like the model, and is
byte-for-byte reproducible."""

from __future__ import annotations

import pickle
import sys
import zipfile

import numpy as np
import pytest

from dock.errors import PackageError
from dock.package.pack import pack_learnware
from dock.package.reader import extract_package, read_package
from dock.package.submission_checks import check_package
from dock.runtime.worker import ModelWorker
from tests.dock.fixtures import fitted_iris_model, model_source, semantic


@pytest.fixture(scope="module")
def iris_pickle(tmp_path_factory):
    model, X, y = fitted_iris_model()
    path = tmp_path_factory.mktemp("model") / "lr.pkl"
    path.write_bytes(pickle.dumps(model))
    return model, X, path


def test_pack_pickled_sklearn_model(tmp_path, iris_pickle):
    model, X, model_file = iris_pickle
    sem = semantic()
    del sem["Input"]  # filled in from X
    out = pack_learnware(tmp_path / "iris.zip", model_file=model_file, X=X, semantic_spec=sem,
                         requirements=["scikit-learn>=1.4"], K=20)
    pkg = read_package(out)
    assert pkg.semantic_spec["Input"]["Dimension"] == 4
    assert pkg.model_config["class_name"] == "PickleLoadedModel"
    assert pkg.model_config["kwargs"]["input_shape"] == (4,)
    assert pkg.model_config["kwargs"]["output_shape"] == (1,)
    assert pkg.stat_specs["RKMETableSpecification"].dim == 4
    assert pkg.requirements == "scikit-learn>=1.4\n"
    with zipfile.ZipFile(out) as zf:
        assert zf.read("model.pkl") == model_file.read_bytes()  # byte for byte
        assert b"!!python/tuple" in zf.read("learnware.yaml")  # what the reference's checker expects
        assert b"from learnware.model.base import BaseModel" in zf.read("__init__.py")
    folder = extract_package(out, tmp_path / "x")
    report = check_package(pkg, folder)
    assert report["input_shape"] == (4,) and report["output_shape"] == (1,)
    with ModelWorker(folder, pkg.model_config) as worker:
        np.testing.assert_array_equal(worker.predict(X), model.predict(X))
    assert "learnware_pkg" not in sys.modules  # packing never imported the model here

    again = pack_learnware(tmp_path / "again.zip", model_file=model_file, X=X, semantic_spec=sem,
                           requirements=["scikit-learn>=1.4"], K=20)
    assert again.read_bytes() == out.read_bytes()  # same inputs, same bytes, same id


def test_pack_joblib_file_with_predict_proba(tmp_path, iris_pickle):
    joblib = pytest.importorskip("joblib")
    model, X, _ = iris_pickle
    model_file = tmp_path / "lr.joblib"
    joblib.dump(model, model_file)
    out = pack_learnware(tmp_path / "p.zip", model_file=model_file, X=X, semantic_spec=semantic(),
                         predict_method="predict_proba", K=10)
    pkg = read_package(out)
    assert pkg.model_config["kwargs"]["output_shape"] == (3,)
    with ModelWorker(extract_package(out, tmp_path / "x"), pkg.model_config) as worker:
        np.testing.assert_allclose(worker.predict(X[:7]), model.predict_proba(X[:7]))


def test_pack_model_class_file(tmp_path):
    X = np.random.default_rng(1).normal(size=(40, 4))
    src = tmp_path / "my_model.py"
    src.write_text(model_source("return (X[:, 0] > 0).astype(int)"))
    sem = semantic(out_dim=2)
    out = pack_learnware(tmp_path / "c.zip", model_class_file=src, model_class="M", X=X,
                         semantic_spec=sem, K=10, privacy="none")  # 40 rows: about the class file, not privacy
    pkg = read_package(out)
    assert pkg.model_config == {"class_name": "M", "module_path": "__init__.py", "kwargs": {}}
    assert check_package(pkg, extract_package(out, tmp_path / "x"))["output_shape"] == (1,)


def test_pack_refuses_inconsistent_inputs(tmp_path, iris_pickle):
    _, X, model_file = iris_pickle
    with pytest.raises(PackageError, match="Input.Dimension = 5 but X has 4 columns"):
        pack_learnware(tmp_path / "a.zip", model_file=model_file, X=X, semantic_spec=semantic(dim=5))
    with pytest.raises(ValueError, match="exactly one"):
        pack_learnware(tmp_path / "b.zip", X=X, semantic_spec=semantic())
    with pytest.raises(PackageError, match="Name"):
        pack_learnware(tmp_path / "c.zip", model_file=model_file, X=X, semantic_spec=semantic(name=""))
    broken = tmp_path / "broken.py"
    broken.write_text(model_source("raise KeyError('nope')"))
    with pytest.raises(PackageError, match="the model failed on the data: KeyError"):
        pack_learnware(tmp_path / "d.zip", model_class_file=broken, model_class="M", X=X,
                       semantic_spec=semantic())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.py"]  # no zip, no leftovers
