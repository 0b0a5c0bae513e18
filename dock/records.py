"""The catalogue's view of one learnware: what is stored, searched and (later) gossiped.

A record is derived from a checked package; it never holds the model or the zip itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from specs.semantic import SemanticView


@dataclass(frozen=True)
class LearnwareRecord:
    id: str
    semantic_spec: dict
    model_config: dict
    size: int
    publisher: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    stat_spec_types: tuple[str, ...] = ()

    @cached_property
    def semantic(self) -> SemanticView:
        """The semantic spec, read once (the record is frozen, so is its spec)."""
        return SemanticView.from_spec(self.semantic_spec)

    @property
    def name(self) -> str:
        return self.semantic.name

    @property
    def description(self) -> str:
        return self.semantic.description

    @property
    def data_type(self) -> str | None:
        return self.semantic.data_type

    @property
    def task_type(self) -> str | None:
        return self.semantic.task_type

    @property
    def library_type(self) -> str | None:
        return self.semantic.library

    @property
    def license(self) -> str | None:
        return self.semantic.license

    @property
    def scenarios(self) -> list[str]:
        return list(self.semantic.scenarios)

    @property
    def input_dim(self) -> int | None:
        return self.semantic.input_dim

    @property
    def output_dim(self) -> int | None:
        return self.semantic.output_dim

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict for the CLI's --json and for scripts."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "data_type": self.data_type,
            "task_type": self.task_type,
            "library_type": self.library_type,
            "license": self.license,
            "scenarios": self.scenarios,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "size": self.size,
            "publisher": self.publisher,
            "created_at": self.created_at.isoformat(),
            "stat_spec_types": list(self.stat_spec_types),
        }


def compat_key(spec: Any) -> str:
    """Specs are comparable only when this key is equal: same kind, same dimension and, for
    image/text specs, the same embedder (a spec without one has an empty embedder)."""
    embedder = getattr(spec, "embedder", None) or ""
    return f"{spec.type}|{int(spec.dim)}|{embedder}"


def record_to_dict(record: LearnwareRecord) -> dict[str, Any]:
    """Everything needed to rebuild the record on the other side of the control socket."""
    return {
        "id": record.id,
        "semantic_spec": record.semantic_spec,
        "model_config": record.model_config,
        "size": record.size,
        "publisher": record.publisher,
        "created_at": record.created_at.isoformat(),
        "stat_spec_types": list(record.stat_spec_types),
    }


def record_from_dict(data: dict[str, Any]) -> LearnwareRecord:
    return LearnwareRecord(
        id=data["id"],
        semantic_spec=data["semantic_spec"],
        model_config=data["model_config"],
        size=int(data["size"]),
        publisher=data.get("publisher"),
        created_at=datetime.fromisoformat(data["created_at"]),
        stat_spec_types=tuple(data.get("stat_spec_types") or ()),
    )
