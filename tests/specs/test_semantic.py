"""Semantic spec: the reference's keys and values, full vs partial checks, helpful errors."""

from __future__ import annotations

import copy

import pytest

from specs import SEMANTIC_FIELDS, SpecError, generate_semantic_spec, validate_semantic_spec


def full_spec(**overrides) -> dict:
    spec = generate_semantic_spec(
        name="digits-svm",
        description="An SVM on 8x8 digit images",
        data_type="Table",
        task_type="Classification",
        library_type="Scikit-learn",
        scenarios=["Education", "Computer"],
        license="MIT",
        input_description={"Dimension": 64, "Description": {"0": "pixel 0", "63": "pixel 63"}},
        output_description={"Dimension": 10, "Description": {str(i): f"digit {i}" for i in range(10)}},
    )
    spec.update(overrides)
    return spec


# Copied by hand from Beimingwu's learnware/config.py (semantic_config), in its order.
REFERENCE_VALUES = {
    "Data": ["Table", "Image", "Text"],
    "Task": [
        "Classification", "Regression", "Feature Extraction", "Segmentation", "Object Detection", "Others",
    ],
    "Library": ["Scikit-learn", "PyTorch", "TensorFlow", "Others"],
    "Scenario": [
        "Business", "Financial", "Health", "Politics", "Computer", "Internet", "Traffic", "Nature",
        "Fashion", "Industry", "Agriculture", "Education", "Entertainment", "Architecture", "Others",
    ],
    "License": [
        "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "GPL-2.0", "GPL-3.0", "LGPL-2.1",
        "LGPL-3.0", "AGPL-3.0", "ECL-2.0", "AFL-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "Others",
    ],
}  # fmt: skip


def test_fields_match_the_reference():
    assert set(SEMANTIC_FIELDS) == {*REFERENCE_VALUES, "Name", "Description"}
    for key, values in REFERENCE_VALUES.items():
        assert SEMANTIC_FIELDS[key] == {"Type": "Tag" if key == "Scenario" else "Class", "Values": values}
    assert SEMANTIC_FIELDS["Name"] == SEMANTIC_FIELDS["Description"] == {"Type": "String", "Values": None}
    SEMANTIC_FIELDS["Data"]["Values"].append("Audio")  # a UI editing its copy changes no rule
    try:
        with pytest.raises(SpecError):
            validate_semantic_spec({"Data": ["Audio"]}, partial=True)
    finally:
        SEMANTIC_FIELDS["Data"]["Values"].pop()


def test_generate_has_the_reference_shape():
    spec = generate_semantic_spec(name="x")
    assert spec["Data"] == {"Type": "Class", "Values": []}
    assert spec["Scenario"] == {"Type": "Tag", "Values": []}
    assert spec["Name"] == {"Type": "String", "Values": "x"}
    assert spec["Description"] == {"Type": "String", "Values": ""}
    assert "Input" not in spec and "Output" not in spec
    assert generate_semantic_spec(scenarios="Health", license="MIT")["Scenario"]["Values"] == ["Health"]


def test_valid_full_spec_round_trips_unchanged():
    spec = full_spec()
    original = copy.deepcopy(spec)
    out = validate_semantic_spec(spec)
    assert out == original
    assert spec == original  # the caller's dict is not edited
    assert out is not spec and out["Scenario"]["Values"] is not spec["Scenario"]["Values"]
    assert validate_semantic_spec(out) == out  # idempotent


