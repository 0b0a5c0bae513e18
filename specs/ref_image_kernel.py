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
blocks so memory stays bounded (each pair holds a few H x W maps). Speed (same numbers to 1e-16):
each image's own variance maps are propagated once, not once per pair; sqrt(xx yy) is taken per image;
a layer's 2x2 pool and the next conv are one strided box pass; a set against itself computes the
upper triangle only; one torch thread (KERNEL_THREADS).

torch is imported on first use (CPU only); this module is never on the lean search path of
table specs.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .embedders import import_for

CONV_VAR_WEIGHT = math.sqrt(2.0)  # the reference's var_weight for the k x k convolutions
CONV_VAR_BIAS = 0.1
DEFAULT_DEPTH = 3
DEFAULT_KERNEL_SIZE = 3
# Pairs whose maps are propagated at once: 512 pairs of 32x32 float64 maps (4 MB a map) keep the
# element-wise chain near the caches; 2048 was 1.5x slower (benchmarks/reference_image_kernel.py).
PAIR_BLOCK_PIXELS = 512 * 32 * 32
# torch threads while the kernel runs. Its ops are many short element-wise passes: on 2 shared cores
# at load 6, two threads made a K=50 x K=50 comparison 4-6x SLOWER than one (threads waiting on each
# other); the thread count is restored afterwards.
KERNEL_THREADS = 1
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
    """k(X_i, Y_j) as an (n, m) float64 array; X (n, C, H, W), Y (m, C, H, W) or None for X vs itself
    (then only the blocks on and above the diagonal are computed: the kernel is symmetric)."""
    torch = import_for("image", "torch")

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
    with _threads(KERNEL_THREADS):  # per image, once: the diagonal terms of every layer
        x_var = _variance_maps(x, depth, kernel_size)
        y_var = x_var if same else _variance_maps(y, depth, kernel_size)
    out = np.empty((n, m))
    rows = max(1, PAIR_BLOCK_PIXELS // max(1, m * height * width))
    with torch.no_grad(), _threads(KERNEL_THREADS):
        for s in range(0, n, rows):
            e = min(n, s + rows)
            first = s if same else 0  # columns left of the block's rows are the transpose of earlier blocks
            xy = _channel_products(x[s:e], y[first:])  # (b, m', H, W)
            k = _propagate(xy, [v[s:e] for v in x_var], [v[first:] for v in y_var],
                           torch.arange(e - s) if same else None, kernel_size)
            out[s:e, first:] = k.numpy()
            if same:
                out[first:, s:e] = out[s:e, first:].T
    return out


def _channel_products(x, y):
    """mean_c x_c * y_c for every pair, (b, C, H, W) x (m, C, H, W) -> (b, m, H, W): one broadcast
    multiply-add per channel (C <= 4), ~5x faster than the equivalent einsum on these shapes."""
    out = x[:, None, 0] * y[None, :, 0]
    for c in range(1, x.shape[1]):
        out.addcmul_(x[:, None, c], y[None, :, c])
    return out.div_(x.shape[1])


@contextlib.contextmanager
def _threads(count: int):
    torch = import_for("image", "torch")

    before = torch.get_num_threads()
    if count and count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _box(maps, kernel_size: int, stride: int = 1):
    """The conv of the covariance maps (N, H, W): a k x k box sum with zero padding x var_w / k^2 +
    var_b. Stride 1: shifted slices summed per axis (float64 avg_pool2d was ~1.5x slower, conv2d
    ~4x). Stride 2: the PREVIOUS layer's 2x2 average pool and this conv in one (2k x 2k) average pool:
    the pooled map's zero padding is the full map's zero padding, and each pooled pixel averages 4
    disjoint ones."""
    F = import_for("image", "torch.nn.functional")

    if stride == 1:  # zero padding = the shifted slices that would read it are left out
        rows = maps.clone()
        for d in range(1, kernel_size // 2 + 1):
            rows[:, :, d:] += maps[:, :, :-d]
            rows[:, :, :-d] += maps[:, :, d:]
        boxed = rows.clone()
        for d in range(1, kernel_size // 2 + 1):
            boxed[:, d:] += rows[:, :-d]
            boxed[:, :-d] += rows[:, d:]
        return boxed.mul_(CONV_VAR_WEIGHT / kernel_size**2).add_(CONV_VAR_BIAS)
    size, pad = 2 * kernel_size, 2 * (kernel_size // 2)
    boxed = F.avg_pool2d(maps.unsqueeze(1), size, stride=stride, padding=pad, count_include_pad=True)
    return boxed.squeeze(1).mul_(CONV_VAR_WEIGHT).add_(CONV_VAR_BIAS)


def _variance_maps(x, depth: int, kernel_size: int) -> list:
    """Each image's own covariance map after each layer's conv (input to that layer's ReLU), depth maps
    (N, H_l, W_l): what every pair's ReLU step needs, computed once per image instead of per pair."""
    torch = import_for("image", "torch")

    with torch.no_grad():
        v = (x * x).mean(1)  # (N, H, W)
        out = [_box(v, kernel_size)]
        for _ in range(depth - 1):
            out.append(_box(out[-1] / 2.0, kernel_size, stride=2))  # ReLU halves a variance, then pool+conv
    return out


def _propagate(xy, xx_maps, yy_maps, diag, kernel_size: int):
    """The covariance maps (b, m, H, W) through the net (module docstring); xx_maps / yy_maps: the two
    sides' variance maps per layer (`_variance_maps`); diag: for a set against itself, this block's
    columns of its own rows, whose pairs are exact self-covariances."""
    torch = import_for("image", "torch")

    b, m, height, width = xy.shape
    rows = torch.arange(b)
    xy = _box(xy.reshape(b * m, height, width), kernel_size)
    for layer, (xx, yy) in enumerate(zip(xx_maps, yy_maps, strict=True)):
        h, w = xx.shape[-2:]
        xy = xy.reshape(b, m, h, w)
        # v >= var_b^2 = 0.01, so the reference's float32-tiny under the root changes nothing in float64:
        # sqrt(xx yy) = sqrt(xx) sqrt(yy), with the roots taken per image, not per pair
        norm = xx.sqrt()[:, None] * yy.sqrt()[None]  # (b, m, h, w) = sqrt(v)
        cos = torch.div(xy, norm).clamp_(-1.0, 1.0)
        sin = torch.addcmul(norm.mul_(norm), xy, xy, value=-1.0).clamp_(min=0.0).sqrt_()  # sqrt(v - xy^2)
        xy = torch.acos(cos).neg_().add_(math.pi).mul_(xy).add_(sin).mul_(1.0 / (2.0 * math.pi))
        if diag is not None:
            xy[rows, diag] = xx / 2.0
        if layer < len(xx_maps) - 1:
            xy = _box(xy.reshape(b * m, h, w), kernel_size, stride=2)
    # the last 2x2 pool and the final average over the pooled map are together one average of the map
    return xy.mean(dim=(-2, -1))


def weighted_kernel_sum(X, a, Y, b, depth: int = DEFAULT_DEPTH, kernel_size: int = DEFAULT_KERNEL_SIZE,
                        same: bool = False) -> float:
    """a' K(X, Y) b under the reference kernel (same: Y is X, the self term)."""
    K = nngp_kernel(X, None if same else Y, depth, kernel_size)
    return float(np.asarray(a, np.float64) @ K @ np.asarray(b, np.float64))
