"""The layer rule, checked on the source: tui -> dock -> {p2p, specs}; textual only in tui/,
duckdb only in dock/, libp2p/trio only in p2p/; and cheap, torch-free headless imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("specs", "dock", "p2p", "tui")
# What each package may import of the project.
ALLOWED_PROJECT_IMPORTS = {"specs": set(), "p2p": set(), "dock": {"specs", "p2p"}, "tui": {"dock"}}
# Third-party modules that only one package may import.
OWNED = {"textual": "tui", "duckdb": "dock", "libp2p": "p2p", "trio": "p2p"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _violations() -> list[str]:
    problems = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, top in _imports(path):
                where = f"{path.relative_to(ROOT)}:{line}"
                if top in PACKAGES and top != package and top not in ALLOWED_PROJECT_IMPORTS[package]:
                    problems.append(f"{where} imports {top} (layers run tui -> dock -> {{p2p, specs}})")
                owner = OWNED.get(top)
                if owner is not None and owner != package:
                    problems.append(f"{where} imports {top}, which only {owner}/ may import")
    return problems


def test_layer_rule_holds():
    assert _violations() == []


def test_layer_checker_catches_a_violation(tmp_path, monkeypatch):
    # The check must be able to fail: plant a bad import in a copy of the tree.
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "specs" / "bad.py").write_text("import duckdb\nfrom dock import Dock\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    problems = _violations()
    assert any("imports duckdb" in p for p in problems)
    assert any("imports dock" in p for p in problems)


@pytest.mark.parametrize("module", ["specs", "dock", "dock.cli"])
def test_headless_import_is_cheap(module):
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT)))
    for heavy in ("textual", "torch", "libp2p", "trio"):
        assert heavy not in loaded, f"import {module} pulled in {heavy}"


def test_dock_api_does_not_import_textual_or_torch():
    code = (
        "import json, sys\n"
        "from dock import Dock, UserInfo, BaseUserInfo\n"
        "import specs\n"
        "specs.generate_semantic_spec\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT)))
    assert "textual" not in loaded and "torch" not in loaded
