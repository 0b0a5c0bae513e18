"""The image feature map: a fixed, seeded, random convolutional net (no training, no download).

Version 1 ("lwdock-randconv-v1"):
  input   (N, H, W) grey or (N, C, H, W) with C in {1, 3, 4}; grey is repeated to 3 channels,
          a 4th (alpha) channel is dropped. Any H, W >= 1.
  scale   each image is standardised on its own (minus its mean, over its std; a constant image
          becomes all zeros), so 0-1, 0-16 and 0-255 pixel ranges give the same features.
  resize  bilinear to 16 x 16 (antialiased when shrinking). 32 x 32 cost 4x the time (2.3 s per
          1,800 images on 2 loaded cores) for no gain on small images.
  net     conv3x3(3->32) ReLU avgpool2 -> conv3x3(32->64) ReLU avgpool2 -> conv3x3(64->32) ReLU
          -> adaptive avg pool 2x2 -> 128 features (their scale is left to the RKME's
          median-heuristic gamma). Weights: He-normal from numpy's PCG64, seed 20261126, no biases.
The identity is "lwdock-randconv-v1:" + the first 16 hex digits of sha256 over the architecture
(size, layers, pool) and the weights' float32 bytes, so a platform whose RNG produced other
weights yields specs that are simply never compared with ours (compat_key differs) instead of
silently wrong distances.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from ..errors import SpecError
from . import import_for

NAME = "lwdock-randconv-v1"
SEED = 20261126
SIZE = 16
# (in, out) channels of the three 3x3 convolutions.
LAYERS = ((3, 32), (32, 64), (64, 32))
POOL = 2  # final adaptive pool: POOL x POOL per channel
DIM = LAYERS[-1][1] * POOL * POOL
BATCH = 256  # images per forward pass at most (8x8 grey: ~3 MB of activations)
BATCH_VALUES = 1 << 21  # ... and at most this many input values per batch (8 MB of float32 per copy),
# so large images (3 x 224 x 224) go 13 at a time instead of holding 256 of them in float32

_lock = threading.Lock()
_cache: dict = {}


def _weights() -> list[np.ndarray]:
    rng = np.random.default_rng(SEED)
    out = []
    for c_in, c_out in LAYERS:
        std = np.sqrt(2.0 / (c_in * 9))  # He init: keeps activations' scale through ReLUs
        out.append((rng.standard_normal((c_out, c_in, 3, 3)) * std).astype(np.float32))
    return out


def _net():
    """(torch weights, identity), built once per process."""
    torch = import_for("image", "torch")
    with _lock:
        if "net" not in _cache:
            ws = _weights()
            h = hashlib.sha256(repr((SIZE, LAYERS, POOL)).encode())
            for w in ws:
                h.update(np.ascontiguousarray(w, dtype="<f4").tobytes())
            _cache["net"] = ([torch.from_numpy(w) for w in ws], f"{NAME}:{h.hexdigest()[:16]}")
        return _cache["net"]


def embedder_id() -> str:
    """This feature map's identity (imports torch)."""
    return _net()[1]


def as_images(X) -> np.ndarray:
    """Validate image input; return (N, C, H, W) with C = 1 or 3, in its own dtype (no copy of the whole
    set: memory stays ~ one batch above the caller's array). SpecError on bad input."""
    try:
        A = np.asarray(X)
    except (TypeError, ValueError) as e:
        raise SpecError(f"X: cannot read as an image array ({e})") from e
    if A.dtype.kind not in "biuf":
        raise SpecError(f"X: images must be numbers, got dtype {A.dtype}")
    if A.ndim == 3:
        A = A[:, None]
    if A.ndim != 4:
        raise SpecError(f"X: shape {A.shape} is not allowed; expected (N, H, W) or (N, C, H, W)")
    n, c, h, w = A.shape
    if n == 0 or h == 0 or w == 0:
        raise SpecError(f"X: shape {A.shape} has no images or empty images")
    if c not in (1, 3, 4):
        raise SpecError(f"X: {c} channels is not allowed; expected 1 (grey), 3 (RGB) or 4 (RGBA), channels first")
    if c == 4:
        A = A[:, :3]  # a view: nothing is copied here; image_features converts batch by batch
    if A.dtype.kind == "f":
        for start in range(0, n, BATCH):
            if not np.isfinite(A[start : start + BATCH]).all():
                raise SpecError("X: images contain NaN or infinity")
    return A


def image_features(X) -> np.ndarray:
    """(N, DIM) float64 features of the images X (see the module docstring)."""
    A = as_images(X)
    torch = import_for("image", "torch")
    F = import_for("image", "torch.nn.functional")
    ws, _ = _net()
    out = np.empty((A.shape[0], DIM), dtype=np.float64)
    batch = max(1, min(BATCH, BATCH_VALUES // int(np.prod(A.shape[1:]))))
    with torch.no_grad():
        for start in range(0, A.shape[0], batch):
            x = torch.from_numpy(np.ascontiguousarray(A[start : start + batch], dtype=np.float32))
            flat = x.reshape(x.shape[0], -1)
            mean = flat.mean(dim=1)
            std = flat.std(dim=1, correction=0)
            std = torch.where(std > 1e-6 * (mean.abs() + 1), std, torch.ones_like(std))
            x = (x - mean[:, None, None, None]) / std[:, None, None, None]
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[-2:] != (SIZE, SIZE):
                shrink = x.shape[-2] > SIZE or x.shape[-1] > SIZE
                x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=shrink)
            for i, w in enumerate(ws):
                x = F.relu(F.conv2d(x, w, padding=1))
                if i < len(ws) - 1:
                    x = F.avg_pool2d(x, 2)
            x = F.adaptive_avg_pool2d(x, POOL)
            out[start : start + x.shape[0]] = x.reshape(x.shape[0], -1).double().numpy()
    return out
