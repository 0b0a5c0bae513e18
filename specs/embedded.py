"""RKME specs in an embedder's feature space (image, text): the table RKME fitted to features,
plus the embedder's identity and a little about the raw inputs (for probing models).

A spec of this family is compared only with a spec of the same type, dimension AND embedder
(`dist` raises SpecError otherwise; the dock's compat_key includes `embedder`). Loading,
comparing and the wire form need numpy only; torch is imported when features are computed.
"""

from __future__ import annotations

import numpy as np

from .errors import SpecError
from .privacy import PRIVACY_WIRE_KEY
from .table import GAMMA_POLICY, RKMETableSpecification
from .wire import MAX_DECOMPRESSED_BYTES, pack_spec, unpack_spec

MAX_EMBEDDER_ID = 200


class EmbeddedRKMESpecification(RKMETableSpecification):
    """z (K, d) in the embedder's feature space; `embedder` names the feature map; `meta` is a
    small JSON-ready dict about the raw inputs (kind-specific)."""

    type = "EmbeddedRKMESpecification"  # abstract: subclasses set type and kind
    kind = "embedded"

    def __init__(self, z, beta, gamma, num_points: int = 0, version: int = 1, *, embedder: str, meta=None,
                 privacy=None):
        self.embedder = embedder
        self.meta = {} if meta is None else meta
        super().__init__(z, beta, gamma, num_points=num_points, version=version, privacy=privacy)

    @staticmethod
    def fit_features(F: np.ndarray, K: int, gamma: float, seed: int, rounds: int, z_steps: int, privacy,
                     allow_small: bool, **private_settings):
        """(z, beta, privacy record or None) of features F: the plain fit unless privacy is "private"
        (opt-in for image and text specs: docs/SECURITY.md "What a spec reveals")."""
        from .privacy import METHOD, check_privacy_method, fit_private
        from .rkme_fit import fit_rkme

        if privacy is not None and check_privacy_method(privacy) == METHOD:
            return fit_private(F, K, gamma, seed=seed, rounds=rounds, z_steps=z_steps, allow_small=allow_small,
                               **private_settings)  # per kind: specs/privacy.py POINT_RULES
        z, beta, _ = fit_rkme(F, K, gamma, seed=seed, rounds=rounds, z_steps=z_steps)
        return z, beta, None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(K={self.z.shape[0]}, dim={self.dim}, gamma={self.gamma:.6g}, "
                f"num_points={self.num_points}, embedder={self.embedder!r})")

    def validate(self):
        super().validate()
        e = self.embedder
        if not isinstance(e, str) or not e or len(e) > MAX_EMBEDDER_ID or not e.isprintable():
            raise SpecError(f"embedder: {e!r} is not allowed; expected a non-empty printable identity "
                            f"of at most {MAX_EMBEDDER_ID} characters")
        self.meta = self.check_meta(self.meta)
        return self

    @classmethod
    def check_meta(cls, meta) -> dict:
        if not isinstance(meta, dict):
            raise SpecError(f"input meta: {meta!r} is not allowed; expected an object")
        return meta

    # ----- the feature space -----

    @classmethod
    def features(cls, X):
        """Raw inputs -> (n, dim) features in the current embedder's space (imports torch)."""
        raise NotImplementedError

    @classmethod
    def current_embedder(cls) -> str:
        raise NotImplementedError

    def embed(self, X) -> np.ndarray:
        """Raw inputs (images / documents) mapped into THIS spec's feature space, e.g. for reuse that
        assigns a user's items to learnwares by their RKMEs. SpecError if the installed embedder is
        not the one this spec was made with."""
        here = self.current_embedder()
        if here != self.embedder:
            raise SpecError(f"this spec was made with embedder {self.embedder!r}; the installed one is {here!r}")
        return self.features(X)

    # ----- comparison -----

    def _comparable(self, other) -> None:
        if getattr(other, "type", None) != self.type or not isinstance(other, EmbeddedRKMESpecification):
            other_type = getattr(other, "type", type(other).__name__)
            raise SpecError(f"cannot compare {self.type} with {other_type}")
        if other.embedder != self.embedder:
            raise SpecError(f"cannot compare specs from different embedders: {self.embedder!r} vs "
                            f"{other.embedder!r} (their feature spaces are unrelated)")
        if other.dim != self.dim:
            raise SpecError(f"dimension mismatch: {self.dim} vs {other.dim}")

    # ----- JSON -----

    def to_json_dict(self) -> dict:
        d = super().to_json_dict()
        d["lwdock"].update({"embedder": self.embedder, "input": self.meta})
        return d

    @classmethod
    def from_json_dict(cls, d):
        if not isinstance(d, dict):
            raise SpecError(f"spec JSON: expected an object, got {type(d).__name__}")
        if d.get("type", cls.type) != cls.type:
            raise SpecError(f"type: {d.get('type')!r} is not allowed here; expected {cls.type!r}")
        meta = d.get("lwdock")
        if not isinstance(meta, dict) or "embedder" not in meta:
            raise SpecError(f"{cls.type}: no lwdock.embedder in this JSON. {cls.reference_note}")
        if d.get("gamma") is None:
            raise SpecError(f"gamma: missing from {cls.type} JSON")
        base = RKMETableSpecification.from_json_dict({**d, "type": RKMETableSpecification.type})
        return cls(base.z, base.beta, base.gamma, num_points=base.num_points, version=base.version,
                   embedder=meta["embedder"], meta=meta.get("input") or {}, privacy=base.privacy)

    reference_note = "It was not made by lwdock, whose specs record the feature map they were computed in."

    # ----- wire -----

    def to_bytes(self) -> bytes:
        if np.abs(self.z).max() > np.finfo(np.float32).max:
            raise SpecError("z: values beyond float32 range cannot use the binary form; use to_json_dict")
        K, d = self.z.shape
        return pack_spec({"t": self.type, "v": self.version, "g": self.gamma, "n": self.num_points, "k": K,
                          "d": d, "z": self.z.astype("<f4").tobytes(), "b": self.beta.astype("<f4").tobytes(),
                          "e": self.embedder, "x": self.meta, "p": GAMMA_POLICY,
                          **({PRIVACY_WIRE_KEY: dict(self.privacy)} if self.privacy else {})})

    @classmethod
    def from_bytes(cls, data, max_size: int = MAX_DECOMPRESSED_BYTES):
        return cls.from_wire_dict(unpack_spec(data, max_size=max_size))

    @classmethod
    def from_wire_dict(cls, w: dict):
        if w.get("t") != cls.type:
            raise SpecError(f"spec bytes: type {w.get('t')!r} is not {cls.type!r}")
        if "e" not in w:
            raise SpecError("spec bytes: missing keys ['e'] (the embedder)")
        base = RKMETableSpecification.from_wire_dict({**w, "t": RKMETableSpecification.type})
        return cls(base.z, base.beta, base.gamma, num_points=base.num_points, version=base.version,
                   embedder=w["e"], meta=w.get("x") or {}, privacy=base.privacy)
