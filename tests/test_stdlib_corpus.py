"""benchmarks/stdlib_corpus.py: the docstring corpus of the text benchmark is big enough per topic,
free of empty or too-short documents, unambiguous, and the same on every build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.stdlib_corpus import MIN_CHARS, MIN_WORDS, TOPICS, build_corpus

ROOT = Path(__file__).resolve().parents[1]
MIN_DOCS_PER_TOPIC = 100  # 134-339 on Python 3.11; the benchmark draws up to 140 per topic


def test_every_topic_has_enough_clean_unambiguous_documents():
    corpus = build_corpus()
    assert list(corpus) == sorted(TOPICS)
    for topic, docs in corpus.items():
        assert len(docs) >= MIN_DOCS_PER_TOPIC, (topic, len(docs))
        assert docs == sorted(set(docs)), topic  # sorted, no duplicates
        for doc in docs:
            assert doc == doc.strip() and "\n" not in doc and "  " not in doc, doc
            assert len(doc) >= MIN_CHARS and len(doc.split()) >= MIN_WORDS, doc
    seen = [d for docs in corpus.values() for d in docs]
    assert len(seen) == len(set(seen))  # no text under two topics


def test_the_corpus_is_the_same_in_another_process():
    """Deterministic: a fresh interpreter (other hash seed, other import order) builds the same
    documents in the same order."""
    code = ("import hashlib, json, sys; sys.path.insert(0, sys.argv[1]); "
            "from benchmarks.stdlib_corpus import build_corpus; "
            "print(hashlib.sha256(json.dumps(build_corpus()).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    import hashlib
    import json

    assert digests == {hashlib.sha256(json.dumps(build_corpus()).encode()).hexdigest()}
