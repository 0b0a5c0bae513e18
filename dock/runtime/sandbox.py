"""The model worker's sandbox: Landlock + seccomp + no capabilities, and a report of what holds.

Loaded by dock/runtime/worker_main.py by path (the worker runs with `python -I`, which leaves this
folder off sys.path), so this file imports only the standard library; dock/runtime/sandbox_seccomp.py
is loaded the same way. `restrict(scratch, folder, protect)` applies, to the worker process and
everything it later starts (nothing can lift them), every layer the kernel offers:

  landlock-fs (ABI 1+): reads only beneath the Python installation, its site-packages, the
      system's shared libraries, the learnware's own folder (read-only) and a few /dev, /proc
      and /sys entries numpy/torch read; writes only beneath `scratch` (the worker's private
      TMPDIR). Not the dock home, the identity key, other learnwares, ~/.ssh, /etc, /dev/shm,
      or /proc/<other pid>/ (the parent's environ). A rule that would contain a `protect` path
      (the user's home, the dock home) is never added.
  seccomp (dock/runtime/sandbox_seccomp.py): no socket of any family (TCP, UDP, named and abstract
      Unix sockets, netlink), no fork/vfork/exec, no ptrace or cross-process memory access, no
      signals out, no io_uring/bpf/mount/namespaces.
  landlock-net (ABI 4+) and landlock-scope (ABI 6+): no TCP, no abstract sockets or signals
      outside the sandbox; redundant with seccomp, kept as a second wall.
  netns (where unprivileged user namespaces are allowed): the worker gets its own empty network
      namespace (a loopback that is down, and its own abstract-socket namespace), so even a
      socket that slipped past seccomp would reach nothing. Optional: many distributions
      restrict user namespaces, and seccomp already denies every socket.
  caps: every capability dropped (matters only when the dock runs as root).
What it does not stop: CPU and memory use inside the worker's rlimits (the runner sets them),
reading the files listed above (public software), covert channels through timing, and kernel
bugs. `sandbox_report()` (parent side) measures which layers this machine gives, by starting
a probe process that applies them and attacks itself.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile

_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "riscv64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (linux/landlock.h).
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE = 1 << 4, 1 << 5
_MAKE = (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # rights a file rule may hold
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_PINNED: list[int] = []  # O_PATH fds kept open for the worker's life (see _landlock)
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2

SKIP_ENV = "LWDOCK_SANDBOX_SKIP"


class _Skipped(Exception):
    pass


REQUIRED_LAYERS = ("landlock-fs", "seccomp")  # without both, untrusted code is refused by default
LAYER_GUARANTEES = {
    "landlock-fs": "reads only Python, its packages, system libraries and the learnware's folder; "
                   "writes only its scratch folder (no dock home, identity key, ~/.ssh, /dev/shm, "
                   "/proc/<parent>/environ)",
    "seccomp": "no sockets of any kind (TCP, UDP, named/abstract Unix, netlink), no fork/exec, "
               "no ptrace, no signals out",
    "landlock-net": "no TCP connect/bind (second wall behind seccomp)",
    "landlock-scope": "no abstract Unix sockets or signals outside the sandbox (second wall)",
    "caps": "no capabilities (only matters when the dock runs as root)",
    "netns": "an empty network namespace of its own (third wall: nothing to reach even with a socket)",
    "rlimits": "address space (memory), CPU seconds, file size; no fork so the caps are totals",
}
# Beneath these (when present) the worker may read: shared libraries, locale data, CPU topology.
_SYSTEM_READ = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
                "/etc/localtime", "/usr/share/zoneinfo", "/sys/devices/system/cpu", "/proc/cpuinfo",
                "/proc/meminfo", "/proc/stat", "/dev/urandom", "/dev/random", "/dev/zero")


def _fs_handled(abi: int) -> int:
    rights = _READ | _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _contains(rule: str, path: str) -> bool:
    """True if `path` is `rule` or lies beneath it (both resolved)."""
    return path == rule or path.startswith(rule.rstrip("/") + "/")


def read_paths(folder: str) -> list[str]:
    """What the worker may read: the interpreter, its import path, system libraries, the learnware."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, folder,
             *[p for p in sys.path if p], *_SYSTEM_READ]
    return [os.path.realpath(p) for p in paths]


