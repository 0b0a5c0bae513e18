"""One error registry (dock/errors.py): every error a user can meet has its own exit code and
one-line meaning, and crosses the control socket as the same class with the same message and
fields; the control server binds parameters before calling, so a TypeError inside a method is an
internal error (logged with its traceback), not "bad parameters"."""

from __future__ import annotations

import ast
import logging
import shutil
import socket
import tempfile
from pathlib import Path

import msgpack
import pytest

from dock import errors
from dock.cli.parser import build_parser
from dock.control.codec import error_from_wire, error_to_wire
from dock.control.server import ControlServer
from dock.control.wire import recv_frame, send_frame
from dock.errors import REGISTRY, ControlRequestError, DockError, InternalError, error_kind

ROOT = Path(__file__).resolve().parents[2]
# A value for each constructor keyword a registered class has (a new keyword needs one here).
SAMPLE_FIELDS = {"check": "semantic spec", "reason": "Output.Dimension is missing", "passes": True,
                 "what": "image specs", "extra": "image", "missing": "torch", "code": 3, "message": "slow down"}


def _example(kind: errors.ErrorKind) -> BaseException:
    if kind.fields:
        return kind.cls(**{f: SAMPLE_FIELDS[f] for f in kind.fields})
    return kind.cls(f"{kind.name} says what was wrong: 'x' ≠ \"y\"")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_error_round_trips_the_control_codec(name):
    kind = REGISTRY[name]
    original = _example(kind)
    frame = msgpack.unpackb(msgpack.packb({"error": error_to_wire(original)}, use_bin_type=True), raw=False)
    rebuilt = error_from_wire(frame["error"])
    assert type(rebuilt) is kind.cls and str(rebuilt) == str(original)
    assert {f: getattr(rebuilt, f) for f in kind.fields} == {f: getattr(original, f) for f in kind.fields}
    assert error_kind(rebuilt).exit_code == error_kind(original).exit_code == kind.exit_code
    if isinstance(original, DockError):
        assert rebuilt.exit_code == original.exit_code == kind.exit_code


def test_exit_codes_are_distinct_and_documented():
    codes = [kind.exit_code for kind in REGISTRY.values()]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all(0 < code < 126 for code in codes)  # 126+ are the shell's
    assert all(kind.name == kind.cls.__name__ and kind.doc.endswith(".") for kind in REGISTRY.values())
    epilog = build_parser().format_help()
    for kind in REGISTRY.values():
        assert f"  {kind.exit_code:<3} {kind.name} " in epilog
    assert (ROOT / "docs" / "EXIT_CODES.md").read_text(encoding="utf-8") == errors.exit_codes_markdown(), \
        "docs/EXIT_CODES.md is stale: python -m dock.errors > docs/EXIT_CODES.md"


def test_codec_refuses_to_build_what_is_not_registered():
    # A bug's exception crosses as an InternalError naming it; a name outside the registry
    # (another version, or a hostile frame naming a module attribute) is never looked up.
    wire = error_to_wire(KeyError("lost"))
    assert wire["type"] == "InternalError" and "KeyError" in wire["message"]
    assert type(error_from_wire(wire)) is InternalError
    for name in ("RunnerTimeout.__base__", "Path", "os", "SystemExit", "", None):
        rebuilt = error_from_wire({"type": name, "message": "hello"})
        assert type(rebuilt) is DockError and "hello" in str(rebuilt)
    assert type(error_from_wire("not a map")) is DockError
    # A registered class with missing fields still comes back as itself, with the message.
    rebuilt = error_from_wire({"type": "CheckError", "message": "check 'x' failed: y"})
    assert type(rebuilt) is errors.CheckError and str(rebuilt) == "check 'x' failed: y"


def test_every_dock_error_class_lives_in_dock_errors():
    """No DockError subclass is defined anywhere in dock/ but dock/errors.py (old import paths
    re-export), and every one there is registered."""
    family = {kind.name for kind in REGISTRY.values() if issubclass(kind.cls, DockError)}
    elsewhere = []
    for path in sorted((ROOT / "dock").rglob("*.py")):
        if path == ROOT / "dock" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", ())}
            if isinstance(node, ast.ClassDef) and bases & family:
                elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert elsewhere == []
    pending = [DockError]
    while pending:
        cls = pending.pop()
        assert cls.__module__ == "dock.errors" and REGISTRY[cls.__name__].cls is cls
        pending.extend(cls.__subclasses__())
    from dock.network.fetch import NetworkError
    from dock.reuse import ReuseError

    assert NetworkError is errors.NetworkError and ReuseError is errors.ReuseError  # old paths still import


@pytest.fixture
def control_server():
    folder = Path(tempfile.mkdtemp(prefix="lwc-", dir="/tmp"))  # short: a Unix socket path has ~100 bytes

    def lookup(learnware_id: str, verbose: bool = False) -> dict:
        if learnware_id == "missing":
            raise errors.NotFoundError(f"no learnware {learnware_id!r}")
        return {"id": learnware_id, "verbose": verbose}

    def buggy(learnware_id: str) -> int:
        return len(None)  # a bug: TypeError raised inside the method

    server = ControlServer({"lookup": lookup, "buggy": buggy, "unsendable": lambda: {"a": object()}},
                           folder / "control.sock")
    server.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(folder / "control.sock"))
    ids = iter(range(1, 1000))

    def call(method, **params):
        request_id = next(ids)
        send_frame(sock, {"id": request_id, "method": method, "params": params})
        reply = recv_frame(sock)
        assert reply["id"] == request_id
        return reply["result"] if reply["ok"] else error_from_wire(reply["error"])

    yield call
    sock.close()
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_control_server_binds_parameters_before_calling(control_server, caplog):
    caplog.set_level(logging.INFO, logger="dock.control.server")
    for params in ({}, {"learnware_id": "a", "colour": "red"}, {"verbose": True}):
        refused = control_server("lookup", **params)
        assert type(refused) is ControlRequestError and str(refused).startswith("bad parameters for 'lookup': ")
    unknown = control_server("drop_tables")
    assert type(unknown) is ControlRequestError and "unknown control method 'drop_tables'" in str(unknown)
    assert not any(r.exc_info for r in caplog.records)  # a client's mistake is no bug of ours
    # A method's own error crosses as itself; the honest call works.
    missing = control_server("lookup", learnware_id="missing")
    assert type(missing) is errors.NotFoundError and str(missing) == "no learnware 'missing'"
    assert control_server("lookup", learnware_id="a", verbose=True) == {"id": "a", "verbose": True}


def test_a_type_error_inside_a_method_is_an_internal_error(control_server, caplog):
    caplog.set_level(logging.INFO, logger="dock.control.server")
    failed = control_server("buggy", learnware_id="a")
    assert type(failed) is InternalError and "bad parameters" not in str(failed)
    assert "TypeError: object of type 'NoneType' has no len()" in str(failed)
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is TypeError]
    assert len(logged) == 1 and "buggy" in logged[0].getMessage()  # the traceback stays in the node's log
    assert control_server("lookup", learnware_id="b") == {"id": "b", "verbose": False}  # still serving
    unsendable = control_server("unsendable")  # a result msgpack cannot carry: an error reply, not a hang-up
    assert type(unsendable) is InternalError and "could not be encoded" in str(unsendable)
    assert control_server("lookup", learnware_id="c") == {"id": "c", "verbose": False}
