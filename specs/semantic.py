"""Beimingwu's semantic specification: its keys, allowed values and JSON shape, and their checks.

Shape (the reference's, so Beimingwu learnwares load as they are):
    {"Data": {"Type": "Class", "Values": ["Table"]}, "Task": {...}, "Library": {...},
     "Scenario": {"Type": "Tag", "Values": [...]}, "License": {"Type": "Class", "Values": ["MIT"]},
     "Name": {"Type": "String", "Values": "name"}, "Description": {"Type": "String", "Values": "..."},
     "Input": {"Dimension": 7, "Description": {"0": "age", ...}}, "Output": {...}}
Two strictness levels: a learnware's spec must be complete (validate_semantic_spec), a user's
search query may leave anything out (partial=True) but may not use values that do not exist.
In a query a Class field may list several values, meaning "any of these".
A search query is forgiving about the spelling case of values ("classification") and keys ("task");
a learnware's spec is checked like the reference's checker (market/easy/checker.py) checks it
(issue 15): values spelled exactly, Values of the right shape (a list for Class and Tag, never a bare
string or a bare value), a non-empty Description, Input/Output with an integer Dimension and a
Description dict. lwdock is deliberately stricter in a few places (docs/COMPAT.md): Input.Dimension
>= 1, Description keys within the dimension for every Data type, sizes bounded. Keys stay forgiving
about case in both modes. Validation returns a normalised copy rather than editing the caller's dict.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SpecError

# The single source of the allowed values (tuples: nobody can edit them by accident).
_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "Data": ("Class", ("Table", "Image", "Text")),
    "Task": (
        "Class",
        ("Classification", "Regression", "Feature Extraction", "Segmentation", "Object Detection", "Others"),
    ),
    "Library": ("Class", ("Scikit-learn", "PyTorch", "TensorFlow", "Others")),
    # Single-word values (no spaces), so a split keeps these long lists readable.
    "Scenario": (
        "Tag",
        tuple(
            "Business Financial Health Politics Computer Internet Traffic Nature Fashion Industry "
            "Agriculture Education Entertainment Architecture Others".split()
        ),
    ),
    "License": (
        "Class",
        tuple(
            "MIT Apache-2.0 BSD-2-Clause BSD-3-Clause GPL-2.0 GPL-3.0 LGPL-2.1 LGPL-3.0 AGPL-3.0 "
            "ECL-2.0 AFL-3.0 CC-BY-4.0 CC-BY-SA-4.0 Others".split()
        ),
    ),
    "Name": ("String", None),
    "Description": ("String", None),
}
_IO_KEYS = ("Input", "Output")
_KNOWN_KEYS = (*_FIELDS, *_IO_KEYS)
# Tasks whose learnwares must say what their output columns are (as the reference requires).
_TASKS_WITH_OUTPUT = ("Classification", "Regression")

# A semantic spec travels inside every gossiped record (dock/network/signed_records.py caps its JSON at
# 256 KiB): refuse larger ones here, before a zip is stored, rather than at signing time.
MAX_SEMANTIC_BYTES = 256 * 1024
MAX_SEMANTIC_DEPTH = 16  # {"Input": {"Description": {"0": ...}}} is 3; extensions get room, not a stack
MAX_SEMANTIC_NODES = 20_000
MAX_NAME_CHARS = 256

# For UIs: key -> {"Type": ..., "Values": [...] or None}. A fresh copy; editing it changes nothing.
SEMANTIC_FIELDS: dict[str, dict] = {
    key: {"Type": kind, "Values": None if values is None else list(values)}
    for key, (kind, values) in _FIELDS.items()
}


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _canonical_value(key: str, value, allowed: tuple[str, ...], exact: bool = False) -> str:
    if isinstance(value, str):
        if value in allowed:
            return value
        folded = value.strip().casefold()
        for a in allowed:
            if a.casefold() == folded:
                if exact:  # the reference's checker compares exactly; a learnware's spec must too
                    raise SpecError(f"{key}: {value!r} is not allowed in a learnware's spec; write {a!r}")
                return a
    hint = _suggest(value, allowed) if isinstance(value, str) else ""
    raise SpecError(f"{key}: {value!r} is not one of {', '.join(allowed)}{hint}")


def _canonical_keys(spec: Mapping) -> dict:
    """Rename case variants of known keys; refuse near-misses (likely typos); keep other keys."""
    by_fold = {k.casefold(): k for k in _KNOWN_KEYS}
    out: dict = {}
    for key, value in spec.items():
        if not isinstance(key, str):
            raise SpecError(
                f"semantic spec: key {key!r} is not allowed; keys are strings like {_KNOWN_KEYS[0]!r}"
            )
        canon = by_fold.get(key.strip().casefold())
        if canon is None:
            hint = _suggest(key, _KNOWN_KEYS)
            if hint:
                raise SpecError(
                    f"semantic spec: unknown key {key!r}{hint}; known keys: {', '.join(_KNOWN_KEYS)}"
                )
            canon = key  # an extension's key: carried along untouched
        if canon in out:
            raise SpecError(f"semantic spec: key {canon!r} is given twice (as {key!r} too)")
        out[canon] = value
    return out


def _field(key: str, entry, partial: bool) -> dict:
    kind, allowed = _FIELDS[key]
    if entry is None:
        if not partial:
            example = "'...'" if allowed is None else f"[{allowed[0]!r}]"
            raise SpecError(f"{key}: missing; expected {{'Type': {kind!r}, 'Values': {example}}}")
        return {"Type": kind, "Values": "" if allowed is None else []}
    if isinstance(entry, Mapping):
        given_type = entry.get("Type", kind)
        if not isinstance(given_type, str) or given_type.casefold() != kind.casefold():
            raise SpecError(f"{key}.Type: {given_type!r} is not allowed; expected {kind!r}")
        values = entry.get("Values")
    elif partial:
        values = entry  # a query may give a bare value: {"Data": "Table"}
    else:
        example = "'...'" if allowed is None else f"[{entry!r}]"
        raise SpecError(f"{key}: {entry!r} is not allowed in a learnware's spec; "
                        f"expected {{'Type': {kind!r}, 'Values': {example}}}")

    if allowed is None:  # String
        if values is None and partial:
            values = ""
        if not isinstance(values, str):
            raise SpecError(f"{key}: {values!r} is not allowed; {key} must be a string")
        if key == "Name" and not partial and not values.strip():
            raise SpecError(f"{key}: {values!r} is not allowed; a learnware needs a non-empty name")
        if key == "Description" and not partial and not values.strip():
            raise SpecError(f"{key}: {values!r} is not allowed; say in a sentence what the learnware does")
        if key == "Name" and len(values) > MAX_NAME_CHARS:
            raise SpecError(f"{key}: {len(values)} characters is not allowed; at most {MAX_NAME_CHARS}")
        return {"Type": kind, "Values": values}

    if values is None:
        values = []
    elif isinstance(values, str):
        if not partial:
            raise SpecError(f"{key}: {values!r} is not allowed in a learnware's spec; Values is a list: [{values!r}]")
        values = [values]
    elif not isinstance(values, (list, tuple)):
        raise SpecError(f"{key}: {values!r} is not allowed; Values must be a list of: {', '.join(allowed)}")
    canon: list[str] = []
    for v in values:
        c = _canonical_value(key, v, allowed, exact=not partial)
        if c not in canon:  # duplicates carry no meaning; drop them
            canon.append(c)
    if not partial and kind == "Class" and len(canon) != 1:
        raise SpecError(f"{key}: {list(values)!r} is not allowed; choose exactly one of {', '.join(allowed)}")
    if not partial and kind == "Tag" and not canon:
        raise SpecError(f"{key}: [] is not allowed; choose at least one of {', '.join(allowed)}")
    return {"Type": kind, "Values": canon}


def _as_int(where: str, value, rule: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{where}: {value!r} is not allowed; {rule}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SpecError(f"{where}: {value!r} is not allowed; {rule}")


def _io(key: str, io, partial: bool = True) -> dict:
    """{"Dimension": int >= 1, "Description": {"<i>": str}} with i in [0, Dimension). A learnware's spec
    (partial False) must give Description (may be {}) and an int Dimension, as the reference requires."""
    if not isinstance(io, Mapping):
        raise SpecError(
            f"{key}: {io!r} is not allowed; expected {{'Dimension': int, 'Description': {{'0': '...'}}}}"
        )
    if "Dimension" not in io:
        raise SpecError(f"{key}.Dimension: missing; expected an integer >= 1")
    dim = _as_int(f"{key}.Dimension", io["Dimension"], "expected an integer >= 1")
    if not partial and isinstance(io["Dimension"], str):
        raise SpecError(f"{key}.Dimension: {io['Dimension']!r} is not allowed in a learnware's spec; "
                        f"expected an integer: {dim}")
    if dim < 1:
        raise SpecError(f"{key}.Dimension: {dim!r} is not allowed; expected an integer >= 1")
    if not partial and "Description" not in io:
        raise SpecError(f"{key}.Description: missing; give one per column, e.g. {{'0': 'age'}}, or {{}}")
    desc = io.get("Description")
    desc = {} if desc is None else desc
    if not isinstance(desc, Mapping):
        raise SpecError(f"{key}.Description: {desc!r} is not allowed; expected a dict like {{'0': '...'}}")
    rule = f"keys must be integers in [0, {dim})"
    out_desc: dict[str, str] = {}
    for k, v in desc.items():
        i = _as_int(f"{key}.Description", k, rule)
        if not 0 <= i < dim:
            raise SpecError(f"{key}.Description: key {k!r} is not allowed; {rule}")
        if not isinstance(v, str):
            raise SpecError(f"{key}.Description[{k!r}]: {v!r} is not allowed; descriptions must be strings")
        out_desc[str(i)] = v
    # The columns field is not deep-copied here: check_columns_field returns a new dict of scalars
    # for version 1 (a query carries one each time, and deepcopy cost more than the rest of _io).
    columns_field = "lwdock.columns" if key == "Input" else None
    out = {k: v if k == columns_field else copy.deepcopy(v) for k, v in io.items()
           if k not in ("Dimension", "Description")}
    out.update({"Dimension": dim, "Description": out_desc})
    if columns_field in out:  # issue 14's versioned field (specs/hetero.py)
        from .hetero import FIELD, FIELD_VERSION, check_columns_field

        checked = check_columns_field(out[FIELD], dim)
        out[FIELD] = checked if checked["version"] == FIELD_VERSION else copy.deepcopy(checked)
    return out


def _check_bounds(spec) -> None:
    """Depth, node count and text size, walked without recursion (a deep spec cannot blow the stack).
    A node's place is kept as (parent's place, key) and spelled out only for an error message:
    formatting it for every node was a third of the walk (a synced record is walked once, issue 16)."""
    stack: list[tuple[Any, int, Any]] = [(spec, 1, None)]  # (value, depth, (parent's place, key) or None)
    nodes = size = 0
    while stack:
        value, depth, at = stack.pop()
        nodes += 1
        if nodes > MAX_SEMANTIC_NODES:
            raise SpecError(f"semantic spec: more than {MAX_SEMANTIC_NODES} values; it must stay small")
        if depth > MAX_SEMANTIC_DEPTH:
            raise SpecError(f"semantic spec: {_place(at) or 'the spec'} is nested more than {MAX_SEMANTIC_DEPTH} "
                            "levels deep")
        kind = type(value)  # JSON's own types without the Mapping ABC check; others as before
        if kind is str or (kind is not dict and kind is not list and isinstance(value, str)):
            size += len(value)
        elif kind is dict or (kind is not list and isinstance(value, Mapping)):
            for k, v in value.items():
                size += len(k) if isinstance(k, str) else 8
                stack.append((v, depth + 1, (at, k)))
        elif kind is list or isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1, at) for v in value)
        else:
            size += 8
        if size > MAX_SEMANTIC_BYTES:
            raise SpecError(f"semantic spec: larger than {MAX_SEMANTIC_BYTES} bytes "
                            f"(at {_place(at) or 'the top level'}); keep the description under that")


def _place(at) -> str:
    """"Input.Description.3" from _check_bounds' (parent, key) chain."""
    keys = []
    while at is not None:
        at, key = at
        keys.append(key)
    where = ""
    for key in reversed(keys):
        where = f"{where}.{key}" if where else str(key)
    return where