def test_case_and_key_normalisation():
    # A query is forgiving about the case of values and keys...
    spec = full_spec()
    spec["Task"] = {"Type": "class", "Values": ["classification"]}
    spec["library"] = spec.pop("Library")
    spec["library"]["Values"] = ["scikit-learn"]
    spec["Scenario"]["Values"] = ["education", "Education", " computer "]
    out = validate_semantic_spec(spec, partial=True)
    assert out["Task"] == {"Type": "Class", "Values": ["Classification"]}
    assert out["Library"]["Values"] == ["Scikit-learn"]
    assert "library" not in out
    assert out["Scenario"]["Values"] == ["Education", "Computer"]
    # ...a learnware's spec spells values exactly, as the reference's checker requires (issue 15)
    with pytest.raises(SpecError, match="'classification' is not allowed in a learnware's spec; write"):
        validate_semantic_spec(spec)
    spec["Task"]["Values"] = ["Classification"]
    spec["library"]["Values"] = ["Scikit-learn"]
    spec["Scenario"]["Values"] = ["Education", "Computer"]
    out = validate_semantic_spec(spec)  # keys stay forgiving in both modes
    assert out["Library"]["Values"] == ["Scikit-learn"] and "library" not in out


def test_bad_class_value_names_key_value_and_allowed_list():
    spec = full_spec(Task={"Type": "Class", "Values": ["Clasification"]})
    with pytest.raises(SpecError) as e:
        validate_semantic_spec(spec)
    msg = str(e.value)
    assert msg.startswith(
        "Task: 'Clasification' is not one of Classification, Regression, Feature Extraction"
    )
    assert "did you mean 'Classification'" in msg


@pytest.mark.parametrize(
    "key, entry, fragments",
    [
        ("Data", {"Type": "Class", "Values": ["Tabular"]}, ["Data", "'Tabular'", "Table, Image, Text"]),
        ("License", {"Type": "Class", "Values": ["WTFPL"]}, ["License", "'WTFPL'", "MIT", "Apache-2.0"]),
        ("Scenario", {"Type": "Tag", "Values": ["Health", "Space"]}, ["Scenario", "'Space'", "Business"]),
        ("Library", {"Type": "Class", "Values": ["Scikit-learn", "PyTorch"]}, ["Library", "exactly one"]),
        ("Data", {"Type": "Class", "Values": []}, ["Data", "exactly one", "Table, Image, Text"]),
        ("Scenario", {"Type": "Tag", "Values": []}, ["Scenario", "at least one", "Business"]),
        ("Task", {"Type": "Tag", "Values": ["Regression"]}, ["Task.Type", "'Tag'", "'Class'"]),
        ("Name", {"Type": "String", "Values": "  "}, ["Name", "non-empty"]),
        ("Name", {"Type": "String", "Values": 7}, ["Name", "7", "string"]),
        ("Description", {"Type": "String", "Values": None}, ["Description", "None", "string"]),
        ("Task", None, ["Task", "missing"]),
    ],
)
def test_each_kind_of_error_is_explained(key, entry, fragments):
    spec = full_spec()
    if entry is None:
        del spec[key]
    else:
        spec[key] = entry
    with pytest.raises(SpecError) as e:
        validate_semantic_spec(spec)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))


def test_description_must_not_be_empty_in_a_full_spec():
    with pytest.raises(SpecError, match="Description: ' ' is not allowed"):
        validate_semantic_spec(full_spec(Description={"Type": "String", "Values": " "}))
    assert validate_semantic_spec(full_spec(Description={"Type": "String", "Values": ""}), partial=True)
    assert validate_semantic_spec(full_spec())["Description"]["Values"].strip()


def test_input_required_for_table_and_output_for_classification():
    spec = full_spec()
    del spec["Input"]
    with pytest.raises(SpecError, match="Input: missing"):
        validate_semantic_spec(spec)
    spec = full_spec(Data={"Type": "Class", "Values": ["Image"]})
    del spec["Input"]
    assert "Input" not in validate_semantic_spec(spec)  # only tables must describe their columns
    spec = full_spec()
    del spec["Output"]
    with pytest.raises(SpecError, match="Output: missing"):
        validate_semantic_spec(spec)


def test_classification_output_needs_two_columns_regression_one_is_fine():
    with pytest.raises(SpecError, match=r"Output.Dimension: 1 is not allowed for Classification"):
        validate_semantic_spec(full_spec(Output={"Dimension": 1, "Description": {}}))
    spec = full_spec(Task={"Type": "Class", "Values": ["Regression"]}, Output={"Dimension": 1, "Description": {}})
    assert validate_semantic_spec(spec)["Output"] == {"Dimension": 1, "Description": {}}


