"""The learnware model worker: a separate process that imports and runs one learnware's model.

Started by dock/runtime/worker.py as `python -I worker_main.py [--memory-limit-mb N] [--cpu-limit-s N]
[--file-limit-mb N] [--sandbox DIR [--protect PATH]... [--require-sandbox]]` with the learnware's
folder as its working directory; `--sandbox` confines it (dock/runtime/sandbox.py: Landlock reads
and writes, seccomp: no sockets/fork/exec) before any model code runs; with `--require-sandbox`
a worker missing a layer answers every load with "SandboxUnavailable" and runs no model code.
`-I` keeps the dock's own packages and PYTHON* variables out, so this file imports only the
standard library, numpy and msgpack; the same file holds the wire codec that worker.py imports,
so both sides agree byte for byte.

Wire: each frame is a 4-byte big-endian length and a msgpack map. Arrays travel as `.npy` bytes
written without pickle and parsed header-first (the header's shape must match the bytes that
follow), so neither side ever unpickles what the other sent. Tuples (shapes in kwargs) travel as
a msgpack ext type so a model gets back the tuple the reference's YAML gave it.

Requests:  {"op": "load", "module_path", "class_name", "kwargs"}
           {"op": "call", "method", "X": npy, "y": npy | None}
Replies:   {"ok": True, ...} or {"ok": False, "error": "Type: message", "traceback": "..."};
           the load reply also says "sandbox": what confines the worker.
"""

from __future__ import annotations

import io
import math
import struct
import sys

MAX_FRAME = 1 << 30  # 1 GiB: larger inputs must be split by the caller
ARRAY_KINDS = "biufUS"  # bool, ints, floats, strings; never objects or structured records
TUPLE_EXT = 1
PACKAGE_NAME = "learnware_pkg"
SHAPE_MAX_RANK = 8


# ------------------------------------------------------------------ codec (shared with worker.py)


def encode_array(array) -> bytes:
    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind not in ARRAY_KINDS:
        raise TypeError(f"arrays of dtype {array.dtype} cannot cross the worker boundary")
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def decode_array(data: bytes):
    """Parse .npy bytes without pickle and without trusting the header's shape."""
    import numpy as np
    from numpy.lib import format as npy

    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"array field must be bytes, got {type(data).__name__}")
    bio = io.BytesIO(data)
    version = npy.read_magic(bio)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(bio)
    elif version == (2, 0):
        shape, fortran, dtype = npy.read_array_header_2_0(bio)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"array dtype {dtype} is not allowed")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - bio.tell():
        raise ValueError(f"array header says {shape} {dtype} but {len(data) - bio.tell()} bytes follow")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=bio.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()


def _default(obj):
    if isinstance(obj, tuple):
        return _ext_tuple(obj)
    raise TypeError(f"cannot send a {type(obj).__name__} to the worker")


def _ext_tuple(obj):
    import msgpack

    return msgpack.ExtType(TUPLE_EXT, msgpack.packb(list(obj), **_PACK_OPTS))


def _ext_hook(code, data):
    import msgpack

    if code != TUPLE_EXT:
        raise ValueError(f"unknown msgpack ext type {code}")
    return tuple(msgpack.unpackb(data, **_UNPACK_OPTS))


# strict_types: tuples are not silently turned into lists; they go through _default.
_PACK_OPTS = {"use_bin_type": True, "strict_types": True, "default": _default}
_UNPACK_OPTS = {"raw": False, "ext_hook": _ext_hook, "strict_map_key": True}


def pack_frame(obj: dict) -> bytes:
    import msgpack

    body = msgpack.packb(obj, **_PACK_OPTS)
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the {MAX_FRAME} byte frame limit")
    return struct.pack(">I", len(body)) + body


def unpack_body(body: bytes):
    import msgpack

    return msgpack.unpackb(body, **_UNPACK_OPTS)


# ------------------------------------------------------------------ worker side


def _install_shims() -> None:
    """Let `from learnware.model.base import BaseModel` work without the reference installed."""
    import types

    if "learnware.model.base" in sys.modules:
        return

    class BaseModel:
        def __init__(self, input_shape, output_shape):
            self.input_shape = input_shape
            self.output_shape = output_shape

        def predict(self, X):
            raise NotImplementedError("predict is not implemented by this learnware's model")

        def fit(self, X, y):
            pass

        def finetune(self, X, y):
            pass

    BaseModel.__module__ = "learnware.model.base"  # so pickles naming it resolve here too
    root = types.ModuleType("learnware")
    model = types.ModuleType("learnware.model")
    base = types.ModuleType("learnware.model.base")
    root.__path__, model.__path__ = [], []
    # Hand-built modules: mypy knows no attributes of a bare ModuleType (this file imports no typing).
    base.BaseModel = model.BaseModel = BaseModel  # type: ignore[attr-defined]
    root.model, model.base = model, base  # type: ignore[attr-defined]
    sys.modules.update({"learnware": root, "learnware.model": model, "learnware.model.base": base})


