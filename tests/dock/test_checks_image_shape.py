"""An image model's declared input_shape must be the shape of the images its spec was fitted on:
(H, W) and (1, H, W) pass, anything else is refused at submission and nothing is stored."""

from __future__ import annotations

import textwrap
import zipfile

import numpy as np
import pytest
import yaml

from dock import Dock
from dock.errors import CheckError
from dock.package.pack import pack_learnware
from dock.package.reader import load_learnware_yaml
from dock.package.submission_checks import check_image_input_shape
from specs import generate_semantic_spec, generate_stat_spec

# Takes (n, 8, 8) or (n, 1, 8, 8); its input_shape is whatever learnware.yaml's kwargs say.
MODEL = textwrap.dedent('''
    import numpy as np

    from learnware.model.base import BaseModel


    class Bright(BaseModel):
        def __init__(self, input_shape=None, output_shape=(1,)):
            super().__init__(input_shape=None if input_shape is None else tuple(input_shape),
                             output_shape=output_shape)

        def predict(self, X):
            X = np.asarray(X, dtype=float)
            return (X.reshape(len(X), -1).mean(axis=1) > 4).astype(np.int64)
''')


def _images() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images[:200]  # (200, 8, 8), pixels 0..16


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A real packed image learnware (spec fitted on (8, 8) images, model says (8, 8))."""
    tmp = tmp_path_factory.mktemp("packed")
    (tmp / "bright.py").write_text(MODEL)
    sem = generate_semantic_spec(
        name="bright digits", description="an image learnware", data_type="Image",
        task_type="Classification", library_type="Others", scenarios=["Education"], license="MIT",
        output_description={"Dimension": 2, "Description": {}})
    return pack_learnware(tmp / "img.zip", model_class_file=tmp / "bright.py", model_class="Bright",
                          X=_images(), semantic_spec=sem, model_kwargs={"input_shape": (8, 8)}, K=10)


def _declaring(src, out, input_shape):
    """A copy of the zip whose learnware.yaml gives the model another input_shape (as a
    hand-written yaml would; pack itself refuses a mismatch)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("learnware.yaml"):
                cfg = load_learnware_yaml(data.decode())
                cfg["model"]["kwargs"]["input_shape"] = input_shape
                data = yaml.dump(cfg, sort_keys=True).encode()
            zout.writestr(info, data)
    return out


@pytest.mark.parametrize("input_shape", [None, (8, 8), (1, 8, 8)], ids=["none", "same", "one-channel"])
def test_matching_image_input_shape_is_accepted(tmp_path, packed, input_shape):
    zip_path = packed if input_shape == (8, 8) else _declaring(packed, tmp_path / "x.zip", input_shape)
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(zip_path)
        assert [r.id for r in dock.list()] == [learnware_id]
        assert dock.blobs.ids() == {learnware_id}


def test_mismatched_image_input_shape_is_refused_and_nothing_is_stored(tmp_path, packed):
    bad = _declaring(packed, tmp_path / "bad.zip", (3, 32, 32))
    with Dock.open(tmp_path / "home") as dock:
        with pytest.raises(CheckError) as info:
            dock.submit(bad)
        assert info.value.check == "model_load"
        reason = info.value.reason
        assert "model input_shape is (3, 32, 32)" in reason
        assert "fitted on images of shape (8, 8)" in reason
        assert "fix the model's input_shape" in reason and "regenerate the image spec" in reason
        assert dock.list() == [] and dock.blobs.ids() == set()

        good_id = dock.submit(packed)
        with pytest.raises(CheckError, match=r"\(3, 32, 32\)"):
            dock.submit(bad)
        assert [r.id for r in dock.list()] == [good_id] and dock.blobs.ids() == {good_id}


def test_image_shape_rule():
    # 60 images: at least the 50 a (default) private image spec needs
    gray = generate_stat_spec("image", X=_images()[:60], K=5)
    rgb = generate_stat_spec("image", X=np.random.default_rng(0).random((60, 3, 8, 8)), K=5)
    for ok in [None, (8, 8), (1, 8, 8)]:
        check_image_input_shape(ok, gray)
    check_image_input_shape((3, 8, 8), rgb)
    check_image_input_shape((3, 8, 8), None)  # no image spec: nothing to compare with
    for bad, spec in [((64,), gray), ((8, 9), gray), ((3, 8, 8), gray), ((8, 8, 3), rgb),
                      ((8, 8), rgb), ((1, 8, 8), rgb)]:
        with pytest.raises(CheckError, match="model input_shape is"):
            check_image_input_shape(bad, spec)
