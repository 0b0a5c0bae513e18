"""`learnware.market` on lwdock: `instantiate_learnware_market(market_id, name="easy", rebuild=...)` and
the market's types. Markets are lwdock docks (market/easy.py); "hetero" is the same dock with a searcher that
also returns learnwares of other feature spaces (market/hetero.py; see docs/COMPAT.md)."""

from __future__ import annotations

import logging
from typing import Any

from .base import (
    BaseChecker,
    BaseUserInfo,
    MultipleSearchItem,
    SearchResults,
    SingleSearchItem,
)
from .easy import BaseOrganizer, BaseSearcher, EasyOrganizer, EasySearcher, EasySemanticChecker, EasyStatChecker
from .hetero import HeteroMapTableOrganizer, HeteroSearcher

log = logging.getLogger(__name__)


class LearnwareMarket:
    """Add / search / delete / update learnwares in one market (the reference's interface)."""

    def __init__(self, organizer, searcher, checker_list: list | None = None, **kwargs):
        self.learnware_organizer = organizer
        self.learnware_searcher = searcher
        self.learnware_checker = {c.__class__.__name__: c for c in (checker_list or [])}
        for name, value in kwargs.items():
            setattr(self, name, value)

    @property
    def market_id(self) -> str:
        return self.learnware_organizer.market_id

    @property
    def dock(self):
        """lwdock's Dock behind this market (lwdock's addition)."""
        return self.learnware_organizer.dock

    def reset(self, organizer_kwargs=None, searcher_kwargs=None, checker_kwargs=None, **kwargs) -> None:
        if organizer_kwargs is not None:
            self.learnware_organizer.reset(**organizer_kwargs)
        if searcher_kwargs is not None:
            self.learnware_searcher.reset(**searcher_kwargs)
        for name, value in kwargs.items():
            setattr(self, name, value)

    def reload_market(self, **kwargs) -> bool:
        return self.learnware_organizer.reload_market(**kwargs)

    def check_learnware(self, zip_path: str, semantic_spec: dict, checker_names: list | None = None, **kwargs) -> int:
        """lwdock's whole submission check, without storing anything (Dock.check): USABLE or INVALID."""
        from dock.errors import DockError
        from specs import SpecError

        try:
            self.dock.check(zip_path, semantic_spec)
        except (DockError, SpecError) as exc:
            log.warning("Check learnware failed! Due to %s.", exc)
            return BaseChecker.INVALID_LEARNWARE
        return BaseChecker.USABLE_LEARNWARE

    def add_learnware(self, zip_path: str, semantic_spec: dict, checker_names: list | None = None,
                      **kwargs) -> tuple[str | None, int]:
        """(id, check status); (None, INVALID_LEARNWARE) when the dock refuses it (the reason is logged).
        A zip already in the market is not stored twice; a different semantic spec for the same zip
        is refused (update it with update_learnware)."""
        return self.learnware_organizer.add_learnware(zip_path=zip_path, semantic_spec=semantic_spec, **kwargs)

    def search_learnware(self, user_info, check_status: int | None = None, **kwargs) -> SearchResults:
        return self.learnware_searcher(user_info, check_status, **kwargs)

    def delete_learnware(self, id: str, **kwargs) -> bool:  # noqa: A002
        return self.learnware_organizer.delete_learnware(id, **kwargs)

    def update_learnware(self, id: str, zip_path: str | None = None, semantic_spec: dict | None = None,  # noqa: A002
                         checker_names: list | None = None, check_status: int | None = None, **kwargs) -> int:
        return self.learnware_organizer.update_learnware(id, zip_path=zip_path, semantic_spec=semantic_spec,
                                                         check_status=check_status, **kwargs)

    def get_learnware_ids(self, top: int | None = None, check_status: int | None = None, **kwargs) -> list[str]:
        return self.learnware_organizer.get_learnware_ids(top, check_status)

    def get_learnwares(self, top: int | None = None, check_status: int | None = None, **kwargs) -> list:
        return self.learnware_organizer.get_learnwares(top, check_status)

    def reload_learnware(self, learnware_id: str) -> None:
        self.learnware_organizer.reload_learnware(learnware_id)

    def get_learnware_zip_path_by_ids(self, ids, **kwargs):
        return self.learnware_organizer.get_learnware_zip_path_by_ids(ids)

    def get_learnware_dir_path_by_ids(self, ids, **kwargs):
        return self.learnware_organizer.get_learnware_dir_path_by_ids(ids)

    def get_learnware_by_ids(self, id, **kwargs):  # noqa: A002
        return self.learnware_organizer.get_learnware_by_ids(id)

    def __len__(self) -> int:
        return len(self.learnware_organizer)


def instantiate_learnware_market(market_id: str = "default", name: str = "easy", rebuild: bool = False,
                                 organizer_kwargs: dict | None = None, searcher_kwargs: dict | None = None,
                                 checker_kwargs: dict | None = None, conda_checker: bool = False,
                                 **kwargs: Any) -> LearnwareMarket:
    if name not in ("easy", "hetero"):
        raise ValueError(f"name {name} is not supported for market")
    if conda_checker:
        log.warning("conda_checker=True: lwdock checks every model in a sandboxed worker process with the "
                    "dock's Python; per-learnware environments are built at load time (runnable_option='conda')")
    organizer: EasyOrganizer
    searcher: EasySearcher
    if name == "hetero":
        organizer = HeteroMapTableOrganizer(market_id=market_id, rebuild=rebuild, **(organizer_kwargs or {}))
        searcher = HeteroSearcher(organizer=organizer)
    else:
        organizer = EasyOrganizer(market_id=market_id, rebuild=rebuild)
        searcher = EasySearcher(organizer=organizer)
    return LearnwareMarket(organizer=organizer, searcher=searcher,
                           checker_list=[EasySemanticChecker(), EasyStatChecker()], **kwargs)


__all__ = [
    "BaseChecker",
    "BaseOrganizer",
    "BaseSearcher",
    "BaseUserInfo",
    "EasyOrganizer",
    "EasySearcher",
    "EasySemanticChecker",
    "EasyStatChecker",
    "HeteroMapTableOrganizer",
    "HeteroSearcher",
    "LearnwareMarket",
    "MultipleSearchItem",
    "SearchResults",
    "SingleSearchItem",
    "instantiate_learnware_market",
]
