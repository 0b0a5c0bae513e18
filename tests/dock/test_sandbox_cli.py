"""The sandbox through the CLI: a submit on a machine missing a layer is refused, with the way
out named; `--unsafe-no-sandbox` runs it, in red; the submit-time check cannot read the home."""

from __future__ import annotations

import numpy as np

from tests.dock.fixtures import model_source, package_files, semantic, write_zip
from tests.helpers import run_cli

X = np.random.default_rng(0).normal(size=(40, 4))
SEM = semantic(dim=4, out_dim=1, task="Regression", name="probe")


def _zip(tmp_path, body: str, name: str):
    return write_zip(tmp_path / f"{name}.zip", package_files(model_source(body), X, SEM))


def test_submit_refused_without_a_layer_unless_unsafe_flag(tmp_path, monkeypatch):
    home = tmp_path / "home"
    zip_path = _zip(tmp_path, "return X[:, :1]", "honest")
    monkeypatch.setenv("LWDOCK_SANDBOX_SKIP", "landlock-fs")
    refused = run_cli(home, "submit", str(zip_path), check=False)
    assert refused.returncode != 0
    assert "cannot sandbox it" in refused.stderr and "landlock-fs" in refused.stderr
    assert "--unsafe-no-sandbox" in refused.stderr
    listed = run_cli(home, "list", "--json")
    assert listed.stdout.strip() in ("[]", "")  # nothing stored
    allowed = run_cli(home, "submit", "--unsafe-no-sandbox", str(zip_path))
    assert "UNCONFINED" in allowed.stderr and len(allowed.stdout.strip()) == 64
    monkeypatch.delenv("LWDOCK_SANDBOX_SKIP")
    again = run_cli(home, "submit", str(_zip(tmp_path, "return X[:, 1:2]", "second")))  # full sandbox
    assert len(again.stdout.strip()) == 64 and "UNCONFINED" not in again.stderr


def test_the_submit_check_cannot_read_the_home_or_its_key(tmp_path):
    """Case 10 at submit: the check worker runs with the default home; the key stays unreadable."""
    home = tmp_path / "home"
    run_cli(home, "submit", str(_zip(tmp_path, "return X[:, :1]", "honest")))  # home, key, catalogue
    keys = [p for p in home.rglob("*") if p.is_file() and "key" in p.name]
    assert keys, "expected an identity key in the home"
    probe = f"""
leaks = 0
for path in {[str(k) for k in keys] + [str(home / 'dock.duckdb')]!r}:
    try:
        open(path, "rb").read(1)
        leaks += 1
    except PermissionError:
        pass
try:
    open("/proc/%d/environ" % os.getppid(), "rb").read()
    leaks += 1
except PermissionError:
    pass
return np.full((len(X), 1), np.nan if leaks else 0.0)  # a leak fails the check (NaN output)
"""
    zip_path = _zip(tmp_path, probe, "snoop")
    unconfined = run_cli(home, "submit", "--unsafe-no-sandbox", str(zip_path), check=False)
    assert unconfined.returncode != 0 and "NaN" in unconfined.stderr  # the probe does find the key...
    sandboxed = run_cli(home, "submit", str(zip_path), check=False)
    assert sandboxed.returncode == 0, sandboxed.stderr  # ...and finds nothing in the sandbox
