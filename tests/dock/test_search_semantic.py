"""Semantic search: filters, BM25 ranking, fuzzy fallback, and text combined with a stat spec."""

from __future__ import annotations

import numpy as np
import pytest

from dock.errors import SearchError
from dock.search.engine import SearchIndex, search
from dock.search.query import UserInfo
from dock.search.text import SemanticIndex, tokens
from specs import RKMETableSpecification

from .test_search_stat import catalogue_with, lid, semantic_for

LEARNWARES = [  # name, description, task, library, scenario, license
    ("Iris species classifier", "Logistic regression on iris flower measurements", "Classification",
     "Scikit-learn", "Nature", "MIT"),
    ("Wine quality regressor", "Predicts wine quality from its chemistry", "Regression", "Scikit-learn",
     "Business", "Apache-2.0"),
    ("Digit recogniser", "Handwritten digit images, 8x8 pixels", "Classification", "PyTorch", "Education", "MIT"),
    ("Flower photo classifier", "Tells flower species apart", "Classification", "PyTorch", "Nature", "MIT"),
    ("Breast cancer diagnosis", "Tumour classification from cell nuclei", "Classification", "Scikit-learn",
     "Health", "BSD-3-Clause"),
    ("House prices", "Regression of house prices with gradient boosting", "Regression", "Others", "Business", "MIT"),
    ("Traffic flow forecaster", "Forecasts traffic volume on roads", "Regression", "TensorFlow", "Traffic", "MIT"),
    ("Generic model", "A model", "Others", "Others", "Others", "Others"),
]


@pytest.fixture
def market(tmp_path):
    rng = np.random.default_rng(0)
    specs = [RKMETableSpecification(rng.normal(size=(5, 3)) + 4 * i, np.full(5, 0.2), 0.5) for i in range(8)]
    semantics = [semantic_for(name=n, description=d, task=t, library=lib, scenarios=[s], license=lic)
                 for n, d, t, lib, s, lic in LEARNWARES]
    cat = catalogue_with(tmp_path, specs, semantics)
    yield cat, SearchIndex.from_catalogue(cat), specs
    cat.close()


def ask(market, semantic=None, spec=None, limit=10):
    cat, index, _ = market
    stat = {spec.type: spec} if spec is not None else {}
    return search(index, cat, UserInfo(semantic_spec=semantic, stat_info=stat), limit=limit)


def text(words):
    return {"Name": {"Values": words}}


def names(result):
    return [m.name for m in result.single]


def test_ranked_relevance(market):
    result = ask(market, text("iris"))
    assert names(result) == ["Iris species classifier"] and result.single[0].score == 1.0
    assert result.single[0].text_score == 1.0 and result.single[0].mmd2 is None
    # Both words in the name beat one word in the name and one in the description.
    assert names(ask(market, text("flower classifier")))[:2] == ["Flower photo classifier", "Iris species classifier"]
    # A name match beats a description-only match of the same word.
    assert names(ask(market, text("regression")))[0] == "House prices"  # "regression" in its description...
    assert names(ask(market, text("wine")))[0] == "Wine quality regressor"
    # The rarer word decides: "tumour" (1 document) outweighs "classifier" (2 documents).
    assert names(ask(market, text("tumour classifier")))[0] == "Breast cancer diagnosis"
    scores = [m.score for m in ask(market, text("flower classifier")).single]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_description_is_searched_too(market):
    assert names(ask(market, {"Description": {"Values": "handwritten pixels"}})) == ["Digit recogniser"]


def test_fuzzy_fallback_for_typos_and_truncations(market):
    typo = ask(market, text("clasifier"))
    assert set(names(typo)) == {"Iris species classifier", "Flower photo classifier"}
    assert all(m.score < 1.0 for m in typo.single)  # a fuzzy match never counts as an exact one
    trafic = ask(market, text("trafic")).single[0]  # in the name and the description, still < 1
    assert trafic.name == "Traffic flow forecaster" and trafic.score < 1.0
    assert "Wine quality regressor" in names(ask(market, text("regress")))  # prefix of "regressor"
    assert ask(market, text("zzzzqx")).single == []


