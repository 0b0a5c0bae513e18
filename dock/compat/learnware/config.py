"""`learnware.config.C`: the reference's configuration object, with lwdock's values.

The allowed semantic values come from lwdock's own checker (specs/semantic.py), so they are the ones
a submission is checked against. root_path is where markets made by `instantiate_learnware_market`
live: `$LWDOCK_HOME/compat` when LWDOCK_HOME is set, else `compat` in lwdock's default home. Keys
about the reference's web service (backend_host, database_url) are kept for scripts that read them;
nothing here talks to a web service.
"""

from __future__ import annotations

import copy
import logging
import os
from enum import Enum
from pathlib import Path


class SystemType(Enum):
    LINUX = 0
    MACOS = 1
    WINDOWS = 2


def get_platform() -> SystemType:
    import platform

    name = platform.system().lower()
    if "darwin" in name or "macos" in name:
        return SystemType.MACOS
    if "windows" in name:
        return SystemType.WINDOWS
    if "linux" in name:
        return SystemType.LINUX
    raise SystemError("Learnware only support MACOS/Linux/Windows")


def _root() -> str:
    from dock.home import HOME_ENV, default_home

    home = os.environ.get(HOME_ENV)
    return str(Path(home) / "compat" if home else default_home() / "compat")


def _semantic_config() -> dict:
    from specs.semantic import SEMANTIC_FIELDS

    config = {}
    for key, field in SEMANTIC_FIELDS.items():
        values = field.get("Values")
        config[key] = {"Values": list(values) if values is not None else None, "Type": field["Type"]}
    return config


def _defaults() -> dict:
    root = _root()
    return {
        "root_path": root,
        "package_path": os.path.dirname(os.path.abspath(__file__)),
        "database_path": os.path.join(root, "database"),
        "stdout_path": os.path.join(root, "stdout"),
        "cache_path": os.path.join(root, "cache"),
        "logging_level": logging.INFO,
        "logging_outfile": None,
        "semantic_specs": _semantic_config(),
        "market_root_path": root,
        "learnware_folder_config": {"yaml_file": "learnware.yaml", "module_file": "__init__.py"},
        "database_url": None,  # the reference's SQL URL: lwdock's catalogue is a DuckDB file per market
        "max_reduced_set_size": 1310720,
        "backend_host": None,  # no web service: the client works on a local dock
        "random_seed": 0,
    }


class Config:
    def __init__(self, default_conf_factory):
        self.__dict__["_factory"] = default_conf_factory
        self.__dict__["_config"] = default_conf_factory()

    def __getitem__(self, key):
        return self.__dict__["_config"][key]

    def __getattr__(self, attr):
        if attr in self.__dict__["_config"]:
            return self.__dict__["_config"][attr]
        raise AttributeError(f"No such {attr} in self._config")

    def get(self, key, default=None):
        return self.__dict__["_config"].get(key, default)

    def __setitem__(self, key, value):
        self.__dict__["_config"][key] = value

    def __setattr__(self, attr, value):
        self.__dict__["_config"][attr] = value

    def __contains__(self, item):
        return item in self.__dict__["_config"]

    def __str__(self):
        return str(self.__dict__["_config"])

    def __repr__(self):
        return str(self.__dict__["_config"])

    def reset(self):
        """Back to the defaults ($LWDOCK_HOME is read again)."""
        self.__dict__["_config"] = copy.deepcopy(self.__dict__["_factory"]())

    def update(self, *args, **kwargs):
        self.__dict__["_config"].update(*args, **kwargs)


C = Config(_defaults)