def _import_model_module(module_path: str):
    import importlib
    import importlib.util
    import os
    import types

    folder = os.getcwd()
    init = os.path.join(folder, "__init__.py")
    if module_path == "__init__.py":
        # Loaded as a package so `from .helpers import x` inside a learnware works.
        spec = importlib.util.spec_from_file_location(PACKAGE_NAME, init, submodule_search_locations=[folder])
        assert spec is not None and spec.loader is not None  # a path ending in .py always has a loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE_NAME] = module
        spec.loader.exec_module(module)
        return module
    # Another file is the entry point: as in the reference, the package's __init__.py is not run.
    pkg = types.ModuleType(PACKAGE_NAME)
    pkg.__path__ = [folder]
    sys.modules[PACKAGE_NAME] = pkg
    parts = module_path[:-3].split("/")
    if all(p.isidentifier() for p in parts):
        return importlib.import_module(".".join([PACKAGE_NAME, *parts]))
    # A file name that is no module name ("my-model.py"): load it by path, as the reference does.
    name = PACKAGE_NAME + "._" + "".join(c if c.isalnum() else "_" for c in module_path[:-3])
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, module_path))
    assert spec is not None and spec.loader is not None  # a path ending in .py always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _shape(value, name: str, notes: list):
    if value is None:
        return None
    import numpy as np

    items = [value] if isinstance(value, (int, np.integer)) else value
    try:
        shape = [int(x) for x in items if isinstance(x, (int, np.integer)) and not isinstance(x, bool)]
        ok = len(shape) == len(items) and len(shape) <= SHAPE_MAX_RANK and all(0 <= s < 2**40 for s in shape)
    except TypeError:
        ok = False
    if not ok:
        notes.append(f"{name} is {repr(value)[:200]}, not a tuple of non-negative ints")
        return None
    return shape


def _to_array(out, method: str):
    import numpy as np

    if type(out).__module__.startswith("torch") and hasattr(out, "detach"):
        out = out.detach().cpu().numpy()  # torch is already imported if we hold a tensor
    elif hasattr(out, "to_numpy") and callable(out.to_numpy):  # pandas
        out = out.to_numpy()
    elif hasattr(out, "toarray") and callable(out.toarray):  # scipy.sparse
        out = out.toarray()
    if isinstance(out, (list, tuple, np.generic)):
        out = np.asarray(out)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{method} returned a {type(out).__name__}; expected a numpy array, "
                        "a torch tensor or a list of numbers")
    if out.dtype.kind not in ARRAY_KINDS:
        raise TypeError(f"{method} returned an array of dtype {out.dtype}; expected numbers or strings")
    return out


class _Worker:
    def __init__(self):
        self.model = None
        self.sandbox = "sandbox: off"
        self.refused: dict = {}

    def handle(self, req) -> dict:
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"ok": False, "error": "ProtocolError: request is not a map with an 'op'", "traceback": ""}
        op = req["op"]
        if op == "load" and self.refused:
            missing = "; ".join(f"{k}: {v}" for k, v in self.refused.items())
            return {"ok": False, "error": f"SandboxUnavailable: {missing}"[:4000], "traceback": "",
                    "sandbox": self.sandbox}
        if op == "load":
            return self.load(req)
        if op == "call":
            return self.call(req)
        if op == "ping":
            return {"ok": True}
        return {"ok": False, "error": f"ProtocolError: unknown op {op!r}", "traceback": ""}

    def load(self, req) -> dict:
        import os

        _install_shims()
        sys.path.append(os.getcwd())  # appended, not prepended: it cannot shadow installed packages
        module = _import_model_module(req["module_path"])
        cls = getattr(module, req["class_name"])
        # The reference does the same, so pickles made where the class lived in __main__ load.
        setattr(sys.modules["__main__"], req["class_name"], cls)
        self.model = cls(**req["kwargs"])
        notes: list = []
        methods = [m for m in ("predict", "predict_proba", "fit", "finetune")
                   if callable(getattr(self.model, m, None))]
        return {"ok": True, "methods": methods, "notes": notes, "sandbox": self.sandbox,
                "input_shape": _shape(getattr(self.model, "input_shape", None), "input_shape", notes),
                "output_shape": _shape(getattr(self.model, "output_shape", None), "output_shape", notes)}

    def call(self, req) -> dict:
        if self.model is None:
            raise RuntimeError("no model loaded")
        method = req.get("method")
        if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
            raise ValueError(f"bad method name {method!r}")
        fn = getattr(self.model, method, None)
        if not callable(fn):
            raise AttributeError(f"the model has no method {method!r}")
        X = decode_array(req["X"])
        out = fn(X) if req.get("y") is None else fn(X, decode_array(req["y"]))
        if out is None:
            return {"ok": True, "result": None}
        return {"ok": True, "result": encode_array(_to_array(out, method))}


