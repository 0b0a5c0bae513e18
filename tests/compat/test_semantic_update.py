"""Updating a learnware's semantic spec (issue 15 item 3): a newer signed record (higher seq) that
peers apply, the resubmit conflict, `lwdock check` / `lwdock update`, and the refusals."""

from __future__ import annotations

import copy
import json

import pytest

from dock import Dock, UserInfo
from dock.errors import CheckError, NotPublisherError, SemanticConflict
from dock.network.service import RECORDS_TOPIC
from tests.dock.fixtures import fitted_iris_model, reference_files, semantic, write_zip
from tests.helpers import run_cli, wait_until


@pytest.fixture(scope="module")
def iris_zip(tmp_path_factory):
    model, X, _ = fitted_iris_model()
    return write_zip(tmp_path_factory.mktemp("zips") / "iris.zip", reference_files(model=model, X=X))


def renamed(name: str = "iris renamed", description: str = "three species, renamed") -> dict:
    spec = semantic()
    spec["Name"]["Values"] = name
    spec["Description"]["Values"] = description
    return spec


def _names(dock, text):
    return [m.name for m in dock.search(UserInfo(semantic_spec={"Name": {"Values": text}})).single]


def test_update_makes_a_newer_record_and_search_follows(tmp_path, iris_zip):
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(iris_zip)
        old_seq = dock.catalogue._con.execute("SELECT seq FROM envelopes WHERE id = ?", [learnware_id]).fetchone()[0]
        assert _names(dock, "iris-lr") == ["iris-lr"]
        record = dock.update_semantic(learnware_id[:12], renamed())
        assert record.id == learnware_id and record.name == "iris renamed"
        new_seq = dock.catalogue._con.execute("SELECT seq FROM envelopes WHERE id = ?", [learnware_id]).fetchone()[0]
        assert new_seq > old_seq
        assert dock.get(learnware_id).description == "three species, renamed"
        assert _names(dock, "renamed") == ["iris renamed"] and _names(dock, "iris-lr") in ([], ["iris renamed"])
        # resubmitting the zip with ANOTHER spec is refused and changes nothing; the same spec is a no-op
        with pytest.raises(SemanticConflict, match="already in the dock with another semantic spec"):
            dock.submit(iris_zip, semantic(name="yet another name"))
        assert dock.get(learnware_id).name == "iris renamed"
        assert dock.submit(iris_zip, renamed()) == learnware_id and dock.submit(iris_zip) == learnware_id
    with Dock.open(tmp_path / "home") as dock:  # persisted
        assert dock.get(learnware_id).name == "iris renamed" and _names(dock, "renamed") == ["iris renamed"]


def test_an_update_that_contradicts_the_model_is_refused_and_nothing_changes(tmp_path, iris_zip):
    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(iris_zip)
        wrong = renamed()
        wrong["Output"] = {"Dimension": 2, "Description": {}}  # the model predicts 3 classes
        with pytest.raises(Exception, match="label|class|Output") as err:
            dock.update_semantic(learnware_id, wrong)
        assert "check" in type(err.value).__name__.lower() or "Check" in str(type(err.value))
        bad_spelling = renamed()
        bad_spelling["Task"]["Values"] = ["classification"]
        with pytest.raises(Exception, match="write 'Classification'"):
            dock.update_semantic(learnware_id, bad_spelling)
        assert dock.get(learnware_id).name == "iris-lr"
        assert dock.update_semantic(learnware_id, renamed()).name == "iris renamed"  # the honest path


def test_peers_apply_the_update_and_only_from_its_publisher(net, iris_zip):
    a = net.add("a")
    b = net.add("b", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: a.node.topic_peers(RECORDS_TOPIC) and b.node.topic_peers(RECORDS_TOPIC), 20, "mesh")
    learnware_id = a.dock.submit(iris_zip)
    wait_until(lambda: b.dock.catalogue.exists(learnware_id), 20, "a's record at b")
    old_envelope = b.store.envelope(learnware_id)[2]

    a.dock.update_semantic(learnware_id, renamed())
    wait_until(lambda: b.dock.get(learnware_id).name == "iris renamed", 20, "the update to reach b")
    assert _names(b.dock, "renamed") == ["iris renamed"]
    # the older record replayed changes nothing (lower seq)
    assert b._ingest_bytes(old_envelope, a.node.peer_id) == "duplicate"
    assert b.dock.get(learnware_id).name == "iris renamed"
    # b did not publish it: b cannot update it
    with pytest.raises(NotPublisherError, match="only its publisher"):
        b.dock.update_semantic(learnware_id, renamed("hijacked"))
    # a late joiner syncs the updated record, not the first one
    late = net.add("late", bootstrap=[a.node.addrs[0]])
    wait_until(lambda: late.dock.catalogue.exists(learnware_id), 20, "the late joiner's sync")
    assert late.dock.get(learnware_id).name == "iris renamed"


