"""`pack_learnware` for Image and Text learnwares: the zip carries the right kind of spec, passes
the dock's checks (the model gets images / strings) and is found by a user's spec of that kind."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from dock import Dock, PackageError, UserInfo
from dock.package.pack import pack_learnware
from specs import generate_semantic_spec, generate_stat_spec

IMAGE_MODEL = textwrap.dedent('''
    import numpy as np

    from learnware.model.base import BaseModel


    class Bright(BaseModel):
        def __init__(self, input_shape=(8, 8), output_shape=(1,)):
            super().__init__(input_shape=tuple(input_shape), output_shape=output_shape)

        def predict(self, X):
            X = np.asarray(X, dtype=float)
            if X.ndim != 3:
                raise ValueError(f"expected (n, 8, 8) images, got {X.shape}")
            return (X.reshape(len(X), -1).mean(axis=1) > 4).astype(np.int64)
''')

TEXT_MODEL = textwrap.dedent('''
    import numpy as np

    from learnware.model.base import BaseModel


    class Parity(BaseModel):
        def __init__(self, input_shape=None, output_shape=(1,)):
            super().__init__(input_shape=input_shape, output_shape=output_shape)

        def predict(self, X):
            X = np.asarray(X)
            if X.dtype.kind != "U":
                raise ValueError(f"expected strings, got {X.dtype}")
            return np.array([len(s) % 2 for s in X], dtype=np.int64)
''')


def _semantic(data: str, name: str) -> dict:
    return generate_semantic_spec(
        name=name, description=f"a {data.lower()} learnware", data_type=data, task_type="Classification",
        library_type="Others", scenarios=["Education"], license="MIT",
        output_description={"Dimension": 2, "Description": {}},
    )


def test_pack_image_and_text_learnwares_that_the_dock_accepts_and_finds(tmp_path):
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=False).images, load_digits().target
    (tmp_path / "bright.py").write_text(IMAGE_MODEL)
    (tmp_path / "parity.py").write_text(TEXT_MODEL)
    docs = ["The striker scored twice.", "Rain is expected tonight.", "Whisk the eggs with sugar.",
            "Shares fell after the results.", "The coach was sent off.", "Snow fell on the hills."] * 3
    image_zip = pack_learnware(tmp_path / "img.zip", model_class_file=tmp_path / "bright.py", model_class="Bright",
                               X=images[labels < 5], semantic_spec=_semantic("Image", "bright digits"), K=20)
    text_zip = pack_learnware(tmp_path / "txt.zip", model_class_file=tmp_path / "parity.py", model_class="Parity",
                              X=docs, semantic_spec=_semantic("Text", "parity of news"), K=10)
    with Dock.open(tmp_path / "home") as dock:
        image_id, text_id = dock.submit(image_zip), dock.submit(text_zip)
        assert dock.get_stat_specs(image_id).keys() == {"RKMEImageSpecification"}
        assert dock.get_stat_specs(text_id).keys() == {"RKMETextSpecification"}
        user = generate_stat_spec("image", X=images[labels < 5][:100], K=10)
        assert dock.search(UserInfo(stat_info={user.type: user})).single[0].id == image_id
        user = generate_stat_spec("text", X=docs[:6], K=5)
        assert dock.search(UserInfo(stat_info={user.type: user})).single[0].id == text_id
        with dock.load(image_id) as learnware:
            assert learnware.predict(images[:7]).shape[0] == 7


def test_pack_refuses_inputs_of_the_wrong_kind(tmp_path):
    (tmp_path / "bright.py").write_text(IMAGE_MODEL)
    with pytest.raises(PackageError, match="Image learnware's X must be images"):
        pack_learnware(tmp_path / "x.zip", model_class_file=tmp_path / "bright.py", model_class="Bright",
                       X=np.zeros((10, 64)), semantic_spec=_semantic("Image", "flat"))
    with pytest.raises(PackageError, match="list of strings"):
        pack_learnware(tmp_path / "y.zip", model_class_file=tmp_path / "bright.py", model_class="Bright",
                       X=[1, 2, 3], semantic_spec=_semantic("Text", "numbers"))


def test_cli_packs_a_text_learnware_from_a_document_file(tmp_path):
    from tests.helpers import run_cli

    (tmp_path / "parity.py").write_text(TEXT_MODEL)
    (tmp_path / "docs.txt").write_text("\n".join(["A goal in the last minute.", "Rates rose again.",
                                                 "Bake until golden.", "Storms on the coast."] * 3) + "\n")
    run_cli(tmp_path / "home", "pack", "--model-class-file", str(tmp_path / "parity.py"), "--class-name", "Parity",
            "--data", str(tmp_path / "docs.txt"), "--data-type", "Text", "--output-dim", "2", "--name", "parity",
            "--library", "Others", "--scenario", "Education", "-k", "5", "-o", str(tmp_path / "t.zip"))
    learnware_id = run_cli(tmp_path / "home", "submit", str(tmp_path / "t.zip")).stdout.strip()
    assert len(learnware_id) == 64
    bad = run_cli(tmp_path / "home", "pack", "--model-class-file", str(tmp_path / "parity.py"), "--class-name",
                  "Parity", "--data", str(tmp_path / "docs.txt"), "--data-type", "Text", "--label-column", "x",
                  "--name", "p", "-o", str(tmp_path / "u.zip"), check=False)
    assert bad.returncode != 0 and "--label-column is for tables" in bad.stderr


def test_pack_treats_h_w_and_1_h_w_as_the_same_image_shape(tmp_path):
    """The dock's checks accept a model declaring (1, 8, 8) for 8x8 images; pack must agree,
    and still refuse a shape that is really different."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:200]
    (tmp_path / "bright.py").write_text(IMAGE_MODEL)
    sem = _semantic("Image", "one channel")
    zip_path = pack_learnware(tmp_path / "c.zip", model_class_file=tmp_path / "bright.py", model_class="Bright",
                              model_kwargs={"input_shape": (1, 8, 8)}, X=images, semantic_spec=sem, K=10)
    with Dock.open(tmp_path / "home") as dock:
        assert len(dock.submit(zip_path)) == 64
    with pytest.raises(PackageError, match=r"input_shape is \(3, 8, 8\) but X's items have shape \(8, 8\)"):
        pack_learnware(tmp_path / "d.zip", model_class_file=tmp_path / "bright.py", model_class="Bright",
                       model_kwargs={"input_shape": (3, 8, 8)}, X=images, semantic_spec=sem, K=10)


def test_pack_refuses_thirty_images_for_the_private_spec_then_packs_them_knowingly(tmp_path):
    """Image specs are private by default: pack refuses under 50 images before probing the model
    (nothing written), packs them with allow_small (recorded "small") or the plain spec with
    privacy="none"."""
    from sklearn.datasets import load_digits

    from dock.package.reader import read_package
    from specs.errors import SmallTableError

    (tmp_path / "bright.py").write_text(IMAGE_MODEL)
    images = load_digits().images[:30]
    kw = {"model_class_file": tmp_path / "bright.py", "model_class": "Bright", "X": images,
          "semantic_spec": _semantic("Image", "few digits"), "K": 10}
    with pytest.raises(SmallTableError, match="30 images are too few for a private spec"):
        pack_learnware(tmp_path / "few.zip", **kw)
    assert not (tmp_path / "few.zip").exists()
    small = read_package(pack_learnware(tmp_path / "small.zip", allow_small=True, **kw))
    plain = read_package(pack_learnware(tmp_path / "plain.zip", privacy="none", **kw))
    assert small.stat_specs["RKMEImageSpecification"].privacy["small"] == 1
    assert plain.stat_specs["RKMEImageSpecification"].privacy is None
