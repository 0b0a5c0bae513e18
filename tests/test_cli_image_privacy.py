"""Private image specs from the command line (specs/privacy.py, the default for images since session
6): `lwdock spec image` makes the private spec and records it, refuses fewer than 50 images in one
line that says "images" (exit code of SmallTableError, nothing written), makes it with --allow-small
knowingly, and the plain one with --privacy none. Real subprocesses, real homes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dock.errors import REGISTRY
from specs import load_spec
from tests.helpers import run_cli

pytest.importorskip("torch")

SMALL_EXIT = REGISTRY["SmallTableError"].exit_code


def _digit_images(path, count: int) -> None:
    from sklearn.datasets import load_digits

    np.save(path, load_digits().images[:count])


def test_image_spec_is_private_by_default_and_records_it(tmp_path):
    _digit_images(tmp_path / "imgs.npy", 200)
    proc = run_cli(tmp_path / "home", "spec", "image", str(tmp_path / "imgs.npy"), "-o", str(tmp_path / "s.json"),
                   "--json")
    info = json.loads(proc.stdout)
    assert info["privacy"]["method"] == "private" and "noised points in the" in info["reveals"]
    spec = load_spec(tmp_path / "s.json")
    assert spec.privacy == info["privacy"] and spec.z.shape[0] <= 15  # ceil(sqrt(200)) points at most
    plain = run_cli(tmp_path / "home", "spec", "image", str(tmp_path / "imgs.npy"), "-o", str(tmp_path / "p.json"),
                    "--privacy", "none")
    assert "a plain spec" in plain.stderr + plain.stdout and load_spec(tmp_path / "p.json").privacy is None


def test_thirty_images_are_refused_in_one_line_then_allowed_knowingly(tmp_path):
    _digit_images(tmp_path / "few.npy", 30)
    out = tmp_path / "s.json"
    refused = run_cli(tmp_path / "home", "spec", "image", str(tmp_path / "few.npy"), "-o", str(out), check=False)
    assert refused.returncode == SMALL_EXIT
    errors = [line for line in refused.stderr.splitlines() if "too few" in line]
    assert len(errors) == 1 and "30 images are too few for a private spec" in errors[0]
    assert "--allow-small" in errors[0] and "rows" not in errors[0]
    assert not out.exists()  # nothing written
    allowed = run_cli(tmp_path / "home", "spec", "image", str(tmp_path / "few.npy"), "-o", str(out), "--allow-small")
    assert "only 30 images" in allowed.stderr + allowed.stdout
    assert load_spec(out).privacy["small"] == 1
