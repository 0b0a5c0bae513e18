"""The reference's market types: BaseUserInfo, SearchResults and its items, the checker constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class BaseUserInfo:
    """`BaseUserInfo(id=None, semantic_spec=None, stat_info=None)`, the reference's argument order."""

    def __init__(self, id: str | None = None, semantic_spec: dict | None = None, stat_info: dict | None = None):  # noqa: A002
        self.id = id
        self.semantic_spec = {} if semantic_spec is None else semantic_spec
        self.stat_info = {} if stat_info is None else stat_info

    def get_semantic_spec(self) -> dict:
        return self.semantic_spec

    def get_stat_info(self, name: str):
        return self.stat_info.get(name, None)

    def update_semantic_spec(self, semantic_spec: dict) -> None:
        self.semantic_spec = semantic_spec

    def update_stat_info(self, name: str, item: Any) -> None:
        self.stat_info[name] = item

    def to_native(self):
        """lwdock's UserInfo (dock.search.query), which Dock.search takes."""
        from dock.search.query import UserInfo

        return UserInfo(semantic_spec=_query_semantic(self.semantic_spec), stat_info=dict(self.stat_info), id=self.id)


def as_native_user_info(user_info):
    if isinstance(user_info, BaseUserInfo):
        return user_info.to_native()
    return user_info


def _query_semantic(spec: dict | None) -> dict:
    """The reference's generate_semantic_spec writes every key, empty ones as [] or "": as a query
    those mean "no constraint", so they are dropped before lwdock's (partial) validation."""
    if not spec:
        return {}
    out = {}
    for key, entry in spec.items():
        values = entry.get("Values") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and "Values" in entry and values in ([], "", None):
            continue
        out[key] = entry
    return out


@dataclass
class SingleSearchItem:
    learnware: Any
    score: float | None = None


@dataclass
class MultipleSearchItem:
    learnwares: list = field(default_factory=list)
    score: float = 0.0


class SearchResults:
    def __init__(self, single_results: list | None = None, multiple_results: list | None = None):
        self.update_single_results([] if single_results is None else single_results)
        self.update_multiple_results([] if multiple_results is None else multiple_results)

    def get_single_results(self) -> list[SingleSearchItem]:
        return self.single_results

    def get_multiple_results(self) -> list[MultipleSearchItem]:
        return self.multiple_results

    def update_single_results(self, single_results: list) -> None:
        self.single_results = single_results

    def update_multiple_results(self, multiple_results: list) -> None:
        self.multiple_results = multiple_results


class BaseChecker:
    INVALID_LEARNWARE = -1
    NONUSABLE_LEARNWARE = 0
    USABLE_LEARNWARE = 1

    def reset(self, **kwargs) -> None:
        pass

    def __call__(self, learnware) -> tuple[int, str]:
        raise NotImplementedError("'__call__' method is not implemented in BaseChecker")
