"""RKME generation time and fidelity on digits (1797 x 64) at several K.

Fidelity = MMD^2 between the spec's embedding and the full data's empirical embedding, under
the spec's own gamma. For scale, the script also prints MMD^2 between two random halves of the
data (sampling noise) and between digits 0-4 and 5-9 (really different data).

    python benchmarks/rkme_fidelity.py [--ks 50,100,200] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="50,100,200")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()

    from sklearn.datasets import load_digits

    from specs import generate_stat_spec
    from specs.kernels import mmd2

    X, y = load_digits(return_X_y=True)
    n = len(X)
    uniform = np.full(n, 1.0 / n)
    rows = []
    for k in [int(v) for v in args.ks.split(",")]:
        times = []
        for seed in range(args.repeats):
            start = time.perf_counter()
            spec = generate_stat_spec(type="table", X=X, K=k, seed=seed)
            times.append(time.perf_counter() - start)
        fidelity = mmd2(spec.z, spec.beta, X, uniform, spec.gamma)
        rows.append(
            {
                "k": k,
                "gen_s_median": statistics.median(times),
                "mmd2_to_data": float(fidelity),
                "gamma": float(spec.gamma),
            }
        )

    gamma = rows[-1]["gamma"]
    rng = np.random.default_rng(0)
    perm = rng.permutation(n)
    a, b = X[perm[: n // 2]], X[perm[n // 2 :]]
    halves = mmd2(a, np.full(len(a), 1 / len(a)), b, np.full(len(b), 1 / len(b)), gamma)
    lo, hi = X[y < 5], X[y >= 5]
    disjoint = mmd2(lo, np.full(len(lo), 1 / len(lo)), hi, np.full(len(hi), 1 / len(hi)), gamma)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({"halves_mmd2": float(halves), "disjoint_mmd2": float(disjoint), "peak_rss_mb": peak_mb}))
        return
    print(f"digits {X.shape[0]}x{X.shape[1]}, median of {args.repeats} runs per K")
    print(f"{'K':>5} {'gen time (s)':>13} {'MMD^2 to data':>15} {'gamma':>10}")
    for row in rows:
        print(f"{row['k']:>5} {row['gen_s_median']:>13.3f} {row['mmd2_to_data']:>15.6f} {row['gamma']:>10.3g}")
    print(
        f"for scale: random halves MMD^2 = {halves:.6f}; digits 0-4 vs 5-9 MMD^2 = {disjoint:.6f} "
        f"(ratio {disjoint / max(halves, 1e-12):.0f}x)"
    )
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
