"""A sync's pages save the search index's counts only every few seconds (issue 16: a save per
page flushed every file and fsynced meta.json); a node killed mid-sync loses nothing: the catalogue
holds the rows and the reopened index, behind by count and id fingerprint, adds them back.
A real process killed with SIGKILL, real DuckDB and index files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from dock import Dock, UserInfo
from dock.network.bulk_ingest import ingest_page
from dock.network.signed_records import decode_envelope
from dock.search.index import default_directory
from p2p import Identity
from specs import generate_stat_spec

from .test_network_trust import _fake_id, record

PAGES, PER_PAGE = 4, 50

_CHILD = """
import json, os, signal, sys
from pathlib import Path
from dock import Dock, UserInfo
from dock.network.bulk_ingest import ingest_page
from dock.network.signed_records import decode_envelope
from p2p import Identity
from tests.dock.test_network_trust import _fake_id, record

dock = Dock.open(Path(sys.argv[1]))
dock.search(UserInfo(semantic_spec={{}}))  # the index exists (and is saved) before the sync
alice = Identity.generate()
for p in range({pages}):
    page = [decode_envelope(record(alice, _fake_id(f"crash {{p}} {{i}}"), name=f"crash {{p}} {{i}}"))
            for i in range({per_page})]
    ingest_page(dock, page, None)  # as pull_page does, page after page
print(json.dumps(dock._search_index.n_rows), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # mid-sync: no close, no save at the end of the sync
"""


def _query():
    X = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(60, 4)), K=5)
    return UserInfo(stat_info={X.type: X})


def test_a_node_killed_mid_sync_reopens_with_every_stored_record_indexed(tmp_path):
    home = tmp_path / "late"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run([sys.executable, "-c", _CHILD.format(pages=PAGES, per_page=PER_PAGE), str(home)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(root)}, cwd=root)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == PAGES * PER_PAGE  # indexed in memory
    with Dock.open(home) as probe:  # opening a dock does not open its search index
        folder = default_directory(probe.catalogue)
    assert folder is not None
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["rows"] < PAGES * PER_PAGE  # the kill came before the deferred save: counts behind

    dock = Dock.open(home)
    try:
        assert dock.catalogue.count() == PAGES * PER_PAGE
        found = dock.search(_query(), limit=5)
        assert len(found.single) == 5
        index = dock._search_index
        assert index is not None and len(index) == PAGES * PER_PAGE  # reconciled with the catalogue
        last_page = {_fake_id(f"crash {PAGES - 1} {i}") for i in range(PER_PAGE)}
        assert last_page <= set(index.row_of)
        # and the honest path goes on: another page is indexed, and closing saves its counts
        alice = Identity.generate()
        more = [decode_envelope(record(alice, _fake_id(f"after {i}"), name=f"after {i}")) for i in range(PER_PAGE)]
        outcomes, refused = ingest_page(dock, more, None)
        assert outcomes == ["stored"] * PER_PAGE and not refused
        assert len(index) == (PAGES + 1) * PER_PAGE
    finally:
        dock.close()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["rows"] == meta["live"] == (PAGES + 1) * PER_PAGE
