"""One `StatGroup` per compatibility key: sketches in memory, reduced points on disk.

A group holds every learnware whose spec has that key (kind, dimension, embedder). Since
issue 16 it keeps in RAM only what a query must scan for *every* learnware, and reads the
rest for the few candidates a query re-ranks (dock/search/index_files.py has the files):

* Sketch (the prefilter): per learnware, the random-Fourier mean embedding of its RKME
  (dock/search/rff.py) with SKETCH_FREQ frequencies = 2 x SKETCH_FREQ float32 (512 B) and its
  squared norm, per *octave* of gamma (the largest power of two <= a query's gamma: one sketch
  serves a whole octave, and a slightly broader kernel never hides a near match). A new group
  sketches its first spec's octave and the one below (users with broader data than a
  learnware's land there); a query in another octave builds and persists that octave while
  the group is small (<= SMALL_GROUP_SLOTS), else uses the nearest persisted octave, preferring
  the broader one. At most MAX_OCTAVES_LARGE octaves in a large group: <= 1 KB per learnware.
  float32, not float16/int8: numpy converts float16 at ~1 GB/s and has no BLAS for it, so a
  million-row float16 scan took 780 ms against 92 ms for float32 (measured, 2 cores).
* Slot metadata (one slot per spec): start, length, owner row, liveness, the spec's gamma:
  ~30 B per learnware.
* Self-terms b'K(z,z)b per query gamma: float32, filled lazily for the slots a query touches,
  an LRU of SELF_CACHE_GAMMAS gammas (4 MB each at 1M learnwares).
* Points: Z (points, d) float32 relative to the group's offset (the first spec's mean; a
  shift changes no distance and keeps float32's rounding small) and beta, in a file read by
  pread for the candidates only (dock/search/index_files.py says why not mmap).

add: append (O(K d) amortised, plus the new slots' sketches for each persisted octave).
remove: mark the slot dead, O(n) vectorised search for the slot (no per-learnware dict);
when dead points pass a quarter of the total the group compacts (rewrites its files).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np

from dock.search.index_files import Column, PointFile
from dock.search.kernels import batched_self_terms, segment_sums, weighted_kernel_rows
from dock.search.rff import RffMap

COMPACT_DEAD_FRACTION = 0.25
SELF_CACHE_GAMMAS = 8
SKETCH_FREQ = 64  # 128 float32 features: 512 B per learnware per octave
SMALL_GROUP_SLOTS = 50_000  # up to here a query may sketch a new octave (~2 s at 50k x K=100)
MAX_OCTAVES_SMALL = 6
MAX_OCTAVES_LARGE = 2
_SELF_BATCH_ENTRIES = 2_000_000
_CHUNK_POINTS = 1 << 18  # points read per block when scanning or sketching the whole group


def prefilter_gamma(gamma: float) -> float:
    """The largest power of two <= gamma: the sketch octave serving a query's gamma."""
    return float(2.0 ** math.floor(math.log2(gamma) + 1e-12))


