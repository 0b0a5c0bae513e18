"""Error tree of the dock layer: one root, one subclass per responsibility.

The CLI maps these to stderr and a non-zero exit code; the TUI shows them in a modal. Every
message says what was wrong and, where there is one, what to do about it.
"""


class DockError(Exception):
    """Root of every error the dock raises on purpose."""

    exit_code = 1


class PackageError(DockError):
    """A learnware zip is malformed, unsafe or incomplete."""

    exit_code = 3


class CheckError(DockError):
    """A submission check failed; nothing was stored. `check` names the check that failed."""

    exit_code = 4

    def __init__(self, check: str, reason: str):
        super().__init__(f"check '{check}' failed: {reason}")
        self.check = check
        self.reason = reason


class RunnerError(DockError):
    """A learnware's model failed in its worker process (crash, bad output, bad input)."""

    exit_code = 5


class RunnerTimeout(RunnerError):
    """A learnware's model did not answer within its time limit; its worker was killed."""


class StoreError(DockError):
    """The dock's store (DuckDB catalogue or blob folder) refused an operation."""

    exit_code = 6


class NotFoundError(StoreError):
    """No learnware with that id in this dock."""


class DockBusyError(StoreError):
    """Another process owns this dock's home."""


class SearchError(DockError):
    """A search query is invalid (wrong dimension, unknown filter value, empty)."""

    exit_code = 7


class DataFileError(DockError):
    """A user's data file (table, images or documents; see dock.datafiles) could not be read."""

    exit_code = 8
