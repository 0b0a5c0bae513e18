"""The semantic filter/text index is saved beside the search index and reopened from there
(dock/search/text_files.py): same answers as a fresh build from the catalogue, rows added or
removed since the save accounted for, and a base that does not belong to the index's rows
(a crash between the two saves, tampering, a truncated file) ignored and rebuilt."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dock.search.index as index_module
from dock.records import LearnwareRecord
from dock.search import text_files
from dock.search.index import SearchIndex, default_directory
from dock.store.catalogue import Catalogue
from tests.dock.test_search_stat import lid, semantic_for

WORDS = ["flower", "iris", "digits", "wine", "cancer", "housing", "sensor", "vibration", "credit", "churn"]
QUERIES = ["flower", "iris digits", "vibraton", "wines", "credit churn sensor", "cancr", "housing", "zebra", "zepelin"]


def add(cat: Catalogue, i: int) -> LearnwareRecord:
    record = LearnwareRecord(
        id=lid(i), model_config={}, size=1,
        semantic_spec=semantic_for(name="zeppelin model" if i == 42 else f"{WORDS[i % 10]} model {i}",
                                   description=f"{WORDS[(3 * i) % 10]} data",
                                   task="Classification" if i % 2 else "Regression", dim=3 + i % 4))
    cat.insert(record, [], None)
    return record


def by_id(index: SearchIndex, catalogue: Catalogue) -> dict:
    """Every query's normalised scores keyed by learnware id (rows differ between indexes)."""
    sem = index.semantic_index(catalogue)
    out = {}
    for q in QUERIES:
        shown, raw = sem.text_scores(q)
        out[q] = {index.id_of(r): (round(float(shown[r]), 9), round(float(raw[r]), 6)) for r in np.flatnonzero(shown)}
    mask = sem.filter_mask({"Task": {"Values": ["Regression"]}, "Input": {"Dimension": 5}})
    out["filter"] = sorted(index.id_of(int(r)) for r in np.flatnonzero(mask))
    return out


def fresh(catalogue: Catalogue) -> dict:
    index = SearchIndex.from_catalogue(catalogue, directory=None)
    return by_id(index, catalogue)


@pytest.fixture
def cat(tmp_path):
    catalogue = Catalogue(tmp_path / "c.duckdb")
    for i in range(40):
        add(catalogue, i)
    yield catalogue
    catalogue.close()


def test_reopened_text_index_answers_as_a_fresh_build_without_rereading_the_catalogue(cat):
    first = SearchIndex.from_catalogue(cat)
    built = by_id(first, cat)
    first.close()
    assert (default_directory(cat) / "text" / "meta.json").exists()
    again = SearchIndex.from_catalogue(cat)
    sem = again.semantic_index(cat)
    assert sem.delta_rows == 0 and isinstance(sem._rows, np.memmap)  # the saved base, mapped, nothing re-added
    assert by_id(again, cat) == built == fresh(cat)
    assert built["flower"] and built["vibraton"] and not built["zebra"]  # exact, fuzzy and no match all seen
    assert len(built["filter"]) == 10
    again.close()


def test_rows_removed_and_added_after_the_save_count_on_reopen(cat, monkeypatch):
    index = SearchIndex.from_catalogue(cat)
    index.semantic_index(cat)
    for i in (0, 10):  # both "flower" learnwares' names
        cat.delete(lid(i))
        index.remove(lid(i))
    for i in range(40, 43):
        index.add(add(cat, i), [])
    index.close()  # 3 rows past the base: fewer than TEXT_RESAVE_ROWS, not saved again
    reopened = SearchIndex.from_catalogue(cat)
    sem = reopened.semantic_index(cat)
    assert sem.delta_rows == 3
    answers = by_id(reopened, cat)
    assert answers == fresh(cat)
    assert lid(0) not in answers["flower"] and lid(40) in answers["flower"]
    assert list(answers["zepelin"]) == [lid(42)]  # a typo of a word new since the save
    reopened.close()
    monkeypatch.setattr(index_module, "TEXT_RESAVE_ROWS", 3)
    resaved = SearchIndex.from_catalogue(cat)
    assert resaved.semantic_index(cat).delta_rows == 0  # folded into the base on open and saved
    resaved.close()
    last = SearchIndex.from_catalogue(cat)
    assert last.semantic_index(cat).delta_rows == 0 and by_id(last, cat) == answers  # its trigrams saved too
    last.close()


def _break(folder, how):
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    if how == "other ids":
        meta["ids"]["0"] = lid(999)
    elif how == "truncated postings":
        data = (folder / "rows.npy").read_bytes()
        (folder / "rows.npy").write_bytes(data[: len(data) // 2])
    elif how == "garbage meta":
        meta_path.write_text("{not json")
        return
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("how", ["other ids", "truncated postings", "garbage meta"])
def test_a_base_that_does_not_belong_to_these_rows_is_rebuilt(cat, how):
    index = SearchIndex.from_catalogue(cat)
    expected = by_id(index, cat)
    index.close()
    directory = default_directory(cat)
    _break(directory / "text", how)
    reopened = SearchIndex.from_catalogue(cat)
    assert text_files.load(directory, reopened.n_rows, reopened.id_of) is None
    assert by_id(reopened, cat) == expected
    reopened.close()
    assert text_files.load(directory, 40, SearchIndex.from_catalogue(cat).id_of) is not None  # saved anew


def test_a_base_claiming_rows_the_index_lost_in_a_crash_is_ignored(cat):
    """The index saves its counts before the text base, but a crash can still leave the index's
    meta behind (e.g. its files restored from an older backup): rows past it may be re-used."""
    index = SearchIndex.from_catalogue(cat)
    index.semantic_index(cat)
    index.close()
    directory = default_directory(cat)
    assert text_files.load(directory, 40, index.id_of) is not None
    assert text_files.load(directory, 39, index.id_of) is None


def test_names_in_any_script_survive_the_save(cat):
    index = SearchIndex.from_catalogue(cat)
    odd = LearnwareRecord(id=lid(77), model_config={}, size=1,
                          semantic_spec=semantic_for(name="Café 東京\nflower", description="d"))
    cat.insert(odd, [], None)
    index.add(odd, [])
    sem = index.semantic_index(cat)
    row = index.row_of[lid(77)]
    text_files.save(index.directory, sem, index.id_of)
    index.close()
    reopened = SearchIndex.from_catalogue(cat)
    names = reopened.semantic_index(cat).names
    assert names[row] == "Café 東京 flower" and names[0] == sem.names[0]
    reopened.close()
