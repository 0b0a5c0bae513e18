"""SemanticView (specs/semantic.py): the one typed reading of a semantic spec, forgiving of partial
queries and of strangers' malformed dicts (it never raises on a Mapping, and reads garbage as empty)."""

from __future__ import annotations

import pytest

from specs import SemanticView, generate_semantic_spec, validate_semantic_spec


def _learnware_spec() -> dict:
    return validate_semantic_spec({
        "Data": {"Type": "Class", "Values": ["Table"]}, "Task": {"Type": "Class", "Values": ["Classification"]},
        "Library": {"Type": "Class", "Values": ["Scikit-learn"]},
        "Scenario": {"Type": "Tag", "Values": ["Nature", "Business"]},
        "License": {"Type": "Class", "Values": ["MIT"]}, "Name": {"Type": "String", "Values": "iris"},
        "Description": {"Type": "String", "Values": "flowers"},
        "Input": {"Dimension": 11, "Description": {"10": "late", "2": "petal", "0": "sepal"}},
        "Output": {"Dimension": 3, "Description": {"1": "versicolor"}},
    })


def test_a_learnware_spec_reads_into_typed_fields():
    view = SemanticView.from_spec(_learnware_spec())
    assert (view.name, view.description) == ("iris", "flowers")
    assert (view.data_type, view.task_type, view.library, view.license) == ("Table", "Classification",
                                                                            "Scikit-learn", "MIT")
    assert view.scenarios == ("Nature", "Business")
    assert (view.input_dim, view.output_dim) == (11, 3)
    assert view.input_descriptions == ((0, "sepal"), (2, "petal"), (10, "late"))  # by column, not as text
    assert view.output_descriptions == ((1, "versicolor"),)
    assert view.values("Scenario") == view.scenarios and view.values("Data") == ("Table",)
    with pytest.raises(KeyError, match="'Name' is not a class field"):
        view.values("Name")


def test_a_partial_query_keeps_every_value_and_misses_nothing_else():
    view = SemanticView.from_spec(generate_semantic_spec(data_type="Image", license=["MIT", "Apache-2.0"]))
    assert view.data_types == ("Image",) and view.licenses == ("MIT", "Apache-2.0") and view.license == "MIT"
    assert view.task_type is None and view.name == "" and view.input_dim is None and view.scenarios == ()


@pytest.mark.parametrize("spec", [
    None, {}, [], "Table", {"Data": 7}, {"Data": {"Values": {"x": 1}}}, {"Name": {"Values": ["a"]}},
    {"Input": "4"}, {"Input": {"Dimension": True}}, {"Input": {"Dimension": "x", "Description": ["a"]}},
    {"Output": {"Dimension": 2, "Description": {"a": "b", "1": 5}}},
])
def test_malformed_specs_read_as_empty_never_raise(spec):
    view = SemanticView.from_spec(spec)
    assert view.data_type is None and view.name == "" and view.input_dim is None
    assert view.output_descriptions == ()


def test_bare_values_and_numeric_strings_are_read_as_the_validator_would():
    view = SemanticView.from_spec({"Data": "Text", "Name": "bare", "Input": {"Dimension": "5"}})
    assert (view.data_type, view.name, view.input_dim) == ("Text", "bare", 5)
    assert SemanticView.from_spec({"Data": "Text"}) == SemanticView(data_types=("Text",))


def _view_columns(spec) -> tuple:
    view = SemanticView.from_spec(spec)
    return (view.name, view.description, view.data_type, view.task_type, view.library, view.license,
            list(view.scenarios), view.input_dim, view.output_dim)


@pytest.mark.parametrize("spec", [
    _learnware_spec(), generate_semantic_spec(data_type="Image", license=["MIT", "Apache-2.0"]),
    {"Data": "Text", "Name": "bare", "Input": {"Dimension": "5"}, "Output": {"Dimension": True}},
    None, {}, [], {"Data": 7}, {"Data": {"Values": {"x": 1}}}, {"Name": {"Values": ["a"]}}, {"Input": "4"},
    {"Scenario": {"Values": [None, "Nature", 3]}, "Output": {"Dimension": " 7 "}},
])
def test_columns_are_the_views_values_in_the_catalogues_order(spec):
    # bulk sync stores these instead of building a view per record (dock/network/bulk_ingest.py)
    assert SemanticView.columns(spec) == _view_columns(spec)
