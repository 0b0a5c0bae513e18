"""What a searcher brings (`UserInfo`) and what a search returns (`SearchResult`).

Shapes follow Beimingwu's so its users feel at home: `single` is a ranked list, `multiple`
is one recommended mixture with its weights. `to_client_dict()` gives the reference client's
exact dict shape for scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specs.semantic import SemanticView


@dataclass(frozen=True)
class UserInfo:
    """A partial semantic spec and/or statistical specs of the user's own data.

    `stat_info` maps a spec type (e.g. "RKMETableSpecification", i.e. `spec.type`) to the spec.
    `id` is accepted for compatibility with the reference's BaseUserInfo and otherwise unused.
    """

    semantic_spec: dict | None = None
    stat_info: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self):
        if self.stat_info is None:
            object.__setattr__(self, "stat_info", {})

    def get_semantic_spec(self) -> dict:
        return self.semantic_spec or {}

    def get_stat_info(self, spec_type: str) -> Any:
        return self.stat_info.get(spec_type)


BaseUserInfo = UserInfo


@dataclass(frozen=True)
class Match:
    id: str
    score: float  # in [0, 1], higher is better; see docs/ARCHITECTURE.md "Scores"
    semantic_spec: dict
    mmd2: float | None = None  # None when the search had no statistical part
    text_score: float | None = None  # normalised BM25 of name + description; None without query text
    # Set when the learnware's columns differ from the user's (dock/search/hetero.py): the column
    # mapping {"pairs": [[user col, learnware col], ...], "missing": [...], "lacking": n, ...}.
    hetero: dict | None = None

    @property
    def name(self) -> str:
        return SemanticView.from_spec(self.semantic_spec).name

    def to_dict(self) -> dict:
        out = {"id": self.id, "name": self.name, "score": self.score, "mmd2": self.mmd2, "text_score": self.text_score}
        if self.hetero is not None:
            out["hetero"] = self.hetero
        return out


@dataclass(frozen=True)
class Mixture:
    ids: list[str]
    weights: list[float]
    score: float
    mmd2: float
    semantic_specs: list[dict]

    def to_dict(self) -> dict:
        return {"ids": self.ids, "weights": self.weights, "score": self.score, "mmd2": self.mmd2}


@dataclass(frozen=True)
class SearchResult:
    single: list[Match]
    multiple: Mixture | None = None
    # How the search ran (mode "exact" / "prefilter" / "semantic", candidates, gammas, ...):
    # for benchmarks and curious users; not part of to_dict().
    info: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "single": [m.to_dict() for m in self.single],
            "multiple": self.multiple.to_dict() if self.multiple else None,
        }

    def to_client_dict(self) -> dict:
        """The reference client's shape: {"single": {...}, "multiple": {...}}."""
        multiple = self.multiple
        return {
            "single": {
                "learnware_ids": [m.id for m in self.single],
                "semantic_specifications": [m.semantic_spec for m in self.single],
                "matching": [m.score for m in self.single],
            },
            "multiple": {
                "learnware_ids": list(multiple.ids) if multiple else [],
                "semantic_specifications": list(multiple.semantic_specs) if multiple else [],
                "matching": float(multiple.score) if multiple else 0.0,
            },
        }
