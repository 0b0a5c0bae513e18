"""The reference's "hetero" market on lwdock: the easy market's dock, searched heterogeneously.

The reference trains a column encoder (HeteroMapTableOrganizer, a BERT hub download) and maps every
table spec into its space. lwdock's search pairs columns in its offline column space by itself
(dock/search/hetero.py) whenever the user's semantic spec describes every input column
(Input.Description) and a table RKME is given, so the organizer here is the easy one: its keywords
(auto_update, auto_update_limit, hetero_spec_path, ...) are accepted and have nothing to do.

A learnware found in another feature space comes back as a copy of the market's `Learnware` that
carries the search's column pairing (`hetero_mapping`) and the user's column descriptions
(`user_columns`); HeteroMapAlignLearnware / FeatureAlignLearnware use them to align. Dock.search's
mixture, across feature spaces too (dock/search/hetero_mixture.py: judged on the user columns all
its members feed), is `get_multiple_results()`; each member carries its own pairing from the
mixture (`Mixture.hetero`), so a member outside the single results aligns as well.
"""

from __future__ import annotations

import copy
import logging

from .base import MultipleSearchItem, SearchResults, SingleSearchItem, as_native_user_info
from .easy import EasyOrganizer, EasySearcher

log = logging.getLogger(__name__)


class HeteroMapTableOrganizer(EasyOrganizer):
    def __init__(self, market_id: str, rebuild: bool = False, **kwargs):
        if kwargs:
            log.info("HeteroMapTableOrganizer: %s have no counterpart (lwdock's column space needs no training)",
                     sorted(kwargs))
        super().__init__(market_id=market_id, rebuild=rebuild)

    def reset(self, market_id: str, rebuild: bool = False, **kwargs) -> None:
        super().reset(market_id, rebuild=rebuild)


class HeteroSearcher(EasySearcher):
    """Dock.search (which adds other feature spaces' learnwares when the user's columns are
    described); hetero matches carry their column pairing for the align learnwares."""

    def __call__(self, user_info, check_status: int | None = None, max_search_num: int = 5, **kwargs) -> SearchResults:
        from specs.hetero import column_descriptions

        organizer = self.learnware_organizer
        native = as_native_user_info(user_info)
        result = organizer.dock.search(native, limit=max(1, int(max_search_num)))
        user_columns = column_descriptions(native.semantic_spec)
        by_id = {match.id: match for match in result.single}

        def learnware(learnware_id: str, hetero: dict | None = None):
            lw = organizer.learnware(learnware_id)
            match = by_id.get(learnware_id)
            if hetero is None and match is not None:
                hetero = match.hetero
            if hetero is not None:
                lw = copy.copy(lw)
                lw.hetero_mapping = dict(hetero)
                lw.user_columns = user_columns
            return lw

        single = [SingleSearchItem(learnware=learnware(m.id), score=m.score) for m in result.single]
        multiple = []
        mix = result.multiple
        if mix is not None:
            pairings = mix.hetero if mix.hetero is not None else [None] * len(mix.ids)
            members = [learnware(i, h) for i, h in zip(mix.ids, pairings, strict=True)]
            multiple.append(MultipleSearchItem(learnwares=members, score=mix.score))
        return SearchResults(single, multiple)

__all__ = ["HeteroMapTableOrganizer", "HeteroSearcher"]
