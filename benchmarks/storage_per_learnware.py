"""Bytes per learnware on disk (issue 16 storage): N records of K=100, d=64 table specs, signed by
peers and stored through the bulk sync path, in a fresh dock; the DuckDB file size / records
after a CHECKPOINT, and the average stored BLOB bytes per spec and per envelope.

    python benchmarks/storage_per_learnware.py HOME [N]      (HOME must not exist; N default 2000)

To compare with another commit, copy this file into that checkout and run it there
(docs/ARCHITECTURE.md "Storage per learnware"; benchmarks/README.md "Listing").
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEMANTIC = {
    "Description": {"Type": "String", "Values": "a storage probe " * 8},
    "Data": {"Type": "Class", "Values": ["Table"]}, "Task": {"Type": "Class", "Values": ["Classification"]},
    "Library": {"Type": "Class", "Values": ["Scikit-learn"]}, "Scenario": {"Type": "Tag", "Values": ["Others"]},
    "License": {"Type": "Class", "Values": ["MIT"]},
    "Input": {"Dimension": 64, "Description": {}}, "Output": {"Dimension": 2, "Description": {}},
}
MODEL = {"class_name": "M", "module_path": "__init__.py", "kwargs": {}}


def signed_pages(n: int, page_size: int = 500) -> list[list]:
    from dock.network.signed_records import sign_record
    from p2p import Identity
    from specs import RKMETableSpecification

    rng = np.random.default_rng(0)
    pages: list[list] = [[]]
    for i in range(n):
        if i % page_size == 0:  # a publisher per page: the per-publisher budget stays out of the way
            publisher = Identity.generate()
            if pages[-1]:
                pages.append([])
        spec = RKMETableSpecification(rng.normal(size=(100, 64)), np.full(100, 0.01), 0.05)
        semantic = {**SEMANTIC, "Name": {"Type": "String", "Values": f"probe {i}"}}
        pages[-1].append(sign_record(publisher, learnware_id=hashlib.sha256(str(i).encode()).hexdigest(), size=1000,
                                     semantic_spec=semantic, model_config=MODEL,
                                     spec_bytes={spec.type: spec.to_bytes()}, seq=1000 + i))
    return pages


def main() -> None:
    from dock import Dock
    from dock.network.bulk_ingest import ingest_page

    home, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    if home.exists():
        raise SystemExit(f"{home} exists: give a new folder")
    with Dock.open(home) as dock:
        for page in signed_pages(n):
            outcomes, refused = ingest_page(dock, page, None)
            assert all(o == "stored" for o in outcomes), (outcomes[:3], refused[:3])
        con = dock.catalogue._con
        con.execute("CHECKPOINT")
        columns = [r[0] for r in con.execute("DESCRIBE stat_specs").fetchall()]
        float64 = "octet_length(z) + octet_length(beta) + " if "z" in columns else ""  # before migration 0008
        blobs, wire = con.execute(f"SELECT avg({float64}octet_length(spec_bytes)), avg(octet_length(spec_bytes)) "
                                  "FROM stat_specs").fetchone()
        envelope = con.execute("SELECT avg(octet_length(envelope)) FROM envelopes").fetchone()[0]
        records = dock.count()
    size = (home / "dock.duckdb").stat().st_size
    print(json.dumps({"records": records, "file_bytes": size, "file_bytes_per_learnware": round(size / records),
                      "stat_specs_blob_bytes_per_spec": round(blobs), "spec_bytes_per_spec": round(wire),
                      "envelope_bytes": round(envelope), "stat_specs_columns": columns}))


if __name__ == "__main__":
    main()
