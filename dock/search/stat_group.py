"""The in-memory statistical index: one `StatGroup` per compatibility key.

A group stacks the RKME points of every learnware whose spec has that key (kind, dimension,
embedder) into one float32 matrix, so a query is a few large matrix products instead of one
Python call per learnware. Layout and costs:

* Points: Z (points, d) float32 relative to the group's offset (the first spec's mean; a
  shift changes no distance and keeps float32's rounding of raw features with big means
  small), and beta. Queries shift blocks into their own frame (dock/search/kernels.py).
  A learnware's points are one contiguous *segment*; slots (one per spec) hold
  start, length, owner row, liveness and the spec's own gamma.
* add: append (arrays grow by doubling, so O(K d) amortised) and extend each per-gamma cache
  by the new slot only. remove: mark the slot dead, O(1); when dead points pass a quarter of
  the total the group compacts (O(size), amortised O(1) per removed point).
* Per-gamma caches (gamma = the query's; specs' gammas are on a 2^(1/4) grid so there are
  few): self-terms b'K(z,z)b, filled lazily for the slots a query touches, and RFF features
  (dock/search/rff.py), built for the whole group on first use and extended on add.
  Both are small LRU maps keyed by the exact gamma value.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from dock.search.kernels import batched_self_terms, gather_index, segment_sums, weighted_kernel_rows
from dock.search.rff import RffMap

COMPACT_DEAD_FRACTION = 0.25
SELF_CACHE_GAMMAS = 32  # n float64 each: 0.8 MB per gamma at 100k learnwares
RFF_CACHE_GAMMAS = 4  # n x 256 float32 each: 100 MB per gamma at 100k learnwares
_SELF_BATCH_ENTRIES = 2_000_000


class StatGroup:
    def __init__(self, key: str, dim: int):
        self.key = key
        self.dim = dim
        self.offset: np.ndarray | None = None
        self._Z = np.zeros((0, dim), np.float32)
        self._beta = np.zeros(0, np.float32)
        self._start = np.zeros(0, np.int64)
        self._len = np.zeros(0, np.int64)
        self._row = np.zeros(0, np.int64)
        self._live = np.zeros(0, bool)
        self._gamma = np.zeros(0)
        self.n_points = 0
        self.n_slots = 0
        self.n_live = 0
        self._dead_points = 0
        self._slot_of_row: dict[int, int] = {}
        self._self: OrderedDict[float, np.ndarray] = OrderedDict()
        self._rff: OrderedDict[float, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.rff_map = RffMap(dim)

    # -- storage -------------------------------------------------------------------------
    def _grow(self, points: int, slots: int) -> None:
        def grown(a: np.ndarray, need: int) -> np.ndarray:
            if need <= a.shape[0]:
                return a
            cap = max(need, 2 * a.shape[0], 16)
            b = np.zeros((cap, *a.shape[1:]), a.dtype)
            b[: a.shape[0]] = a
            return b

        need_p, need_s = self.n_points + points, self.n_slots + slots
        self._Z, self._beta = (grown(a, need_p) for a in (self._Z, self._beta))
        self._start, self._len, self._row, self._live, self._gamma = (
            grown(a, need_s) for a in (self._start, self._len, self._row, self._live, self._gamma)
        )
        for g, arr in list(self._self.items()):
            if arr.shape[0] < need_s:
                self._self[g] = np.concatenate([arr, np.full(self._start.shape[0] - arr.shape[0], np.nan)])
        for g, (feat, norms) in list(self._rff.items()):
            if feat.shape[0] < need_s:
                self._rff[g] = (grown(feat, self._start.shape[0]), grown(norms, self._start.shape[0]))

    def add(self, row: int, z: np.ndarray, beta: np.ndarray, gamma: float) -> None:
        """Append one spec (z (K, d) float64, beta (K,)) owned by index row `row`."""
        self.add_batch([row], [z], [beta], [gamma])

    def add_batch(self, rows, zs, betas, gammas) -> None:
        """Append several specs at once (one copy into the stacks; same result as one by one).

        Cost O(their points): the arrays grow by doubling, and each per-gamma cache is extended
        by the new slots only (RFF features of the new points; self-terms left to fill lazily).
        """
        fresh = [i for i, r in enumerate(rows) if r not in self._slot_of_row]  # adding is idempotent
        if not fresh:
            return
        zs = [np.asarray(zs[i], np.float64) for i in fresh]
        betas = [np.asarray(betas[i], np.float64) for i in fresh]
        if self.offset is None:
            self.offset = betas[0] @ zs[0]
        lengths = np.array([z.shape[0] for z in zs], np.int64)
        total, count = int(lengths.sum()), len(fresh)
        self._grow(total, count)
        p, s = self.n_points, self.n_slots
        block = (np.concatenate(zs) - self.offset).astype(np.float32)
        self._Z[p : p + total] = block
        self._beta[p : p + total] = np.concatenate(betas)
        self._start[s : s + count] = p + np.cumsum(lengths) - lengths
        self._len[s : s + count] = lengths
        self._row[s : s + count] = [rows[i] for i in fresh]
        self._live[s : s + count] = True
        self._gamma[s : s + count] = [gammas[i] for i in fresh]
        self.n_points += total
        self.n_slots += count
        self.n_live += count
        for j, i in enumerate(fresh):
            self._slot_of_row[rows[i]] = s + j
        for g in self._self:
            self._self[g][s : s + count] = np.nan
        starts = self._start[s : s + count] - p
        for g, (feat, norms) in self._rff.items():
            self.rff_map.embed_segments(block, self._beta[p : p + total], starts, g, feat[s : s + count])
            norms[s : s + count] = np.einsum("ij,ij->i", feat[s : s + count], feat[s : s + count])

    def remove(self, row: int) -> bool:
        slot = self._slot_of_row.pop(row, None)
        if slot is None:
            return False
        self._live[slot] = False
        self.n_live -= 1
        self._dead_points += int(self._len[slot])
        if self._dead_points > COMPACT_DEAD_FRACTION * max(self.n_points, 1):
            self._compact()
        return True

    def _compact(self) -> None:
        keep = np.flatnonzero(self._live[: self.n_slots])
        idx = gather_index(self._start[keep], self._len[keep])
        self._Z = self._Z[idx]
        self._beta = self._beta[idx]
        lengths = self._len[keep]
        self._start = np.cumsum(lengths) - lengths
        self._len = lengths
        self._row = self._row[keep]
        self._gamma = self._gamma[keep]
        self._live = np.ones(keep.size, bool)
        self._self = OrderedDict((g, a[keep]) for g, a in self._self.items())
        self._rff = OrderedDict((g, (f[keep], n[keep])) for g, (f, n) in self._rff.items())
        self.n_points, self.n_slots, self._dead_points = int(idx.size), int(keep.size), 0
        self._slot_of_row = {int(r): i for i, r in enumerate(self._row)}

    # -- reads ---------------------------------------------------------------------------
    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self._live[: self.n_slots])

    def rows(self, slots: np.ndarray) -> np.ndarray:
        return self._row[slots]

    def slot_rows(self) -> np.ndarray:
        return self._row[: self.n_slots]

    def live_mask(self) -> np.ndarray:
        return self._live[: self.n_slots]

    def points_in(self, slots: np.ndarray) -> int:
        return int(self._len[slots].sum())

    def points(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gathered (Z, beta, segment starts) of these slots, in their order (group frame)."""
        lengths = self._len[slots]
        idx = gather_index(self._start[slots], lengths)
        return self._Z[idx], self._beta[idx], np.cumsum(lengths) - lengths

    def query_frame(self, z: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q centred on the query's mean, shift taking stored points into that frame, q in the
        group frame for RFF), all float32. See dock/search/kernels.py for why."""
        z = np.asarray(z, np.float64)
        centre = np.asarray(beta, np.float64) @ z
        offset = self.offset if self.offset is not None else centre
        return (z - centre).astype(np.float32), (offset - centre).astype(np.float32), (z - offset).astype(np.float32)

    def memory_bytes(self) -> int:
        """Bytes in use (arrays keep spare capacity from doubling; untouched pages cost no RAM)."""
        per_point = self._Z.itemsize * self.dim + self._beta.itemsize
        per_slot = sum(a.itemsize for a in (self._start, self._len, self._row, self._live, self._gamma))
        per_slot += 8 * len(self._self) + sum(f.itemsize * f.shape[1] + n.itemsize for f, n in self._rff.values())
        return int(self.n_points * per_point + self.n_slots * per_slot)

    # -- kernel terms under a query's gamma ----------------------------------------------
    def cross_terms(self, q: np.ndarray, bq: np.ndarray, gamma: float, shift: np.ndarray, slots: np.ndarray):
        """<mu_query, mu_slot> for each slot (exact; float32 kernel, float64 sums)."""
        if slots.size == 0:
            return np.zeros(0)
        if self.points_in(slots) * 2 >= self.n_points:
            # Most of the group: scan everything in place (no gather copy), dead slots included.
            v = weighted_kernel_rows(q, bq, gamma, self._Z[: self.n_points], shift)
            v *= self._beta[: self.n_points]
            return segment_sums(v, self._start[: self.n_slots])[slots]
        Z, beta, starts = self.points(slots)
        v = weighted_kernel_rows(q, bq, gamma, Z, shift)
        v *= beta
        return segment_sums(v, starts)

    def self_terms(self, gamma: float, slots: np.ndarray) -> np.ndarray:
        """b'K(z,z)b of each slot under gamma, computed once per (slot, gamma) and cached."""
        g = float(gamma)
        cache = self._self.get(g)
        if cache is None:
            cache = np.full(self._start.shape[0], np.nan)
            self._self[g] = cache
            while len(self._self) > SELF_CACHE_GAMMAS:
                self._self.popitem(last=False)
        self._self.move_to_end(g)
        missing = slots[np.isnan(cache[slots])]
        if missing.size:
            lengths = self._len[missing]
            for k in np.unique(lengths):
                group = missing[lengths == k]
                per = max(1, _SELF_BATCH_ENTRIES // int(k * k))
                for s in range(0, group.size, per):
                    part = group[s : s + per]
                    idx = gather_index(self._start[part], self._len[part])
                    Z = self._Z[idx].reshape(part.size, int(k), self.dim)
                    cache[part] = batched_self_terms(Z, self._beta[idx].reshape(part.size, int(k)), g)
        return cache[slots]

    def rff_features(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """(features (n_slots, 2m) float32, their squared norms) of every slot under gamma."""
        g = float(gamma)
        if g not in self._rff:
            feat = np.zeros((self._start.shape[0], self.rff_map.n_features), np.float32)
            n = self.n_slots
            self.rff_map.embed_segments(self._Z[: self.n_points], self._beta[: self.n_points], self._start[:n], g, feat)
            norms = np.einsum("ij,ij->i", feat, feat)
            self._rff[g] = (feat, norms)
            while len(self._rff) > RFF_CACHE_GAMMAS:
                self._rff.popitem(last=False)
        self._rff.move_to_end(g)
        feat, norms = self._rff[g]
        return feat[: self.n_slots], norms[: self.n_slots]

    def has_rff(self, gamma: float) -> bool:
        return float(gamma) in self._rff
