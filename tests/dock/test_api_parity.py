"""The dock API is the same embedded and through a daemon (dock/api.py: DockAPI).

Statically, `Dock` and `RemoteDock` are checked against the DockAPI Protocol (mypy, the
`_: type[DockAPI] = ...` lines). Here: the same method names and signatures at run time, then one
scenario (submit, list, get, search single + mixture, load/predict, trust, remove, and every error a
user can reach through those calls) run against an embedded `Dock` and against a `RemoteDock` talking
to a real `lwdock node --offline` process; each step's results and errors must agree.
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dock import Dock, UserInfo
from dock.api import API_METHODS, DockAPI
from dock.control.remote import DaemonUnavailable, RemoteDock
from dock.home import DockHome
from specs import generate_stat_spec
from tests.helpers import wait_until

from .fixtures import reference_files, semantic, write_zip

DIM = 4
INSTANCE_ATTRIBUTES = {"home"}  # set in __init__, so not on the class
CENTRES = {"alpha cluster": 0.0, "beta cluster": 12.0, "gamma cluster": 24.0}


# -- the same methods, the same signatures ---------------------------------------------------------
def _members(cls) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") or name in ("__enter__", "__exit__")}


@pytest.mark.parametrize("cls", [Dock, RemoteDock], ids=["Dock", "RemoteDock"])
def test_implements_every_member_of_the_protocol_with_its_signature(cls):
    protocol_members = {name for name in vars(DockAPI) if not name.startswith("_")} | {"__enter__", "__exit__"}
    missing = sorted(protocol_members - _members(cls) - INSTANCE_ATTRIBUTES)  # those: checked in the scenario
    assert missing == [], f"{cls.__name__} lacks {missing}"
    for name in API_METHODS:
        assert inspect.signature(getattr(cls, name)) == inspect.signature(getattr(DockAPI, name)), name


def test_signature_check_catches_a_drift():
    # The comparison above must be able to fail: a class whose `get` takes another parameter.
    class Drifted(RemoteDock):
        def get(self, learnware_id: str, extra: int = 0):  # type: ignore[override]
            raise NotImplementedError

    assert inspect.signature(Drifted.get) != inspect.signature(DockAPI.get)
    assert inspect.signature(RemoteDock.get) == inspect.signature(DockAPI.get)


def _rounded(value):
    """value with every float rounded to 9 significant digits (tuples and lists kept)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    return value


# -- one scenario against both ---------------------------------------------------------------------
def _cluster(name: str, rows: int = 120) -> np.ndarray:
    rng = np.random.default_rng(int(CENTRES[name]) + 1)
    return rng.normal(size=(rows, DIM)) + CENTRES[name]


def _learnware_zip(folder: Path, name: str, *, task: str = "Classification") -> Path:
    from sklearn.linear_model import LogisticRegression

    X = _cluster(name)
    y = (X[:, 0] > CENTRES[name]).astype(int)
    model = LogisticRegression(max_iter=300).fit(X, y)
    files = reference_files(model=model, X=X, sem=semantic(dim=DIM, out_dim=2, task=task, name=name))
    return write_zip(folder / f"{name.replace(' ', '-')}-{task}.zip", files)


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")
    made = {name: _learnware_zip(folder, name) for name in CENTRES}
    # One output column where its semantic spec says a 2-column regression: the check refuses it (CheckError).
    made["bad output"] = _learnware_zip(folder, "alpha cluster", task="Regression")
    garbage = folder / "garbage.zip"
    garbage.write_bytes(b"this is not a zip file")
    made["garbage"] = garbage
    return made


def _call(transcript: dict, step: str, home: Path, fn, *args, **kwargs):
    """Run one call; record its result or its error (class + message, the home's path written as
    <home> since the two docks live in two homes)."""
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        transcript[step] = ("error", type(exc).__name__, str(exc).replace(str(home), "<home>"))
        return None
    transcript[step] = ("ok", value)
    return value