class StatGroup:
    def __init__(self, key: str, dim: int, directory: Path | None = None, meta: dict | None = None):
        self.key = key
        self.dim = dim
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        meta = meta or {}
        self.offset = None if meta.get("offset") is None else np.asarray(meta["offset"], np.float64)
        self.n_points = int(meta.get("n_points", 0))
        self.n_slots = int(meta.get("n_slots", 0))
        self.n_live = int(meta.get("n_live", 0))
        self._dead_points = int(meta.get("dead_points", 0))
        self._start = self._column("start", np.int64)
        self._len = self._column("len", np.int32)
        self._row = self._column("row", np.int64)
        self._live = self._column("live", bool)
        self._gamma = self._column("gamma", np.float64)
        self._points = PointFile(None if directory is None else directory / "points.f32", dim)
        self.rff_map = RffMap(dim, SKETCH_FREQ)
        self._sketch: dict[float, tuple[Column, Column]] = {}
        for octave in meta.get("octaves", []):
            self._sketch[float(octave)] = self._sketch_columns(float(octave))
        self._self: OrderedDict[float, np.ndarray] = OrderedDict()
        self.dirty = False  # an octave was sketched since the owner last saved the meta

    def _column(self, name: str, dtype, shape=()) -> Column:
        return Column(None if self.directory is None else self.directory / f"{name}.bin", dtype, shape)

    def _sketch_columns(self, octave: float) -> tuple[Column, Column]:
        e = int(round(math.log2(octave)))
        return (self._column(f"sketch_{e}", np.float32, (self.rff_map.n_features,)),
                self._column(f"sketch_norm_{e}", np.float32))

    def meta(self) -> dict:
        return {"dim": self.dim, "offset": None if self.offset is None else self.offset.tolist(),
                "n_points": self.n_points, "n_slots": self.n_slots, "n_live": self.n_live,
                "dead_points": self._dead_points, "octaves": sorted(self._sketch)}

    def flush(self) -> None:
        for col in (self._start, self._len, self._row, self._live, self._gamma):
            col.flush()
        for feat, norms in self._sketch.values():
            feat.flush()
            norms.flush()

    def close(self) -> None:
        self._points.close()

    @property
    def octaves(self) -> list[float]:
        return sorted(self._sketch)

    # -- writes --------------------------------------------------------------------------
    def add(self, row: int, z: np.ndarray, beta: np.ndarray, gamma: float) -> None:
        """Append one spec (z (K, d) float64, beta (K,)) owned by index row `row`."""
        self.add_batch([row], [z], [beta], [gamma])

    def add_batch(self, rows, zs, betas, gammas) -> None:
        """Append several specs (rows new to this group; the index checks) in one write.

        Cost O(their points): points appended to the file, slot columns grown by doubling,
        each persisted octave's sketch extended by the new slots only.
        """
        if not rows:
            return
        zs = [np.asarray(z, np.float64) for z in zs]
        betas = [np.asarray(b, np.float64) for b in betas]
        if self.offset is None:
            self.offset = betas[0] @ zs[0]
        if not self._sketch:  # a new group: its first spec's octave and the broader one below
            top = prefilter_gamma(float(gammas[0]))
            for octave in (top, top / 2):
                self._sketch[octave] = self._sketch_columns(octave)
            self.dirty = True
        lengths = np.array([z.shape[0] for z in zs], np.int64)
        total, count = int(lengths.sum()), len(rows)
        p, s = self.n_points, self.n_slots
        block = (np.concatenate(zs) - self.offset).astype(np.float32)
        beta = np.concatenate(betas).astype(np.float32)
        self._points.write(p, block, beta)
        for col in (self._start, self._len, self._row, self._live, self._gamma):
            col.reserve(s + count)
        self._start.a[s : s + count] = p + np.cumsum(lengths) - lengths
        self._len.a[s : s + count] = lengths
        self._row.a[s : s + count] = rows
        self._live.a[s : s + count] = True
        self._gamma.a[s : s + count] = gammas
        starts = np.cumsum(lengths) - lengths
        for octave, (feat, norms) in self._sketch.items():
            feat.reserve(s + count)
            norms.reserve(s + count)
            out = feat.a[s : s + count]
            self.rff_map.embed_segments(block, beta, starts, octave, out)
            norms.a[s : s + count] = np.einsum("ij,ij->i", out, out)
        for g, cache in list(self._self.items()):
            if cache.shape[0] < s + count:
                grown = np.full(max(s + count, 2 * cache.shape[0]), np.nan, np.float32)
                grown[: cache.shape[0]] = cache
                self._self[g] = grown
            self._self[g][s : s + count] = np.nan
        self.n_points += total
        self.n_slots += count
        self.n_live += count

    def slot_of(self, row: int) -> int | None:
        hits = np.flatnonzero((self._row.a[: self.n_slots] == row) & self._live.a[: self.n_slots])
        return int(hits[0]) if hits.size else None

    def remove(self, row: int) -> bool:
        slot = self.slot_of(row)
        if slot is None:
            return False
        self._live.a[slot] = False
        self.n_live -= 1
        self._dead_points += int(self._len.a[slot])
        if self._dead_points > COMPACT_DEAD_FRACTION * max(self.n_points, 1):
            self._compact()
        return True

    def _compact(self) -> None:
        keep = self.live_slots()
        lengths = self._len.a[keep].astype(np.int64)
        self._points.rewrite(self._start.a[keep], lengths)
        self._start.replace(np.cumsum(lengths) - lengths)
        self._len.replace(lengths)
        self._row.replace(self._row.a[keep])
        self._gamma.replace(self._gamma.a[keep])
        self._live.replace(np.ones(keep.size, bool))
        for feat, norms in self._sketch.values():
            feat.replace(feat.a[keep])
            norms.replace(norms.a[keep])
        self._self = OrderedDict((g, a[keep]) for g, a in self._self.items())
        self.n_points, self.n_slots, self._dead_points = int(lengths.sum()), int(keep.size), 0
        self.dirty = True

    # -- reads ---------------------------------------------------------------------------
    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self._live.a[: self.n_slots])

    def rows(self, slots: np.ndarray) -> np.ndarray:
        return self._row.a[slots]

    def slot_rows(self) -> np.ndarray:
        return self._row.a[: self.n_slots]

    def live_mask(self) -> np.ndarray:
        return self._live.a[: self.n_slots]

    def points_in(self, slots: np.ndarray) -> int:
        return int(self._len.a[slots].sum())

    def points(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read (Z, beta, segment starts) of these slots, in their order (group frame)."""
        lengths = self._len.a[slots].astype(np.int64)
        rows = self._points.read(self._start.a[slots], lengths)
        return rows[:, : self.dim], rows[:, self.dim], np.cumsum(lengths) - lengths

    def _chunks(self, slots: np.ndarray):
        """Runs of slots holding at most ~_CHUNK_POINTS points, for whole-group scans."""
        csum = np.cumsum(self._len.a[slots].astype(np.int64))
        lo = 0
        while lo < slots.size:
            base = int(csum[lo - 1]) if lo else 0
            hi = max(lo + 1, int(np.searchsorted(csum, base + _CHUNK_POINTS, side="right")))
            yield slots[lo:hi]
            lo = hi

    def query_frame(self, z: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q centred on the query's mean, shift taking stored points into that frame, q in the
        group frame for the sketch), all float32. See dock/search/kernels.py for why."""
        z = np.asarray(z, np.float64)
        centre = np.asarray(beta, np.float64) @ z
        offset = self.offset if self.offset is not None else centre
        return (z - centre).astype(np.float32), (offset - centre).astype(np.float32), (z - offset).astype(np.float32)

    def memory_bytes(self) -> int:
        """Bytes a query keeps resident per group: slot columns, the sketches, self-term
        caches (points count only when the group lives in RAM, i.e. has no directory)."""
        per_slot = sum(c.dtype.itemsize for c in (self._start, self._len, self._row, self._live, self._gamma))
        per_slot += sum(4 * (self.rff_map.n_features + 1) for _ in self._sketch) + 4 * len(self._self)
        points = self.n_points * 4 * (self.dim + 1) if self.directory is None else 0
        return int(self.n_slots * per_slot + points)

    # -- kernel terms under a query's gamma ----------------------------------------------
    def cross_terms(self, q: np.ndarray, bq: np.ndarray, gamma: float, shift: np.ndarray, slots: np.ndarray):
        """<mu_query, mu_slot> for each slot (exact; float32 kernel, float64 sums)."""
        out = []
        for part in self._chunks(slots):
            Z, beta, starts = self.points(part)
            v = weighted_kernel_rows(q, bq, gamma, Z, shift)
            v *= beta
            out.append(segment_sums(v, starts))
        return np.concatenate(out) if out else np.zeros(0)

    def self_terms(self, gamma: float, slots: np.ndarray) -> np.ndarray:
        """b'K(z,z)b of each slot under gamma, computed once per (slot, gamma) and cached."""
        g = float(gamma)
        cache = self._self.get(g)
        if cache is None or cache.shape[0] < self.n_slots:
            fresh = np.full(max(self.n_slots, 16), np.nan, np.float32)
            if cache is not None:
                fresh[: cache.shape[0]] = cache
            cache = self._self[g] = fresh
            while len(self._self) > SELF_CACHE_GAMMAS:
                self._self.popitem(last=False)
        self._self.move_to_end(g)
        missing = slots[np.isnan(cache[slots])]
        if missing.size:
            lengths = self._len.a[missing]
            for k in np.unique(lengths):
                same = missing[lengths == k]
                per = max(1, _SELF_BATCH_ENTRIES // int(k * k))
                for s in range(0, same.size, per):
                    part = same[s : s + per]
                    Z, beta, _ = self.points(part)
                    cache[part] = batched_self_terms(Z.reshape(part.size, int(k), self.dim),
                                                     beta.reshape(part.size, int(k)), g)
        return cache[slots].astype(np.float64)

    # -- sketches ------------------------------------------------------------------------
    def sketch_octave(self, gamma: float) -> float:
        """The octave whose sketch serves a query of this gamma (sketching it if allowed)."""
        want = prefilter_gamma(gamma)
        if want in self._sketch:
            return want
        small = self.n_slots <= SMALL_GROUP_SLOTS
        if len(self._sketch) < (MAX_OCTAVES_SMALL if small else MAX_OCTAVES_LARGE) and small:
            self._build_octave(want)
            return want
        # Nearest persisted octave, ties to the broader (smaller gamma) one.
        return min(self._sketch, key=lambda o: (abs(math.log2(o / want)), o))

    def sketch(self, octave: float) -> tuple[np.ndarray, np.ndarray]:
        """(features (n_slots, 2m) float32, squared norms) under a persisted octave."""
        feat, norms = self._sketch[octave]
        return feat.a[: self.n_slots], norms.a[: self.n_slots]

    def rff_features(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """The sketch of gamma's own octave (built if missing): what tests compare."""
        octave = prefilter_gamma(gamma)
        if octave not in self._sketch:
            self._build_octave(octave)
        return self.sketch(octave)

    def has_rff(self, gamma: float) -> bool:
        return prefilter_gamma(gamma) in self._sketch

    def _build_octave(self, octave: float) -> None:
        feat, norms = self._sketch_columns(octave)
        feat.reserve(self.n_slots)
        norms.reserve(self.n_slots)
        all_slots = np.arange(self.n_slots)
        for part in self._chunks(all_slots):
            Z, beta, starts = self.points(part)
            out = feat.a[part[0] : part[-1] + 1]
            self.rff_map.embed_segments(np.ascontiguousarray(Z), np.ascontiguousarray(beta), starts, octave, out)
            norms.a[part[0] : part[-1] + 1] = np.einsum("ij,ij->i", out, out)
        self._sketch[octave] = (feat, norms)
        self.dirty = True
