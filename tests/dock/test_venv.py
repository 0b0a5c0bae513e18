"""isolation="venv": a venv per requirements set, offline, cached; clear errors when pip cannot help.

Offline-safe: pip runs with --no-index (the default), so nothing here reaches a package index.
"""

from __future__ import annotations

import numpy as np
import pytest

from dock.runtime.venvs import VenvError, ensure_venv, requirements_of, venv_key
from dock.runtime.worker import ModelWorker
from tests.dock.fixtures import model_folder, model_source


def test_requirements_are_read_normalised_and_refused_when_unsafe(tmp_path):
    (tmp_path / "requirements.txt").write_text("# pinned\nscikit-learn >= 1.0  # comment\n\nnumpy\nnumpy\n")
    assert requirements_of(tmp_path) == ["numpy", "scikit-learn>=1.0"]
    conda = tmp_path / "conda"
    conda.mkdir()
    (conda / "environment.yaml").write_text(
        "name: env\ndependencies:\n  - python=3.8\n  - pip\n  - conda-forge::numpy=1.26\n  - scipy>=1.10\n"
        "  - pip:\n    - msgpack==1.0.8\n")
    assert requirements_of(conda) == ["msgpack==1.0.8", "numpy==1.26.*", "scipy>=1.10"]
    for bad in ("-e git+https://example.invalid/x.git", "--index-url http://x", "pkg @ https://x/y.whl"):
        (tmp_path / "requirements.txt").write_text(bad + "\n")
        with pytest.raises(VenvError, match="not allowed"):
            requirements_of(tmp_path)
    assert venv_key(["b", "a"]) == venv_key(["a", "b"]) != venv_key(["a"])


@pytest.fixture(scope="module")
def satisfied_venv(tmp_path_factory):
    """A venv whose requirements the dock's own packages already satisfy: built without downloads."""
    venvs = tmp_path_factory.mktemp("venvs")
    return venvs, ensure_venv(venvs, ["numpy", "scikit-learn>=1.0"])


def test_satisfied_requirements_build_a_cached_venv_the_worker_runs_in(tmp_path, satisfied_venv):
    venvs, python = satisfied_venv
    assert python.parent.parent.parent == venvs and (python.parent.parent / ".lwdock-complete").is_file()
    assert ensure_venv(venvs, ["scikit-learn>=1.0", "numpy"]) == python  # same set, same venv
    body = "import sklearn\nreturn np.array([sys.prefix == os.path.dirname(os.path.dirname(sys.executable))] * len(X))"
    folder = model_folder(tmp_path / "m", model_source(body))
    with ModelWorker(folder, {"class_name": "M", "kwargs": {}}, python=str(python)) as worker:
        assert worker.predict(np.zeros((2, 4))).tolist() == [True, True]
        assert worker.python == str(python)


def test_a_requirement_that_cannot_be_installed_offline_is_named(satisfied_venv):
    venvs, _ = satisfied_venv
    with pytest.raises(VenvError, match="cannot install requirement lwdock-no-such-package-x7==1.0 offline") as info:
        ensure_venv(venvs, ["numpy", "lwdock-no-such-package-x7==1.0"])
    assert "No matching distribution" in str(info.value) or "Could not find" in str(info.value)
    assert not [p for p in venvs.iterdir() if p.is_dir() and not (p / ".lwdock-complete").exists()]


def test_dock_load_with_venv_isolation(tmp_path):
    from dock.dock import Dock
    from tests.dock.fixtures import write_reference_zip

    zip_path = write_reference_zip(tmp_path / "iris.zip")  # requirements.txt: scikit-learn
    with Dock.open(tmp_path / "home") as dock:
        lw = dock.load(dock.submit(zip_path), isolation="venv")
        assert lw._worker.python.startswith(str(tmp_path / "home" / "venvs"))
        assert lw.predict(np.array([[5.1, 3.5, 1.4, 0.2]])).tolist() == [0]
        with pytest.raises(ValueError, match="isolation must be"):
            dock.load(lw.id, isolation="docker")
