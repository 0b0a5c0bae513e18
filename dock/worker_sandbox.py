"""Linux Landlock for the model worker: what a learnware's code may touch, enforced by the kernel.

Loaded by dock/model_worker.py (by path: the worker runs with `python -I`, which leaves the
script's folder off sys.path), so this file imports only the standard library.

`restrict(scratch)` applies, to the worker process and everything it later starts (a Landlock
domain is inherited and can never be lifted), as much of this as the kernel offers:
  * ABI 1+: no file or folder may be created, written, truncated, renamed or removed anywhere
    except beneath `scratch` (the worker's private temp folder, also its TMPDIR) and /dev/shm
    (POSIX semaphores of multiprocessing / joblib). Reading stays allowed everywhere: Python
    and the model's libraries must load. The learnware's own folder is read-only too, so a model
    cannot tamper with the cached package the next load starts from.
  * ABI 4+: no TCP connect or bind (a model cannot phone home or listen); UDP is not covered.
  * ABI 6+: no signals to processes outside the sandbox (a model cannot kill the dock, which
    runs as the same user), no connecting to abstract unix sockets created outside it.
Not stopped: reading any file the dock's user can read (a model can read ~/.ssh and keep what
it read in its outputs), UDP, named unix sockets, CPU time between calls (the runner's timeouts
kill a call, not idle spinning), and everything on a kernel without Landlock (< 5.13, or not
Linux): there `restrict` returns a note saying so and the worker runs unconfined.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "riscv64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (linux/landlock.h). Reads (EXECUTE, READ_FILE, READ_DIR) are never handled.
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE = (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)  # char dir reg sock fifo blk sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


def _fs_rights(abi: int) -> int:
    rights = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    return rights


def restrict(scratch: str, extra_writable: tuple[str, ...] = ("/dev/shm",)) -> str:
    """Confine this process (see the module docstring); returns a one-line description."""
    numbers = _SYS.get(platform.machine())
    if os.name != "posix" or not platform.system() == "Linux" or numbers is None:
        return "sandbox: none (Landlock needs Linux)"
    create, add_rule, restrict_self = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if abi < 1:
        return f"sandbox: none (Landlock unavailable: {os.strerror(ctypes.get_errno())})"
    fs = _fs_rights(abi)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("<QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(create, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path in (scratch, *extra_writable):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # /dev/shm may not exist: nothing to allow there
            try:
                rule = ctypes.create_string_buffer(struct.pack("<Qi", fs, fd), 12)  # packed struct
                if libc.syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule,
                                ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
        # Required for an unprivileged process; also stops setuid binaries from regaining rights.
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(restrict_self, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    parts = ["writes only in its scratch folder"]
    if net:
        parts.append("no TCP")
    if scoped:
        parts.append("no signals out")
    return f"sandbox: Landlock ABI {abi} ({', '.join(parts)})"