def _landlock(scratch: str, folder: str, protect: list[str]) -> tuple[int, dict, list[str]]:
    """Apply Landlock; returns (abi, {layer: note}, skipped rules). abi 0: not available."""
    numbers = _SYS.get(platform.machine())
    if platform.system() != "Linux" or numbers is None:
        return 0, {}, []
    create, add_rule, restrict_self = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if abi < 1:
        return 0, {}, []
    fs = _fs_handled(abi)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("<QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(create, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    protect = [os.path.realpath(p) for p in protect if p]
    rules = [(p, _READ) for p in read_paths(folder)]
    rules += [(os.path.realpath("/proc/self"), _READ),  # this process only: not the parent's environ
              (os.path.realpath(scratch), fs), ("/dev/null", _READ_FILE | _WRITE_FILE | _TRUNCATE)]
    skipped: list[str] = []
    try:
        for path, rights in rules:
            if any(_contains(path, p) for p in protect):
                skipped.append(path)  # e.g. a sys.path entry that is the home itself
                continue
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not on this system: nothing to allow there
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_ONLY
                rule = ctypes.create_string_buffer(struct.pack("<Qi", rights & fs, fd), 12)  # packed struct
                if libc.syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule,
                                ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                if path.startswith(("/proc/", "/sys/")):
                    # procfs makes a new inode when a dentry is dropped from the cache, and the
                    # rule (tied to the inode) would silently stop matching: an open fd pins it.
                    _PINNED.append(fd)
                else:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(restrict_self, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    layers = {"landlock-fs": f"ABI {abi}"}
    if net:
        layers["landlock-net"] = f"ABI {abi}"
    if scoped:
        layers["landlock-scope"] = f"ABI {abi}"
    return abi, layers, skipped


def _netns() -> str:
    """unshare(CLONE_NEWUSER | CLONE_NEWNET) while still single-threaded; raises OSError."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x40000000) != 0:  # CLONE_NEWUSER | CLONE_NEWNET
        raise OSError(ctypes.get_errno(), f"unshare: {os.strerror(ctypes.get_errno())}")
    try:  # keep our own ids inside (else they read as 65534); access checks are unchanged either way
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        pass
    with open("/proc/self/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    return "interfaces: " + (",".join(interfaces) or "none")


def _load_sibling(name: str):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"lwdock_{name}", path)
    assert spec is not None and spec.loader is not None  # a path ending in .py always has a loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def restrict(scratch: str, folder: str | None = None, protect: tuple[str, ...] = ()) -> dict:
    """Confine this process; returns {"layers": {name: note}, "missing": {name: why}, "refuse":
    {the missing REQUIRED_LAYERS}, "summary": str}.

    Must run before any thread starts (Landlock binds the calling thread and its future children).
    """
    folder = folder or os.getcwd()
    layers: dict[str, str] = {}
    missing: dict[str, str] = {}
    # Tests pretend a machine lacks a layer this way; a skipped required layer means refusal.
    for name in filter(None, os.environ.get(SKIP_ENV, "").split(",")):
        missing[name] = f"skipped ({SKIP_ENV})"
    seccomp = _load_sibling("sandbox_seccomp")  # before Landlock: its file must still be readable
    if "netns" not in missing:
        try:
            layers["netns"] = _netns()
        except OSError as exc:
            missing["netns"] = f"no user+network namespace: {exc}"
    try:
        if "landlock-fs" in missing:
            raise _Skipped
        abi, got, skipped = _landlock(scratch, folder, list(protect))
        layers.update(got)
        if not abi:
            missing["landlock-fs"] = "Landlock unavailable (Linux >= 5.13 with landlock in the LSM list)"
        if skipped:
            layers["landlock-fs"] += f", left out {len(skipped)} path(s) containing the home"
    except _Skipped:
        pass
    except OSError as exc:
        missing["landlock-fs"] = f"Landlock failed: {exc}"
    try:
        if seccomp.drop_capabilities():
            layers["caps"] = "none"
    except OSError:
        pass
    try:
        if "seccomp" not in missing:
            seccomp.install()
            layers["seccomp"] = "filter on"
    except (OSError, KeyError, AttributeError) as exc:
        missing["seccomp"] = f"seccomp filter failed: {exc!r}"
    refuse = {k: v for k, v in missing.items() if k in REQUIRED_LAYERS}
    return {"layers": layers, "missing": missing, "refuse": refuse, "summary": summary(layers, missing)}


def summary(layers: dict, missing: dict) -> str:
    text = "sandbox: " + (" + ".join(f"{k} ({v})" for k, v in layers.items()) or "none")
    if missing:
        text += "; not available: " + ", ".join(missing)
    return text


# ------------------------------------------------------------------ parent side: what this machine gives

_PROBE_ATTACKS = r"""
def attacks(secret):
    import os, socket
    out = {}
    def tried(name, fn):
        try:
            fn()
            out[name] = "NOT STOPPED"
        except OSError as exc:
            out[name] = f"stopped ({type(exc).__name__})"
    tried("read outside", lambda: open(secret).read())
    tried("udp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    tried("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    tried("fork", lambda: os._exit(0) if os.fork() == 0 else None)
    tried("parent environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
    return out
"""
_CACHE: dict = {}


def sandbox_report(python: str | None = None, *, refresh: bool = False) -> dict:
    """Which layers this machine offers and what each guarantees, measured by a probe process.

    {"ok": bool (every REQUIRED_LAYERS layer works), "layers": {name: note}, "missing": {name: why},
     "guarantees": {name: text}, "attacks": {attack: "stopped (...)" | "NOT STOPPED"}, "summary"}.
    """
    python = python or sys.executable
    key = (python, os.environ.get(SKIP_ENV, ""))
    if key in _CACHE and not refresh:
        return _CACHE[key]
    with tempfile.TemporaryDirectory(prefix="lwdock-probe-") as tmp:
        scratch, secret = os.path.join(tmp, "scratch"), os.path.join(tmp, "secret")
        os.mkdir(scratch)
        with open(secret, "w") as f:
            f.write("x")
        code = (f"import json, sys\nsys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
                "import sandbox as ws\n" + _PROBE_ATTACKS +
                f"r = ws.restrict({scratch!r}, {scratch!r})\nr['attacks'] = attacks({secret!r})\n"
                "print(json.dumps(r))\n")
        try:
            proc = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                       SKIP_ENV: os.environ.get(SKIP_ENV, "")}, cwd=scratch)
            report = json.loads(proc.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
            report = {"layers": {}, "missing": {"probe": f"the sandbox probe failed: {exc!r}"}, "attacks": {}}
    layers, missing = report.get("layers", {}), report.get("missing", {})
    report["ok"] = all(name in layers for name in REQUIRED_LAYERS) and \
        "NOT STOPPED" not in report.get("attacks", {}).values()
    report["guarantees"] = {name: LAYER_GUARANTEES[name] for name in layers if name in LAYER_GUARANTEES}
    report["guarantees"]["rlimits"] = LAYER_GUARANTEES["rlimits"]
    report["summary"] = summary(layers, missing)
    _CACHE[key] = report
    return report