def _error_reply(exc: BaseException) -> dict:
    import traceback

    try:
        tb = "".join(traceback.format_exception(exc))[-8000:]
    except Exception:  # formatting can fail under memory pressure; the type still helps
        tb = ""
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:4000], "traceback": tb}


def _read_exact(stream, n: int):
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _option(argv: list, name: str, default=None):
    return argv[argv.index(name) + 1] if name in argv else default


def _limit_resources(argv: list) -> None:
    """Hard limits too, so model code cannot raise them back. With fork denied by the sandbox
    these are totals for the learnware, not per process."""
    import resource

    limits = [(resource.RLIMIT_CORE, 0)]  # a crash writes no core file anywhere
    if "--memory-limit-mb" in argv:
        limits.append((resource.RLIMIT_AS, int(_option(argv, "--memory-limit-mb")) * 1024 * 1024))
    if "--cpu-limit-s" in argv:  # backstop to the runner's per-call timeout: idle-time spinning
        limits.append((resource.RLIMIT_CPU, int(_option(argv, "--cpu-limit-s"))))
    if "--file-limit-mb" in argv:  # one file's size; the runner watches the scratch folder's total
        limits.append((resource.RLIMIT_FSIZE, int(_option(argv, "--file-limit-mb")) * 1024 * 1024))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # already lower (set by the parent): keep the lower one
            pass


def _sandbox(argv: list) -> dict:
    if "--sandbox" not in argv:
        return {"layers": {}, "missing": {}, "summary": "sandbox: off"}
    import importlib.util
    import os

    # By path: `-I` keeps this script's folder off sys.path.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
    spec = importlib.util.spec_from_file_location("lwdock_worker_sandbox", path)
    assert spec is not None and spec.loader is not None  # a path ending in .py always has a loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    protect = tuple(argv[i + 1] for i, a in enumerate(argv) if a == "--protect")
    try:
        return module.restrict(_option(argv, "--sandbox"), os.getcwd(), protect)
    except Exception as exc:  # never run model code thinking it is confined when it is not
        return {"layers": {}, "missing": {"sandbox": repr(exc)}, "refuse": {"sandbox": repr(exc)},
                "summary": f"sandbox: none ({exc!r})"}


def _exit_with_parent() -> None:
    """If the dock dies while the model is stuck in a loop, nobody would ever close our stdin.

    A watchdog thread notices the re-parenting and exits. (PR_SET_PDEATHSIG is not used: it
    fires when the spawning *thread* ends, and the dock spawns workers from short-lived threads.)
    """
    import os
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(70)

    threading.Thread(target=watch, name="lwdock-parent-watch", daemon=True).start()


def main(argv: list) -> int:
    import os

    _limit_resources(argv)  # before numpy and the model map anything
    # Before any thread starts: Landlock confines the calling thread and what it spawns later.
    sandbox = _sandbox(argv)
    # What was promised but is not in force: the worker refuses to import any model code.
    refused = sandbox.get("refuse", sandbox["missing"]) if "--require-sandbox" in argv else {}
    _exit_with_parent()
    # Keep private copies of the protocol pipes, then point fds 0/1 elsewhere: a print() or a
    # C library writing to stdout lands in stderr and cannot corrupt a frame; input() gets EOF.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = _Worker()
    worker.sandbox = sandbox["summary"]
    worker.refused = refused
    while True:
        head = _read_exact(proto_in, 4)
        if head is None:
            return 0  # the dock closed the pipe: done
        size = struct.unpack(">I", head)[0]
        if size > MAX_FRAME:
            return 2
        body = _read_exact(proto_in, size)
        if body is None:
            return 0
        try:
            reply = worker.handle(unpack_body(body))
        except Exception as exc:  # the model's own errors go back as data, not as a crash
            reply = _error_reply(exc)
        try:
            frame = pack_frame(reply)
        except Exception as exc:
            frame = pack_frame(_error_reply(exc))
        view = memoryview(frame)
        while view:  # a pipe write may be partial
            view = view[proto_out.write(view):]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
