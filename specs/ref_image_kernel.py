"""The reference's (Beimingwu `learnware` 0.3.x) image kernel, written for lwdock from its definition.

A reference RKMEImageSpecification compares two specs with an ANALYTIC kernel: the NNGP kernel (the
infinite-width limit, Garriga-Alonso et al., ICLR 2019) of a fixed ConvNet. Its seeded random conv
nets serve only while fitting (as random features); comparing specs uses no seed at all. The net,
as the reference builds it (`_build_ConvNet_NNGP`, defaults: depth 3, kernel 3, 32x32 inputs):

    depth x [ conv k x k, 'same' zero padding, weight variance sqrt(2), bias variance 0.1
              -> ReLU -> 2x2 average pool, stride 2 ]
    -> one average over the remaining (H / 2^depth) x (W / 2^depth) map.

The kernel propagates per-pixel covariance maps instead of activations. For images x, y (C, H, W):
start with xy = mean_c x_c * y_c, xx = mean_c x_c^2, yy likewise (each an H x W map), then
  * conv: each map is box-filtered (k x k ones, times var_w / k^2, zero padding) plus var_b;
  * ReLU (the arc-cosine kernel): with v = xx * yy and theta = arccos(xy / sqrt(v)),
        xy <- (sqrt(v - xy^2) + (pi - theta) xy) / (2 pi),   xx <- xx / 2,   yy <- yy / 2;
    for a set against itself the diagonal pairs are set to xx exactly (what the formula gives
    without rounding);
  * pool: 2x2 mean, stride 2;
  * the final average leaves one number per pair: k(x, y).
Note var_w is sqrt(2) (not 2) in the reference; kept, since the kernel must be the reference's.

We compute in float64 (the reference in float32, from float32 points): values agree to ~1e-6
relative, closer than the reference agrees with itself across devices. Pairs are processed in
blocks so memory stays bounded (each pair holds a few H x W maps).

torch is imported on first use (CPU only); this module is never on the lean search path of
table specs.
"""

from __future__ import annotations

import math

import numpy as np

CONV_VAR_WEIGHT = math.sqrt(2.0)  # the reference's var_weight for the k x k convolutions
CONV_VAR_BIAS = 0.1
DEFAULT_DEPTH = 3
DEFAULT_KERNEL_SIZE = 3
# Pairs whose maps are propagated at once: 2048 pairs of 32x32 float64 maps, ~5 maps alive = ~80 MB.
PAIR_BLOCK_PIXELS = 2048 * 32 * 32
_F32_TINY = float(np.finfo(np.float32).tiny)  # added under the square roots, as the reference does


def check_geometry(height: int, width: int, depth: int, kernel_size: int) -> str | None:
    """None if the net applies to images of this size, else why not (the reference asserts it)."""
    if height != width:
        return f"images are {height}x{width}; the reference kernel takes square images"
    if not 1 <= depth <= 6 or not (1 <= kernel_size <= 7 and kernel_size % 2 == 1):
        return f"net depth {depth} / kernel size {kernel_size}: expected depth 1-6 and an odd kernel size 1-7"
    if height % (2 ** depth) != 0:
        return f"{height}x{width} images cannot be pooled {depth} times by 2 (the reference asserts it)"
    return None


def nngp_kernel(X, Y=None, depth: int = DEFAULT_DEPTH, kernel_size: int = DEFAULT_KERNEL_SIZE) -> np.ndarray:
    """k(X_i, Y_j) as an (n, m) float64 array; X (n, C, H, W), Y (m, C, H, W) or None for X vs itself."""
    import torch

    same = Y is None
    x = torch.as_tensor(np.asarray(X, dtype=np.float64))
    y = x if same else torch.as_tensor(np.asarray(Y, dtype=np.float64))
    n, channels, height, width = x.shape
    problem = check_geometry(height, width, depth, kernel_size)
    if problem:
        raise ValueError(problem)
    if y.shape[1:] != x.shape[1:]:
        raise ValueError(f"image shapes differ: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}")
    m = y.shape[0]
    xx_all = (x * x).mean(1, keepdim=True)  # (n, 1, H, W)
    yy_all = xx_all if same else (y * y).mean(1, keepdim=True)
    out = np.empty((n, m))
    rows = max(1, PAIR_BLOCK_PIXELS // max(1, m * height * width))
    with torch.no_grad():
        for s in range(0, n, rows):
            e = min(n, s + rows)
            xy = torch.einsum("achw,bchw->abhw", x[s:e], y) / channels  # (b, m, H, W)
            diag = torch.arange(s, e) if same else None
            k = _propagate(xy, xx_all[s:e], yy_all, diag, depth, kernel_size)
            out[s:e] = k.numpy()
    return out


def _propagate(xy, xx, yy, diag, depth: int, kernel_size: int):
    """The covariance maps through the net (module docstring); diag: for a set against itself, the
    columns (into yy) of this block's own rows, whose pairs are exact self-covariances."""
    import torch
    import torch.nn.functional as F

    b, m, height, width = xy.shape
    pad = kernel_size // 2

    def conv(maps):  # (N, H, W) -> (k x k box sum, zero padding) x var_w / k^2 + var_b, same size
        # = a k x k average pool counting the padding, times var_w: ~4x faster than conv2d here
        boxed = F.avg_pool2d(maps.unsqueeze(1), kernel_size, stride=1, padding=pad, count_include_pad=True)
        return boxed.squeeze(1) * CONV_VAR_WEIGHT + CONV_VAR_BIAS

    xy, xx, yy = xy.reshape(b * m, height, width), xx[:, 0], yy[:, 0]
    rows = torch.arange(b)
    for _ in range(depth):
        h, w = xy.shape[-2:]
        xy, xx, yy = conv(xy).reshape(b, m, h, w), conv(xx), conv(yy)
        v = xx[:, None] * yy[None] + _F32_TINY  # (b, m, h, w)
        cos = (xy * v.rsqrt()).clamp(-1.0, 1.0)
        sin = (v - xy * xy).clamp(min=0.0).sqrt()
        xy = (sin + (math.pi - torch.acos(cos)) * xy) / (2.0 * math.pi)
        xx, yy = xx / 2.0, yy / 2.0
        if diag is not None:
            xy[rows, diag] = xx
        xy = F.avg_pool2d(xy.reshape(b * m, 1, h, w), 2).squeeze(1)
        xx = F.avg_pool2d(xx.unsqueeze(1), 2).squeeze(1)
        yy = F.avg_pool2d(yy.unsqueeze(1), 2).squeeze(1)
    return xy.mean(dim=(-2, -1)).reshape(b, m)  # the final (H/2^d)-wide average, no bias


def weighted_kernel_sum(X, a, Y, b, depth: int = DEFAULT_DEPTH, kernel_size: int = DEFAULT_KERNEL_SIZE,
                        same: bool = False) -> float:
    """a' K(X, Y) b under the reference kernel (same: Y is X, the self term)."""
    K = nngp_kernel(X, None if same else Y, depth, kernel_size)
    return float(np.asarray(a, np.float64) @ K @ np.asarray(b, np.float64))
