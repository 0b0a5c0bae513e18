"""The seed's two Beimingwu demos, run as scripts against a dock seeded by examples/seed_dock.py."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("seed_dock", EXAMPLES / "seed_dock.py")
    seed_dock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_dock)
    home = tmp_path_factory.mktemp("demo") / "home"
    ids = seed_dock.seed(home, ["iris", "digits"], log=lambda *_: None)  # the two the demos need
    assert len(set(ids)) == 8
    return home


def _run(script: str, home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["LWDOCK_HOME"] = str(home)
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _accuracy(stdout: str) -> float:
    match = re.search(r"^Classification accuracy: ([0-9.]+)$", stdout, re.M)
    assert match, stdout
    return float(match.group(1))


def test_iris_demo_finds_the_full_iris_classifier(seeded_home):
    out = _run("iris_demo.py", seeded_home)
    assert re.search(r"^Search result: [0-9a-f]{64}$", out, re.M), out
    assert _accuracy(out) > 0.9  # the 3-species learnware; the 2-species ones cannot pass 0.67


def test_digits_demo_mixture_vote_beats_the_best_single(seeded_home):
    from dock import Dock, UserInfo
    from specs import generate_stat_spec

    out = _run("digits_demo.py", seeded_home)
    ids = re.findall(r"'([0-9a-f]{64})'", out.split("Search result:", 1)[1].splitlines()[0])
    assert len(ids) >= 3, out
    mixture_accuracy = _accuracy(out)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    spec = generate_stat_spec(type="table", X=X)
    with Dock.open(seeded_home) as dock:
        top1 = dock.search(UserInfo(stat_info={spec.type: spec}), limit=1).single[0]
        with dock.load(top1.id) as lw:
            top1_accuracy = float(np.mean(lw.predict(X) == y))
    assert top1_accuracy < 0.61  # a six-digit recogniser on all ten digits
    assert mixture_accuracy > 0.9 and mixture_accuracy > top1_accuracy + 0.25


def test_image_text_demo_mixture_routing_beats_the_top1(tmp_path):
    """Images and text: the user's items mix two learnwares' classes; search proposes both and
    JobSelectorReuser, routing in the embedder's feature space, beats the best single by far."""
    out = _run("image_text_demo.py", tmp_path / "unused", "--home", str(tmp_path / "home"))
    for kind in ("image", "text"):
        top1 = float(re.search(rf"^{kind}: top-1 .*, accuracy ([0-9.]+)$", out, re.M).group(1))
        routed = float(re.search(rf"^{kind}: mixture \+ JobSelectorReuser accuracy ([0-9.]+)$", out, re.M).group(1))
        assert len(re.search(rf"^{kind}: mixture (.*)$", out, re.M).group(1).split(",")) == 2, out
        assert top1 < 0.6 and routed > top1 + 0.25, out
