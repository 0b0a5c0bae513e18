"""RKMEImageSpecification: an RKME of images in a fixed random-conv feature space.

The reference (Beimingwu) optimises its image spec's points as images against 16 random conv
nets and compares them with an NNGP kernel, which is slow on a CPU. lwdock maps every image
through ONE fixed, seeded, versioned feature map (specs/embedders/image.py, 128 features) and
fits the table RKME (median-grid4 gamma, same code) to those features. The spec records the
feature map's identity; specs from different feature maps are never compared.

Besides z and beta the spec keeps, under lwdock.input, the per-image shape it was fitted on and
the pixel range (min, max), so the dock can probe an image model with image arrays of that shape
(`probe_inputs`); `sample` stays in feature space, like the table spec's. Nothing else about
the images is kept.

A reference RKMEImageSpecification JSON (no lwdock.embedder; its z are K images (K, C, 32, 32)) is
read by specs/ref_image.py: points that are images, compared under the reference's own kernel (the
NNGP kernel of its ConvNet, specs/ref_image_kernel.py), embedder "reference-nngp-v1:...". `dist`,
`inner_prod` and `embed` of such a spec go there; it is never compared with lwdock's conv-feature
specs (docs/COMPAT.md, "Reference image specs").
"""

from __future__ import annotations

import numpy as np

from .checks import check_gamma, check_int
from .embedded import EmbeddedRKMESpecification
from .errors import SpecError
from .privacy import METHOD, check_enough_rows, check_privacy_method
from .table import table_gamma

SPEC_VERSION = 1


REFERENCE_PIXELS = "reference-pixels-v1"  # an older reading (pixels, Gaussian): compared as before; embed refuses


