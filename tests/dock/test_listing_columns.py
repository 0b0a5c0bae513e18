"""Every writer of learnwares rows fills the listing's columns (migration 0009: name_key and
spec_types), so the listing never needs its slow fallbacks: the bulk sync path
(dock/store/sync_tables.py) and Catalogue.insert, on real signed records and a real DuckDB file."""

from __future__ import annotations

from dock import Dock
from dock.network.bulk_ingest import ingest_page
from dock.network.signed_records import decode_envelope
from p2p import Identity

from .test_network_trust import _fake_id, record

NAMES = ["Zulu", "alpha", "Mike", "bravo", "ÉCHO"]


def _rows(dock) -> list[tuple]:
    con = dock.catalogue._con  # noqa: SLF001
    return con.execute("SELECT id, name, name_key, spec_types FROM learnwares ORDER BY id").fetchall()


def test_bulk_sync_and_insert_fill_the_listing_columns(tmp_path):
    publisher = Identity.generate()
    page = [decode_envelope(record(publisher, _fake_id(name), seq=1000 + n, name=name))
            for n, name in enumerate(NAMES)]
    with Dock.open(tmp_path / "home") as dock:
        outcomes, refused = ingest_page(dock, page, None)  # one page: the batched path
        assert outcomes == ["stored"] * len(NAMES) and not refused
        # and one record through Catalogue.insert (what submit and the one-record ingest use)
        single = decode_envelope(record(publisher, _fake_id("single"), seq=2000, name="Single"))
        assert ingest_page(dock, [single], None)[0] == ["stored"]

        rows = _rows(dock)
        assert len(rows) == len(NAMES) + 1
        for _, name, name_key, spec_types in rows:
            assert name_key == name.lower()
            assert spec_types == ["RKMETableSpecification"]
        listed = dock.list_page(limit=10, sort="name")
        assert [r.name for r in listed.records] == sorted([*NAMES, "Single"], key=str.lower)
        assert all(r.stat_spec_types == ("RKMETableSpecification",) for r in listed.records)
        # the same order and types as the slow path gives (the key lower()s in DuckDB on the fly)
        con = dock.catalogue._con  # noqa: SLF001
        slow = [r[0] for r in con.execute("SELECT name FROM learnwares ORDER BY lower(name), id").fetchall()]
        assert [r.name for r in listed.records] == slow
