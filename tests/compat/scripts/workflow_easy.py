"""A workflow in the reference's style (its tests/test_workflow/test_workflow.py, condensed): the only
change from a script for the `learnware` package is the import prefix `dock.compat.learnware`.

5 SVC learnwares on digits, specs made with gamma=0.1, packed with the reference's templates, an
"easy" market, semantic search (exact name and a typo), statistical search with
RKMETableSpecification().load, the four reusers through predict(user_data=...), update, deletion one
by one. Prints one "RESULT key value" line per measured thing for tests/compat/test_workflow.py.
"""

import os
import pickle
import sys
import tempfile
import zipfile

import numpy as np
from sklearn import svm
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import dock.compat.learnware as learnware
from dock.compat.learnware.market import BaseUserInfo, instantiate_learnware_market
from dock.compat.learnware.reuse import AveragingReuser, EnsemblePruningReuser, FeatureAugmentReuser, JobSelectorReuser
from dock.compat.learnware.specification import RKMETableSpecification, generate_rkme_table_spec, generate_semantic_spec
from dock.compat.learnware.tests.templates import LearnwareTemplate, PickleModelTemplate, StatSpecTemplate

learnware.init()

universal_semantic_config = {
    "data_type": "Table",
    "task_type": "Classification",
    "library_type": "Scikit-learn",
    "scenarios": "Education",
    "license": "MIT",
}
WINDOWS = [0, 2, 4, 6, 8]  # learnware i knows the digits lo..lo+5 (mod 10)


def prepare_learnwares(pool_dir):
    X, y = load_digits(return_X_y=True)
    zip_paths = []
    for i, lo in enumerate(WINDOWS):
        classes = [(lo + k) % 10 for k in range(6)]
        # mostly its six digits, and 3 rows of each other digit so that predict_proba has 10 columns
        rows = np.concatenate([np.flatnonzero(np.isin(y, classes))]
                              + [np.flatnonzero(y == c)[:3] for c in range(10) if c not in classes])
        data_X, _, data_y, _ = train_test_split(X[rows], y[rows], test_size=0.3, shuffle=True, random_state=i,
                                                stratify=y[rows])
        clf = svm.SVC(kernel="linear", probability=True)
        clf.fit(data_X, data_y)
        pickle_filepath = os.path.join(pool_dir, "model.pkl")
        with open(pickle_filepath, "wb") as fout:
            pickle.dump(clf, fout)
        spec = generate_rkme_table_spec(X=data_X, gamma=0.1, cuda_idx=0)
        spec_filepath = os.path.join(pool_dir, "stat_spec.json")
        spec.save(spec_filepath)
        zip_path = os.path.join(pool_dir, "svm_%d.zip" % i)
        LearnwareTemplate.generate_learnware_zipfile(
            learnware_zippath=zip_path,
            model_template=PickleModelTemplate(
                pickle_filepath=pickle_filepath,
                model_kwargs={"input_shape": (64,), "output_shape": (10,), "predict_method": "predict_proba"},
            ),
            stat_spec_template=StatSpecTemplate(filepath=spec_filepath, type="RKMETableSpecification"),
            requirements=["scikit-learn"],
        )
        zip_paths.append(zip_path)
    return zip_paths


def semantic_for(idx):
    return generate_semantic_spec(
        name=f"learnware_{idx}",
        description=f"test_learnware_number_{idx}",
        input_description={"Dimension": 64, "Description": {
            f"{i}": f"The value in the grid {i // 8}{i % 8} of the image of hand-written digit." for i in range(64)}},
        output_description={"Dimension": 10, "Description": {
            f"{i}": "The probability for each digit for 0 to 9." for i in range(10)}},
        **universal_semantic_config,
    )


