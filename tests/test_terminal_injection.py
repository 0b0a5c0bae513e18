"""Terminal injection (issue 11, case 13): names and model errors from strangers reach the
terminal escaped. Control bytes are shown as visible escapes, rich markup is printed literally,
`--json` still carries the raw data."""

from __future__ import annotations

import json

import pytest

from dock.cli.terminal_text import markup_safe, plain, visible
from tests.dock.fixtures import model_source, package_files, reference_files, semantic, write_zip
from tests.helpers import run_cli

EVIL = "[/x][link=http://evil]a[/link]\x1b]8;;http://evil\x07click\x1b]8;;\x07\x1b[2J\u202e"
RAW_BYTES = ("\x1b", "\x07", "\u202e", "\x9b")


def _clean(stream: str) -> None:
    for raw in RAW_BYTES:
        assert raw not in stream, (raw, stream)


def test_visible_and_markup_safe():
    shown = visible(EVIL)
    assert "\\x1b]8;;http://evil\\x07" in shown and shown.endswith("\\u202e")
    assert visible("naïve – ok\n", keep_newlines=True) == "naïve – ok\n"  # printable text untouched
    assert visible("a\nb") == "a\\x0ab" and visible("\x9b31m") == "\\x9b31m"  # C1 CSI
    from rich.console import Console

    console = Console(record=True, width=400, color_system=None)
    console.print(markup_safe(EVIL))  # would raise MarkupError on "[/x]" unescaped
    console.print(plain(EVIL))
    text = console.export_text()
    assert text.count("[/x][link=http://evil]a[/link]") == 2 and "\x1b" not in text


def test_cli_list_show_search_escape_a_hostile_name(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # wide enough that rich does not truncate the name
    home = tmp_path / "home"
    zip_path = write_zip(tmp_path / "evil.zip", reference_files(sem=semantic(name=EVIL)))
    lid = run_cli(home, "submit", str(zip_path)).stdout.strip()
    for args in (("list",), ("show", lid), ("search", "click")):
        result = run_cli(home, *args)  # exit 0: "[/x]" no longer crashes the renderer
        _clean(result.stdout)
        _clean(result.stderr)
        assert "[/x][link=http://evil]a[/link]\\x1b]8;;http://evil\\x07click" in result.stdout.replace("\n", ""), args
    # --json is data: the name comes back exactly, its control characters JSON-escaped
    listed = run_cli(home, "list", "--json")
    _clean(listed.stdout)
    assert json.loads(listed.stdout)[0]["name"] == EVIL
    found = json.loads(run_cli(home, "search", "click", "--json").stdout)
    assert found["single"][0]["id"] == lid


@pytest.mark.parametrize("verbose", [False, True])
def test_cli_model_error_is_escaped_on_stderr(tmp_path, verbose):
    """A model's failure (with its stderr tail) is printed escaped; so are -v log lines."""
    import numpy as np

    source = model_source('raise RuntimeError("boom [/x] \\x1b[2J\\x1b]8;;http://evil\\x07")',
                          init_body='import sys; sys.stderr.write("tail \\x1b[31m[bold]red\\u202e\\n")')
    files = package_files(source, np.random.default_rng(0).normal(size=(40, 4)), semantic())
    home = tmp_path / "home"
    args = ("-v",) if verbose else ()
    result = run_cli(home, *args, "submit", str(write_zip(tmp_path / "bad.zip", files)), check=False)
    assert result.returncode != 0
    _clean(result.stderr)
    _clean(result.stdout)
    assert "error:" in result.stderr and "\\x1b[2J" in result.stderr
    assert "boom [/x]" in result.stderr  # markup shown literally, not parsed (nor crashing rich)
    ok = run_cli(home, "submit", str(write_zip(tmp_path / "iris.zip", reference_files())))  # the honest path
    assert len(ok.stdout.strip()) == 64
