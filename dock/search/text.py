"""Semantic side of search: class/tag filters as numpy masks, BM25 text relevance, fuzzy fallback.

Everything is held in memory per index row (a learnware), so a filter is a few vectorised
comparisons and a text query touches only the posting lists of its words: no SQL and no JSON
parsing on the query path, at 100k learnwares as at 10.

Text relevance is BM25F-lite (Robertson & Zaragoza 2009) over name + description: a name word
counts NAME_WEIGHT times a description word, k1 = 1.2, b = 0.75,
idf = ln(1 + (N - df + 0.5) / (df + 0.5)). Per query word t and document:

    sat_t = tf_t (k1 + 1) / (tf_t + k1 (1 - b + b dl / avgdl))       (BM25's tf part)

and the score shown is normalised to [0, 1] as an idf-weighted fraction of the query matched:

    text_score = sum_t idf_t w_t min(1, sat_t / SAT_REF) / sum_t idf_t

where SAT_REF is sat for a word appearing once in the name of a document of average length.
So 1.0 = every query word in the name (or repeated in the description); a word met once in an
average description counts 0.73; a query whose rarer half of words match scores about 0.5,
whatever the catalogue. Ranking is by that score, ties broken by the raw (uncapped) BM25 sum.
A query word not in the vocabulary falls back to fuzzy matches (typos: trigram candidates with
difflib ratio >= FUZZY_MIN_RATIO; truncations: vocabulary words starting with it), counted
with w_t = their similarity (< 1), so an exact word always beats a fuzzy one.
"""

from __future__ import annotations

import difflib
import math
import re
from array import array
from collections import Counter, defaultdict

import numpy as np

from specs.semantic import SemanticView