def main():
    pool_dir = tempfile.mkdtemp(prefix="learnware_pool_")
    zip_paths = prepare_learnwares(pool_dir)
    easy_market = instantiate_learnware_market(market_id="sklearn_digits_easy", name="easy", rebuild=True)
    assert len(easy_market) == 0, "The market should be empty!"
    bad = semantic_for(0)
    bad["Description"]["Values"] = ""  # the reference's checker refuses an empty description
    print("RESULT bad_semantic", *easy_market.add_learnware(zip_paths[0], bad), len(easy_market))
    ids = []
    for idx, zip_path in enumerate(zip_paths):
        learnware_id, status = easy_market.add_learnware(zip_path, semantic_for(idx))
        assert learnware_id is not None and status == 1, (idx, status)
        ids.append(learnware_id)
    assert len(easy_market) == 5 and sorted(easy_market.get_learnware_ids()) == sorted(ids)
    print("RESULT added", len(easy_market))

    # semantic search: the exact name, then a typo
    for query in ("learnware_4", "laernwaer"):
        user_info = BaseUserInfo(semantic_spec=generate_semantic_spec(name=query, **universal_semantic_config))
        single = easy_market.search_learnware(user_info).get_single_results()
        print("RESULT semantic", query, len(single), single[0].learnware.id == ids[4] if single else None)

    # statistical search with each learnware's own spec, loaded the reference's way
    with tempfile.TemporaryDirectory(prefix="learnware_test_workflow") as test_folder:
        for idx, zip_path in enumerate(zip_paths):
            with zipfile.ZipFile(zip_path, "r") as zip_obj:
                zip_obj.extractall(path=test_folder)
            user_spec = RKMETableSpecification()
            user_spec.load(os.path.join(test_folder, "stat_spec.json"))
            user_info = BaseUserInfo(semantic_spec=generate_semantic_spec(**universal_semantic_config),
                                     stat_info={"RKMETableSpecification": user_spec})
            single = easy_market.search_learnware(user_info).get_single_results()
            print("RESULT stat_self", idx, single[0].learnware.id == ids[idx], round(single[0].score, 3))

    # a user with digits 0-4: the reference's gamma-0.1 spec as the query
    X, y = load_digits(return_X_y=True)
    user = y <= 4
    train_X, data_X, train_y, data_y = train_test_split(X[user], y[user], test_size=0.5, shuffle=True, random_state=0)
    stat_spec = generate_rkme_table_spec(X=data_X, gamma=0.1, cuda_idx=0)
    user_info = BaseUserInfo(semantic_spec=generate_semantic_spec(**universal_semantic_config),
                             stat_info={"RKMETableSpecification": stat_spec})
    results = easy_market.search_learnware(user_info)
    single, multiple = results.get_single_results(), results.get_multiple_results()
    print("RESULT user_top", single[0].learnware.id == ids[0], round(single[0].score, 3))
    print("RESULT user_multiple", len(multiple), round(multiple[0].score, 3) if multiple else None)
    chosen = multiple[0].learnwares if multiple else [item.learnware for item in single[:3]]
    spec = chosen[0].get_specification()
    print("RESULT spec_access", type(spec.get_stat_spec()["RKMETableSpecification"]).__name__,
          spec.get_semantic_spec()["Name"]["Values"], chosen[0].get_model()["class_name"] if isinstance(
              chosen[0].get_model(), dict) else "loaded")

    job_selector_predict_y = JobSelectorReuser(learnware_list=chosen).predict(user_data=data_X)
    ensemble_predict_y = AveragingReuser(learnware_list=chosen, mode="vote_by_prob").predict(user_data=data_X)
    pruning = EnsemblePruningReuser(learnware_list=chosen, mode="classification")
    pruning.fit(train_X[-200:], train_y[-200:], maxgen=50)
    ensemble_pruning_predict_y = pruning.predict(user_data=data_X)
    augment = FeatureAugmentReuser(learnware_list=chosen, mode="classification")
    augment.fit(x_train=train_X[-200:], y_train=train_y[-200:])
    feature_augment_predict_y = augment.predict(user_data=data_X)
    print("RESULT shapes", job_selector_predict_y.shape[1:], ensemble_predict_y.shape[1:])
    print("RESULT acc job_selector", np.mean(np.argmax(job_selector_predict_y, axis=1) == data_y))
    print("RESULT acc averaging", np.mean(np.argmax(ensemble_predict_y, axis=1) == data_y))
    print("RESULT acc ensemble_pruning", np.mean(ensemble_pruning_predict_y == data_y))
    print("RESULT acc feature_augment", np.mean(feature_augment_predict_y == data_y))

    # update a semantic spec: the new name is found, the old one no longer
    new_spec = semantic_for(3)
    new_spec["Name"]["Values"] = "renamed digits model"
    easy_market.update_learnware(ids[3], semantic_spec=new_spec)
    found = easy_market.search_learnware(BaseUserInfo(semantic_spec=generate_semantic_spec(
        name="renamed digits model", **universal_semantic_config))).get_single_results()
    print("RESULT updated", found[0].learnware.id == ids[3],
          easy_market.get_learnware_by_ids(ids[3]).get_specification().get_semantic_spec()["Name"]["Values"])

    # the same zip again with another semantic spec: refused, not silently kept
    again, status = easy_market.add_learnware(zip_paths[0], semantic_for(1))
    print("RESULT readd_conflict", again, status)

    for learnware_id in easy_market.get_learnware_ids():
        before = len(easy_market)
        assert easy_market.delete_learnware(learnware_id)
        assert len(easy_market) == before - 1
    print("RESULT deleted", len(easy_market), easy_market.get_learnware_ids())
    return 0


if __name__ == "__main__":
    sys.exit(main())
