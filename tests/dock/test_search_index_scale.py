"""The lean, persisted search index (issue 16): sketch prefilter recall against an exact scan for
table, image and text kinds, reopening from the files without recomputing, reconciling with a
catalogue changed behind its back, and incremental add/remove matching a fresh build.
Real DuckDB catalogues in tmp_path; the index's files live beside them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dock.search.engine as engine
from dock.records import LearnwareRecord, compat_key
from dock.search.engine import SearchIndex, search
from dock.search.query import UserInfo
from dock.store.catalogue import Catalogue
from specs import RKMETableSpecification
from specs.image import RKMEImageSpecification
from specs.text import RKMETextSpecification
from tests.dock.test_search_stat import lid, semantic_for


def clustered_specs(rng, n, dim, make, k=8, families=12):
    """n specs in `families` clusters (learnwares of a family overlap, as real markets do)."""
    centres = rng.normal(size=(families, dim)) * 2.0
    specs = []
    for i in range(n):
        centre = centres[i % families] + rng.normal(size=dim) * 0.6
        z = centre + rng.normal(size=(k, dim))
        specs.append(make(z, rng.dirichlet(np.ones(k) * 5), 0.5 / dim))
    return specs, centres


KINDS = {
    "table": (24, lambda z, b, g: RKMETableSpecification(z, b, g)),
    "image": (128, lambda z, b, g: RKMEImageSpecification(
        z, b, g, embedder="test-image-embedder", meta={"shape": [8, 8], "range": [0.0, 1.0]})),
    "text": (384, lambda z, b, g: RKMETextSpecification(z, b, g, embedder="test-text-embedder")),
}


def fill(cat, specs, first=0):
    for i, spec in enumerate(specs, start=first):
        cat.insert(LearnwareRecord(id=lid(i), semantic_spec=semantic_for(name=f"m{i}", dim=spec.dim),
                                   model_config={}, size=1), [spec], None)


def exact_top(index, spec, n=10):
    group = index.groups[compat_key(spec)]
    slots = group.live_slots()
    q, shift, _ = group.query_frame(spec.z, spec.beta)
    mmd2 = group.self_terms(spec.gamma, slots) - 2 * group.cross_terms(q, spec.beta, spec.gamma, shift, slots)
    return [index.id_of(r) for r in group.rows(slots[np.argsort(mmd2, kind="stable")[:n]])]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sketch_prefilter_recall_against_exact_scan(tmp_path, monkeypatch, kind):
    dim, make = KINDS[kind]
    rng = np.random.default_rng(16)
    specs, centres = clustered_specs(rng, 300, dim, make)
    cat = Catalogue(tmp_path / "c.duckdb")
    fill(cat, specs)
    # Force the prefilter with 40 of 300 candidates (13%; 25 learnwares per family are near-ties):
    # the recall is the sketches' alone.
    monkeypatch.setattr(engine, "EXACT_MAX_POINTS", 0)
    monkeypatch.setattr(engine, "PREFILTER_MIN", 40)
    index = SearchIndex.from_catalogue(cat)
    recalls = []
    for j in range(6):
        family = centres[j % len(centres)]
        if j % 2:  # a user between two families: the mixture-like case
            family = (family + centres[(j + 5) % len(centres)]) / 2
        query = make(family + rng.normal(size=(10, dim)), np.full(10, 0.1), 0.5 / dim)
        result = search(index, cat, UserInfo(stat_info={query.type: query}), limit=10)
        assert result.info["mode"] == "prefilter" and result.info["candidates"] == 40
        recalls.append(len({m.id for m in result.single} & set(exact_top(index, query))) / 10)
    assert np.mean(recalls) >= 0.95, recalls
    # A spec of another embedder is still refused, sketches or not.
    other = make(rng.normal(size=(4, dim)), np.full(4, 0.25), 0.5 / dim)
    if kind != "table":
        other.embedder = "another-embedder"
        with pytest.raises(engine.SearchError, match="feature space"):
            search(index, cat, UserInfo(stat_info={other.type: other}))
    index.close()
    cat.close()


def ranked(index, cat, query, limit=10):
    result = search(index, cat, UserInfo(stat_info={query.type: query}), limit=limit)
    return [(m.id, round(m.mmd2, 5)) for m in result.single], result


def test_reopening_reads_the_files_and_recomputes_nothing(tmp_path, monkeypatch):
    rng = np.random.default_rng(17)
    specs, _ = clustered_specs(rng, 60, 6, KINDS["table"][1], families=4)
    cat = Catalogue(tmp_path / "c.duckdb")
    fill(cat, specs)
    query = specs[3]
    index = SearchIndex.from_catalogue(cat)
    before, _ = ranked(index, cat, query)
    index.close()
    folder = engine.default_directory(cat)
    assert (folder / "meta.json").exists() and any(folder.glob("g*/sketch_*.bin"))

    def no_scan(*_a, **_k):
        raise AssertionError("the reopened index read the catalogue's spec points")

    monkeypatch.setattr(Catalogue, "iter_stat_rows", no_scan)
    monkeypatch.setattr(engine.StatGroup, "_build_octave", no_scan)
    reopened = SearchIndex.from_catalogue(cat)
    assert len(reopened) == 60
    after, result = ranked(reopened, cat, query)
    assert after == before and result.single[0].semantic_spec["Name"]["Values"] == "m3"
    reopened.close()
    monkeypatch.undo()

    # Changed behind the index's back while it was closed (one removed, one added: same count):
    # the fingerprint differs, so the reopened index reconciles instead of answering stale.
    cat._con.execute("DELETE FROM stat_specs WHERE learnware_id = ?", [lid(3)])  # noqa: SLF001
    cat._con.execute("DELETE FROM learnwares WHERE id = ?", [lid(3)])  # noqa: SLF001
    fill(cat, [specs[3]], first=100)
    fixed = SearchIndex.from_catalogue(cat)
    ids = [i for i, _ in ranked(fixed, cat, query)[0]]
    assert lid(3) not in ids and ids[0] == lid(100)
    fixed.close()

    # An unreadable meta.json: the index is rebuilt from the catalogue, same answers.
    (folder / "meta.json").write_text("{not json")
    rebuilt = SearchIndex.from_catalogue(cat)
    assert [i for i, _ in ranked(rebuilt, cat, query)[0]] == ids
    assert json.loads((folder / "meta.json").read_text())["live"] == 60
    rebuilt.close()
    cat.close()


def test_incremental_add_and_remove_match_a_fresh_build(tmp_path):
    rng = np.random.default_rng(18)
    specs, _ = clustered_specs(rng, 80, 5, KINDS["table"][1], families=5)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cat = Catalogue(tmp_path / "a" / "c.duckdb")
    fill(cat, specs[:40])
    index = SearchIndex.from_catalogue(cat)
    # The rest arrive in batches, as a sync delivers them (the records are stored first).
    for lo in range(40, 80, 15):
        batch = specs[lo : lo + 15]
        fill(cat, batch, first=lo)
        index.add_many([(lid(i), {"name": f"m{i}"}, [(compat_key(s), s.z, s.beta, s.gamma)],
                         json.dumps(semantic_for(name=f"m{i}", dim=5)))
                        for i, s in enumerate(batch, start=lo)])
    gone = [lid(i) for i in range(0, 80, 3)]  # 27 of 80: past the compaction threshold
    for learnware_id in gone:
        cat.delete(learnware_id)
        index.remove(learnware_id)
    index.add_many([(lid(1), {}, [], "{}")])  # already there: adding is idempotent
    assert len(index) == 80 - len(gone)
    group = index.groups[compat_key(specs[0])]
    assert group.n_live == 80 - len(gone) and group.n_slots < 80  # compacted on the way
    fresh_cat = Catalogue(tmp_path / "b" / "c.duckdb")
    kept = [i for i in range(80) if lid(i) not in gone]
    for i in kept:
        fill(fresh_cat, [specs[i]], first=i)
    fresh = SearchIndex.from_catalogue(fresh_cat)
    for query in (specs[1], specs[44], specs[79]):
        got, _ = ranked(index, cat, query, limit=20)
        want, _ = ranked(fresh, fresh_cat, query, limit=20)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [m for _, m in got] == pytest.approx([m for _, m in want], abs=1e-5)
        assert not {i for i, _ in got} & set(gone)
    index.close()
    # The persisted state after adds, removes and a compaction reopens to the same answers.
    reopened = SearchIndex.from_catalogue(cat)
    assert [i for i, _ in ranked(reopened, cat, specs[44], limit=20)[0]] == \
        [i for i, _ in ranked(fresh, fresh_cat, specs[44], limit=20)[0]]
    reopened.close()
    fresh.close()
    cat.close()
    fresh_cat.close()


def test_an_over_long_id_is_refused_and_nothing_is_indexed():
    index = SearchIndex()
    spec = RKMETableSpecification(np.zeros((2, 3)), np.array([0.5, 0.5]), 1.0)
    with pytest.raises(engine.SearchError, match="longer than 64"):
        index.add_many([("y" * 64, {}, [], "{}"),
                        ("x" * 65, {}, [(compat_key(spec), spec.z, spec.beta, spec.gamma)], "{}")])
    assert len(index) == 0 and not index.groups
    index.add_many([("y" * 64, {}, [(compat_key(spec), spec.z, spec.beta, spec.gamma)], "{}")])
    assert len(index) == 1 and index.groups[compat_key(spec)].n_live == 1