def _check_encoded_size(out: dict) -> str:
    """The JSON a record carries (UTF-8, as dock/network/signed_records.py writes it) fits its cap;
    that JSON text."""
    try:
        text = json.dumps(out, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise SpecError(f"semantic spec: not JSON data ({e})") from e
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SEMANTIC_BYTES:
        raise SpecError(f"semantic spec: {size} bytes as JSON is larger than the {MAX_SEMANTIC_BYTES} "
                        "byte limit; shorten the description")
    return text


def validate_semantic_spec(spec, *, partial: bool = False) -> dict:
    """Check a semantic spec and return a normalised deep copy (canonical keys and spellings).

    Full (partial=False, a learnware's): every Class field has exactly one allowed value,
    Scenario at least one, Name is non-empty; Input is required when Data is Table, Output
    when Task is Classification or Regression, and a Classification Output has Dimension >= 2.
    Partial (a search query): anything may be missing or empty (missing fields come back
    empty), but every value given must be allowed. Raises SpecError naming key, value, allowed.
    """
    return _validate(spec, partial)[0]


def validate_semantic_spec_json(spec) -> tuple[dict, str]:
    """A learnware's spec (partial=False) validated, and the JSON text a record carries of it
    (json.dumps(spec, sort_keys=True, ensure_ascii=False)), made by the validation anyway."""
    return _validate(spec, False)


def _validate(spec, partial: bool) -> tuple[dict, str]:
    if not isinstance(spec, Mapping):
        raise SpecError(
            f"semantic spec: expected a dict with keys {', '.join(_KNOWN_KEYS)}, got {type(spec).__name__}"
        )
    _check_bounds(spec)
    given = _canonical_keys(spec)
    out = {key: _field(key, given.get(key), partial) for key in _FIELDS}
    for key in _IO_KEYS:
        if given.get(key) is not None:
            out[key] = _io(key, given[key], partial)
    for key, value in given.items():
        if key not in out and key not in _KNOWN_KEYS:
            out[key] = copy.deepcopy(value)

    data, task = out["Data"]["Values"], out["Task"]["Values"]
    if not partial and data == ["Table"] and "Input" not in out:
        raise SpecError(
            "Input: missing; a Table learnware must describe its input: {'Dimension': d, 'Description': {}}"
        )
    if not partial and task[0] in _TASKS_WITH_OUTPUT and "Output" not in out:
        raise SpecError(
            f"Output: missing; a {task[0]} learnware must describe its output: {{'Dimension': k, ...}}"
        )
    if task == ["Classification"] and "Output" in out and out["Output"]["Dimension"] < 2:
        raise SpecError(
            f"Output.Dimension: {out['Output']['Dimension']} is not allowed for Classification; "
            "expected >= 2 (one column per class)"
        )
    return out, _check_encoded_size(out)


def generate_semantic_spec(
    name: str | None = None,
    description: str | None = None,
    data_type: str | None = None,
    task_type: str | None = None,
    library_type: str | None = None,
    scenarios: str | list[str] | None = None,
    license: str | list[str] | None = None,  # noqa: A002 (the reference's parameter name)
    input_description: dict | None = None,
    output_description: dict | None = None,
) -> dict:
    """Build a semantic spec in the reference's shape (omitted class fields get Values []).

    Values are checked as a query would be (partial): a typo fails here, early; the result may
    still be incomplete, so a learnware's spec should go through validate_semantic_spec too.
    """
    spec: dict = {
        "Data": {"Type": "Class", "Values": [] if data_type is None else [data_type]},
        "Task": {"Type": "Class", "Values": [] if task_type is None else [task_type]},
        "Library": {"Type": "Class", "Values": [] if library_type is None else [library_type]},
        "Scenario": {
            "Type": "Tag",
            "Values": [scenarios] if isinstance(scenarios, str) else list(scenarios or []),
        },
        "License": {
            "Type": "Class",
            "Values": [license] if isinstance(license, str) else list(license or []),
        },
        "Name": {"Type": "String", "Values": "" if name is None else name},
        "Description": {"Type": "String", "Values": "" if description is None else description},
    }
    if input_description is not None:
        spec["Input"] = input_description
    if output_description is not None:
        spec["Output"] = output_description
    return validate_semantic_spec(spec, partial=True)


# -- reading a spec ---------------------------------------------------------------------------
# Every reader of a semantic spec (records, search filters, checks, pack, reuse, CLI, TUI) goes
# through SemanticView instead of unpacking {"Data": {"Values": [...]}} by hand. It never raises:
# it reads a learnware's validated spec, a partial query, or a stranger's unvalidated dict alike,
# and whatever is missing or of the wrong shape reads as empty.

_CLASS_KEYS = ("Data", "Task", "Library", "Scenario", "License")


def _class_values(spec: Mapping, key: str) -> tuple[str, ...]:
    entry = spec.get(key)
    values = entry.get("Values") if isinstance(entry, Mapping) else entry  # a bare value is tolerated
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        return ()
    return tuple(str(v) for v in values if v is not None)


def _string_value(spec: Mapping, key: str) -> str:
    entry = spec.get(key)
    value = entry.get("Values") if isinstance(entry, Mapping) else entry
    return value if isinstance(value, str) else ""


def _io_dim(block: Mapping) -> int | None:
    raw = block.get("Dimension")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def _io_block(spec: Mapping, key: str) -> tuple[int | None, tuple[tuple[int, str], ...]]:
    block = spec.get(key)
    if not isinstance(block, Mapping):
        return None, ()
    dim = _io_dim(block)
    described = block.get("Description")
    pairs: list[tuple[int, str]] = []
    if isinstance(described, Mapping):
        for index, text in described.items():
            if isinstance(text, str) and str(index).strip().isdigit():
                pairs.append((int(str(index).strip()), text))
    return dim, tuple(sorted(pairs))


@dataclass(frozen=True)
class SemanticView:
    """A semantic spec, read: typed fields instead of nested dicts. Build with `from_spec`.

    Class fields keep every value (a query may list several, meaning "any of"); the singular
    properties (`data_type`, ...) give the first, as a learnware has exactly one."""

    name: str = ""
    description: str = ""
    data_types: tuple[str, ...] = ()
    task_types: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    input_dim: int | None = None
    output_dim: int | None = None
    input_descriptions: tuple[tuple[int, str], ...] = ()  # (column, text), by column
    output_descriptions: tuple[tuple[int, str], ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping | None) -> SemanticView:
        if not isinstance(spec, Mapping):
            return cls()
        input_dim, input_descriptions = _io_block(spec, "Input")
        output_dim, output_descriptions = _io_block(spec, "Output")
        return cls(
            name=_string_value(spec, "Name"), description=_string_value(spec, "Description"),
            data_types=_class_values(spec, "Data"), task_types=_class_values(spec, "Task"),
            libraries=_class_values(spec, "Library"), scenarios=_class_values(spec, "Scenario"),
            licenses=_class_values(spec, "License"), input_dim=input_dim, output_dim=output_dim,
            input_descriptions=input_descriptions, output_descriptions=output_descriptions,
        )

    @staticmethod
    def columns(spec: Mapping | None) -> tuple:
        """(name, description, data_type, task_type, library, license, [scenarios], input_dim,
        output_dim): the view's values a catalogue row keeps, read without building the view or
        its column descriptions (a bulk sync stores thousands of records a second, issue 16)."""
        if not isinstance(spec, Mapping):
            return "", "", None, None, None, None, [], None, None
        dims = [_io_dim(block) if isinstance(block := spec.get(key), Mapping) else None for key in ("Input", "Output")]
        firsts = [values[0] if (values := _class_values(spec, key)) else None
                  for key in ("Data", "Task", "Library", "License")]
        return (_string_value(spec, "Name"), _string_value(spec, "Description"), *firsts,
                list(_class_values(spec, "Scenario")), *dims)

    def values(self, key: str) -> tuple[str, ...]:
        """The values of a class or tag field by its spec key: "Data", "Task", "Library", "Scenario", "License"."""
        by_key = {"Data": self.data_types, "Task": self.task_types, "Library": self.libraries,
                  "Scenario": self.scenarios, "License": self.licenses}
        if key not in by_key:
            raise KeyError(f"{key!r} is not a class field; one of {', '.join(_CLASS_KEYS)}")
        return by_key[key]

    @property
    def data_type(self) -> str | None:
        return self.data_types[0] if self.data_types else None

    @property
    def task_type(self) -> str | None:
        return self.task_types[0] if self.task_types else None

    @property
    def library(self) -> str | None:
        return self.libraries[0] if self.libraries else None

    @property
    def license(self) -> str | None:
        return self.licenses[0] if self.licenses else None