def test_a_newer_record_from_another_key_or_with_another_model_is_ignored(tmp_path, iris_zip):
    from dock.network.ingest import ingest
    from dock.network.signed_records import sign_record
    from p2p import load_or_create_identity

    with Dock.open(tmp_path / "home") as dock:
        learnware_id = dock.submit(iris_zip)
        rec = dock.get(learnware_id)
        seq = dock.catalogue._con.execute("SELECT seq FROM envelopes WHERE id = ?", [learnware_id]).fetchone()[0]
        stranger = load_or_create_identity(tmp_path / "stranger.key")
        common = dict(learnware_id=learnware_id, size=rec.size, seq=seq + 1000,
                      spec_bytes=dock.catalogue.spec_bytes(learnware_id))
        forged = sign_record(stranger, semantic_spec=renamed("stranger's name"), model_config=rec.model_config,
                             **common)
        assert ingest(dock, forged) == "duplicate" and dock.get(learnware_id).name == "iris-lr"
        other_model = copy.deepcopy(rec.model_config)
        other_model["kwargs"] = {**other_model.get("kwargs", {}), "extra": 1}
        mine = sign_record(dock.identity, semantic_spec=renamed("own name"), model_config=other_model, **common)
        assert ingest(dock, mine) == "duplicate" and dock.get(learnware_id).name == "iris-lr"
        honest = sign_record(dock.identity, semantic_spec=renamed("own name"), model_config=rec.model_config,
                             **common)
        assert ingest(dock, honest) == "updated" and dock.get(learnware_id).name == "own name"


def test_cli_check_stores_nothing_and_update_changes_the_name(tmp_path, iris_zip):
    home = tmp_path / "home"
    out = json.loads(run_cli(home, "check", str(iris_zip), "--json").stdout)
    assert len(out["id"]) == 64 and out["semantic_spec"]["Name"]["Values"] == "iris-lr"
    assert not (home / "catalogue.duckdb").exists() or json.loads(run_cli(home, "list", "--json").stdout) == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**semantic(), "Description": {"Type": "String", "Values": ""}}))
    proc = run_cli(home, "check", str(iris_zip), "--semantic", str(bad), check=False)
    assert proc.returncode != 0 and "Description" in proc.stderr
    learnware_id = run_cli(home, "submit", str(iris_zip)).stdout.split()[0]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(renamed()))
    proc = run_cli(home, "submit", str(iris_zip), "--semantic", str(new), check=False)
    assert proc.returncode == 52 and "lwdock update" in proc.stderr
    run_cli(home, "update", learnware_id[:12], "--semantic", str(new))
    shown = json.loads(run_cli(home, "show", learnware_id[:12], "--json").stdout)
    assert "iris renamed" in json.dumps(shown)


def test_cli_update_through_a_running_node_reaches_its_peer(tmp_path, iris_zip):
    """`lwdock update` while `lwdock node` runs: the control socket's `update_semantic`, the node's
    key signs, the node announces; a real second node applies it. Refusals keep their exit codes."""
    from tests.helpers import start_node, stop_node

    home_a, home_b = tmp_path / "a", tmp_path / "b"
    learnware_id = run_cli(home_a, "submit", str(iris_zip)).stdout.split()[0]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(renamed()))
    proc_a, status_a = start_node(home_a, log_path=tmp_path / "a.log")
    proc_b = None
    try:
        proc_b, _ = start_node(home_b, "--bootstrap", status_a["addrs"][0], log_path=tmp_path / "b.log")

        def shown(home):
            proc = run_cli(home, "show", learnware_id, "--json", check=False)
            return json.loads(proc.stdout)["name"] if proc.returncode == 0 else None

        wait_until(lambda: shown(home_b) == "iris-lr", 60, "a's record at b (sync)")
        # refused: b did not publish it (exit 53, through b's node), and nothing changed anywhere
        refused = run_cli(home_b, "update", learnware_id[:12], "--semantic", str(new), check=False)
        assert refused.returncode == NotPublisherError.exit_code == 53
        assert "only its publisher" in refused.stderr and refused.stdout == ""
        # refused: a spec the model contradicts (3 classes, not 2), and a file that is not JSON
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps({**renamed("wrong"), "Output": {"Dimension": 2, "Description": {}}}))
        proc = run_cli(home_a, "update", learnware_id[:12], "--semantic", str(wrong), check=False)
        assert proc.returncode == CheckError.exit_code and "check '" in proc.stderr, proc.stderr
        garbled = tmp_path / "garbled.json"
        garbled.write_text("{not json")
        proc = run_cli(home_a, "update", learnware_id[:12], "--semantic", str(garbled), check=False)
        assert proc.returncode == 1 and f"semantic spec file {garbled} is not valid JSON" in proc.stderr
        assert shown(home_a) == "iris-lr" and shown(home_b) == "iris-lr"
        # the honest path: a's node signs the newer record and b applies it, both nodes still running
        done = run_cli(home_a, "update", learnware_id[:12], "--semantic", str(new))
        assert done.stdout.split()[0] == learnware_id and "announced to this node's peers" in done.stderr
        assert shown(home_a) == "iris renamed"
        wait_until(lambda: shown(home_b) == "iris renamed", 60, "the update to reach b's node")
        found = json.loads(run_cli(home_b, "search", "renamed", "--json").stdout)
        assert [m["name"] for m in found["single"]] == ["iris renamed"]
    finally:
        for proc in (proc_b, proc_a):
            if proc is not None:
                stop_node(proc)
