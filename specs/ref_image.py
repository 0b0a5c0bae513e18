"""Reference-made image specs (Beimingwu `learnware` 0.3.x RKMEImageSpecification files) in lwdock.

What such a file is. Its maker resized the images to 32x32, standardised each channel over the whole
set (and ZCA-whitened colour images), then optimised K points *in that image space* (z: K x C x 32
x 32) and their weights beta. Two specs are compared with the NNGP kernel of a fixed ConvNet
(specs/ref_image_kernel.py): analytic, no seed, no gamma. The file holds RKME_IMAGE_VERSION, msg, z,
beta, n_models, model_config, type (no num_points, no gamma).

How lwdock holds it. An RKMEImageSpecification (specs/image.py) whose embedder names the reference
kernel and the geometry, "reference-nngp-v1:CxHxW:dDkK" (channels, size, net depth D, kernel size K),
with the K images flattened as points. `dist` / `inner_prod` of such specs use the reference kernel
(image.py delegates here); the search engine scores them in their own group by the same kernel
(dock/search/ref_image.py). Their gamma is kept only so the spec stays a valid lwdock spec (the median
heuristic on the flattened points); no comparison uses it. Specs of another embedder (lwdock's conv
features) are never compared with these: the feature spaces are unrelated.

Refused, with the reason: z not K images (K, C, H, W) with C in 1, 3, 4; non-square images or a size
the reference's net cannot pool (it always makes 32x32); a model_config whose net the reference could
not build; an unknown RKME_IMAGE_VERSION; non-finite values; beta off the simplex (specs/table.py).
"""

from __future__ import annotations

import numpy as np

from .embedders import import_for
from .errors import SpecError
from .ref_image_kernel import DEFAULT_DEPTH, DEFAULT_KERNEL_SIZE, check_geometry, nngp_kernel

REFERENCE_NNGP = "reference-nngp-v1"
REFERENCE_IMAGE_SIZE = 32  # the reference's RKMEImageSpecification.IMAGE_WIDTH and its net's im_size
REFERENCE_IMAGE_VERSION = 1
REFERENCE_NOTE = ("a reference (Beimingwu) image spec keeps K images (K, C, 32, 32), C in 1, 3, 4, as z; "
                  "regenerate it with the reference's generate_stat_spec('image', X=images)")


# A reference spec's self-term costs K^2/2 kernel evaluations of 32x32 covariance maps (K=128: ~0.2 s on
# 2 shared cores, benchmarks/reference_image_kernel.py); 128 points (the reference's default is 50)
# bounds what anyone can make a node compute per spec.
MAX_REFERENCE_POINTS = 128


def check_spec(spec) -> None:
    """What a spec with a reference embedder must satisfy however it arrived (file, wire, peer): a
    valid geometry, points of exactly C*H*W values, at most MAX_REFERENCE_POINTS of them."""
    C, H, W, _, _ = geometry(spec.embedder)
    K, d = spec.z.shape
    if d != C * H * W:
        raise SpecError(f"z: {d} values per point, but embedder {spec.embedder!r} means {C}x{H}x{W} = "
                        f"{C * H * W}")
    if K > MAX_REFERENCE_POINTS:
        raise SpecError(f"z: {K} points is not allowed for a reference image spec; at most "
                        f"{MAX_REFERENCE_POINTS} (each comparison costs K^2 kernel evaluations; the reference's "
                        f"default is 50)")


def is_reference_image(spec) -> bool:
    return str(getattr(spec, "embedder", "")).startswith(REFERENCE_NNGP + ":")


def embedder_id(channels: int, size: int, depth: int, kernel_size: int) -> str:
    return f"{REFERENCE_NNGP}:{channels}x{size}x{size}:d{depth}k{kernel_size}"


def geometry(embedder: str) -> tuple[int, int, int, int, int]:
    """(C, H, W, depth, kernel size) from a reference embedder id; SpecError if it is not one."""
    try:
        prefix, shape, net = embedder.split(":")
        C, H, W = (int(v) for v in shape.split("x"))
        depth, kernel_size = (int(v) for v in net[1:].split("k"))
        if prefix != REFERENCE_NNGP or not net.startswith("d"):
            raise ValueError(prefix)
    except ValueError as exc:
        raise SpecError(f"embedder {embedder!r} is not a reference image kernel id "
                        f"('{REFERENCE_NNGP}:CxHxW:dDkK')") from exc
    problem = check_geometry(H, W, depth, kernel_size)
    if problem or C not in (1, 3, 4):
        raise SpecError(f"embedder {embedder!r}: {problem or f'{C} channels (expected 1, 3 or 4)'}")
    return C, H, W, depth, kernel_size