def _scenario(dock: DockAPI, home: Path, zips: dict, tmp: Path) -> dict:
    t: dict = {}
    _call(t, "home", home, lambda: Path(dock.home.root).resolve() == home.resolve())
    _call(t, "peer_id before a key", home, dock.peer_id)  # None: nothing asked for a key yet
    ids = {name: _call(t, f"submit {name}", home, dock.submit, zips[name]) for name in CENTRES}
    own = dock.peer_id()  # the submit made the key; publishers are compared as "this node or not"
    _call(t, "peer_id after submit", home, lambda: isinstance(own, str) and own.startswith("12D3KooW"))
    _call(t, "submit again", home, lambda: dock.submit(zips["alpha cluster"]) == ids["alpha cluster"])
    alpha, beta, gamma = (ids[n] for n in CENTRES)
    _call(t, "list", home, lambda: sorted((r.name, r.id, r.input_dim, r.output_dim) for r in dock.list()))
    _call(t, "get by prefix", home,
          lambda: dock.get(beta[:10]).summary() | {"created_at": None, "publisher": dock.get(beta).publisher == own})
    _call(t, "resolve_id", home, lambda: dock.resolve_id(gamma[:12]) == gamma)
    _call(t, "stat specs", home, lambda: {k: (int(s.dim), s.z.shape) for k, s in dock.get_stat_specs(alpha).items()})
    _call(t, "has_zip", home, dock.has_zip, alpha)
    _call(t, "local_ids", home, lambda: dock.local_ids() == set(ids.values()))
    _call(t, "export", home, lambda: dock.export(alpha, tmp).read_bytes() == Path(zips["alpha cluster"]).read_bytes())

    def ranked(result):
        single = [(m.id, m.name, m.score, m.mmd2, m.text_score) for m in result.single]
        mix = result.multiple
        return single, None if mix is None else (list(mix.ids), list(mix.weights), mix.score)

    _call(t, "search text", home, lambda: ranked(dock.search(UserInfo(semantic_spec={"Name": "beta"}), limit=5)))
    # 3/4 alpha, 1/4 gamma: most row pairs lie within one cluster, so the median-heuristic gamma
    # keeps the clusters apart and beta (between them) explains none of it.
    query = generate_stat_spec(type="table", X=np.vstack([_cluster("alpha cluster")[:90],
                                                          _cluster("gamma cluster")[:30]]), K=16, seed=0)
    _call(t, "search stat + mixture", home,
          lambda: ranked(dock.search(UserInfo(stat_info={query.type: query}), limit=3)))
    _call(t, "search_peers offline", home,
          lambda: ranked(dock.search_peers(UserInfo(stat_info={query.type: query}), limit=3)))

    def predict():
        with dock.load(beta[:16], timeout=60) as loaded:
            out = loaded.predict(_cluster("beta cluster")[:7])
            return out.shape, out.tolist(), loaded.id == beta
    _call(t, "load + predict", home, predict)

    _call(t, "trust", home, lambda: {k: v if k != "id" else v == own for k, v in dock.trust(own, "me").items()
                                     if k != "added_at"})
    _call(t, "trusted", home, lambda: [(e["id"] == own, e["note"]) for e in dock.trusted()])
    _call(t, "untrust", home, dock.untrust, own)
    _call(t, "untrust again", home, dock.untrust, own)

    # Every error a user can reach through these calls.
    _call(t, "error: get unknown", home, dock.get, "f" * 64)
    _call(t, "error: get bad prefix", home, dock.get, "zz")
    _call(t, "error: load unknown", home, dock.load, "0" * 12)
    _call(t, "error: remove unknown", home, dock.remove, "0" * 12)
    _call(t, "error: export unknown", home, dock.export, "0" * 12, tmp)
    _call(t, "error: submit missing file", home, dock.submit, Path(zips["garbage"]).with_name("no-such.zip"))
    _call(t, "error: submit garbage", home, dock.submit, zips["garbage"])
    _call(t, "error: submit bad semantic", home, dock.submit, zips["bad output"],
          semantic(dim=DIM, task="Clasification"))
    _call(t, "error: submit failing check", home, dock.submit, zips["bad output"])
    _call(t, "error: search bad query", home, dock.search, UserInfo(semantic_spec={"Data": ["Tabel"]}))
    wrong_dim = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(50, DIM)), K=8, seed=0)
    _call(t, "error: search spec vs Input", home, dock.search,
          UserInfo(semantic_spec={"Input": {"Dimension": DIM + 1}}, stat_info={wrong_dim.type: wrong_dim}))
    _call(t, "error: trust bad id", home, dock.trust, "not-a-peer-id")
    _call(t, "error: fetch offline", home, dock.fetch, "0" * 12)
    _call(t, "error: load bad limit", home, dock.load, beta, timeout=0)
    _call(t, "error: submit bad limit", home, dock.submit, zips["bad output"], timeout=-1)

    _call(t, "remove", home, dock.remove, gamma[:12])
    _call(t, "list after remove", home, lambda: sorted(r.name for r in dock.list()))
    _call(t, "error: get removed", home, dock.get, gamma)
    _call(t, "stats", home, lambda: {k: v for k, v in dock.stats().items() if k != "home"})
    return t


