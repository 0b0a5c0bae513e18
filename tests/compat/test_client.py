"""The reference client's calls through dock.compat.learnware.client, on a local dock."""

from __future__ import annotations

import numpy as np
import pytest

from dock.compat.learnware.client import LearnwareClient, SemanticSpecificationKey
from dock.compat.learnware.market import BaseUserInfo
from dock.compat.learnware.specification import RKMETableSpecification, generate_stat_spec
from tests.dock.fixtures import fitted_iris_model, reference_files, semantic, write_zip


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    model, X, y = fitted_iris_model()
    return write_zip(tmp_path_factory.mktemp("zips") / "iris.zip", reference_files(model=model, X=X)), model, X


def test_client_search_load_update_check(tmp_path, monkeypatch, iris):
    zip_path, model, X = iris
    monkeypatch.setenv("LWDOCK_HOME", str(tmp_path / "home"))
    with LearnwareClient() as client:
        client.login("someone@example.org", "token")  # accepted, nothing to log in to
        learnware_id = client.upload_learnware(zip_path, semantic())
        assert client.list_semantic_specification_values(SemanticSpecificationKey.TASK_TYPE)[:2] == [
            "Classification", "Regression"]
        assert "Education" in client.list_semantic_specification_values(SemanticSpecificationKey.SENARIOES)

        spec = generate_stat_spec(type="table", X=X)  # the reference's default gamma 0.1
        spec.save(tmp_path / "stat.json")
        user_spec = RKMETableSpecification()
        assert user_spec.load(tmp_path / "stat.json") is True
        result = client.search_learnware(BaseUserInfo(stat_info={"RKMETableSpecification": user_spec}))
        assert result["single"]["learnware_ids"] == [learnware_id] and result["single"]["matching"][0] > 0.9

        learnware = client.load_learnware(learnware_id=learnware_id)
        assert learnware.get_specification().get_semantic_spec()["Name"]["Values"] == "iris-lr"
        stat = learnware.get_specification().get_stat_spec()["RKMETableSpecification"]
        assert stat.get_z().shape[1] == 4 and stat.get_beta().sum() == pytest.approx(1.0)
        np.testing.assert_array_equal(np.asarray(learnware.predict(X)).reshape(-1), model.predict(X))

        new = semantic(name="iris renamed")
        client.update_learnware(learnware_id, new)
        assert client.get_semantic_specification(learnware_id)["Name"]["Values"] == "iris renamed"
        with pytest.raises(ValueError, match="new learnware"):
            client.update_learnware(learnware_id, new, learnware_zip_path=zip_path)

        LearnwareClient.check_learnware(zip_path)  # the zip's own semantic spec: passes
        bad = semantic()
        bad["Description"]["Values"] = ""
        with pytest.raises(AssertionError, match="Description"):
            LearnwareClient.check_learnware(zip_path, bad)
        assert [r["id"] for r in client.list_learnware()] == [learnware_id]  # check stored nothing
        client.delete_learnware(learnware_id)
        assert client.list_learnware() == []
