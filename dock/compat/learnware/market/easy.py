"""The "easy" market on one lwdock dock: organizer (storage), searcher, checkers.

A market is a dock home of its own, `<config.C.root_path>/markets/<market_id>`. Adding a learnware
is `Dock.submit` (the zip is read as hostile input, its model run in a sandboxed worker on inputs drawn
from its own spec: lwdock's checks are the reference's semantic + stat checkers and more); ids are
lwdock's (the sha256 of the zip), not the reference's counters. Searching is `Dock.search`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from .base import BaseChecker, BaseUserInfo, MultipleSearchItem, SearchResults, SingleSearchItem, as_native_user_info

log = logging.getLogger(__name__)

_open_docks: dict[Path, Any] = {}  # one open Dock per market folder in this process (the owner lock is per home)
_learnwares: dict[Path, dict[str, Any]] = {}  # per market folder: the Learnware objects (their workers) by id
_lock = threading.Lock()


def _market_home(market_id: str) -> Path:
    from ..config import C

    if not isinstance(market_id, str) or not market_id or "/" in market_id or market_id in (".", ".."):
        raise ValueError(f"market_id must be a plain name, got {market_id!r}")
    return Path(C.market_root_path) / "markets" / market_id


def _close_dock(home: Path) -> None:
    for lw in _learnwares.pop(home, {}).values():
        lw.close()
    dock = _open_docks.pop(home, None)
    if dock is not None:
        dock.close()


@atexit.register
def _close_all() -> None:
    with _lock:
        for home in list(_open_docks):
            _close_dock(home)


def open_market_dock(market_id: str, rebuild: bool):
    """The market's Dock, opened once per process; rebuild=True empties the market first."""
    from dock.dock import Dock
    from dock.home import DockHome

    home = _market_home(market_id)
    with _lock:
        if rebuild:
            _close_dock(home)
            if home.exists():
                if not DockHome.resolve(home).db_path.exists():
                    raise ValueError(f"{home} exists and is not a market made here; refusing to delete it")
                shutil.rmtree(home)
        dock = _open_docks.get(home)
        if dock is None:
            os.makedirs(home.parent, exist_ok=True)
            dock = _open_docks[home] = Dock.open(home)
            _learnwares[home] = {}
        return dock


class BaseOrganizer:
    def __init__(self, market_id: str, **kwargs):
        self.reset(market_id=market_id, **kwargs)

    def reset(self, market_id: str, rebuild: bool = False, **kwargs) -> None:
        self.market_id = market_id


class EasyOrganizer(BaseOrganizer):
    def reset(self, market_id: str, rebuild: bool = False, **kwargs) -> None:
        self.market_id = market_id
        self.dock = open_market_dock(market_id, rebuild)
        self._learnwares = _learnwares[_market_home(market_id)]

    def reload_market(self, rebuild: bool = False, **kwargs) -> bool:
        self.reset(self.market_id, rebuild=rebuild)
        return True

    def learnware(self, learnware_id: str):
        """The one `Learnware` object per id (its worker, once started, is shared)."""
        from ..learnware import learnware_from_dock

        cache = self._learnwares
        lw = cache.get(learnware_id)
        if lw is None:
            lw = cache[learnware_id] = learnware_from_dock(self.dock, learnware_id)
        return lw

    def add_learnware(self, zip_path: str, semantic_spec: dict, check_status: int | None = None,
                      learnware_id: str | None = None, **kwargs) -> tuple[str | None, int]:
        from dock.errors import DockError
        from specs import SpecError

        if learnware_id is not None:
            log.warning("learnware_id=%r ignored: lwdock's id is the sha256 of the zip", learnware_id)
        try:
            new_id = self.dock.submit(zip_path, semantic_spec)
        except (DockError, SpecError) as exc:
            log.warning("Add learnware failed! Due to %s", exc)
            return None, BaseChecker.INVALID_LEARNWARE
        return new_id, BaseChecker.USABLE_LEARNWARE

    def delete_learnware(self, id: str, **kwargs) -> bool:  # noqa: A002
        from dock.errors import NotFoundError

        try:
            learnware_id = self.dock.resolve_id(id)
        except NotFoundError:
            log.warning("Learnware id:'%s' NOT Found!", id)
            return False
        lw = self._learnwares.pop(learnware_id, None)
        if lw is not None:
            lw.close()
        self.dock.remove(learnware_id)
        return True

    def update_learnware(self, id: str, zip_path: str | None = None, semantic_spec: dict | None = None,  # noqa: A002
                         check_status: int | None = None, **kwargs) -> int:
        """A new semantic spec for a stored learnware (a newer signed record). A new zip is a new
        learnware in lwdock (the id is the zip's hash): add it, and delete the old one if you mean to."""
        if zip_path is not None:
            raise ValueError("lwdock identifies a learnware by its zip's bytes: add the new zip with add_learnware "
                             "(and delete_learnware the old id); update_learnware changes the semantic spec only")
        if semantic_spec is not None:
            learnware_id = self.dock.resolve_id(id)
            self.dock.update_semantic(learnware_id, semantic_spec)
            lw = self._learnwares.get(learnware_id)
            if lw is not None:
                lw.update_semantic_spec(dict(self.dock.get(learnware_id).semantic_spec))
        return BaseChecker.USABLE_LEARNWARE

    def get_learnware_ids(self, top: int | None = None, check_status: int | None = None) -> list[str]:
        ids = [r.id for r in self.dock.list()]
        return ids if top is None else ids[:top]

    def get_learnwares(self, top: int | None = None, check_status: int | None = None) -> list:
        return [self.learnware(i) for i in self.get_learnware_ids(top, check_status)]

    def get_learnware_by_ids(self, id):  # noqa: A002
        if isinstance(id, list):
            return [self._by_id(i) for i in id]
        return self._by_id(id)

    def _by_id(self, learnware_id: str):
        from dock.errors import NotFoundError

        try:
            return self.learnware(self.dock.resolve_id(learnware_id))
        except NotFoundError:
            log.warning("Learnware ID '%s' NOT Found!", learnware_id)
            return None

    def get_learnware_zip_path_by_ids(self, ids):
        if isinstance(ids, list):
            return [str(self.dock.zip_path(i)) for i in ids]
        return str(self.dock.zip_path(ids))

    def get_learnware_dir_path_by_ids(self, ids):
        if isinstance(ids, list):
            return [self.learnware(self.dock.resolve_id(i)).get_dirpath() for i in ids]
        return self.learnware(self.dock.resolve_id(ids)).get_dirpath()

    def reload_learnware(self, learnware_id: str) -> None:
        lw = self._learnwares.pop(self.dock.resolve_id(learnware_id), None)
        if lw is not None:
            lw.close()

    def __len__(self) -> int:
        return len(self.dock.list())