def test_filters_on_class_fields_tags_and_dimensions(market):
    assert set(names(ask(market, {"Task": {"Values": ["Regression"]}}))) == {
        "Wine quality regressor", "House prices", "Traffic flow forecaster"}
    assert names(ask(market, {"Library": {"Values": ["PyTorch"]}, "Scenario": {"Values": ["Nature"]}})) == [
        "Flower photo classifier"]
    assert set(names(ask(market, {"Scenario": {"Values": ["Health", "Traffic"]}}))) == {
        "Breast cancer diagnosis", "Traffic flow forecaster"}  # tags: any of
    assert set(names(ask(market, {"License": {"Values": ["Apache-2.0", "BSD-3-Clause"]}}))) == {
        "Wine quality regressor", "Breast cancer diagnosis"}  # class values: any of
    assert len(ask(market, {"Input": {"Dimension": 3}}).single) == 8
    assert ask(market, {"Input": {"Dimension": 7}}).single == []
    # Filters and text together; case-insensitive values as the semantic spec allows.
    assert names(ask(market, {"Task": {"Values": ["classification"]}, "Name": {"Values": "classifier"}})) == [
        "Flower photo classifier", "Iris species classifier"]


def test_empty_query_lists_everything_by_name(market):
    result = ask(market, None)
    assert names(result) == sorted((lw[0] for lw in LEARNWARES), key=str.casefold)
    assert all(m.score == 1.0 and m.text_score is None for m in result.single)
    assert len(ask(market, None, limit=3).single) == 3


def test_unknown_filter_values_and_keys_are_clear_errors(market):
    with pytest.raises(SearchError, match="did you mean 'Classification'"):
        ask(market, {"Task": {"Values": ["Clasification"]}})
    with pytest.raises(SearchError, match="unknown key 'Tsk'"):
        ask(market, {"Tsk": {"Values": ["Classification"]}})
    with pytest.raises(SearchError, match="Scenario"):
        ask(market, {"Scenario": {"Values": ["Cooking"]}})


def test_text_with_a_stat_spec_filters_then_ranks_statistically(market):
    _, _, specs = market
    near_house = RKMETableSpecification(specs[5].z + 0.05, specs[5].beta, 0.5)
    result = ask(market, {"Task": {"Values": ["Regression"]}}, near_house)
    assert names(result)[0] == "House prices" and result.single[0].mmd2 is not None
    assert set(names(result)) == {"Wine quality regressor", "House prices", "Traffic flow forecaster"}
    # The words narrow the set; the order and the score stay statistical.
    result = ask(market, text("forecasts prices"), near_house)
    assert names(result) == ["House prices", "Traffic flow forecaster"]
    assert result.single[0].score > 0.9 and result.single[1].score < 0.1
    assert all(m.text_score is not None and 0 < m.text_score <= 1 for m in result.single)
    assert ask(market, text("zzzzqx"), near_house).single == []


def test_removed_learnwares_leave_the_text_index(market):
    cat, index, _ = market
    cat.delete(lid(0))
    index.remove(lid(0))
    assert ask(market, text("iris")).single == []
    assert names(ask(market, text("flower")))[0] == "Flower photo classifier"


def test_tokens_and_index_bookkeeping():
    assert tokens("The Models of IRIS, 8x8 pixels!") == ["model", "iris", "8x8", "pixel"]
    idx = SemanticIndex()
    idx.add(0, {"name": "alpha beta", "description": "gamma"})
    idx.add(1, {"name": "beta", "description": ""})
    shown, raw = idx.text_scores("beta")
    assert shown[0] == pytest.approx(shown[1], rel=0.2) and raw[1] > raw[0]  # shorter document first
    idx.remove(1)
    shown, _ = idx.text_scores("beta")
    assert shown[1] == 0.0 and shown[0] > 0
    assert idx.expansions("alpah")[0][0] == "alpha"


def test_text_of_stopwords_only_filters_nothing(market):
    assert len(ask(market, text("the of")).single) == 8
