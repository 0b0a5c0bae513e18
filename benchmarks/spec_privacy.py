"""Membership privacy of table specs: can an attacker holding a published spec tell whether a row
was one of the rows that made it?

    PYTHONPATH=. python benchmarks/spec_privacy.py [--seeds 0 1 2] [--K 100] [--variants current private]

Per dataset and seed the rows are shuffled and cut: half are MEMBERS (the spec is fitted on them),
a quarter NON-MEMBERS (same distribution, unseen), a quarter REFERENCE (data the attacker holds
from the same population, used only by the likelihood-ratio attacker). Each attacker scores every
member and non-member; the AUC of telling them apart is reported (0.5 = the spec reveals nothing
about membership, 1.0 = it names its rows). Attackers:
  nearest  -distance from the row to the nearest reduced point z_j
  kde      the spec's kernel density at the row, sum_j beta_j k(x, z_j), under the spec's gamma
  lrt      likelihood ratio: log of the spec's density over a reference density (a kernel density
           of the attacker's reference rows, same gamma). It cancels "this row lies where rows are
           common anyway", the main confounder of the kde attacker.
ratio = median over reduced points of the distance to the nearest training row / median over
training rows of the distance to their nearest other training row (< 1: reduced points are
closer to a row than rows are to each other, i.e. near-copies; 0: copies).
Datasets (scikit-learn's bundled loaders): iris (75 rows in the spec: n < K), wine standardised
(89: n < K), breast cancer standardised cut to 240 rows (120 in the spec: n around K) and whole (284), digits / 16
(898). Times are spec fits (one process; the machine may be shared).

    PYTHONPATH=. python benchmarks/spec_privacy.py --market private --seeds 0 1

runs benchmarks/digits_market.py instead (search top-1, mixture, JobSelector) with every table
spec of the run, learnwares' and users', fitted with that privacy method ("none" = today's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # digits_market, for --market


def datasets() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

    def standardise(X):
        return (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)

    cancer = standardise(load_breast_cancer().data)
    return {
        "iris": load_iris().data,
        "wine/std": standardise(load_wine().data),
        "cancer/std 240": cancer[np.random.default_rng(7).permutation(len(cancer))[:240]],
        "cancer/std": cancer,
        "digits/16": load_digits().data / 16.0,
    }


def auc(members: np.ndarray, others: np.ndarray) -> float:
    """P(score of a member > score of a non-member), ties count half (Mann-Whitney)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([members, others]))
    m, o = len(members), len(others)
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * o))


def nn_dist(A: np.ndarray, B: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    from specs.kernels import sq_dists

    D = sq_dists(A, B)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    return np.sqrt(np.maximum(D.min(axis=1), 0.0))


def attack(spec, members, others, reference) -> dict[str, float]:
    from specs.kernels import gaussian_kernel

    g = spec.gamma

    def kde(X):
        return gaussian_kernel(X, spec.z, g) @ spec.beta

    def ref_density(X):
        return gaussian_kernel(X, reference, g).mean(axis=1)

    tiny = 1e-300
    scores = {
        "nearest": (-nn_dist(members, spec.z), -nn_dist(others, spec.z)),
        "kde": (kde(members), kde(others)),
        "lrt": tuple(np.log(kde(X) + tiny) - np.log(ref_density(X) + tiny) for X in (members, others)),
    }
    out = {name: auc(m, o) for name, (m, o) in scores.items()}
    out["ratio"] = float(np.median(nn_dist(spec.z, members)) / np.median(nn_dist(members, members, True)))
    return out


def fit(variant: str, X: np.ndarray, K: int, seed: int):
    from specs import RKMETableSpecification

    if variant == "current":
        return RKMETableSpecification.fit(X, K=K, seed=seed)
    return RKMETableSpecification.fit(X, K=K, seed=seed, privacy=variant)


def market(privacy: str, seeds: list[int]) -> None:
    """digits_market with every RKMETableSpecification.fit of this process made with `privacy`."""
    import digits_market

    from specs import RKMETableSpecification

    plain_fit = RKMETableSpecification.fit.__func__
    RKMETableSpecification.fit = classmethod(
        lambda cls, X, **kw: plain_fit(cls, X, **{"privacy": privacy, **kw}))
    digits_market.main(["--seeds", *map(str, seeds)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--K", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=["current", "private"])
    parser.add_argument("--market", choices=["none", "private"], help="run the digits market instead")
    args = parser.parse_args()
    if args.market:
        market(args.market, args.seeds)
        return

    cols = ["nearest", "kde", "lrt", "ratio"]
    print(f"K={args.K}, seeds {args.seeds}; AUC per attacker (mean over seeds), ratio, K used, fit time")
    print(f"{'dataset (rows in spec)':24} {'variant':9} " + " ".join(f"{c:>7}" for c in cols)
          + f" {'K':>4} {'fit s':>6}")
    for name, X in datasets().items():
        for variant in args.variants:
            rows, times, ks = [], [], []
            for seed in args.seeds:
                perm = np.random.default_rng(seed).permutation(len(X))
                half, three_q = len(X) // 2, (3 * len(X)) // 4
                members, others, reference = X[perm[:half]], X[perm[half:three_q]], X[perm[three_q:]]
                start = time.perf_counter()
                spec = fit(variant, members, args.K, seed)
                times.append(time.perf_counter() - start)
                ks.append(spec.z.shape[0])
                rows.append(attack(spec, members, others, reference))
            means = {c: statistics.mean(r[c] for r in rows) for c in cols}
            label = f"{name} ({len(X) // 2})"
            print(f"{label:24} {variant:9} " + " ".join(f"{means[c]:7.3f}" for c in cols)
                  + f" {statistics.mean(ks):4.0f} {statistics.median(times):6.3f}", flush=True)


if __name__ == "__main__":
    main()