def _net_config(d: dict) -> tuple[int, int, int]:
    """(depth, kernel size, image size) of the net the file's model_config builds (the reference's
    defaults when absent); SpecError when the reference itself could not build or apply it."""
    config = d.get("model_config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise SpecError(f"model_config: {config!r} is not allowed; expected an object (or absent)")
    depth = config.get("net_depth", DEFAULT_DEPTH)
    kernel_size = config.get("kernel_size", DEFAULT_KERNEL_SIZE)
    size = config.get("im_size", [REFERENCE_IMAGE_SIZE, REFERENCE_IMAGE_SIZE])
    ints = (depth, kernel_size)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
        raise SpecError(f"model_config: net_depth {depth!r} / kernel_size {kernel_size!r} must be integers")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1]
            and isinstance(size[0], int) and not isinstance(size[0], bool)):
        raise SpecError(f"model_config.im_size: {size!r} is not allowed; expected [S, S]")
    return depth, kernel_size, size[0]


def from_reference_json(cls, d: dict):
    """A cls (RKMEImageSpecification) from a reference-made JSON dict, or SpecError saying what is wrong."""
    from .table import table_gamma

    if d.get("type", cls.type) != cls.type:
        raise SpecError(f"type: {d.get('type')!r} is not allowed here; expected {cls.type!r}")
    version = d.get("RKME_IMAGE_VERSION", REFERENCE_IMAGE_VERSION)
    if version != REFERENCE_IMAGE_VERSION:
        raise SpecError(f"RKME_IMAGE_VERSION: {version!r} is not a version lwdock knows "
                        f"(expected {REFERENCE_IMAGE_VERSION})")
    if d.get("beta") is None:
        raise SpecError(f"{cls.type}: beta is missing from this reference image spec")
    try:  # the file's size was bounded by load_spec; K x d is checked by validate()
        z = np.asarray(d["z"], dtype=np.float64)
        beta = np.asarray(d["beta"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise SpecError(f"z and beta must be numeric arrays; {e}") from e
    if z.ndim != 4 or z.shape[1] not in (1, 3, 4) or min(z.shape) < 1:
        raise SpecError(f"{cls.type}: no lwdock.embedder in this JSON and z has shape {z.shape}, "
                        f"not K images (K, C, H, W); {REFERENCE_NOTE}")
    K, C, H, W = z.shape
    depth, kernel_size, size = _net_config(d)
    if (H, W) != (size, size):
        raise SpecError(f"{cls.type}: z holds {H}x{W} images but the reference's kernel takes {size}x{size} "
                        f"(its maker resizes every image to that); {REFERENCE_NOTE}")
    problem = check_geometry(H, W, depth, kernel_size)
    if problem:
        raise SpecError(f"{cls.type}: model_config cannot be applied: {problem}")
    z = z.astype(np.float32).astype(np.float64)  # the reference reads z as float32: compare the same points
    flat = z.reshape(K, -1)
    if not (np.isfinite(flat).all() and np.isfinite(beta).all()):
        raise SpecError("z and beta must be finite (found NaN or inf)")
    meta = {"shape": [C, H, W], "range": [float(flat.min()), float(flat.max())], "integer": False}
    n = d.get("num_points")  # absent from the reference's files; lwdock may add it
    return cls(flat, beta, table_gamma(flat), num_points=int(n) if isinstance(n, int) and n >= 0 else 0,
               embedder=embedder_id(C, H, depth, kernel_size), meta=meta)


def images(spec) -> np.ndarray:
    """The spec's points as images (K, C, H, W)."""
    C, H, W, _, _ = geometry(spec.embedder)
    return np.asarray(spec.z, np.float64).reshape(len(spec.z), C, H, W)


def inner_prod(a, b) -> float:
    """<mu_a, mu_b> = beta_a' K(z_a, z_b) beta_b under the reference kernel (a's geometry; the caller
    checked both share the embedder)."""
    _, _, _, depth, kernel_size = geometry(a.embedder)
    K = nngp_kernel(images(a), None if a is b else images(b), depth, kernel_size)
    return float(a.beta @ K @ b.beta)


def mmd2(a, b) -> float:
    """Squared MMD under the reference kernel, clipped at 0 (rounding only: the exact value is >= 0)."""
    return max(inner_prod(a, a) - 2.0 * inner_prod(a, b) + inner_prod(b, b), 0.0)


def reference_to_json(spec) -> dict:
    """The reference's own file layout for this spec (what its `load` reads)."""
    C, H, W, depth, _ = geometry(spec.embedder)
    return {"RKME_IMAGE_VERSION": REFERENCE_IMAGE_VERSION, "msg": None, "z": images(spec).tolist(),
            "beta": spec.beta.tolist(), "n_models": 16,
            "model_config": {"k": 2, "mu": 0, "sigma": None, "net_width": 128, "net_depth": depth},
            "type": spec.type}


ZCA_REGULARISATION = 0.1  # the reference's reg_coef: added to the covariance as 0.1 x its mean eigenvalue


def reference_points(X, embedder: str) -> np.ndarray:
    """A user's images (N, C, H, W) put where a reference spec's points live, flattened (N, C*32*32):
    resized to the spec's size (bilinear with antialiasing, what the reference's torchvision Resize
    does on tensors), each channel standardised over the whole set (mean, unbiased std), and for
    colour images ZCA-whitened with the reference's regularisation. The statistics are the user's
    own set's, as the reference computes them from the data it summarises."""
    torch = import_for("image", "torch")
    F = import_for("image", "torch.nn.functional")

    C, H, W, _, _ = geometry(embedder)
    A = np.asarray(X, dtype=np.float64)
    if A.ndim == 3 and C == 1:
        A = A[:, None]
    if A.ndim != 4 or A.shape[1] != C or A.shape[0] < 2:
        raise SpecError(f"images of shape {A.shape} cannot be put in this spec's space: expected at least 2 "
                        f"images (N, {C}, height, width)")
    if not np.isfinite(A).all():
        raise SpecError("the images contain NaN or inf")
    x = torch.as_tensor(A)
    if x.shape[2:] != (H, W):
        x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False, antialias=True)
    std = x.std(dim=(0, 2, 3), keepdim=True)
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / torch.where(std > 0, std, torch.ones_like(std))
    flat = x.reshape(x.shape[0], -1)
    if C > 1:
        flat = _zca(flat)
    return flat.numpy()


def _zca(flat):
    """flat @ W, W = (cov + r I)^(-1/2), cov = flat'flat / N, r = ZCA_REGULARISATION x trace(cov) / dim
    (the reference's whitening). With fewer images than pixels the rows lie in the span of their own
    right singular vectors V, where W acts as V diag((s^2/N + r)^(-1/2)) V'; with flat = U S V' that
    is flat @ W = U diag((s^2/N + r)^(-1/2)) U' flat, and U, s^2 are the eigenpairs of the (N, N) Gram
    flat flat' (directions with s = 0 have U' flat = 0, so they add nothing). One N x N eigh instead of
    a thin SVD of (N, dim) (8 s for 1,000 colour images) or the eigendecomposition of a 3072 x 3072
    matrix (a minute on a CPU); same result to rounding."""
    torch = import_for("image", "torch")

    n, dim = flat.shape
    reg = ZCA_REGULARISATION * float((flat * flat).sum()) / n / dim
    if n < dim:
        eigvals, u = torch.linalg.eigh(flat @ flat.T)
        scale = (eigvals.clamp(min=0.0) / n + reg).rsqrt()
        return (u * scale) @ (u.T @ flat)
    cov = flat.T @ flat / n + reg * torch.eye(dim, dtype=flat.dtype)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    return flat @ (eigvecs * eigvals.rsqrt()) @ eigvecs.T


FIT_SAMPLE = 400  # images the weights are fitted against: 50 x 400 kernel pairs, a few seconds on a CPU


def fit_parts(X, K: int = 50, seed: int = 0, sample_size: int = FIT_SAMPLE) -> dict:
    """The constructor arguments of a reference-kind image spec (RKMEImageSpecification.fit_reference)
    of the user's images X (N, C, H, W) or (N, H, W), comparable with
    Beimingwu-made image learnwares: the images put where the reference's points live
    (`reference_points`), K points by k-means there (seeded; averages of images, not images), weights
    on the simplex minimising the MMD under the reference's kernel to a seeded sample of at most
    sample_size of the images. Not the reference's own optimisation (100 steps through 16 random conv
    nets of width 256: minutes per spec on a CPU), but an RKME in the same kernel space, so its MMD to
    any reference spec means what the reference's does. Meant for search queries: the points are
    averages of a few of the user's (standardised) images."""
    from .checks import check_int
    from .rkme_fit import kmeans_centres
    from .simplex_qp import solve_simplex_qp
    from .table import table_gamma

    A = np.asarray(X, dtype=np.float64)
    if A.ndim == 3:
        A = A[:, None]
    if A.ndim != 4 or A.shape[1] not in (1, 3, 4):
        raise SpecError(f"X: shape {A.shape} is not allowed; expected images (N, C, H, W) with C in 1, 3, 4 "
                        "or (N, H, W)")
    K = check_int("K", K, 1)
    seed = check_int("seed", seed, 0)
    C = A.shape[1]
    embedder = embedder_id(C, REFERENCE_IMAGE_SIZE, DEFAULT_DEPTH, DEFAULT_KERNEL_SIZE)
    points = reference_points(A, embedder)
    K = min(K, points.shape[0])
    z = kmeans_centres(points, K, seed)
    rng = np.random.default_rng(seed)
    sample = points if points.shape[0] <= sample_size else points[rng.choice(points.shape[0], sample_size,
                                                                             replace=False)]
    shape = (C, REFERENCE_IMAGE_SIZE, REFERENCE_IMAGE_SIZE)
    Kzz = nngp_kernel(z.reshape(K, *shape))
    c = nngp_kernel(z.reshape(K, *shape), sample.reshape(-1, *shape)).mean(axis=1)
    beta = solve_simplex_qp(Kzz, c)
    meta = {"shape": [int(s) for s in A.shape[1:]], "range": [float(A.min()), float(A.max())],
            "integer": np.asarray(X).dtype.kind in "biu"}
    return {"z": z, "beta": beta, "gamma": table_gamma(z), "num_points": A.shape[0], "embedder": embedder,
            "meta": meta}
