"""Per-requirements virtual environments for `Dock.load(..., isolation="venv")`.

One venv per distinct requirements set, cached under `<home>/venvs/<key>/`, where key = sha256
of (format, the dock's Python version and site-packages, the sorted normalised requirements).
The reference builds a conda env (or a docker image) per learnware; a venv is the lightweight
equivalent that needs no tool beyond Python.

How a venv is built, and why:
  * `python -m venv --without-pip`: fast (no ensurepip); pip runs from the dock's environment
    against the venv (`pip --python <venv>`).
  * A `.pth` file appends the dock's own site-packages after the venv's: the worker needs numpy
    and msgpack, and requirements the dock already satisfies (scikit-learn, ...) are seen as
    installed, so most learnwares need no download at all. A pinned version that differs is
    installed into the venv, whose site-packages come first on sys.path, so the pin wins.
    (`--system-site-packages` would expose the *base* interpreter's packages, not the dock's.)
  * Offline by default (`--no-index`, optional local wheel folders via `find_links` or
    $LWDOCK_WHEELS): a dock does not fetch arbitrary packages named by an untrusted zip unless
    asked to (`allow_index=True`). Always `--only-binary=:all:`: installing a wheel runs no code,
    building an sdist runs its setup script outside the worker's sandbox.
  * Requirement lines that are pip options (`-e`, `-r`, `--index-url`, ...) or URLs are refused.
  * A file lock per key makes concurrent loads build once; a marker written last means a venv
    left half-built by a crash is rebuilt, never used.
A requirement pip cannot satisfy raises VenvError naming it, with pip's last error lines.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
from pathlib import Path

from dock.errors import RunnerError, VenvError  # noqa: F401  (VenvError: re-exported)

VENV_FORMAT = 1
MARKER = ".lwdock-complete"
PIP_TIMEOUT = 300.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._ -]*\])?\s*([<>=!~].*)?(;.*)?$")
_CONDA_SKIP = {"python", "pip", "setuptools", "wheel"}




def _normalise(line: str) -> str | None:
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("-") or "://" in line or " @ " in line:
        raise VenvError(f"requirement {line!r} is not allowed: only 'name[extras] <version spec>' lines "
                        "(no pip options, URLs or editable installs)")
    if not _NAME.match(line):
        raise VenvError(f"requirement {line!r} is not a valid requirement line")
    return re.sub(r"\s+", "", line.split(";")[0]) + (";" + line.split(";", 1)[1].strip() if ";" in line else "")


def _conda_to_pip(dep: str) -> str | None:
    """'numpy=1.26' -> 'numpy==1.26.*' (conda's '=' is a prefix match); python/pip skipped."""
    dep = dep.strip().split("::")[-1]  # drop a channel prefix ("conda-forge::numpy")
    m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", dep)
    if not m:
        return dep  # _normalise refuses it with a clear message
    name, rest = m.group(1), m.group(2).strip()
    if name.lower() in _CONDA_SKIP:
        return None
    if re.fullmatch(r"=[^=<>!~\s]+(=\S+)?", rest):  # "=1.26" or "=1.26=build_0"
        rest = "==" + rest[1:].split("=")[0] + ".*"
    return name + rest


def requirements_of(folder: str | os.PathLike) -> list[str]:
    """The learnware's requirements, sorted and de-duplicated (requirements.txt, else environment.yaml)."""
    folder = Path(folder)
    lines: list[str] = []
    req = folder / "requirements.txt"
    env_file = next((folder / n for n in ("environment.yaml", "environment.yml") if (folder / n).is_file()), None)
    if req.is_file():
        lines = req.read_text(encoding="utf-8", errors="replace").splitlines()
    elif env_file is not None:
        import yaml

        try:
            env = yaml.safe_load(env_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise VenvError(f"{env_file.name} is not valid YAML: {exc}") from exc
        for dep in env.get("dependencies") or [] if isinstance(env, dict) else []:
            if isinstance(dep, str):
                converted = _conda_to_pip(dep)
                if converted:
                    lines.append(converted)
            elif isinstance(dep, dict):
                lines.extend(str(x) for x in dep.get("pip") or [])
    out = {n for n in (_normalise(x) for x in lines) if n}
    return sorted(out)


def _dock_site_packages() -> list[str]:
    paths = [p for p in site.getsitepackages() if os.path.isdir(p)]
    import msgpack
    import numpy

    for module in (numpy, msgpack):  # wherever they really are (user site, a PYTHONPATH entry...)
        if module.__file__ is None:  # a namespace package: no folder of its own to add
            continue
        parent = str(Path(module.__file__).resolve().parents[1])
        if parent not in paths:
            paths.append(parent)
    return paths


def venv_key(requirements: list[str]) -> str:
    blob = json.dumps({"format": VENV_FORMAT, "python": sys.version, "base": _dock_site_packages(),
                       "requirements": sorted(requirements)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise VenvError(f"{Path(cmd[0]).name} {' '.join(cmd[1:4])}... did not finish within {timeout:g}s; "
                        f"last output:\n{_tail(out)}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _failed_requirements(output: str, requirements: list[str]) -> list[str]:
    named = re.findall(r"(?:requirement|distribution found for|No matching distribution found for)\s+([^\s(]+)",
                       output)
    return sorted(set(named)) or requirements


def ensure_venv(venvs_dir: str | os.PathLike, requirements: list[str], *, timeout: float = PIP_TIMEOUT,
                allow_index: bool = False, find_links: list[str] | None = None) -> Path:
    """The python of a venv satisfying `requirements`, built once and cached; raises VenvError."""
    venvs_dir = Path(venvs_dir)
    venvs_dir.mkdir(parents=True, exist_ok=True)
    key = venv_key(requirements)
    folder = venvs_dir / key
    with open(venvs_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        if (folder / MARKER).is_file():
            return venv_python(folder)
        shutil.rmtree(folder, ignore_errors=True)
        made = _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], timeout)
        if made.returncode != 0:
            raise VenvError(f"cannot create a venv in {folder}:\n{_tail(made.stdout)}")
        query = "import sysconfig; print(sysconfig.get_path('purelib'))"
        purelib = subprocess.run([str(venv_python(folder)), "-I", "-c", query],
                                 capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        Path(purelib, "_lwdock_dock_packages.pth").write_text("\n".join(_dock_site_packages()) + "\n")
        if requirements:
            links = list(find_links or []) + [p for p in os.environ.get("LWDOCK_WHEELS", "").split(os.pathsep) if p]
            cmd = [sys.executable, "-m", "pip", "--python", str(venv_python(folder)), "install", "--no-input",
                   "--only-binary=:all:"]
            cmd += [] if allow_index else ["--no-index"]
            for link in links:
                cmd += ["--find-links", link]
            installed = _run(cmd + requirements, timeout)
            if installed.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                failed = _failed_requirements(installed.stdout, requirements)
                where = "from the package index" if allow_index else "offline (no package index; local wheels only)"
                raise VenvError(f"cannot install requirement {', '.join(failed)} {where}; pip said:\n"
                                f"{_tail(installed.stdout)}")
        (folder / MARKER).write_text(json.dumps({"requirements": requirements}) + "\n")
    return venv_python(folder)
