"""Every error lwdock raises on purpose, in one place, each with its own exit code.

The `DockError` tree is defined here (other modules import their classes from here; old import
paths re-export them). `REGISTRY` adds the specs layer's and the p2p layer's errors, so that one
table gives, for every error a user can meet: its exit code (the CLI's `main` returns it, embedded
or through the daemon), its one-line meaning (`lwdock --help` and docs/EXIT_CODES.md are generated
from it) and its name on the control socket (dock/control/codec.py rebuilds the same class from it).

A class's constructor keywords (when it has its own `__init__`) must be attributes of the same name:
they cross the control socket with the message, and the client calls the constructor with them.
Every message says what was wrong and, where there is one, what to do about it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from p2p import errors as p2p_errors
from specs import errors as specs_errors


class DockError(Exception):
    """An error of the dock with no more specific class."""

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


class StoreError(DockError):
    """The dock's store (DuckDB catalogue or blob folder) refused an operation."""

    exit_code = 6


class SearchError(DockError):
    """A search query is invalid (wrong dimension, unknown filter value, empty)."""

    exit_code = 7


class DataFileError(DockError):
    """A user's data file (table, images or documents; see dock.datafiles) could not be read."""

    exit_code = 8


class NetworkError(DockError):
    """A network operation failed (no provider, peers unreachable, bad answers)."""

    exit_code = 9


class ReuseError(DockError, ValueError):
    """Bad input to a reuser: empty list, wrong shapes, predict before fit, unknown mode."""

    exit_code = 10


class NotFoundError(StoreError):
    """No learnware with that id in this dock."""

    exit_code = 11


class DockBusyError(StoreError):
    """Another process owns this dock's home (or the node serves too many clients)."""

    exit_code = 12


class RunnerTimeout(RunnerError):
    """A learnware's model did not answer within its time limit; its worker was killed."""

    exit_code = 13


class SandboxUnavailable(RunnerError):
    """The machine cannot give a promised sandbox layer, so untrusted model code was not run."""

    exit_code = 14


class VenvError(RunnerError):
    """A learnware's environment could not be built (bad or uninstallable requirement)."""

    exit_code = 15


class ModelConfigError(PackageError):
    """A model config (class_name, module_path, kwargs) is unsafe or malformed."""

    exit_code = 16


class RecordError(DockError):
    """A record or tombstone from the network (or a file) is invalid; `reason` says why."""

    exit_code = 17

    def __init__(self, reason: str):
        super().__init__(f"invalid record: {reason}")
        self.reason = reason


class FetchedZipMismatch(DockError):
    """A fetched zip is not what its signed record says (bad package, other specs or model)."""

    exit_code = 18

    def __init__(self, reason: str):
        super().__init__(f"fetched zip does not match its record: {reason}")
        self.reason = reason


class BudgetRefused(DockError):
    """A valid record was not stored because a budget is spent; `reason` says which."""

    exit_code = 19

    def __init__(self, reason: str, *, passes: bool = False):
        super().__init__(f"record refused: {reason}")
        self.reason = reason
        self.passes = passes  # True when the same record may be taken later (a quota window)


class TrustError(DockError):
    """A trust-list change was refused (not a peer id, note too long)."""

    exit_code = 20


class DaemonUnavailable(DockError):
    """No daemon answers on this home's control socket (or it went away during a call)."""

    exit_code = 21


class ControlProtocolError(DockError):
    """The other end of the control socket sent something that is not a valid frame."""

    exit_code = 22


class ControlRequestError(DockError):
    """A control request named an unknown method or gave parameters its method does not take."""

    exit_code = 23


class InternalError(DockError):
    """A bug in the lwdock node: the request failed unexpectedly; the node's log has the traceback."""

    exit_code = 24


class WorkerLimitsError(DockError, ValueError):
    """A worker limit that cannot be (zero, negative, not a number...). A ValueError too, because
    that is what it is."""

    exit_code = 26


class PreviewError(DockError):
    """A preview of measured quality cannot run: it needs your labelled rows (a data file and its label
    column), which were not given."""

    exit_code = 27


# -- issue 15 (compat): semantic spec updates ----------------------------------------------
class SemanticConflict(PackageError):
    """This zip is already in the dock with another semantic spec; nothing was changed (use `lwdock update`)."""

    exit_code = 52


class NotPublisherError(DockError):
    """Only a learnware's publisher can update its semantic spec; this node did not publish it."""

    exit_code = 53


