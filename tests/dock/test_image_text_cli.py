"""`lwdock spec image|text FILE -o stat.json`: .npy images and .txt documents (one per line)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from dock.cli import main
from specs import load_spec


def test_spec_image_from_npy(tmp_path, capsys, monkeypatch):
    from sklearn.datasets import load_digits

    monkeypatch.setenv("LWDOCK_HOME", str(tmp_path / "home"))
    np.save(tmp_path / "imgs.npy", load_digits().images[:300])
    assert main(["spec", "image", str(tmp_path / "imgs.npy"), "-k", "10", "-o", str(tmp_path / "s.json"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["type"] == "RKMEImageSpecification" and report["rows"] == 300 and report["points"] == 10
    spec = load_spec(tmp_path / "s.json")
    assert spec.embedder == report["embedder"] and spec.meta["shape"] == [8, 8]


def test_spec_text_from_txt_skips_blank_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LWDOCK_HOME", str(tmp_path / "home"))
    (tmp_path / "docs.txt").write_text("The striker scored.\n\n  \nRates rose again.\nSnow fell overnight.\n",
                                       encoding="utf-8")
    assert main(["spec", "text", str(tmp_path / "docs.txt"), "-o", str(tmp_path / "t.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["type"] == "RKMETextSpecification" and report["rows"] == 3
    assert load_spec(tmp_path / "t.json").embedder.startswith("all-MiniLM-L6-v2:")


@pytest.mark.parametrize(
    "kind, name, content, message",
    [
        ("image", "imgs.csv", b"1,2\n", "images are read from a .npy"),
        ("image", "flat.npy", None, r"shape \(5, 64\) is not allowed"),
        ("text", "empty.txt", b"\n \n", "no documents"),
        ("text", "latin1.txt", "caf\u00e9\n".encode("latin-1"), "cannot read as UTF-8"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, capsys, monkeypatch, kind, name, content, message):
    monkeypatch.setenv("LWDOCK_HOME", str(tmp_path / "home"))
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((5, 64)))
    else:
        path.write_bytes(content)
    assert main(["spec", kind, str(path), "-o", str(tmp_path / "x.json")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") <= 2 and re.search(message, err), err