def _daemon(home: Path):
    env = dict(os.environ, LWDOCK_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "dock.cli", "node", "--offline"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def connected():
        if proc.poll() is not None:
            raise AssertionError(f"lwdock node exited: {proc.stderr.read()}")
        try:
            return RemoteDock(DockHome.resolve(home))
        except DaemonUnavailable:
            return None

    try:
        return proc, wait_until(connected, 60, "the daemon's control socket")
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory, zips):
    found = {}
    home = tmp_path_factory.mktemp("embedded") / "home"
    with Dock.connect(home) as dock:
        assert dock.mode == "embedded"
        found["embedded"] = _scenario(dock, home, zips, tmp_path_factory.mktemp("out-embedded"))
    home = tmp_path_factory.mktemp("daemon") / "home"
    proc, remote = _daemon(home)
    try:
        with remote, Dock.connect(home) as dock:  # connect finds the daemon: a RemoteDock
            assert isinstance(dock, RemoteDock) and dock.mode == "daemon"
            found["daemon"] = _scenario(dock, home, zips, tmp_path_factory.mktemp("out-daemon"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return found


STEPS = [
    "home", "peer_id before a key", "submit alpha cluster", "peer_id after submit", "submit beta cluster",
    "submit gamma cluster", "submit again", "list", "get by prefix",
    "resolve_id", "stat specs", "has_zip", "local_ids", "export", "search text", "search stat + mixture",
    "search_peers offline", "load + predict", "trust", "trusted", "untrust", "untrust again",
    "error: get unknown", "error: get bad prefix", "error: load unknown", "error: remove unknown",
    "error: export unknown", "error: submit missing file", "error: submit garbage", "error: submit bad semantic",
    "error: submit failing check", "error: search bad query", "error: search spec vs Input", "error: trust bad id",
    "error: fetch offline", "error: load bad limit", "error: submit bad limit", "remove", "list after remove",
    "error: get removed", "stats",
]


def _same(a, b) -> bool:
    """Equal, floats within a float32-sized tolerance (scores and weights come from float32 kernels)."""
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-4, abs=1e-6)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("step", STEPS)
def test_embedded_and_daemon_agree(transcripts, step):
    embedded, daemon = transcripts["embedded"][step], transcripts["daemon"][step]
    assert _same(embedded, daemon), f"{step}:\n embedded: {embedded}\n daemon:   {daemon}"


def test_the_comparison_catches_a_difference():
    assert not _same(("ok", [("id", "n", 0.5, None, None)]), ("ok", [("id", "n", 0.51, None, None)]))
    assert not _same(("error", "NotFoundError", "x"), ("error", "DockError", "x"))
    assert _same(("ok", [0.5]), ("ok", [0.5 + 1e-9]))


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_the_scenario_did_what_it_says(transcripts, mode):
    """Agreement alone could be two equal wrong answers: the scenario's outcomes, per implementation."""
    t = transcripts[mode]
    assert set(t) == set(STEPS)
    names = [n for n, *_ in t["list"][1]]
    assert names == sorted(CENTRES)
    assert t["submit again"] == ("ok", True) and t["resolve_id"] == ("ok", True) and t["export"] == ("ok", True)
    assert t["local_ids"] == ("ok", True) and t["has_zip"] == ("ok", True)
    assert t["home"] == ("ok", True) and t["peer_id before a key"] == ("ok", None)
    assert t["get by prefix"][1]["name"] == "beta cluster" and t["get by prefix"][1]["publisher"] is True
    assert t["stat specs"][1] == {"RKMETableSpecification": (DIM, (8, DIM))}
    single, _ = t["search text"][1]
    assert [name for _, name, *_ in single] == ["beta cluster"]
    single, mixture = t["search stat + mixture"][1]
    assert single[0][1] == "alpha cluster" and 0.0 < single[0][2] < 1.0  # the larger part of the query
    assert mixture is not None, "the 75/25 query of alpha and gamma data should propose a mixture"
    mix_ids, weights, score = mixture
    submitted = {name: t[f"submit {name}"][1] for name in CENTRES}
    by_weight = [i for _, i in sorted(zip(weights, mix_ids, strict=True), reverse=True)]
    assert by_weight[:2] == [submitted["alpha cluster"], submitted["gamma cluster"]]
    assert sum(weights) == pytest.approx(1.0, abs=1e-6) and score > single[0][2]
    # offline: this dock alone (scores to 9 digits: the mixture's QP may differ in the last bits)
    assert _rounded(t["search_peers offline"]) == _rounded(t["search stat + mixture"])
    shape, predictions, same_id = t["load + predict"][1]
    assert shape == (7,) and set(predictions) <= {0, 1} and same_id
    assert t["trust"][1] == {"id": True, "note": "me"} and t["trusted"][1] == [(True, "me")]
    assert t["untrust"] == ("ok", True) and t["untrust again"] == ("ok", False)
    errors = {step: value[1] for step, value in t.items() if step.startswith("error:")}
    assert [step for step, value in t.items() if step.startswith("error:") and value[0] != "error"] == []
    expected = {
        "error: get unknown": "NotFoundError", "error: get bad prefix": "NotFoundError",
        "error: load unknown": "NotFoundError", "error: remove unknown": "NotFoundError",
        "error: export unknown": "NotFoundError", "error: submit missing file": "PackageError",
        "error: submit garbage": "PackageError", "error: submit bad semantic": "PackageError",
        "error: submit failing check": "CheckError", "error: search bad query": "SearchError",
        "error: search spec vs Input": "SearchError", "error: fetch offline": "NotFoundError",
        "error: get removed": "NotFoundError", "error: load bad limit": "WorkerLimitsError",
        "error: submit bad limit": "WorkerLimitsError",
    }
    assert {k: errors[k] for k in expected} == expected
    assert "Output.Dimension = 2" in t["error: submit failing check"][2]
    assert "did you mean 'Classification'" in t["error: submit bad semantic"][2]
    assert t["list after remove"] == ("ok", ["alpha cluster", "beta cluster"])
    assert t["stats"] == ("ok", {"records": 2, "zips": 2})
