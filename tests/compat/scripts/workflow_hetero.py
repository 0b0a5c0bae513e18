"""A hetero workflow in the reference's style (its tests/test_workflow/test_hetero_workflow.py,
condensed, on a real table with named columns): the only change from a script for the `learnware`
package is the import prefix `dock.compat.learnware`.

Ridge learnwares of two input widths on diabetes (7 and 8 named columns), each fitted on the patients
of low or of high body mass index, a "hetero" market, a user with a third width (6 columns, described
in Input.Description) and every body mass index, statistical search (single results and the mixture
of learnwares, `get_multiple_results()[0]`, as the reference's hetero workflow reuses it),
HeteroMapAlignLearnware(...).align(user_spec, X[:100], y[:100]), averaging and ensemble pruning over
the mixture's aligned learnwares. A second user, of low body mass index only, is explained by a
single learnware: no mixture. Prints "RESULT key value" lines for tests/compat/test_hetero_workflow.py.
"""

import os
import pickle
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

import dock.compat.learnware as learnware
from dock.compat.learnware.market import BaseUserInfo, instantiate_learnware_market
from dock.compat.learnware.reuse import (
    AveragingReuser,
    EnsemblePruningReuser,
    FeatureAlignLearnware,
    HeteroMapAlignLearnware,
    JobSelectorReuser,
)
from dock.compat.learnware.specification import generate_rkme_table_spec, generate_semantic_spec
from dock.compat.learnware.tests.templates import LearnwareTemplate, PickleModelTemplate, StatSpecTemplate

learnware.init()

universal_semantic_config = {
    "data_type": "Table",
    "task_type": "Regression",
    "library_type": "Scikit-learn",
    "scenarios": "Health",
    "license": "MIT",
}
COLUMNS = ["age in years", "sex", "body mass index", "average blood pressure", "total serum cholesterol",
           "low-density lipoproteins", "high-density lipoproteins", "total cholesterol / HDL ratio",
           "log of serum triglycerides level", "blood sugar level"]
LEARNWARE_COLUMNS = [list(range(0, 7)), list(range(2, 10)), list(range(0, 7)), list(range(2, 10))]
LEARNWARE_LOW_BMI = [True, False, False, True]  # each width has a low and a high body mass index learnware
USER_COLUMNS = [0, 2, 3, 4, 8, 9]
X_all, y_all = load_diabetes(return_X_y=True)
rng = np.random.default_rng(0)
order = rng.permutation(len(X_all))
market_rows, user_rows = order[:220], order[220:]
median_bmi = np.median(X_all[market_rows, 2])


def description(columns):
    return {"Dimension": len(columns), "Description": {str(i): COLUMNS[c] for i, c in enumerate(columns)}}


def prepare_learnwares(pool_dir):
    zip_paths = []
    for i, columns in enumerate(LEARNWARE_COLUMNS):
        low_bmi = X_all[market_rows, 2] <= median_bmi
        rows = market_rows[low_bmi if LEARNWARE_LOW_BMI[i] else ~low_bmi]
        X, y = X_all[rows][:, columns], y_all[rows]
        clf = Ridge(alpha=0.01)
        clf.fit(X, y)
        pickle_filepath = os.path.join(pool_dir, "ridge.pkl")
        with open(pickle_filepath, "wb") as fout:
            pickle.dump(clf, fout)
        spec = generate_rkme_table_spec(X=X, gamma=0.1)
        spec_filepath = os.path.join(pool_dir, "stat_spec.json")
        spec.save(spec_filepath)
        zip_path = os.path.join(pool_dir, "ridge_%d.zip" % i)
        LearnwareTemplate.generate_learnware_zipfile(
            learnware_zippath=zip_path,
            model_template=PickleModelTemplate(
                pickle_filepath=pickle_filepath,
                model_kwargs={"input_shape": (len(columns),), "output_shape": (1,)},
            ),
            stat_spec_template=StatSpecTemplate(filepath=spec_filepath, type="RKMETableSpecification"),
            requirements=["scikit-learn"],
        )
        zip_paths.append(zip_path)
    return zip_paths


def rmse(y, pred):
    return float(np.sqrt(mean_squared_error(y, np.asarray(pred).reshape(-1))))