@dataclass(frozen=True)
class ErrorKind:
    cls: type[BaseException]
    exit_code: int

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def doc(self) -> str:
        """The docstring's first sentence, on one line."""
        paragraph = " ".join((self.cls.__doc__ or self.name).strip().split("\n\n")[0].split())
        return paragraph.split(". ")[0].rstrip(".") + "."

    @property
    def fields(self) -> tuple[str, ...]:
        """The constructor's keywords (attributes of the same name), or () for `cls(message)`."""
        init = next((c.__dict__["__init__"] for c in self.cls.__mro__ if "__init__" in c.__dict__), None)
        if init is None or not inspect.isfunction(init):
            return ()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return tuple(p.name for p in list(inspect.signature(init).parameters.values())[1:] if p.kind in kinds)


_DOCK_ERRORS: tuple[type[DockError], ...]  # (a declaration: other issues append their errors below)
_DOCK_ERRORS = (DockError, PackageError, CheckError, RunnerError, StoreError, SearchError, DataFileError,
                NetworkError, ReuseError, NotFoundError, DockBusyError, RunnerTimeout, SandboxUnavailable,
                VenvError, ModelConfigError, RecordError, FetchedZipMismatch, BudgetRefused, TrustError,
                DaemonUnavailable, ControlProtocolError, ControlRequestError, InternalError, WorkerLimitsError,
                PreviewError, SemanticConflict, NotPublisherError)

# The specs and p2p layers know nothing of exit codes: they are given theirs here.
_FOREIGN_ERRORS: tuple[tuple[type[BaseException], int], ...] = (
    (specs_errors.SpecError, 2),
    (specs_errors.MissingExtraError, 25),
    (p2p_errors.PeerError, 30),
    (p2p_errors.ListenError, 31),
    (p2p_errors.IdentityError, 32),
    (p2p_errors.NodeNotRunning, 33),
    (p2p_errors.DialError, 34),
    (p2p_errors.RequestTimeout, 35),
    (p2p_errors.ProtocolViolation, 36),
    (p2p_errors.ResponseTooLarge, 37),
    (p2p_errors.RemoteError, 38),
    (p2p_errors.RequestRefused, 39),
    (p2p_errors.TransferError, 40),
    (p2p_errors.TruncatedTransfer, 41),
    (p2p_errors.HashMismatch, 42),
    (specs_errors.SmallTableError, 45),
)

# Class name -> kind: the control socket's error names (the names are unique: a test checks it).
REGISTRY: dict[str, ErrorKind] = {
    kind.name: kind
    for kind in [ErrorKind(cls, cls.exit_code) for cls in _DOCK_ERRORS]
    + [ErrorKind(cls, code) for cls, code in _FOREIGN_ERRORS]
}


def error_kind(error: BaseException | type[BaseException]) -> ErrorKind | None:
    """The registered kind of an error (its nearest registered class), or None: not ours (a bug)."""
    cls = error if isinstance(error, type) else type(error)
    for base in cls.__mro__:
        kind = REGISTRY.get(base.__name__)
        if kind is not None and kind.cls is base:
            return kind
    return None


def exit_code_table() -> str:
    """The exit codes as plain lines, for `lwdock --help`."""
    lines = ["  0   success"]
    for kind in sorted(REGISTRY.values(), key=lambda k: k.exit_code):
        also = " (2 is also argparse's: a wrong command line)" if kind.exit_code == 2 else ""
        lines.append(f"  {kind.exit_code:<3} {kind.name:<21} {kind.doc}{also}")
    lines.append("  130 interrupted (Ctrl-C)")
    return "\n".join(lines)


def exit_codes_markdown() -> str:
    """docs/EXIT_CODES.md (tests/test_errors.py checks the file equals this)."""
    rows = ["| code | error | meaning |", "|---|---|---|", "| 0 | | success |"]
    for kind in sorted(REGISTRY.values(), key=lambda k: k.exit_code):
        rows.append(f"| {kind.exit_code} | `{kind.cls.__module__}.{kind.name}` | {kind.doc} |")
    rows.append("| 130 | | interrupted (Ctrl-C) |")
    return ("# lwdock's exit codes\n\nGenerated from `dock/errors.py` (`python -m dock.errors > docs/EXIT_CODES.md`).\n"
            "Every error class has its own code, the same embedded and through a running `lwdock node`.\n"
            "Exit code 2 is also argparse's for a wrong command line.\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":  # this file runs as __main__: the table must name the real module's classes
    import importlib

    print(importlib.import_module("dock.errors").exit_codes_markdown(), end="")
