"""Heterogeneous search's column summaries (issue 14, second pass): built once per record,
persisted beside the lean index, reused after a restart, and rebuilt for an older index.

Real Dock (DuckDB, the persisted search index in the home), the shipped embedder offline.
"""

from __future__ import annotations

import json

from dock.dock import Dock
from dock.search.hetero_space import embedder_id
from dock.search.query import UserInfo
from specs.hetero import input_block
from tests.dock.test_hetero import tables, user_query, zips  # noqa: F401, F811 (module fixtures)


def _search(dock, user_names, spec):
    return dock.search(UserInfo(semantic_spec={"Input": input_block(user_names)}, stat_info={spec.type: spec}))


def test_column_summaries_persist_and_an_older_index_is_summarised_once(tmp_path, tables, zips):  # noqa: F811
    bc_zip, wine_zip = zips
    _, _, user_names, spec = user_query(tables)
    home = tmp_path / "home"
    with Dock.open(home) as dock:
        bc_id, wine_id = dock.submit(bc_zip), dock.submit(wine_zip)
        first = _search(dock, user_names, spec)
        store = dock._search_index.columns
        assert store.n == 2 and store.upto == dock._search_index.n_rows  # both described: summarised once
        assert store.vectors_known(embedder_id()) == len(store.vocab) > 0
        assert len(store.points_cache) <= 1  # only the scored candidate's points were read (wine: names differ)
    assert [m.id for m in first.single] == [bc_id]
    folder = home / "dock.duckdb.search"
    assert (folder / "columns" / "vocab.jsonl").exists()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["columns"]["learnwares"] == 2
    # A restart: the summaries and the description vectors come from the files, nothing is rebuilt.
    with Dock.open(home) as dock:
        dock.search(UserInfo(semantic_spec={}))  # opens the index (a listing: no column work)
        index = dock._search_index
        store = index._columns
        assert store.n == 2 and store.upto == index.n_rows
        known = store.vectors_known(embedder_id())
        assert known == len(store.vocab)
        again = _search(dock, user_names, spec)
        assert store.vectors_known(embedder_id()) == known  # nothing embedded again
    assert [m.id for m in again.single] == [bc_id]
    assert again.single[0].hetero["pairs"] == first.single[0].hetero["pairs"]
    # An index written before the summaries existed (no "columns" in meta.json): summarised once
    # from its own files on the first heterogeneous query, with the same answer.
    meta.pop("columns")
    (folder / "meta.json").write_text(json.dumps(meta))
    with Dock.open(home) as dock:
        old = _search(dock, user_names, spec)
        assert dock._search_index.columns.n == 2
        assert wine_id not in [m.id for m in old.single]
    assert [m.id for m in old.single] == [bc_id]
    assert abs(old.single[0].score - first.single[0].score) < 1e-3  # float32 points both times
    assert json.loads((folder / "meta.json").read_text())["columns"]["learnwares"] == 2