@pytest.mark.parametrize(
    "io, fragment",
    [
        (
            {"Dimension": 3, "Description": {"3": "x"}},
            "key '3' is not allowed; keys must be integers in [0, 3)",
        ),
        ({"Dimension": 3, "Description": {"-1": "x"}}, "key '-1'"),
        ({"Dimension": 3, "Description": {"a": "x"}}, "'a' is not allowed"),
        ({"Dimension": 3, "Description": {"0": 5}}, "descriptions must be strings"),
        ({"Dimension": 0}, "Input.Dimension: 0 is not allowed"),
        ({"Dimension": "many"}, "Input.Dimension: 'many'"),
        ({"Dimension": True}, "Input.Dimension: True"),
        ({"Description": {}}, "Input.Dimension: missing"),
        ([3], "Input: [3] is not allowed"),
    ],
)
def test_input_output_shape_errors(io, fragment):
    with pytest.raises(SpecError) as e:
        validate_semantic_spec(full_spec(Input=io))
    assert fragment in str(e.value)


def test_io_keys_normalised_to_string_indices():
    out = validate_semantic_spec(full_spec(Input={"Dimension": 4, "Description": {0: "a", "3": "d"}}))
    assert out["Input"] == {"Dimension": 4, "Description": {"0": "a", "3": "d"}}
    # a Dimension written as a string: normalised in a query, refused in a learnware's spec (the reference's)
    query = validate_semantic_spec(full_spec(Input={"Dimension": "4", "Description": {}}), partial=True)
    assert query["Input"]["Dimension"] == 4
    with pytest.raises(SpecError, match="Input.Dimension: '4' is not allowed in a learnware's spec"):
        validate_semantic_spec(full_spec(Input={"Dimension": "4", "Description": {}}))


def test_partial_mode_for_queries():
    assert validate_semantic_spec({}, partial=True)["Task"] == {"Type": "Class", "Values": []}
    query = {
        "Task": {"Type": "Class", "Values": ["regression", "Classification"]},
        "Name": {"Values": "house"},
    }
    out = validate_semantic_spec(query, partial=True)
    assert out["Task"]["Values"] == ["Regression", "Classification"]  # a query may list any-of
    assert out["Name"] == {"Type": "String", "Values": "house"}
    assert out["Data"]["Values"] == [] and out["Scenario"]["Values"] == []
    with pytest.raises(SpecError, match="Data: 'Tabel' is not one of Table, Image, Text"):
        validate_semantic_spec({"Data": {"Type": "Class", "Values": ["Tabel"]}}, partial=True)
    with pytest.raises(SpecError, match="Task: 'X' is not one of"):  # a bare value is tolerated, checked
        validate_semantic_spec({"Task": "X"}, partial=True)
    with pytest.raises(SpecError, match="Output.Dimension: 1"):  # a given fact must still make sense
        validate_semantic_spec({"Task": "Classification", "Output": {"Dimension": 1}}, partial=True)


def test_generate_checks_values_early():
    with pytest.raises(SpecError, match="Scenario: 'Space' is not one of"):
        generate_semantic_spec(scenarios=["Space"])
    assert generate_semantic_spec(task_type="regression")["Task"]["Values"] == ["Regression"]


def test_unknown_keys_typos_refused_extensions_kept():
    with pytest.raises(SpecError, match="unknown key 'Senario'.*did you mean 'Scenario'"):
        validate_semantic_spec(full_spec(Senario={"Type": "Tag", "Values": ["Health"]}))
    out = validate_semantic_spec(full_spec(lwdock_extra={"x": [1]}))
    assert out["lwdock_extra"] == {"x": [1]}
    with pytest.raises(SpecError, match="given twice"):
        validate_semantic_spec({**full_spec(), "task": {"Type": "Class", "Values": ["Regression"]}})
    with pytest.raises(SpecError, match="expected a dict"):
        validate_semantic_spec(["Data"])