class RKMEImageSpecification(EmbeddedRKMESpecification):
    type = "RKMEImageSpecification"
    kind = "image"
    reference_note = ("It looks like a reference (Beimingwu) image spec, but its z is not K images "
                      "(K, C, H, W) with C in 1, 3, 4; regenerate it with generate_stat_spec('image', X=images).")

    @classmethod
    def from_json_dict(cls, d):
        meta = d.get("lwdock") if isinstance(d, dict) else None
        if isinstance(d, dict) and not (isinstance(meta, dict) and "embedder" in meta) and "z" in d:
            return cls._from_reference_json(d)
        return super().from_json_dict(d)

    @classmethod
    def _from_reference_json(cls, d):
        """A reference-made spec: K images as points, compared under the reference's kernel."""
        from .ref_image import from_reference_json

        return from_reference_json(cls, d)

    def embed(self, X) -> np.ndarray:
        """The user's images in this spec's space: lwdock's conv features, or for a reference-made spec
        the reference's preprocessing of them (resize to 32x32, per-channel standardising, ZCA for
        colour), flattened."""
        if self.embedder.startswith(REFERENCE_PIXELS + ":"):
            raise SpecError("this spec was read by an older lwdock as pixels (reference-pixels-v1); "
                            "re-import the reference's spec file")
        from .ref_image import is_reference_image, reference_points

        if is_reference_image(self):
            return reference_points(X, self.embedder)
        return super().embed(X)

    @classmethod
    def fit_reference(cls, X, K: int = 50, seed: int = 0, sample_size: int = 400):
        """A spec of images X in the reference's (Beimingwu's) space and kernel, to search reference-made
        image learnwares with (specs/ref_image.py `fit_parts`)."""
        from .ref_image import fit_parts

        parts = fit_parts(X, K=K, seed=seed, sample_size=sample_size)
        return cls(parts.pop("z"), parts.pop("beta"), parts.pop("gamma"), version=SPEC_VERSION, **parts)

    def inner_prod(self, other, gamma=None) -> float:
        """Under the reference's kernel for a reference-made spec (gamma unused), else the table's."""
        from .ref_image import inner_prod, is_reference_image

        if is_reference_image(self):
            self._comparable(other)
            return inner_prod(self, other)
        return super().inner_prod(other, gamma)

    def dist(self, other, gamma=None) -> float:
        """MMD^2: under the reference's kernel for a reference-made spec (gamma unused), else the table's."""
        from .ref_image import is_reference_image, mmd2

        if is_reference_image(self):
            self._comparable(other)
            return mmd2(self, other)
        return super().dist(other, gamma)

    def validate(self):
        super().validate()
        from .ref_image import check_spec, is_reference_image

        if is_reference_image(self):
            check_spec(self)
        return self

    @classmethod
    def check_meta(cls, meta) -> dict:
        meta = super().check_meta(meta)
        shape, rng = meta.get("shape"), meta.get("range")
        if not (isinstance(shape, list) and len(shape) in (2, 3)
                and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 65536 for s in shape)):
            raise SpecError(f"input.shape: {shape!r} is not allowed; expected [H, W] or [C, H, W] of positive ints")
        if len(shape) == 3 and shape[0] not in (1, 3, 4):
            raise SpecError(f"input.shape: {shape[0]} channels is not allowed; expected 1, 3 or 4")
        if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
                and np.isfinite(rng).all() and rng[0] <= rng[1]):
            raise SpecError(f"input.range: {rng!r} is not allowed; expected [min, max] finite, min <= max")
        return {"shape": list(shape), "range": [float(rng[0]), float(rng[1])],
                "integer": bool(meta.get("integer", False))}

    @classmethod
    def fit(cls, X, K: int = 100, seed: int = 0, gamma=None, rounds: int = 5, z_steps: int = 5, privacy=None,
            allow_small: bool = False):
        """Fit to images X: (N, H, W) or (N, C, H, W), C in {1, 3, 4}, channels first. privacy
        "private" (the default, also None) applies specs/privacy.py to the features (at most
        ceil(sqrt(N)) noised points) and refuses fewer than 50 images (SmallTableError) unless
        allow_small; "none" is the plain fit, whose points can be near-copies of image features."""
        from .embedders.image import as_images, embedder_id, image_features

        A = np.asarray(X)
        as_images(A)  # validates before the (slower) feature pass
        K = check_int("K", K, 1)
        seed = check_int("seed", seed, 0)
        privacy = check_privacy_method(privacy)  # None: the default, read now (not bound at import)
        if privacy == METHOD:
            check_enough_rows(A.shape[0], bool(allow_small), "images")  # before the feature pass
        F = image_features(A)
        g = table_gamma(F) if gamma is None else check_gamma(gamma)
        z, beta, record = cls.fit_features(F, K, g, seed, check_int("rounds", rounds, 0),
                                           check_int("z_steps", z_steps, 0), privacy, bool(allow_small),
                                           items="images")
        meta = {"shape": [int(s) for s in A.shape[1:]], "range": [float(A.min()), float(A.max())],
                "integer": A.dtype.kind in "biu"}
        return cls(z, beta, g, num_points=A.shape[0], version=SPEC_VERSION, embedder=embedder_id(), meta=meta,
                   privacy=record)

    @classmethod
    def features(cls, X) -> np.ndarray:
        from .embedders.image import image_features

        return image_features(X)

    @classmethod
    def current_embedder(cls) -> str:
        from .embedders.image import embedder_id

        return embedder_id()

    def probe_inputs(self, n: int, seed: int = 0) -> np.ndarray:
        """n images of the recorded shape: smooth random blobs spanning the recorded pixel range
        (what the dock feeds a model on submission to check that it runs and its output shape)."""
        n = check_int("n", n, 0)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        shape = tuple(self.meta["shape"])
        lo, hi = self.meta["range"]
        noise = rng.random((n, *shape))
        # a 3-tap box blur along the last two axes: image-like rather than salt-and-pepper
        for axis in (-1, -2):
            noise = (noise + np.roll(noise, 1, axis) + np.roll(noise, -1, axis)) / 3.0
        span = noise.max() - noise.min() if n else 1.0
        imgs = lo + (noise - (noise.min() if n else 0.0)) / (span if span > 0 else 1.0) * (hi - lo)
        if self.meta.get("integer"):
            imgs = np.round(imgs)
        return imgs
