"""`learnware.client` on lwdock: `LearnwareClient` over a local dock, and `SemanticSpecificationKey`.

Built on lwdock's script client (dock/reference_client.py: login accepted and ignored, search,
load with runnable_option None / "conda" (a venv, offline) / "docker" (ignored, said so), upload,
download, delete, and update_learnware / check_learnware / list_semantic_specification_values as
described below). What this layer adds, in the reference's shapes:

* load_learnware returns `Learnware` objects (`.get_specification().get_stat_spec()`, `.predict`).
* search_learnware also takes this layer's BaseUserInfo (the reference's argument order).
* list_semantic_specification_values(key): the values lwdock's checker allows.
* update_learnware(id, semantic_specification): a newer signed record (Dock.update_semantic); a new
  zip for an id is refused: the id IS the zip's hash, so a new zip is a new learnware.
* check_learnware(zip, semantic=None): lwdock's whole submission check, nothing stored; the
  semantic spec defaults to the zip's own semantic_specification.json (the reference defaults to a
  made-up Text/Segmentation spec, which a table learnware's checks would then contradict). A failure
  raises AssertionError with lwdock's reason, as the reference's asserts do.
"""

from __future__ import annotations

import logging
from enum import Enum

from dock.reference_client import LearnwareClient as _NativeClient

from ..market.base import as_native_user_info

log = logging.getLogger(__name__)


class SemanticSpecificationKey(Enum):
    DATA_TYPE = "Data"
    TASK_TYPE = "Task"
    LIBRARY_TYPE = "Library"
    SENARIOES = "Scenario"  # the reference's spelling
    LICENSE = "License"


class LearnwareClient(_NativeClient):
    def __init__(self, host=None, home=None):
        if host is not None:
            log.warning("host=%r ignored: this client works on a local dock ($LWDOCK_HOME)", host)
        super().__init__(home)

    def search_learnware(self, user_info, page_size: int = 10, page_index: int = 0) -> dict:
        return super().search_learnware(as_native_user_info(user_info), page_size, page_index)

    def load_learnware(self, learnware_path=None, learnware_id=None, runnable_option=None):
        from ..learnware import learnware_from_dock

        loaded = super().load_learnware(learnware_path=learnware_path, learnware_id=learnware_id,
                                        runnable_option=runnable_option)
        items = loaded if isinstance(loaded, list) else [loaded]
        wrapped = [learnware_from_dock(self.dock, lw.id, loaded=lw) for lw in items]
        return wrapped if isinstance(loaded, list) else wrapped[0]

    def cleanup(self) -> None:
        """The reference removes its download folders; lwdock's loaded models stop with close()."""
        self.close()


__all__ = ["LearnwareClient", "SemanticSpecificationKey"]