NAME_WEIGHT = 2.0
K1, B = 1.2, 0.75
FUZZY_MIN_RATIO = 0.75
FUZZY_MAX_EXPANSIONS = 3
PREFIX_WEIGHT = 0.9
_STOPWORDS = frozenset("a an and are as at be by for from in is it of on or the to with".split())
_TOKEN = re.compile(r"[a-z0-9]+")
CLASS_FIELDS = ("Data", "Task", "Library", "License")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words minus stopwords, with a light plural fold (models -> model)."""
    out = []
    for t in _TOKEN.findall(text.lower()):
        if t in _STOPWORDS:
            continue
        if len(t) > 3 and t.endswith("s") and not t.endswith(("ss", "is", "us")):  # iris, virus, class
            t = t[:-1]
        out.append(t)
    return out


def _trigrams(term: str) -> set[str]:
    padded = f"  {term} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class _Column:
    """A growable numpy column indexed by row."""

    def __init__(self, dtype, fill, a: np.ndarray | None = None):
        self.a = np.full(16, fill, dtype) if a is None else np.array(a, dtype)
        self.fill = fill

    def set(self, row: int, value) -> None:
        if row >= self.a.shape[0]:
            b = np.full(max(row + 1, 2 * self.a.shape[0]), self.fill, self.a.dtype)
            b[: self.a.shape[0]] = self.a
            self.a = b
        self.a[row] = value


class SemanticIndex:
    """Filters and BM25 over every row, in numpy: per-row columns in RAM, postings in two parts.

    The *base* is one CSR array set (vocabulary -> slice of rows and term weights), built once
    and persisted with the search index (dock/search/text_files.py), memory-mapped on open;
    rows added since live in a small in-memory *delta* until `compact` folds them in. Rows are
    never edited in place (the search index appends a changed record as a new row), so removing
    a row only clears its live bit; document frequencies and the average length are counted
    over live rows when a query asks, never kept up to date by hand.
    At a million learnwares the old dict-of-lists index took 19 s to build and 2.3 GB of RAM on
    every process start; the base is ~8 bytes a posting, mapped, and opens in a fraction of a second.
    """

    def __init__(self):
        self.n_rows = 0
        self.names: list[str] = []
        self._live = _Column(bool, False)
        self._present = _Column(bool, False)  # rows ever added (their postings exist), live or not
        self._codes = {f: _Column(np.int16, -1) for f in CLASS_FIELDS}
        self._code_of: dict[str, dict[str, int]] = {f: {} for f in CLASS_FIELDS}
        self._scenarios = _Column(np.int64, 0)
        self._scenario_bit: dict[str, int] = {}
        self._input_dim = _Column(np.int32, -1)
        self._output_dim = _Column(np.int32, -1)
        self._doclen = _Column(np.float32, 0.0)
        # base postings (CSR): term -> k, rows/tf of term k in _rows[_offsets[k]:_offsets[k + 1]]
        self._vocab: dict[str, int] = {}
        self._offsets = np.zeros(1, np.int64)
        self._rows = np.zeros(0, np.int32)
        self._tf = np.zeros(0, np.float32)
        self._delta: dict[str, tuple[array, array]] = {}  # term -> (rows, tf) added since the base
        self.delta_rows = 0
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # merged per term, until it changes
        self._terms: list[str] = []  # the base's vocabulary in CSR order
        # trigram -> base terms (CSR over term numbers), for typo matches; delta terms in a dict
        self._gram_of: dict[str, int] = {}
        self._gram_offsets = np.zeros(1, np.int64)
        self._gram_terms = np.zeros(0, np.int32)
        self._delta_grams: dict[str, set[str]] | None = None  # of delta-only terms, on the first typo

    # -- writes --------------------------------------------------------------------------
    def add(self, row: int, fields: dict) -> None:
        """fields: name, description, data_type, task_type, library_type, license, scenarios,
        input_dim, output_dim (the catalogue's columns; see Catalogue.search_rows)."""
        if row < self._present.a.shape[0] and self._present.a[row]:
            raise ValueError(f"row {row} is already in the text index (rows are never re-used)")
        while len(self.names) <= row:
            self.names.append("")
        self.names[row] = fields.get("name") or ""
        self.n_rows = max(self.n_rows, row + 1)
        self._live.set(row, True)
        self._present.set(row, True)
        for f, key in zip(CLASS_FIELDS, ("data_type", "task_type", "library_type", "license"), strict=True):
            value = fields.get(key)
            if value is not None:
                codes = self._code_of[f]
                self._codes[f].set(row, codes.setdefault(value, len(codes)))
            else:
                self._codes[f].set(row, -1)
        mask = 0
        for tag in fields.get("scenarios") or []:
            bit = self._scenario_bit.setdefault(tag, len(self._scenario_bit))
            if bit < 63:  # Beimingwu has 15 tags; an exotic 64th+ tag is simply not filterable
                mask |= 1 << bit
        self._scenarios.set(row, mask)
        self._input_dim.set(row, -1 if fields.get("input_dim") is None else int(fields["input_dim"]))
        self._output_dim.set(row, -1 if fields.get("output_dim") is None else int(fields["output_dim"]))
        tf: defaultdict[str, float] = defaultdict(float)  # term -> weighted count
        for t in tokens(fields.get("name") or ""):
            tf[t] += NAME_WEIGHT
        for t in tokens(fields.get("description") or ""):
            tf[t] += 1.0
        self._doclen.set(row, float(sum(tf.values())))
        for term, count in tf.items():
            postings = self._delta.get(term)
            if postings is None:
                postings = self._delta[term] = (array("i"), array("f"))
                if self._delta_grams is not None and term not in self._vocab:
                    for g in _trigrams(term):
                        self._delta_grams.setdefault(g, set()).add(term)
            postings[0].append(row)
            postings[1].append(count)
            self._arrays.pop(term, None)
        self.delta_rows += 1

    def remove(self, row: int) -> None:
        """The row stops matching; its postings stay (hidden by the live bit) until a rebuild."""
        if row < self.n_rows:
            self._live.a[row] = False

    def compact(self) -> None:
        """Fold the delta into the base (before saving): one CSR over every term, built with
        array operations (a per-term loop of numpy calls took 19 s at a million terms)."""
        if not self._delta:
            return
        terms = sorted(set(self._terms) | set(self._delta))
        number = {t: k for k, t in enumerate(terms)}
        new_terms = list(self._delta)
        renumber = np.fromiter((number[t] for t in self._terms), np.int64, len(self._terms))  # old -> new
        base_keys = np.repeat(renumber, np.diff(self._offsets))
        delta_keys = np.repeat(np.fromiter((number[t] for t in new_terms), np.int64, len(new_terms)),
                               np.fromiter((len(self._delta[t][0]) for t in new_terms), np.int64, len(new_terms)))
        delta_rows = np.frombuffer(b"".join(self._delta[t][0].tobytes() for t in new_terms), np.int32)
        delta_tf = np.frombuffer(b"".join(self._delta[t][1].tobytes() for t in new_terms), np.float32)
        keys = np.concatenate((base_keys, delta_keys))
        order = np.argsort(keys, kind="stable")  # within a term: the base's rows, then the delta's
        self._rows = np.concatenate((np.asarray(self._rows, np.int32), delta_rows))[order]
        self._tf = np.concatenate((np.asarray(self._tf, np.float32), delta_tf))[order]
        self._offsets = np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=len(terms)))))
        # Trigrams: the base's pairs renumbered, plus the pairs of words new to the vocabulary.
        gram_of = dict(self._gram_of)
        grams, term_numbers = array("i"), array("i")
        for term in new_terms:
            if term not in self._vocab:
                for g in _trigrams(term):
                    grams.append(gram_of.setdefault(g, len(gram_of)))
                    term_numbers.append(number[term])
        old_grams = np.repeat(np.arange(len(self._gram_of), dtype=np.int64), np.diff(self._gram_offsets))
        gram_keys = np.concatenate((old_grams, np.frombuffer(grams, np.int32)))
        gram_terms = np.concatenate((renumber[np.asarray(self._gram_terms, np.int64)],
                                     np.frombuffer(term_numbers, np.int32))).astype(np.int32)
        self._gram_terms = gram_terms[np.argsort(gram_keys, kind="stable")]
        self._gram_offsets = np.concatenate(([0], np.cumsum(np.bincount(gram_keys, minlength=len(gram_of)))))
        self._gram_of = gram_of
        self._vocab, self._terms = number, terms
        self._delta, self._arrays, self.delta_rows, self._delta_grams = {}, {}, 0, None

    # -- filters -------------------------------------------------------------------------
    def live(self) -> np.ndarray:
        return self._live.a[: self.n_rows]

    def filter_mask(self, query: dict | SemanticView) -> np.ndarray:
        """Rows passing the query's class, tag and dimension filters (and alive); `query` is a semantic
        spec or its SemanticView (the engine's, read once per query)."""
        n = self.n_rows
        mask = self._live.a[:n].copy()
        view = query if isinstance(query, SemanticView) else SemanticView.from_spec(query)
        for f in CLASS_FIELDS:
            values = view.values(f)
            if values:
                codes = [self._code_of[f][v] for v in values if v in self._code_of[f]]
                mask &= np.isin(self._codes[f].a[:n], codes)
        tags = view.scenarios
        if tags:
            bits = 0
            for t in tags:
                if t in self._scenario_bit and self._scenario_bit[t] < 63:
                    bits |= 1 << self._scenario_bit[t]
            mask &= (self._scenarios.a[:n] & bits) != 0
        for dim, column in ((view.input_dim, self._input_dim), (view.output_dim, self._output_dim)):
            if dim is not None:
                mask &= column.a[:n] == dim
        return mask

    # -- text ----------------------------------------------------------------------------
    def _posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, weighted term counts) of a term, live or not: the base's slice, then the delta's."""
        arrays = self._arrays.get(term)
        if arrays is None:
            k = self._vocab.get(term)
            rows = np.zeros(0, np.int64) if k is None else np.asarray(
                self._rows[self._offsets[k]:self._offsets[k + 1]], np.int64)
            tf = np.zeros(0, np.float32) if k is None else np.asarray(
                self._tf[self._offsets[k]:self._offsets[k + 1]], np.float32)
            extra = self._delta.get(term)
            if extra is not None:
                rows = np.concatenate((rows, np.frombuffer(extra[0], np.int32).astype(np.int64)))
                tf = np.concatenate((tf, np.frombuffer(extra[1], np.float32)))
            arrays = self._arrays[term] = (rows, tf)
        return arrays

    def _df(self, term: str) -> int:
        rows, _ = self._posting_arrays(term)
        return int(np.count_nonzero(self._live.a[rows])) if rows.size else 0

    def _idf(self, df: int, n_live: int) -> float:
        n = max(n_live, 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def _fuzzy_candidates(self, term: str, limit: int = 50) -> list[str]:
        """Vocabulary words sharing the most trigrams with `term` (ties by the word), at most `limit`."""
        if self._delta_grams is None:
            self._delta_grams = {}
            for word in self._delta:
                if word not in self._vocab:
                    for g in _trigrams(word):
                        self._delta_grams.setdefault(g, set()).add(word)
        numbers: list[np.ndarray] = []
        extra: Counter = Counter()
        for g in _trigrams(term):
            k = self._gram_of.get(g)
            if k is not None:
                numbers.append(self._gram_terms[self._gram_offsets[k]:self._gram_offsets[k + 1]])
            for cand in self._delta_grams.get(g, ()):
                extra[cand] += 1
        shared: Counter = Counter(extra)
        if numbers:
            found, counts = np.unique(np.concatenate(numbers), return_counts=True)
            # the best `limit` counts, plus every word tied with the last of them (ties go by word below)
            if found.size > limit:
                keep = counts >= np.partition(counts, -limit)[-limit]
                found, counts = found[keep], counts[keep]
            for k, c in zip(found.tolist(), counts.tolist(), strict=True):
                shared[self._terms[k]] += c
        return [t for t, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]

    def expansions(self, term: str) -> list[tuple[str, float]]:
        """(vocabulary word, weight): the word itself, else its fuzzy and prefix matches."""
        if self._df(term) > 0:
            return [(term, 1.0)]
        found: dict[str, float] = {}
        if len(term) >= 3:
            for cand in self._fuzzy_candidates(term):
                if self._df(cand) == 0:
                    continue  # every learnware using it was removed
                ratio = difflib.SequenceMatcher(None, term, cand).ratio()
                if ratio >= FUZZY_MIN_RATIO:
                    found[cand] = max(found.get(cand, 0.0), ratio * 0.95)  # fuzzy never ties exact
                if len(term) >= 4 and cand.startswith(term):
                    found[cand] = max(found.get(cand, 0.0), PREFIX_WEIGHT)
        best = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        return best[:FUZZY_MAX_EXPANSIONS]

    def text_scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(normalised score in [0, 1], raw BM25) of every row for this text; 0 where no match."""
        n = self.n_rows
        shown = np.zeros(n, np.float64)
        raw = np.zeros(n, np.float64)
        terms = list(dict.fromkeys(tokens(text)))
        if not terms:
            return shown, raw
        live = self._live.a[:n]
        n_live = int(np.count_nonzero(live))
        doclen = self._doclen.a[:n]
        avgdl = float(doclen[live].sum(dtype=np.float64)) / max(n_live, 1) or 1.0
        sat_ref = NAME_WEIGHT * (K1 + 1.0) / (NAME_WEIGHT + K1)
        idf_total = 0.0
        for term in terms:
            expansions = self.expansions(term)
            best_match = np.zeros(n, np.float64)
            best_raw = np.zeros(n, np.float64)
            for word, weight in expansions:
                rows, tf = self._posting_arrays(word)
                norm = K1 * (1.0 - B + B * doclen[rows] / avgdl)
                sat = tf * (K1 + 1.0) / (tf + norm)
                # The fuzzy weight applies after the cap, so a fuzzy word never counts as exact.
                # A word's rows are distinct, so plain fancy indexing is exact (and ~10x np.maximum.at).
                best_match[rows] = np.maximum(best_match[rows], weight * np.minimum(1.0, sat / sat_ref))
                best_raw[rows] = np.maximum(best_raw[rows], weight * sat * self._idf(self._df(word), n_live))
            # A word's weight is its idf (its best expansion's when fuzzy; a word nobody uses
            # has the highest idf, so an unmatched query word lowers every score, as it should).
            idf = max((self._idf(self._df(t), n_live) for t, _ in expansions), default=self._idf(0, n_live))
            shown += idf * best_match
            raw += best_raw
            idf_total += idf
        shown /= idf_total
        dead = ~live
        shown[dead] = 0.0
        raw[dead] = 0.0
        return np.clip(shown, 0.0, 1.0), raw
