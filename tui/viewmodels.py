"""Plain data the screens show: a search query, result rows, a learnware's details.

No Textual here: the backend builds these in worker threads and the widgets only render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIXTURE_KEY = "mixture"
FILTER_FIELDS = ("Data", "Task", "Library", "Scenario", "License")


@dataclass(frozen=True)
class StatSpecChoice:
    """The user's statistical spec and where it came from (shown under the query box)."""

    spec: Any
    source: str  # file name the user picked
    summary: str  # e.g. "table, 150 rows × 4 columns → 100 points"
    data_path: Path | None = None  # the user's data file (None for a stat.json): reuse runs on it
    label_column: str | None = None
    kind: str = "table"  # "table" | "image" | "text": what the spec describes

    @property
    def dim(self) -> int:
        return int(self.spec.dim)


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> any of these values
    stat: StatSpecChoice | None = None
    limit: int = 20

    @property
    def is_empty(self) -> bool:
        return not self.text.strip() and not any(self.filters.values()) and self.stat is None

    def semantic_spec(self) -> dict:
        """A partial semantic spec in the reference's shape; the text goes to Name, as the CLI does."""
        spec: dict = {}
        for key, values in self.filters.items():
            if values:
                spec[key] = {"Type": "Tag" if key == "Scenario" else "Class", "Values": list(values)}
        if self.text.strip():
            spec["Name"] = {"Type": "String", "Values": self.text.strip()}
        columns = self._column_names()
        if columns:  # the data file's header: learnwares with other columns can be found too (issue 14)
            from dock.search.hetero import input_block

            spec["Input"] = input_block(columns)
        return spec

    def _column_names(self) -> list[str] | None:
        stat = self.stat
        if stat is None or stat.kind != "table" or stat.data_path is None:
            return None
        from dock.datafiles import feature_column_names
        from dock.errors import DataFileError

        try:
            names = feature_column_names(stat.data_path, stat.label_column or None)
        except (DataFileError, OSError):
            return None
        return names if names is not None and len(names) == stat.dim else None


@dataclass(frozen=True)
class ResultRow:
    key: str  # the learnware id, or MIXTURE_KEY
    name: str
    data_type: str
    task: str
    score: float | None  # None: the listing had nothing to rank by
    mmd2: float | None = None
    text_score: float | None = None
    publisher: str | None = None
    local: bool = True
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None  # the mixture's weights, in the order of ids

    @property
    def is_mixture(self) -> bool:
        return self.key == MIXTURE_KEY


@dataclass(frozen=True)
class SearchOutcome:
    rows: list[ResultRow]
    ranked_by: str  # "name" | "text" | "statistical" | "statistical + text" | "filters"
    total: int  # learnwares in the dock
    seconds: float


@dataclass(frozen=True)
class StatSpecInfo:
    type: str
    points: int
    dim: int
    gamma: float


@dataclass(frozen=True)
class LearnwareDetails:
    id: str
    name: str
    description: str
    semantic_spec: dict
    size: int
    publisher: str | None
    publisher_label: str  # "you", a short peer id, or "—"
    local: bool
    stat_specs: tuple[StatSpecInfo, ...]
    input_dim: int | None
    output_dim: int | None
    task: str | None
    fetch_reason: str  # why "fetch" is not possible now; "" when it is


@dataclass(frozen=True)
class ReuseTarget:
    """What the reuse screen runs: one learnware, or a mixture (ids with weights)."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    task: str | None = None
    data_type: str | None = None  # the semantic spec's Data: "Table" | "Image" | "Text" | … (None: unknown)

    @property
    def is_mixture(self) -> bool:
        return len(self.ids) > 1

    @classmethod
    def from_row(cls, row: ResultRow) -> "ReuseTarget":
        if row.is_mixture:
            weights = row.weights or (1 / len(row.ids),) * len(row.ids)
            order = sorted(range(len(row.ids)), key=lambda i: -weights[i])  # heaviest first
            return cls(tuple(row.ids[i] for i in order), tuple(row.names[i] for i in order),
                       tuple(weights[i] for i in order), row.task or None, row.data_type or None)
        return cls((row.key,), (row.name,), None, row.task or None, row.data_type or None)
