"""`LearnwareClient`: Beimingwu's script client, over a local dock.

Scripts written for the reference (`from learnware.client import LearnwareClient`) run with
only their import lines changed:

    from dock.reference_client import LearnwareClient
    from dock.search.query import BaseUserInfo

    client = LearnwareClient()            # the dock in $LWDOCK_HOME (or the user data dir)
    client.login(email, token)            # accepted and ignored: a local dock has no accounts
    result = client.search_learnware(BaseUserInfo(semantic_spec=..., stat_info={...}))
    learnwares = client.load_learnware(learnware_id=result["single"]["learnware_ids"][:3])

The dock opens lazily on first use (so constructing a client is free and never takes the
dock's owner lock), and `close()` or a `with` block releases it and stops loaded models.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from dock.runtime.venvs import VenvError
from dock.search.query import UserInfo

log = logging.getLogger(__name__)

_RUNNABLE_OPTIONS = (None, "conda", "docker")


class LearnwareClient:
    def __init__(self, home: str | os.PathLike | None = None):
        self._home = home
        self._dock = None

    @property
    def dock(self):
        """The underlying `Dock`, opened on first use."""
        if self._dock is None:
            from dock.dock import Dock

            self._dock = Dock.open(self._home)
        return self._dock

    # -- the reference's session calls: nothing to do locally ---------------------------
    def login(self, *args: Any, **kwargs: Any) -> None:
        """Accepted for compatibility with seed scripts; a local dock has no accounts."""

    def logout(self) -> None:
        """Accepted for compatibility; does nothing."""

    def is_login(self) -> bool:
        return True

    def is_connected(self) -> bool:
        return True

    # -- search -------------------------------------------------------------------------
    def search_learnware(self, user_info: UserInfo, page_size: int = 10, page_index: int = 0) -> dict:
        """Search the dock; the reference's result shape:

        {"single": {"learnware_ids": [...], "semantic_specifications": [...], "matching": [...]},
         "multiple": {"learnware_ids": [...], "semantic_specifications": [...], "matching": float}}

        `matching` values are lwdock's calibrated scores in [0, 1] (see docs/ARCHITECTURE.md,
        "Kernel scale and scores"); `multiple` is empty (ids []) when no mixture is recommended.
        """
        page_size, page_index = int(page_size), int(page_index)
        if page_size < 1 or page_index < 0:
            raise ValueError(f"page_size must be >= 1 and page_index >= 0, got {page_size}, {page_index}")
        result = self.dock.search(user_info, limit=page_size * (page_index + 1)).to_client_dict()
        start = page_size * page_index
        single = {key: values[start : start + page_size] for key, values in result["single"].items()}
        return {"single": single, "multiple": result["multiple"]}

    # -- learnwares -----------------------------------------------------------------------
    def load_learnware(
        self,
        learnware_path: str | os.PathLike | list | None = None,
        learnware_id: str | list[str] | None = None,
        runnable_option: str | None = None,
    ):
        """Start learnware(s) in worker processes; returns one `LoadedLearnware` for one id (or
        path) and a list for a list, like the reference.

        learnware_path: zip file(s): stored in the dock first (checked, same bytes stored once)
            and then loaded, so they are searchable afterwards too.
        learnware_id: id(s) or unambiguous id prefixes of learnwares in the dock.
        runnable_option: None: each model runs in the dock's own Python, in a worker process.
            "conda" (the reference builds a conda env from the learnware's requirements): the
            worker runs in a venv built from them instead (`Dock.load(isolation="venv")`, cached
            per requirements set, offline: a requirement the dock cannot satisfy from its own
            packages or local wheels raises VenvError naming it). "docker" is accepted and
            ignored (warned): no container runtime; the worker process is sandboxed as usual.
        """
        if runnable_option not in _RUNNABLE_OPTIONS:
            raise ValueError(f"runnable_option must be one of ['conda', 'docker'], but got {runnable_option!r}")
        if runnable_option == "docker":
            log.warning("runnable_option='docker' is ignored: no container runtime; models run in sandboxed workers")
        isolation = "venv" if runnable_option == "conda" else "process"
        if learnware_path is None and learnware_id is None:
            raise ValueError("Requires one of learnware_path or learnware_id")
        if learnware_path is not None:
            single = isinstance(learnware_path, (str, os.PathLike))
            paths = [learnware_path] if isinstance(learnware_path, (str, os.PathLike)) else list(learnware_path)
            ids = [self.dock.submit(Path(p)) for p in paths]
        else:
            assert learnware_id is not None  # one of the two was given (checked above)
            single = isinstance(learnware_id, str)
            ids = [learnware_id] if isinstance(learnware_id, str) else list(learnware_id)
        try:
            loaded = [self.dock.load(i, isolation=isolation) for i in ids]
        except VenvError as exc:
            raise VenvError(f"{exc}\nrunnable_option='conda' builds each learnware's environment offline: put "
                            "the wheels it needs in a folder named by $LWDOCK_WHEELS, or load with "
                            "runnable_option=None to run it in the dock's own environment") from exc
        return loaded[0] if single else loaded

    def get_semantic_specification(self, learnware_id: str) -> dict:
        return self.dock.get(learnware_id).semantic_spec

    def list_learnware(self) -> list[dict]:
        return [r.summary() for r in self.dock.list()]

    def upload_learnware(self, learnware_zip_path: str | os.PathLike, semantic_specification: dict | None = None):
        return self.dock.submit(learnware_zip_path, semantic_specification)

    def download_learnware(self, learnware_id: str, save_path: str | os.PathLike) -> Path:
        return self.dock.export(learnware_id, save_path)

    def delete_learnware(self, learnware_id: str) -> None:
        self.dock.remove(learnware_id)

    # -- the reference's later calls (issue 15) --------------------------------------------
    def list_semantic_specification_values(self, key) -> list[str]:
        """The values lwdock's checker allows for a Class/Tag key ("Data", "Task", "Library", "Scenario",
        "License", or the reference's SemanticSpecificationKey member)."""
        from specs.semantic import SEMANTIC_FIELDS

        name = getattr(key, "value", key)
        if name not in SEMANTIC_FIELDS or SEMANTIC_FIELDS[name]["Values"] is None:
            choices = [k for k, f in SEMANTIC_FIELDS.items() if f["Values"] is not None]
            raise ValueError(f"key must be one of {choices}, got {name!r}")
        return list(SEMANTIC_FIELDS[name]["Values"])

    def update_learnware(self, learnware_id: str, semantic_specification: dict,
                         learnware_zip_path: str | os.PathLike | None = None) -> None:
        """A new semantic spec for a learnware this dock published (a newer signed record, see
        Dock.update_semantic). A new zip is a new learnware here (its id is the zip's hash): refused."""
        if learnware_zip_path is not None:
            raise ValueError("lwdock identifies a learnware by its zip's bytes: upload the new zip as a new "
                             "learnware (and delete the old one); update_learnware changes the semantic spec only")
        self.dock.update_semantic(learnware_id, semantic_specification)

    @staticmethod
    def check_learnware(learnware_zip_path: str | os.PathLike, semantic_specification: dict | None = None) -> None:
        """Every submission check on a zip, nothing stored (`lwdock check`). Without a semantic spec the
        zip's own is used. AssertionError with the reason on failure, as the reference's asserts."""
        from dock.errors import DockError
        from dock.network.semantic_update import check_zip
        from specs import SpecError

        try:
            check_zip(learnware_zip_path, semantic_specification)
        except (DockError, SpecError) as exc:
            raise AssertionError(f"learnware check failed: {exc}") from exc

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        if self._dock is not None:
            self._dock.close()
            self._dock = None

    def __enter__(self) -> "LearnwareClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
