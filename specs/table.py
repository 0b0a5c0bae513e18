"""RKME table specification: K weighted points (z, beta) summarising a table's rows.

Kernel-scale policy ("median-grid4"). The kernel is k(x, y) = exp(-gamma |x - y|^2). The
reference fixes gamma = 0.1 on raw features; on unscaled data (digit images: squared distances
in the thousands) every kernel value between two rows is ~0, each spec degenerates to a sum of
spikes, and disjoint digit classes score the same MMD as two random halves of one set. Ours:
  1. gamma = 1 / median squared distance between rows (the median heuristic), from at most
     20000 random row pairs drawn with a FIXED seed, so gamma is a function of the data alone
     (not of the fit seed). Median 0 (mostly duplicate rows) -> mean squared distance;
     that 0 too (constant data) -> 1 / d.
  2. gamma is rounded to the grid 2 ** (k/4), k integer: gamma = 2 ** (round(4 log2 g) / 4).
     Specs from similar data then share exactly the same gamma, and a search engine can
     group learnwares by gamma and cache per-gamma terms.
The gamma is recorded in the spec. A caller may pass an explicit gamma instead (e.g. to
match a catalogue's).

Comparison rule: a.dist(b) is the MMD^2 between both embeddings under ONE kernel, gamma =
a.gamma (the query's scale) unless given. Specs fitted under the reference's policy (gamma
0.1) can therefore still be ranked against a user's spec, under the user's scale.

Bad input is refused, never repaired: NaN/inf rows raise SpecError rather than being imputed,
because a spec of imputed rows describes data nobody has.
"""

from __future__ import annotations

import json

import numpy as np

from .checks import as_table_data, check_gamma, check_int
from .errors import SpecError
from .kernels import grid_gamma, median_heuristic_gamma, mmd2, weighted_kernel_sum
from .limits import check_file_size, check_nested_shape, check_shape
from .privacy import METHOD as PRIVATE_METHOD
from .privacy import PRIVACY_WIRE_KEY, check_privacy_method, check_privacy_record, fit_private
from .rkme_fit import fit_rkme
from .wire import MAX_DECOMPRESSED_BYTES, pack_spec, unpack_spec

SPEC_VERSION = 1
GAMMA_POLICY = "median-grid4"
GAMMA_SAMPLE_SEED = 0
REFERENCE_DEFAULT_GAMMA = 0.1  # what the reference assumes when a file has no gamma
BETA_SUM_TOLERANCE = 1e-3
# The reference's QP solvers can return weights like -1e-12; clip those, refuse real negatives.
BETA_NEGATIVE_TOLERANCE = 1e-9
# Sample noise: per-coordinate std = SAMPLE_NOISE_SCALE x the beta-weighted spread of z there.
SAMPLE_NOISE_SCALE = 0.25


def table_gamma(X: np.ndarray) -> float:
    """The policy's gamma for validated data X (see the module docstring)."""
    rng = np.random.default_rng(GAMMA_SAMPLE_SEED)
    return grid_gamma(median_heuristic_gamma(X, rng))


