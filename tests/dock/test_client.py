"""`LearnwareClient`: the reference's script client over a local dock, with a real learnware zip."""

from __future__ import annotations

import numpy as np
import pytest

from dock import Dock
from dock.reference_client import LearnwareClient
from dock.runtime.venvs import VenvError
from dock.search.query import BaseUserInfo
from specs import generate_semantic_spec, generate_stat_spec

from .fixtures import iris, reference_files, semantic, write_reference_zip, write_zip

SHAPE = {"single": {"learnware_ids", "semantic_specifications", "matching"},
         "multiple": {"learnware_ids", "semantic_specifications", "matching"}}


def test_client_runs_a_reference_style_script(tmp_path):
    zip_path = write_reference_zip(tmp_path / "iris.zip")
    X, y = iris()
    client = LearnwareClient(home=tmp_path / "home")
    client.login("someone@example.org", "token")  # accepted and ignored
    assert client._dock is None  # nothing opened yet: constructing and logging in are free
    learnware_id = client.upload_learnware(zip_path)

    user = BaseUserInfo(semantic_spec=generate_semantic_spec(task_type="Classification"),
                        stat_info={"RKMETableSpecification": generate_stat_spec(type="table", X=X, K=20)})
    result = client.search_learnware(user)
    assert {k: set(v) for k, v in result.items()} == SHAPE
    assert result["single"]["learnware_ids"] == [learnware_id]
    assert result["single"]["semantic_specifications"][0]["Name"]["Values"] == "iris-lr"
    assert 0.9 < result["single"]["matching"][0] <= 1.0
    assert result["multiple"] == {"learnware_ids": [], "semantic_specifications": [], "matching": 0.0}
    assert client.search_learnware(user, page_size=1, page_index=1)["single"]["learnware_ids"] == []

    learnware = client.load_learnware(learnware_id=learnware_id[:12], runnable_option="conda")  # -> a venv
    assert learnware.id == learnware_id and np.mean(learnware.predict(X) == y) > 0.9
    assert list((client.dock.home.root / "venvs").iterdir()), "conda should run the model in a built venv"
    (same,) = client.load_learnware(learnware_path=[zip_path])  # a list in, a list out; stored once
    assert same.id == learnware_id
    assert client.get_semantic_specification(learnware_id)["Task"]["Values"] == ["Classification"]
    assert [lw["id"] for lw in client.list_learnware()] == [learnware_id]

    # The dock's index follows submit and remove through its hooks (not only the count check).
    index = client.dock._search_index
    second = client.upload_learnware(write_reference_zip(tmp_path / "b.zip", sem=semantic(name="iris-two")))
    assert second in index.row_of
    assert set(client.search_learnware(user)["single"]["learnware_ids"]) == {learnware_id, second}
    client.delete_learnware(second)
    assert second not in index.row_of
    assert client.search_learnware(user)["single"]["learnware_ids"] == [learnware_id]
    client.close()
    Dock.open(tmp_path / "home").close()  # the client released the dock


def test_client_argument_errors_and_context_manager(tmp_path):
    with LearnwareClient(home=tmp_path / "home") as client:
        with pytest.raises(ValueError, match="runnable_option"):
            client.load_learnware(learnware_id="abcd", runnable_option="vm")
        with pytest.raises(ValueError, match="one of learnware_path or learnware_id"):
            client.load_learnware()
        with pytest.raises(ValueError, match="page_size"):
            client.search_learnware(BaseUserInfo(), page_size=0)
        empty = client.search_learnware(BaseUserInfo())
        assert empty["single"]["learnware_ids"] == [] and empty["multiple"]["matching"] == 0.0
    Dock.open(tmp_path / "home").close()


def test_conda_option_that_cannot_build_offline_says_how_to_go_on(tmp_path):
    files = reference_files()
    files["requirements.txt"] = b"surely-not-a-real-package-lwdock==9.9\n"
    zip_path = write_zip(tmp_path / "needs.zip", files)
    with LearnwareClient(home=tmp_path / "home") as client:
        learnware_id = client.upload_learnware(zip_path)
        with pytest.raises(VenvError, match=r"(?s)surely-not-a-real-package-lwdock.*runnable_option=None"):
            client.load_learnware(learnware_id=learnware_id, runnable_option="conda")
        assert client.load_learnware(learnware_id=learnware_id).id == learnware_id  # the dock's own env
