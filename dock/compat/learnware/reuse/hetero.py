"""`learnware.reuse.hetero` on lwdock: HeteroMapAlignLearnware and FeatureAlignLearnware.

Both wrap lwdock's column alignment (dock/reuse/align.py, docs/ARCHITECTURE.md "Heterogeneous
tables"), not the reference's machinery:

* The reference maps every table into a shared space learned by a BERT-based column encoder (a hub
  download, trained by the "hetero" market's organizer) and then trains a small torch network per
  learnware that moves the user's RKME onto the learnware's (FeatureAlignLearnware). lwdock pairs
  the user's columns with the learnware's inputs in its OFFLINE column space (description embedding
  + the value marginals of both RKMEs), copies or rescales paired columns and imputes the
  learnware's missing inputs by their conditional mean under the learnware's spec. Nothing is
  downloaded and nothing runs on a GPU: `cuda_idx` and the reference's `align_arguments`
  (network_type, num_epoch, lr, ...) are accepted and ignored (logged once).
* The user's column names. The reference's align gets only the user's RKME; lwdock needs names to
  pair columns. They come, in this order, from: `user_columns=` (an lwdock keyword of align, a list
  of the user's column descriptions); the search that returned the learnware (a "hetero" market's
  search_learnware carries its column pairing and the user's Input.Description); otherwise BY
  POSITION: the user's column i is taken to be the learnware's input i (its description), for
  i < min(user width, learnware width), and the rest are unpaired (logged as a warning; the label
  correction of HeteroMapAlignLearnware then decides how much of the learnware to trust;
  docs/COMPAT.md).
* HeteroMapAlignLearnware.align(user_rkme, x_train, y_train): with labels, lwdock's cross-validated
  correction (HeteroAlignReuser.fit: the aligned learnware as is, a head on its output, a head on its
  output + the user's columns, or the columns alone) where the reference always fits a
  FeatureAugmentReuser; without labels the aligned learnware alone, as the reference (with its warning).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from dock.errors import ReuseError
from dock.reuse.align import AlignedLearnware, HeteroAlignReuser
from dock.reuse.align import align as native_align
from dock.reuse.base import keyword_data, semantic_of
from specs.hetero import column_descriptions

from ..learnware import Learnware

log = logging.getLogger(__name__)

TABLE_SPEC = "RKMETableSpecification"


def positional_columns(dim: int, learnware) -> list[str]:
    """Names for a user table whose columns were not described (docs/COMPAT.md): the learnware's
    input descriptions by position, "user column i" past the learnware's width."""
    own = column_descriptions(semantic_of(learnware)) or []
    return [own[i] if i < len(own) else f"user column {i}" for i in range(int(dim))]


class AlignLearnware(Learnware):
    """The reference's base: a Learnware (same id, model, specification, dirpath) that align()s."""

    def __init__(self, learnware: Learnware):
        if not isinstance(learnware, Learnware):
            raise ReuseError(f"{type(learnware).__name__} is not a Learnware: pass one returned by a market search "
                             "or LearnwareClient.load_learnware")
        super().__init__(id=learnware.id, model=learnware.get_model(), specification=learnware.get_specification(),
                         learnware_dirpath=learnware.get_dirpath(), dock=learnware._dock, loaded=learnware._loaded)
        # the plain learnware, whose predict runs the model (an aligned one's predict takes user rows)
        self.origin: Learnware = getattr(learnware, "origin", learnware)
        self.hetero_mapping: dict | None = getattr(learnware, "hetero_mapping", None)
        self.user_columns: list[str] | None = getattr(learnware, "user_columns", None)

    def align(self, *args, **kwargs):
        raise NotImplementedError("The align method is not implemented!")


