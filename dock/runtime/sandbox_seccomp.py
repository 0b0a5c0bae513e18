"""A seccomp-bpf filter for the model worker: no network, no new processes, no peeking at others.

Loaded by path from dock/runtime/sandbox.py inside the worker (standard library only). The filter
is hand-assembled classic BPF (what the kernel runs on every system call of the worker):

  * the architecture is checked first (a syscall made through another ABI, e.g. x32 or i386
    on x86_64, would carry other numbers): anything else kills the process;
  * socket() fails with EPERM for every family (AF_INET/6 TCP and UDP, AF_UNIX named and
    abstract, AF_NETLINK, AF_PACKET...): a model cannot reach any network or the dock's control
    socket. connect/bind/listen fail too. socketpair stays for AF_UNIX SOCK_STREAM only (an
    already-connected pair inside the worker, which some libraries use to wake threads);
  * clone without CLONE_THREAD (fork, vfork, posix_spawn) fails with EPERM, as do fork/vfork;
    clone3 fails with ENOSYS so libc falls back to clone for threads. No process can outlive
    the worker and no fork bomb starts. execve/execveat fail: the worker cannot become another
    program;
  * ptrace, process_vm_readv/writev, kcmp, pidfd_getfd: no reading other processes' memory/fds;
  * kill/tgkill/rt_sigqueueinfo only towards the worker itself (or its own group); tkill and
    pidfd_send_signal fail: a model cannot signal the dock or other processes of the user;
  * io_uring (it would run socket/open operations outside this filter), bpf, perf_event_open,
    userfaultfd, keyctl & co, mount & co, unshare/setns, module loading, open_by_handle_at,
    memfd_create/memfd_secret (memory outside RLIMIT_AS): EPERM;
  * ioctl TIOCSTI / TIOCLINUX (typing into a terminal): EPERM.
Everything else is allowed: the model's own computation is not this filter's business.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# name -> (x86_64, aarch64); None where the architecture has no such call.
_NR = {
    "socket": (41, 198), "connect": (42, 203), "bind": (49, 200), "listen": (50, 201),
    "socketpair": (53, 199), "clone": (56, 220), "clone3": (435, 435), "fork": (57, None),
    "vfork": (58, None), "execve": (59, 221), "execveat": (322, 281), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "kcmp": (312, 272),
    "pidfd_getfd": (438, 438), "pidfd_send_signal": (424, 424), "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426), "io_uring_register": (427, 427), "memfd_create": (319, 279),
    "memfd_secret": (447, 447), "userfaultfd": (323, 282), "perf_event_open": (298, 241),
    "bpf": (321, 280), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "unshare": (272, 97), "setns": (308, 268), "keyctl": (250, 219),
    "add_key": (248, 217), "request_key": (249, 218), "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "move_mount": (429, 429), "open_tree": (428, 428),
    "mount_setattr": (442, 442), "quotactl": (179, 60), "kexec_load": (246, 104),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "ioctl": (16, 29), "kill": (62, 129), "tgkill": (234, 131), "tkill": (200, 130),
    "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240), "seccomp": (317, 277),
}
_DENY_EPERM = (
    "socket", "connect", "bind", "listen", "fork", "vfork", "execve", "execveat", "ptrace",
    "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "pidfd_send_signal", "tkill",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "memfd_create", "memfd_secret",
    "userfaultfd", "perf_event_open", "bpf", "mount", "umount2", "pivot_root", "chroot", "unshare",
    "setns", "keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at", "fsopen",
    "fsconfig", "fsmount", "move_mount", "open_tree", "mount_setattr", "quotactl", "kexec_load",
    "init_module", "finit_module", "delete_module",
)

# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS, _JEQ, _JGE, _JSET, _AND, _RET = 0x20, 0x15, 0x35, 0x45, 0x54, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_OFF_NR, _OFF_ARCH = 0, 4
_X32_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_AF_UNIX, _SOCK_STREAM = 1, 1
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
_SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 1, 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def _arg(i: int) -> int:
    return 16 + 8 * i  # low 32 bits of args[i] in struct seccomp_data (little-endian)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple:
    return (code, jt, jf, k & 0xFFFFFFFF)


def _errno(e: int) -> tuple:
    return _op(_RET, _ERRNO | e)


def _only_to_self(pid: int, allow_group: bool) -> list:
    """Allowed when args[0] is this process (kill also: 0 = own group, -pid = own group)."""
    if not allow_group:
        return [_op(_LD_W_ABS, _arg(0)), _op(_JEQ, pid, 0, 1), _op(_RET, _ALLOW), _errno(errno.EPERM)]
    return [_op(_LD_W_ABS, _arg(0)), _op(_JEQ, pid, 3, 0), _op(_JEQ, 0, 2, 0), _op(_JEQ, -pid, 1, 0),
            _errno(errno.EPERM), _op(_RET, _ALLOW)]


def build_filter(machine: str, pid: int) -> list:
    """The filter as (code, jt, jf, k) tuples; raises KeyError for an unknown architecture."""
    arch = _AUDIT_ARCH[machine]
    col = 0 if machine == "x86_64" else 1
    prog = [_op(_LD_W_ABS, _OFF_ARCH), _op(_JEQ, arch, 1, 0), _op(_RET, _KILL_PROCESS),
            _op(_LD_W_ABS, _OFF_NR)]
    if machine == "x86_64":  # x32 syscalls carry bit 30 and the same arch value
        prog += [_op(_JGE, _X32_BIT, 0, 1), _errno(errno.EPERM)]
    blocks: list[tuple[str, list]] = [(name, [_errno(errno.EPERM)]) for name in _DENY_EPERM]
    blocks += [
        ("clone3", [_errno(errno.ENOSYS)]),
        ("clone", [_op(_LD_W_ABS, _arg(0)), _op(_JSET, _CLONE_THREAD, 0, 1), _op(_RET, _ALLOW),
                   _errno(errno.EPERM)]),
        ("socketpair", [_op(_LD_W_ABS, _arg(0)), _op(_JEQ, _AF_UNIX, 0, 3), _op(_LD_W_ABS, _arg(1)),
                        _op(_AND, 0xF), _op(_JEQ, _SOCK_STREAM, 1, 0), _errno(errno.EPERM),
                        _op(_RET, _ALLOW)]),
        ("ioctl", [_op(_LD_W_ABS, _arg(1)), _op(_JEQ, _TIOCSTI, 2, 0), _op(_JEQ, _TIOCLINUX, 1, 0),
                   _op(_RET, _ALLOW), _errno(errno.EPERM)]),
        ("kill", _only_to_self(pid, True)),
        ("tgkill", _only_to_self(pid, False)),
        ("rt_sigqueueinfo", _only_to_self(pid, False)),
        ("rt_tgsigqueueinfo", _only_to_self(pid, False)),
    ]
    for name, block in blocks:
        nr = _NR[name][col]
        if nr is None:
            continue
        prog.append(_op(_JEQ, nr, 0, len(block)))  # not this call: skip its block
        prog += block
    prog.append(_op(_RET, _ALLOW))
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> str:
    """Install the filter on this process (all its threads); returns a one-line description.

    Raises OSError when the kernel refuses, KeyError on an architecture without a syscall table.
    Needs no_new_privs (set here) and cannot be undone.
    """
    machine = platform.machine()
    prog = build_filter(machine, os.getpid())
    raw = b"".join(struct.pack("<HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    nr = _NR["seccomp"][0 if machine == "x86_64" else 1]
    assert nr is not None  # seccomp(2) exists on both architectures
    # seccomp(2) with TSYNC puts every thread under the filter; prctl only the calling thread.
    if libc.syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_uint(_SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog)) != 0:
        first = ctypes.get_errno()
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
            err = ctypes.get_errno() or first
            raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")
    return f"seccomp ({len(prog)} BPF instructions: no sockets, no fork/exec, no ptrace)"


def drop_capabilities() -> bool:
    """Empty this process's capability sets (matters when the dock runs as root); True if done."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    for cap in range(64):  # the bounding set: nothing can be regained
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; EINVAL past the last cap, EPERM if unprivileged
    return libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) == 0
