"""The layer rule, checked on the source: tui -> dock -> {p2p, specs}; textual only in tui/,
duckdb only in dock/, libp2p/trio only in p2p/; the dependency order inside dock/ (docs/ARCHITECTURE.md,
"Inside dock/"); no import cycles between modules anywhere; and cheap, torch-free headless imports."""

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


# The order inside dock/, lowest first (docs/ARCHITECTURE.md "Inside dock/"). A unit is a subpackage
# of dock/ or a module directly in it; a unit may import only units of earlier levels (and itself).
# Units on one level do not import each other. `dock/__init__.py` (lazy exports) sits above all.
DOCK_ORDER = (
    ("errors",),
    ("home", "records", "datafiles"),
    ("store",),
    ("runtime",),
    ("search",),
    ("package",),
    ("reuse",),
    ("network",),
    ("api",),
    ("control",),
    ("dock",),
    ("reference_client", "daemon", "demo"),
    ("compat",),
    ("cli",),
)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _project_imports(path: Path, root: Path, modules: set[str]) -> list[tuple[int, str]]:
    """Every project module `path` imports at run time, at any depth (function-level too), resolved
    to a module: `from a import b` is a.b when that is a module, else a. `if TYPE_CHECKING:` blocks
    are skipped (they never run)."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    if f"{target}.{alias.name}" in modules:
                        found.append((child.lineno, f"{target}.{alias.name}"))
                    elif target in modules:
                        found.append((child.lineno, target))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def _import_graph(root: Path) -> dict[str, list[tuple[int, str]]]:
    paths = {_module_name(p, root): p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))}
    modules = set(paths)
    return {name: _project_imports(path, root, modules) for name, path in paths.items()}


def _cycles(graph: dict[str, list[tuple[int, str]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    edges = {name: sorted({target for _, target in imports if target in graph}) for name, imports in graph.items()}
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def strongconnect(node):  # Tarjan; the tree is small enough for recursion
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            strongconnect(node)
    return found


def _dock_unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "dock" and len(parts) > 1 else None


def _order_violations(graph: dict[str, list[tuple[int, str]]]) -> list[str]:
    level = {unit: i for i, units in enumerate(DOCK_ORDER) for unit in units}
    problems = []
    for module, imports in sorted(graph.items()):
        unit = _dock_unit(module)
        if unit is None:  # outside dock/, or dock/__init__.py (above every unit)
            continue
        if unit not in level:
            problems.append(f"{module} is in dock/{unit}, which DOCK_ORDER does not place")
            continue
        for line, target in imports:
            other = _dock_unit(target)
            if other is None or other == unit:
                continue
            if other not in level or level[other] >= level[unit]:
                problems.append(f"{module}:{line} imports {target}: dock/{unit} may import only units "
                                f"below it (docs/ARCHITECTURE.md, Inside dock/)")
    return problems


def test_no_import_cycles():
    assert _cycles(_import_graph(ROOT)) == []


def test_dock_dependency_order_holds():
    assert _order_violations(_import_graph(ROOT)) == []


def test_cycle_and_order_checks_catch_violations(tmp_path):
    # Both checks must be able to fail: a function-level cycle and an upward import in a planted tree.
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "dock" / "store").mkdir()
    (tmp_path / "dock" / "store" / "__init__.py").write_text("")
    (tmp_path / "dock" / "store" / "catalogue.py").write_text("def f():\n    from dock.cli import run\n")
    (tmp_path / "dock" / "cli.py").write_text("from dock.store import catalogue\n\ndef run():\n    pass\n")
    (tmp_path / "tui" / "a.py").write_text("from tui import b\n")
    (tmp_path / "tui" / "b.py").write_text("def f():\n    from . import a\n")
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tui import d\n"
    (tmp_path / "tui" / "c.py").write_text(type_only)
    (tmp_path / "tui" / "d.py").write_text("from tui import c\n")
    graph = _import_graph(tmp_path)
    assert _cycles(graph) == [["dock.cli", "dock.store.catalogue"], ["tui.a", "tui.b"]]
    problems = _order_violations(graph)
    assert len(problems) == 1 and "dock.store.catalogue:2 imports dock.cli" in problems[0]
    # The honest tree passes the same checks.
    assert _cycles(_import_graph(ROOT)) == [] and _order_violations(_import_graph(ROOT)) == []


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


def test_architecture_file_map_lists_every_dock_module_once():
    """docs/ARCHITECTURE.md's file map names each module of dock/ exactly once, and nothing that is gone
    (subpackages whose __init__.py is only a docstring are named by their heading row)."""
    import re

    rows = [line for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `dock/")]
    named = [name for row in rows for name in re.findall(r"`(dock/[\w/]+\.py)`", row.split(" | ")[0])]
    def has_code(path: Path) -> bool:  # a subpackage's docstring-only __init__.py is its heading row
        body = ast.parse(path.read_text(encoding="utf-8")).body
        return path.name != "__init__.py" or len(body) > 1 or not isinstance(body[0], ast.Expr)

    on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dock").rglob("*.py") if has_code(p))
    assert sorted(set(named)) == on_disk, "the file map and dock/ differ"
    assert len(named) == len(set(named)), "a module is listed twice"