def main():
    hetero_market = instantiate_learnware_market(market_id="hetero_toy", name="hetero", rebuild=True,
                                                 organizer_kwargs={"auto_update": True, "auto_update_limit": 4})
    with tempfile.TemporaryDirectory(prefix="learnware_hetero_") as pool_dir:
        for idx, zip_path in enumerate(prepare_learnwares(pool_dir)):
            semantic_spec = generate_semantic_spec(
                name=f"learnware_{idx}",
                description=f"diabetes progression from {len(LEARNWARE_COLUMNS[idx])} columns, patients of "
                            f"{'low' if LEARNWARE_LOW_BMI[idx] else 'high'} body mass index",
                input_description=description(LEARNWARE_COLUMNS[idx]),
                output_description={"Dimension": 1, "Description": {"0": "disease progression after one year"}},
                **universal_semantic_config,
            )
            hetero_market.add_learnware(zip_path, semantic_spec)
    print("RESULT added", len(hetero_market))

    X, y = X_all[user_rows][:, USER_COLUMNS], y_all[user_rows]
    user_spec = generate_rkme_table_spec(X=X, gamma=0.1)
    semantic_spec = generate_semantic_spec(input_description=description(USER_COLUMNS), **universal_semantic_config)
    user_info = BaseUserInfo(semantic_spec=semantic_spec, stat_info={"RKMETableSpecification": user_spec})
    search_result = hetero_market.search_learnware(user_info)
    single_result = search_result.get_single_results()
    for single_item in single_result:
        print(f"score: {single_item.score}, learnware_id: {single_item.learnware.id}", file=sys.stderr)
    widths = sorted({int(item.learnware.get_specification().get_semantic_spec()["Input"]["Dimension"])
                     for item in single_result})
    print("RESULT found", len(single_result), ",".join(map(str, widths)))
    print("RESULT paired", sum(getattr(item.learnware, "hetero_mapping", None) is not None for item in single_result))

    test_X, test_y = X[100:], y[100:]
    print("RESULT mean_rmse", rmse(test_y, np.full(len(test_y), y[:100].mean())))

    own = Ridge(alpha=0.01).fit(X[:100], y[:100])
    print("RESULT own_rmse", rmse(test_y, own.predict(test_X)))

    # refused: predict before align
    try:
        HeteroMapAlignLearnware(single_result[0].learnware, mode="regression").predict(test_X)
        print("RESULT unaligned accepted")
    except AssertionError as exc:
        print("RESULT unaligned refused", str(exc).replace(" ", "_"))

    # no labels: the learnware fed the user's columns, aligned from the specs alone
    feature_learnware = FeatureAlignLearnware(single_result[0].learnware)
    feature_learnware.align(user_spec)
    print("RESULT feature_rmse", rmse(test_y, feature_learnware.predict(test_X)))

    # a learnware taken by id (no search pairing) and a user spec without column names: positional names
    by_id = hetero_market.get_learnware_by_ids(single_result[0].learnware.id)
    positional = HeteroMapAlignLearnware(by_id, mode="regression")
    positional.align(user_spec, X[:100], y[:100])
    print("RESULT positional_rmse", rmse(test_y, positional.predict(test_X)), positional.user_columns[:2] == [
        by_id.get_specification().get_semantic_spec()["Input"]["Description"][str(i)] for i in range(2)])

    # single model reuse
    hetero_learnware = HeteroMapAlignLearnware(single_result[0].learnware, mode="regression")
    hetero_learnware.align(user_spec, X[:100], y[:100])
    print("RESULT single_rmse", rmse(test_y, hetero_learnware.predict(test_X)))

    # multi model reuse: the mixture the search proposes
    multiple_result = search_result.get_multiple_results()
    mixture = multiple_result[0].learnwares
    print(f"mixture_score: {multiple_result[0].score}", file=sys.stderr)
    semantic_specs = [lw.get_specification().get_semantic_spec() for lw in mixture]
    widths = sorted(str(s["Input"]["Dimension"]) for s in semantic_specs)
    groups = sorted({s["Description"]["Values"].split(" of ")[-1].split()[0] for s in semantic_specs})
    paired = sum(getattr(lw, "hetero_mapping", None) is not None for lw in mixture)
    print("RESULT multiple", len(multiple_result), ",".join(widths), ",".join(groups), paired,
          multiple_result[0].score > single_result[0].score)
    hetero_learnware_list = []
    for learnware_item in mixture:
        hetero_learnware = HeteroMapAlignLearnware(learnware_item, mode="regression")
        hetero_learnware.align(user_spec, X[:100], y[:100])
        hetero_learnware_list.append(hetero_learnware)

    reuse_ensemble = AveragingReuser(learnware_list=hetero_learnware_list, mode="mean")
    ensemble_predict_y = reuse_ensemble.predict(user_data=test_X)
    print("RESULT averaging_rmse", rmse(test_y, ensemble_predict_y))

    reuse_ensemble = EnsemblePruningReuser(learnware_list=hetero_learnware_list, mode="regression")
    reuse_ensemble.fit(X[:100], y[:100])
    print("RESULT pruning_rmse", rmse(test_y, reuse_ensemble.predict(user_data=test_X)))

    # a user of low body mass index only: the low learnwares explain it alone, no mixture is proposed
    low_X = X[X[:, 1] <= median_bmi]
    low_info = BaseUserInfo(semantic_spec=semantic_spec,
                            stat_info={"RKMETableSpecification": generate_rkme_table_spec(X=low_X, gamma=0.1)})
    low_result = hetero_market.search_learnware(low_info)
    print("RESULT low_user", len(low_result.get_single_results()), len(low_result.get_multiple_results()))

    # job selector over the aligned learnwares: each user row to the learnware whose data it resembles
    try:
        JobSelectorReuser(learnware_list=[HeteroMapAlignLearnware(lw, mode="regression") for lw in mixture])
        print("RESULT job_selector_unaligned accepted")
    except Exception as exc:
        print("RESULT job_selector_unaligned refused", type(exc).__name__, "align" in str(exc))
    reuse_job_selector = JobSelectorReuser(learnware_list=hetero_learnware_list, use_herding=False)
    print("RESULT job_selector_rmse", rmse(test_y, reuse_job_selector.predict(user_data=test_X)))
    route = reuse_job_selector.job_selector(test_X)
    row_groups = np.where(test_X[:, 1] <= median_bmi, "low", "high")
    member_groups = np.array([s["Description"]["Values"].split(" of ")[-1].split()[0] for s in semantic_specs])
    feature_learnwares = []
    for learnware_item in mixture:
        feature_learnware = FeatureAlignLearnware(learnware_item)
        feature_learnware.align(user_spec)
        feature_learnwares.append(feature_learnware)
    feature_selector = JobSelectorReuser(learnware_list=feature_learnwares, use_herding=False)
    print("RESULT job_selector_feature", rmse(test_y, feature_selector.predict(user_data=test_X)),
          float(np.mean(feature_selector.job_selector(test_X) == route)))
    print("RESULT job_selector_routing", float(np.mean(member_groups[route] == row_groups)), len(set(route.tolist())))

    for learnware_id in hetero_market.get_learnware_ids():
        hetero_market.delete_learnware(learnware_id)
    print("RESULT deleted", len(hetero_market))


if __name__ == "__main__":
    main()
