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

    def __init__(self, dtype, fill):
        self.a = np.full(16, fill, dtype)
        self.fill = fill

    def set(self, row: int, value) -> None:
        if row >= self.a.shape[0]:
            b = np.full(max(row + 1, 2 * self.a.shape[0]), self.fill, self.a.dtype)
            b[: self.a.shape[0]] = self.a
            self.a = b
        self.a[row] = value


class SemanticIndex:
    def __init__(self):
        self.n_rows = 0
        self.names: list[str] = []
        self._live = _Column(bool, False)
        self._codes = {f: _Column(np.int16, -1) for f in CLASS_FIELDS}
        self._code_of: dict[str, dict[str, int]] = {f: {} for f in CLASS_FIELDS}
        self._scenarios = _Column(np.int64, 0)
        self._scenario_bit: dict[str, int] = {}
        self._input_dim = _Column(np.int32, -1)
        self._output_dim = _Column(np.int32, -1)
        self._doclen = _Column(np.float32, 0.0)
        self._postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._df: Counter = Counter()
        self._doc_terms: dict[int, list[str]] = {}
        self._trigram_terms: dict[str, set[str]] = defaultdict(set)
        self.n_live = 0
        self._total_len = 0.0

    # -- writes --------------------------------------------------------------------------
    def add(self, row: int, fields: dict) -> None:
        """fields: name, description, data_type, task_type, library_type, license, scenarios,
        input_dim, output_dim (the catalogue's columns; see Catalogue.search_rows)."""
        while len(self.names) <= row:
            self.names.append("")
        self.names[row] = fields.get("name") or ""
        self.n_rows = max(self.n_rows, row + 1)
        self._live.set(row, True)
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
        length = float(sum(tf.values()))
        self._doclen.set(row, length)
        for term, count in tf.items():
            rows, tfs = self._postings[term]
            rows.append(row)
            tfs.append(count)
            self._arrays.pop(term, None)
            if self._df[term] == 0:
                for g in _trigrams(term):
                    self._trigram_terms[g].add(term)
            self._df[term] += 1
        self._doc_terms[row] = list(tf)
        self.n_live += 1
        self._total_len += length

    def remove(self, row: int) -> None:
        if row >= self.n_rows or not self._live.a[row]:
            return
        self._live.a[row] = False
        self.n_live -= 1
        self._total_len -= float(self._doclen.a[row])
        for term in self._doc_terms.pop(row, []):
            self._df[term] -= 1
            if self._df[term] <= 0:
                del self._df[term]
                for g in _trigrams(term):
                    self._trigram_terms[g].discard(term)
        # Postings keep the dead row until the next rebuild; the live mask hides it.

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
        arrays = self._arrays.get(term)
        if arrays is None:
            rows, tfs = self._postings.get(term, ([], []))
            arrays = (np.asarray(rows, np.int64), np.asarray(tfs, np.float32))
            self._arrays[term] = arrays
        return arrays

    def _idf(self, df: int) -> float:
        n = max(self.n_live, 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def expansions(self, term: str) -> list[tuple[str, float]]:
        """(vocabulary word, weight): the word itself, else its fuzzy and prefix matches."""
        if self._df.get(term, 0) > 0:
            return [(term, 1.0)]
        found: dict[str, float] = {}
        if len(term) >= 3:
            shared: Counter = Counter()
            for g in _trigrams(term):
                for cand in self._trigram_terms.get(g, ()):
                    shared[cand] += 1
            for cand, _ in shared.most_common(50):
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
        avgdl = self._total_len / max(self.n_live, 1) or 1.0
        doclen = self._doclen.a[:n]
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
                np.maximum.at(best_match, rows, weight * np.minimum(1.0, sat / sat_ref))
                np.maximum.at(best_raw, rows, weight * sat * self._idf(self._df[word]))
            # A word's weight is its idf (its best expansion's when fuzzy; a word nobody uses
            # has the highest idf, so an unmatched query word lowers every score, as it should).
            idf = max((self._idf(self._df[t]) for t, _ in expansions), default=self._idf(0))
            shown += idf * best_match
            raw += best_raw
            idf_total += idf
        shown /= idf_total
        dead = ~self._live.a[:n]
        shown[dead] = 0.0
        raw[dead] = 0.0
        return np.clip(shown, 0.0, 1.0), raw