class RKMETableSpecification:
    """z (K, d) float64, beta (K,) on the simplex, gamma > 0, num_points = rows fitted on."""

    type = "RKMETableSpecification"
    kind = "table"

    def __init__(self, z, beta, gamma, num_points: int = 0, version: int = SPEC_VERSION, privacy=None):
        check_nested_shape(z)  # a JSON list's K and d, before numpy copies it
        try:
            self.z = np.array(z, dtype=np.float64)
            self.beta = np.array(beta, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise SpecError(f"z and beta must be numeric arrays; {e}") from e
        self.gamma = gamma
        self.num_points = num_points
        self.version = version
        # None: a plain fit (or unknown). Else a dict {"method", "version", ...} of the method that
        # made the points (specs/privacy.py); it travels in JSON ("lwdock.privacy") and on the wire ("pr").
        self.privacy = check_privacy_record(privacy)
        self.validate()

    @property
    def dim(self) -> int:
        return int(self.z.shape[1])

    # The reference's accessors (issue 15): copies, so a caller cannot break the spec's invariants.
    def get_z(self) -> np.ndarray:
        return self.z.copy()

    def get_beta(self) -> np.ndarray:
        return self.beta.copy()

    def get_states(self) -> dict:
        """The spec's public state as the reference names it (what its save() writes)."""
        return {"type": self.type, "z": self.get_z(), "beta": self.get_beta(), "gamma": self.gamma,
                "num_points": self.num_points}

    def __repr__(self) -> str:
        return (
            f"RKMETableSpecification(K={self.z.shape[0]}, dim={self.dim}, gamma={self.gamma:.6g}, "
            f"num_points={self.num_points})"
        )

    def validate(self) -> RKMETableSpecification:
        """Check every invariant; renormalise beta when its sum is within tolerance of 1."""
        z, beta = self.z, self.beta
        if z.ndim != 2:
            raise SpecError(f"z: shape {z.shape} is not allowed; z must be 2-D (K points x d features)")
        K, d = z.shape
        if K == 0 or d == 0:
            raise SpecError(f"z: shape {z.shape} is not allowed; K and d must both be >= 1")
        check_shape(K, d, "z")
        if beta.shape != (K,):
            raise SpecError(f"beta: shape {beta.shape} does not match z's K={K}; expected ({K},)")
        if not (np.isfinite(z).all() and np.isfinite(beta).all()):
            raise SpecError("z and beta must be finite (found NaN or inf)")
        if beta.min() < -BETA_NEGATIVE_TOLERANCE:
            raise SpecError(f"beta: {float(beta.min())!r} is not allowed; weights must be >= 0")
        total = float(np.maximum(beta, 0.0).sum())
        if abs(total - 1.0) > BETA_SUM_TOLERANCE:
            raise SpecError(
                f"beta: sum {total!r} is not allowed; weights must sum to 1 (+- {BETA_SUM_TOLERANCE})"
            )
        self.beta = np.maximum(beta, 0.0) / total
        self.gamma = check_gamma(self.gamma)
        self.num_points = check_int("num_points", self.num_points, 0)
        self.version = check_int("version", self.version, 1)
        return self

    # ----- fitting -----

    @classmethod
    def fit(
        cls, X, K: int = 100, seed: int = 0, gamma=None, rounds: int = 5, z_steps: int = 5, privacy=None,
        allow_small: bool = False,
    ) -> RKMETableSpecification:
        """Fit a spec to X (n, d). K is capped at n. Deterministic for given inputs and seed (bitwise
        on one numpy/BLAS build and thread count; BLAS summation order differs across them).

        gamma None applies the median-grid4 policy. rounds x z_steps bounds the passes over X.
        privacy "private" (the default, also None) fits at most ceil(sqrt(n)) noised points, none
        closer to a row than rows are to each other (specs/privacy.py); it refuses a table of fewer
        than 50 rows (SmallTableError) unless allow_small=True. "none" is the plain fit, which
        publishes the rows themselves when K >= n: for benchmarks and tests that need it.
        """
        A = as_table_data(X)
        K = check_int("K", K, 1)
        seed = check_int("seed", seed, 0)
        rounds = check_int("rounds", rounds, 0)
        z_steps = check_int("z_steps", z_steps, 0)
        g = table_gamma(A) if gamma is None else check_gamma(gamma)
        if check_privacy_method(privacy) == PRIVATE_METHOD:
            z, beta, record = fit_private(A, K, g, seed=seed, rounds=rounds, z_steps=z_steps,
                                          allow_small=bool(allow_small))
            return cls(z, beta, g, num_points=A.shape[0], privacy=record)
        z, beta, _ = fit_rkme(A, K, g, seed=seed, rounds=rounds, z_steps=z_steps)
        return cls(z, beta, g, num_points=A.shape[0])

    def reveals(self) -> str:
        """One line on what this spec discloses about its rows (specs/privacy.py)."""
        from .privacy import reveals

        return reveals(self)

    # ----- comparison -----

    def _comparable(self, other) -> None:
        if not isinstance(other, RKMETableSpecification) or getattr(other, "type", None) != self.type:
            other_type = getattr(other, "type", type(other).__name__)
            raise SpecError(f"cannot compare {self.type} with {other_type}")
        if other.dim != self.dim:
            raise SpecError(f"dimension mismatch: {self.dim} vs {other.dim}")

    def dist(self, other: RKMETableSpecification, gamma=None) -> float:
        """MMD^2 between the two embeddings under one kernel: gamma if given, else self.gamma."""
        self._comparable(other)
        g = self.gamma if gamma is None else check_gamma(gamma)
        return mmd2(self.z, self.beta, other.z, other.beta, g)

    def inner_prod(self, other: RKMETableSpecification, gamma=None) -> float:
        """<phi_self, phi_other> = beta' K beta_other under one kernel (for mixture weights)."""
        self._comparable(other)
        g = self.gamma if gamma is None else check_gamma(gamma)
        return weighted_kernel_sum(self.z, self.beta, other.z, other.beta, g)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n synthetic rows (n, d): a point z_i drawn with probability beta_i plus Gaussian noise.

        The noise std per coordinate is SAMPLE_NOISE_SCALE x the beta-weighted spread of z in
        that coordinate, so features on very different scales each get plausible noise and
        constant features stay constant. (An isotropic noise of variance 1/(2 gamma) per
        coordinate, the kernel's own width, would swamp the data: under the median heuristic
        its norm is sqrt(d/2) times the typical distance between rows.) A one-point spec
        (K = 1) carries no spread, so its samples are copies of z: any guessed noise scale would
        be wrong for some feature (a 0/1 flag next to a salary, say).
        """
        n = check_int("n", n, 0)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        centre = self.beta @ self.z
        spread = np.sqrt(self.beta @ (self.z - centre) ** 2)
        picks = rng.choice(self.z.shape[0], size=n, p=self.beta)
        return self.z[picks] + rng.normal(size=(n, self.dim)) * (SAMPLE_NOISE_SCALE * spread)

    # ----- JSON (the reference's format plus an "lwdock" key it ignores) -----

    def to_json_dict(self) -> dict:
        return {
            "type": self.type,
            "z": self.z.tolist(),
            "beta": self.beta.tolist(),
            "gamma": self.gamma,
            "num_points": self.num_points,
            "lwdock": {"version": self.version, "kernel": "gaussian", "gamma_policy": GAMMA_POLICY,
                       **({"privacy": dict(self.privacy)} if self.privacy else {})},
        }

    @classmethod
    def from_json_dict(cls, d) -> RKMETableSpecification:
        """Accepts our files and the reference's (no "lwdock" key, maybe "cuda_idx", maybe no gamma)."""
        if not isinstance(d, dict):
            raise SpecError(f"spec JSON: expected an object, got {type(d).__name__}")
        if d.get("type", cls.type) != cls.type:
            raise SpecError(f"type: {d.get('type')!r} is not allowed here; expected {cls.type!r}")
        for key in ("z", "beta"):
            if key not in d:
                raise SpecError(f"{key}: missing from {cls.type} JSON (keys present: {sorted(d)})")
        meta = d.get("lwdock") or {}
        if not isinstance(meta, dict):
            raise SpecError(f"lwdock: {meta!r} is not allowed; expected an object")
        if meta.get("kernel", "gaussian") != "gaussian":
            raise SpecError(f"lwdock.kernel: {meta['kernel']!r} is not allowed; only 'gaussian' is known")
        gamma = d.get("gamma")
        return cls(
            d["z"],
            d["beta"],
            REFERENCE_DEFAULT_GAMMA if gamma is None else gamma,
            num_points=d.get("num_points", 0),
            version=meta.get("version", SPEC_VERSION),
            privacy=meta.get("privacy"),
        )

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json_dict(), f, separators=(",", ":"))

    @classmethod
    def load(cls, path) -> RKMETableSpecification:
        try:
            check_file_size(path)
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise SpecError(f"cannot read spec file {path}: {e}") from e
        return cls.from_json_dict(d)

    # ----- compact binary (wire) form: zstd(msgpack), float32 arrays -----

    def to_bytes(self) -> bytes:
        if np.abs(self.z).max() > np.finfo(np.float32).max:  # would come back as inf, unreadable
            raise SpecError("z: values beyond float32 range cannot use the binary form; use to_json_dict")
        return pack_spec(self._wire_dict())

    def _wire_dict(self) -> dict:
        K, d = self.z.shape
        w = {"t": self.type, "v": self.version, "g": self.gamma, "n": self.num_points, "k": K, "d": d,
             "z": self.z.astype("<f4").tobytes(), "b": self.beta.astype("<f4").tobytes()}
        if self.privacy:  # only private specs carry "pr": default specs keep the 8 keys of PROTOCOL.md 6
            w[PRIVACY_WIRE_KEY] = dict(self.privacy)
        return w

    @classmethod
    def from_bytes(cls, data, max_size: int = MAX_DECOMPRESSED_BYTES) -> RKMETableSpecification:
        return cls.from_wire_dict(unpack_spec(data, max_size=max_size))

    @classmethod
    def from_wire_dict(cls, w: dict) -> RKMETableSpecification:
        """Build from an unpacked wire map, checking sizes before any reshape."""
        if w.get("t") != cls.type:
            raise SpecError(f"spec bytes: type {w.get('t')!r} is not {cls.type!r}")
        missing = [k for k in ("v", "g", "n", "k", "d", "z", "b") if k not in w]
        if missing:
            raise SpecError(f"spec bytes: missing keys {missing}")
        K = check_int("k", w["k"], 1)
        d = check_int("d", w["d"], 1)
        check_shape(K, d, "spec bytes")  # before any array is built from the payload
        z, b = w["z"], w["b"]
        if not isinstance(z, bytes) or len(z) != K * d * 4:
            size = len(z) if isinstance(z, bytes) else type(z).__name__
            raise SpecError(f"spec bytes: z has {size} bytes; expected K*d*4 = {K * d * 4}")
        if not isinstance(b, bytes) or len(b) != K * 4:
            size = len(b) if isinstance(b, bytes) else type(b).__name__
            raise SpecError(f"spec bytes: beta has {size} bytes; expected K*4 = {K * 4}")
        zz = np.frombuffer(z, dtype="<f4").astype(np.float64).reshape(K, d)
        beta = np.frombuffer(b, dtype="<f4").astype(np.float64)
        total = beta.sum()
        if np.isfinite(total) and total > 0:
            beta = beta / total  # float32 rounding moves the sum by ~1e-7; restore it exactly
        return cls(zz, beta, w["g"], num_points=w["n"], version=w["v"], privacy=w.get(PRIVACY_WIRE_KEY))
