"""Turning an exception into a modal's (title, message), by its type.

The dock's errors say what was wrong and what to do; they are shown as they are. Anything else
is unexpected: its type is named and the traceback goes to the log file, never to the screen.
"""

from __future__ import annotations

import logging

from dock.cli.terminal_text import visible

log = logging.getLogger(__name__)

# Class name (anywhere in the exception's MRO) -> modal title. By name so that `specs` and
# `dock.reuse` need not be imported here.
TITLES = {
    "DataFileError": "Cannot read the data file",
    "CheckError": "A submission check failed",
    "ModelConfigError": "The learnware's model config is not allowed",
    "PackageError": "The learnware package is not valid",
    "SandboxUnavailable": "This machine cannot confine learnware code",
    "VenvError": "Cannot build the learnware's environment",
    "RunnerTimeout": "The model did not answer in time",
    "RunnerError": "The model failed",
    "ReuseError": "Cannot reuse on this data",
    "SearchError": "The search cannot run",
    "NotFoundError": "Not found",
    "DockBusyError": "The dock is busy",
    "StoreError": "The dock's store refused",
    "MissingExtraError": "An optional part of lwdock is not installed",
    "FetchedZipMismatch": "The fetched zip does not match its record",
    "NetworkError": "Network error",
    "RecordError": "The record is not valid",
    "BudgetRefused": "Over a budget",
    "TrustError": "Cannot change the trust list",
    "DaemonUnavailable": "The node is not answering",
    "InternalError": "The node failed (see its log)",
    "ListenError": "Cannot listen on that address",
    "DialError": "Cannot reach that peer",
    "PeerError": "Network error",
    "SpecError": "Bad specification",
    "DockError": "lwdock error",
    "FileNotFoundError": "File not found",
    "PermissionError": "Permission denied",
    "IsADirectoryError": "That is a folder",
    "OSError": "File error",
}


def describe(exc: BaseException) -> tuple[str, str]:
    """(title, message); the message is shown with its control characters escaped (it may quote a
    record's name or a model's stderr) and must be rendered without markup."""
    for cls in type(exc).__mro__:
        title = TITLES.get(cls.__name__)
        if title is not None:
            return title, visible(str(exc) or cls.__name__, keep_newlines=True)
    log.error("unexpected error shown in the TUI", exc_info=exc)
    return (f"Unexpected error ({type(exc).__name__})",
            visible(f"{exc}\n\nThe traceback is in the log file.", keep_newlines=True))
