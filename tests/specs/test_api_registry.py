"""Registry of spec kinds (built-in, registered, entry points) and the package's import hygiene."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import specs
from specs import SpecError, registry

ROOT = Path(__file__).resolve().parents[2]


class FakeSpec:
    type = "FakeSpec"

    @classmethod
    def from_json_dict(cls, d):
        obj = cls()
        obj.d = d
        return obj


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_entry_points", None)


def test_builtin_and_unknown(clean_registry):
    assert registry.spec_class("RKMETableSpecification") is specs.RKMETableSpecification
    with pytest.raises(SpecError, match="'Nope' is not known; known kinds: RKMEImageSpecification, RKMETableSpec"):
        registry.spec_class("Nope")
    with pytest.raises(SpecError, match="built in"):
        registry.register_spec_class("RKMETableSpecification", FakeSpec)


def test_entry_points_are_found_lazily_once(clean_registry, monkeypatch):
    calls = []

    def fake_entry_points(group):
        calls.append(group)
        make = importlib.metadata.EntryPoint
        return [
            make(name="FakeSpec", value=f"{__name__}:FakeSpec", group=group),
            make(name="Broken", value="no_such_module_xyz:Thing", group=group),
            make(name="RKMETableSpecification", value=f"{__name__}:FakeSpec", group=group),  # cannot hijack
        ]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert calls == []  # nothing discovered before it is needed
    assert registry.spec_class("FakeSpec") is FakeSpec
    assert specs.load_spec({"type": "FakeSpec", "x": 1}).d == {"type": "FakeSpec", "x": 1}
    assert registry.spec_class("RKMETableSpecification") is specs.RKMETableSpecification
    with pytest.raises(SpecError, match="'Broken': its plugin .* failed to load"):
        registry.spec_class("Broken")
    assert registry.known_spec_types() == ["Broken", "FakeSpec", "RKMEImageSpecification", "RKMETableSpecification",
                                           "RKMETextSpecification"]
    assert calls == ["lwdock.specs"]  # discovered once


def test_register_in_process(clean_registry):
    registry.register_spec_class("FakeSpec", FakeSpec)
    assert specs.spec_class("FakeSpec") is FakeSpec


def test_public_api_names():
    for name in specs.__all__:
        assert getattr(specs, name) is not None
    assert "RKMETableSpecification" in dir(specs)
    with pytest.raises(AttributeError):
        specs.no_such_name  # noqa: B018


def _modules_after(code: str) -> dict:
    out = subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True)
    return json.loads(out.strip().splitlines()[-1])


def test_import_hygiene():
    code = """
import json, sys
def snap(): return sorted(m.split('.')[0] for m in sys.modules)
stages = {}
import specs
stages['import'] = snap()
specs.generate_semantic_spec(task_type='Regression'); specs.SpecError
stages['semantic'] = snap()
import numpy as np
X = np.random.default_rng(0).normal(size=(200, 5))
s = specs.generate_stat_spec('table', X=X, K=10)
t = specs.load_spec(s.to_json_dict()); specs.spec_from_bytes(s.to_bytes()); s.dist(t); s.sample(5)
stages['table'] = snap()
print(json.dumps(stages))
"""
    stages = _modules_after(code)
    heavy = {"torch", "sklearn", "scipy"}
    assert not heavy & set(stages["import"]), "import specs pulled in " + str(heavy & set(stages["import"]))
    assert "numpy" not in stages["import"]  # import specs is cheap: numpy comes with the first array
    assert not ({"numpy"} | heavy) & set(stages["semantic"])
    # The whole table path (fit, JSON, bytes, dist, sample) runs on numpy alone.
    assert not heavy & set(stages["table"]), heavy & set(stages["table"])