class BaseSearcher:
    def __init__(self, organizer, **kwargs):
        self.reset(organizer=organizer, **kwargs)

    def reset(self, organizer, **kwargs) -> None:
        self.learnware_organizer = organizer

    def __call__(self, user_info: BaseUserInfo, check_status: int | None = None, **kwargs) -> SearchResults:
        raise NotImplementedError("'__call__' method is not implemented in BaseSearcher")


class EasySearcher(BaseSearcher):
    """lwdock's search: semantic filters + ranked text; with a stat spec, RKME ranking and a mixture when
    one beats the best single (docs/ARCHITECTURE.md). Scores are lwdock's, in [0, 1] (not the reference's
    relative scores); `max_search_num` caps the single results (the reference's keyword)."""

    def __call__(self, user_info, check_status: int | None = None, max_search_num: int = 5, **kwargs) -> SearchResults:
        organizer = self.learnware_organizer
        result = organizer.dock.search(as_native_user_info(user_info), limit=max(1, int(max_search_num)))
        single = [SingleSearchItem(learnware=organizer.learnware(m.id), score=m.score) for m in result.single]
        multiple = []
        if result.multiple is not None:
            multiple.append(MultipleSearchItem(learnwares=[organizer.learnware(i) for i in result.multiple.ids],
                                               score=result.multiple.score))
        return SearchResults(single, multiple)


class EasySemanticChecker(BaseChecker):
    """The semantic spec checked by lwdock's validator (specs/semantic.py)."""

    @staticmethod
    def check_semantic_spec(semantic_spec) -> tuple[int, str]:
        from specs import SpecError, validate_semantic_spec

        try:
            validate_semantic_spec(semantic_spec)
        except SpecError as exc:
            return BaseChecker.INVALID_LEARNWARE, str(exc)
        return BaseChecker.USABLE_LEARNWARE, "EasySemanticChecker Success"

    def __call__(self, learnware) -> tuple[int, str]:
        return self.check_semantic_spec(learnware.get_specification().get_semantic_spec())


class EasyStatChecker(BaseChecker):
    """lwdock's submission checks (model load in a sandboxed worker, predictions on inputs drawn from the
    spec, shapes and labels against the semantic spec): run by `Dock.check` on a zip."""

    def __call__(self, learnware) -> tuple[int, str]:
        from dock.errors import DockError
        from specs import SpecError

        dock, zip_path = getattr(learnware, "_dock", None), None
        if dock is None:
            return BaseChecker.NONUSABLE_LEARNWARE, "not in a dock: lwdock checks a learnware's zip (Dock.check)"
        try:
            zip_path = dock.zip_path(learnware.id)
            dock.check(zip_path, learnware.get_specification().get_semantic_spec())
        except (DockError, SpecError) as exc:
            return BaseChecker.INVALID_LEARNWARE, str(exc)
        return BaseChecker.USABLE_LEARNWARE, "EasyStatChecker Success"