class FeatureAlignLearnware(AlignLearnware):
    """The learnware fed the user's columns, aligned from the specs alone (no labels)."""

    def __init__(self, learnware: Learnware, cuda_idx=None, **align_arguments):
        super().__init__(learnware)
        self.cuda_idx = cuda_idx
        self.align_arguments = dict(align_arguments)
        self.align_model: AlignedLearnware | None = None
        if self.align_arguments or cuda_idx is not None:
            log.info("FeatureAlignLearnware: cuda_idx and %s have no counterpart in lwdock's alignment (ignored)",
                     sorted(self.align_arguments) or "no arguments")

    def _columns(self, dim: int, user_columns: Sequence[str] | None) -> list[str]:
        names = user_columns if user_columns is not None else self.user_columns
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != dim:
                raise ReuseError(f"{len(names)} column names for a user table of {dim} columns")
            return names
        log.warning("learnware %s: your columns are not described (give user_columns= or search a 'hetero' market "
                    "with Input.Description); assuming your column i is the learnware's input i", str(self.id)[:12])
        return positional_columns(dim, self.origin)

    def _mapping(self, dim: int) -> dict | None:
        """The search's pairing, when it was made for a table of this width."""
        found = self.hetero_mapping
        return found if found is not None and int(found.get("user_dim", -1)) == dim else None

    def align(self, user_rkme, x_train=None, *, user_columns: Sequence[str] | None = None) -> None:
        """Pair the user's columns with the learnware's inputs (user_rkme: the user's table RKME;
        x_train, optional, only sharpens the user's value statistics)."""
        dim = _spec_dim(user_rkme)
        self.user_columns = self._columns(dim, user_columns)
        mapping = None if user_columns is not None else self._mapping(dim)
        self.align_model = native_align(self.origin, self.user_columns, None if x_train is None else x_train,
                                        user_spec=user_rkme, mapping=mapping)

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        if self.align_model is None:
            raise ReuseError("FeatureAlignLearnware must be aligned before making predictions.")
        return self.align_model.predict(keyword_data(X, user_data, "X", "user_data"))

    def transform(self, user_data) -> np.ndarray:
        """The user's rows as the learnware's input (lwdock's addition)."""
        if self.align_model is None:
            raise ReuseError("FeatureAlignLearnware must be aligned before transforming data.")
        return self.align_model.transform(user_data)


class HeteroMapAlignLearnware(AlignLearnware):
    """Align a learnware of another feature space to the user's table, then correct it with labels."""

    def __init__(self, learnware: Learnware | None = None, mode: str | None = None, cuda_idx=None,
                 **align_arguments: Any):
        if learnware is None:
            raise ReuseError("HeteroMapAlignLearnware needs a learnware")
        super().__init__(learnware)
        if mode not in ("classification", "regression"):
            raise AssertionError("Mode must be either 'classification' or 'regression'")
        self.mode = mode
        self.cuda_idx = cuda_idx
        self.align_arguments = dict(align_arguments)
        self.reuser: Any = None
        self.feature_align_learnware: FeatureAlignLearnware | None = None

    def align(self, user_rkme, x_train=None, y_train=None, *, user_columns: Sequence[str] | None = None) -> None:
        feature_aligned = FeatureAlignLearnware(self, cuda_idx=self.cuda_idx, **self.align_arguments)
        feature_aligned.align(user_rkme, x_train, user_columns=user_columns)
        self.feature_align_learnware = feature_aligned
        self.user_columns = feature_aligned.user_columns
        if x_train is None or y_train is None:
            log.warning("Hetero learnware may not perform well as labeled data alignment is not provided!")
            self.reuser = feature_aligned
            return
        assert feature_aligned.align_model is not None
        self.reuser = HeteroAlignReuser([feature_aligned.align_model], user_columns=self.user_columns,
                                        mode=self.mode).fit(x_train, y_train)

    def predict(self, X=None, *, user_data=None) -> np.ndarray:
        if self.reuser is None:
            raise AssertionError("HeteroMapAlignLearnware must be aligned before making predictions.")
        return np.asarray(self.reuser.predict(keyword_data(X, user_data, "X", "user_data")))


def _spec_dim(user_rkme) -> int:
    if getattr(user_rkme, "type", TABLE_SPEC) != TABLE_SPEC or getattr(user_rkme, "z", None) is None:
        raise ReuseError("align needs the user's table RKME (RKMETableSpecification with its points), "
                         f"got {type(user_rkme).__name__}")
    return int(np.asarray(user_rkme.z).shape[1])


__all__ = ["AlignLearnware", "FeatureAlignLearnware", "HeteroMapAlignLearnware"]
