"""Membership privacy of table specs: can an attacker holding a published spec tell whether a row
was one of the rows that made it?

    PYTHONPATH=. python benchmarks/spec_privacy.py [--seeds 0 1 2] [--K 100] [--variants none private]

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
(898). Times are spec fits (one process; the machine may be shared). After the attack table the
fit-time rows: issue 17's tables at K=100, median of 5 seeds, next to the reference package's
figures (`--fit-times` prints only those).

    PYTHONPATH=. python benchmarks/spec_privacy.py --market [--variants none private private-v1]

also runs benchmarks/digits_market.py (search top-1, mixture + averaging, mixture + JobSelector;
no labelled reuse) once per variant, every table spec of the run (learnwares' and users') made
as that variant, and prints them side by side. Variants: "none" = the plain fit (the old default),
"private" = today's default (specs/privacy.py), "private-v1" = the first private method (K <= 3%
of rows, no noise). Tables under 50 rows are fitted with allow_small.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # specs, and benchmarks.stdlib_corpus
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


def feature_datasets() -> dict[str, np.ndarray]:
    """Items as image and text specs see them: the shipped embedders' features (the embedders are
    public and deterministic, so an attacker holding an item computes its features too)."""
    from sklearn.datasets import load_digits

    from benchmarks.stdlib_corpus import build_corpus
    from specs.embedders.image import image_features
    from specs.embedders.text import text_features

    docs = [d for topic in build_corpus().values() for d in topic]
    docs = [docs[i] for i in np.random.default_rng(3).permutation(len(docs))[:800]]
    return {"digit images: feat": np.asarray(image_features(load_digits().images), dtype=np.float64),
            "stdlib docs: feat": np.asarray(text_features(docs), dtype=np.float64)}


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


@contextlib.contextmanager
def variant_in_force(variant: str):
    """Table fits of this process made as `variant` while inside: "none" (the plain fit), "private"
    (today's default) or "private-v1" (the first private method: K <= 3% of rows, no noise)."""
    from specs import privacy

    saved = privacy.DEFAULT_METHOD, privacy.private_k, privacy.NOISE_SCALE
    privacy.DEFAULT_METHOD = "none" if variant == "none" else "private"
    if variant == "private-v1":
        privacy.private_k = lambda K, n, points="sqrt": max(1, min(K, int(np.floor(0.03 * n))))
        privacy.NOISE_SCALE = 0.0
    try:
        yield
    finally:
        privacy.DEFAULT_METHOD, privacy.private_k, privacy.NOISE_SCALE = saved


def fit(variant: str, X: np.ndarray, K: int, seed: int, text: bool = False):
    """A spec of X made as `variant`; text=True: with the document settings a text spec's private
    fit uses (specs/privacy.py TEXT_POINTS, TEXT_MIN_RATIO), else the table's."""
    from specs import RKMETableSpecification
    from specs.privacy import TEXT_MIN_RATIO, TEXT_POINTS, fit_private
    from specs.table import table_gamma

    with variant_in_force(variant):
        if text and variant == "private":
            g = table_gamma(X)
            z, beta, record = fit_private(X, K, g, seed=seed, allow_small=True, points=TEXT_POINTS,
                                          min_ratio=TEXT_MIN_RATIO)
            return RKMETableSpecification(z, beta, g, num_points=len(X), privacy=record)
        return RKMETableSpecification.fit(X, K=K, seed=seed, allow_small=True)


def feature_search(variants: list[str], seeds: list[int], K: int) -> None:
    """What private image and text specs cost in search. Text: stdlib docstrings by topic; images:
    digits (image-embedder features) by class. Each group's items split in halves; one developer
    spec per group on its first half; a user holds 40 + 20 items of two groups from the second
    halves. top-1: the best-scoring (lowest MMD^2) developer is the user's main group; top-2: the
    two best are the user's two groups. Specs fitted on the embedder's features, developers' and
    users' made as the variant (private: text specs with the text settings, images the table's)."""
    from sklearn.datasets import load_digits

    from benchmarks.stdlib_corpus import build_corpus
    from specs.embedders.image import image_features
    from specs.embedders.text import text_features

    corpus = build_corpus()
    digits = load_digits()
    kinds = {"text": {t: text_features(corpus[t]) for t in sorted(corpus)},
             "image": {f"digit {c}": image_features(digits.images[digits.target == c]) for c in range(10)}}
    for kind, groups in kinds.items():
        halves = {}
        for g, F in groups.items():
            F = np.asarray(F, dtype=np.float64)
            halves[g] = (F[: len(F) // 2], F[len(F) // 2 :])
        names = list(halves)
        print(f"\n{kind} search ({len(names)} developers, one per {'topic' if kind == 'text' else 'class'}; "
              f"users of 40 + 20 items of two, seeds {seeds}, 8 users each)")
        for variant in variants:
            devs = [fit(variant, halves[g][0], K, 0, text=kind == "text") for g in names]
            top1 = top2 = users = 0
            for seed in seeds:
                rng = np.random.default_rng(100 + seed)
                for _ in range(8):
                    a, b = rng.choice(len(names), 2, replace=False)
                    pool_a, pool_b = halves[names[a]][1], halves[names[b]][1]
                    X = np.vstack([pool_a[rng.choice(len(pool_a), 40, replace=False)],
                                   pool_b[rng.choice(len(pool_b), 20, replace=False)]])
                    user = fit(variant, X, K, seed, text=kind == "text")
                    order = np.argsort([user.dist(d) for d in devs])
                    top1 += int(order[0] == a)
                    top2 += int(set(order[:2].tolist()) == {a, b})
                    users += 1
            print(f"  {variant:8} top-1 {top1 / users:.3f}  top-2 both {top2 / users:.3f}  "
                  f"(developer specs K {devs[0].z.shape[0]}, users K {user.z.shape[0]})", flush=True)


# The reference package's (Beimingwu learnware 0.3.x) fit times at K=100 quoted by issue 17, seconds.
REFERENCE_FIT_S = {"breast cancer std. (569)": 0.28, "digits/16 first 1,000": 0.06, "digits/16 (1,797)": 0.12}


def fit_times(variants: list[str], K: int, repeats: int = 5) -> None:
    """Median spec fit time (generate_stat_spec, seeds 0..repeats-1, after one warm-up fit) per
    variant on the issue's tables, next to the reference package's figures. The reference was not
    re-run here: its figures were measured on a quiet machine, so compare at a low load average. "cpu" is
    the process's CPU time per fit (median), which a busy machine inflates far less than the wall time:
    a fit of these tables runs BLAS on one thread (specs/rkme_fit.py), so on an idle machine wall ~= cpu."""
    from sklearn.datasets import load_breast_cancer, load_digits

    from specs import generate_stat_spec

    cancer = load_breast_cancer().data
    digits = load_digits().data / 16.0
    tables = {"breast cancer std. (569)": (cancer - cancer.mean(axis=0)) / cancer.std(axis=0),
              "digits/16 first 1,000": digits[:1000], "digits/16 (1,797)": digits}
    print(f"\nfit time, K={K}, median of {repeats} seeds (s); load average {os.getloadavg()[0]:.2f}")
    print(f"{'table':26}" + "".join(f" {v + ' wall / cpu':>26}" for v in variants) + f" {'reference':>10}")
    for name, X in tables.items():
        cells = []
        for variant in variants:
            with variant_in_force(variant):
                generate_stat_spec(type="table", X=X, K=K, seed=0, allow_small=True)
                times, cpu = [], []
                for seed in range(repeats):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    spec = generate_stat_spec(type="table", X=X, K=K, seed=seed, allow_small=True)
                    times.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
            cells.append(f"{statistics.median(times):.3f} / {statistics.median(cpu):.3f} (K {spec.z.shape[0]})")
        print(f"{name:26}" + "".join(f" {c:>26}" for c in cells) + f" {REFERENCE_FIT_S[name]:>10.2f}", flush=True)


MARKET_KEYS = ("top-1", "mixture + averaging", "mixture + JobSelector", "mixture size")


def market(variants: list[str], seeds: list[int], users: int) -> None:
    """digits_market (search and unlabelled reuse) once per variant, every table spec of the run
    (learnwares' and users') made as that variant; the variants side by side."""
    import digits_market

    per_variant = {}
    for variant in variants:
        with variant_in_force(variant):
            runs = [digits_market.run_seed(seed, 20, users, labelled=False) for seed in seeds]
        per_variant[variant] = {key: [float(np.mean(r[key])) for r in runs] for key in MARKET_KEYS}
        print(f"market built and searched with {variant} specs", flush=True)
    print(f"\ndigits market, seeds {seeds}, {users} users each: mean over seeds (per seed)")
    print(f"{'measure':24}" + "".join(f" {v:>30}" for v in variants))
    for key in MARKET_KEYS:
        cells = [f"{np.mean(per_variant[v][key]):.3f} (" + " ".join(f"{x:.3f}" for x in per_variant[v][key]) + ")"
                 for v in variants]
        print(f"{key:24}" + "".join(f" {c:>30}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--K", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=["none", "private"],
                        choices=["none", "private", "private-v1"])
    parser.add_argument("--market", action="store_true",
                        help="also run the digits market (search top-1, mixture, JobSelector) per variant")
    parser.add_argument("--users", type=int, default=10, help="users per seed in --market")
    parser.add_argument("--features", action="store_true",
                        help="also attack specs of image and text items in the shipped embedders' feature spaces")
    parser.add_argument("--fit-times", action="store_true",
                        help="only print the fit-time rows (issue 17's tables, against the reference's figures)")
    args = parser.parse_args()
    if args.fit_times:
        fit_times(args.variants, args.K)
        return

    cols = ["nearest", "kde", "lrt", "ratio"]
    print(f"K={args.K}, seeds {args.seeds}; per variant: AUC nearest / kde / lrt (mean over seeds), "
          "ratio, K used, median fit s")
    print(f"{'dataset (rows in spec)':24}" + "".join(f" | {v:^38}" for v in args.variants))
    data = datasets()
    if args.features:
        data.update(feature_datasets())
        data["stdlib docs: text settings"] = data["stdlib docs: feat"]  # what text specs use when private
    for name, X in data.items():
        cells = []
        for variant in args.variants:
            rows, times, ks = [], [], []
            for seed in args.seeds:
                perm = np.random.default_rng(seed).permutation(len(X))
                half, three_q = len(X) // 2, (3 * len(X)) // 4
                members, others, reference = X[perm[:half]], X[perm[half:three_q]], X[perm[three_q:]]
                start = time.perf_counter()
                spec = fit(variant, members, args.K, seed, text=name.endswith("text settings"))
                times.append(time.perf_counter() - start)
                ks.append(spec.z.shape[0])
                rows.append(attack(spec, members, others, reference))
            m = {c: statistics.mean(r[c] for r in rows) for c in cols}
            cells.append(f"{m['nearest']:.3f} {m['kde']:.3f} {m['lrt']:.3f} r{m['ratio']:5.2f} "
                         f"K{statistics.mean(ks):3.0f} {statistics.median(times):5.3f}s")
        print(f"{name + f' ({len(X) // 2})':24}" + "".join(f" | {c:38}" for c in cells), flush=True)
    if args.features:
        feature_search(args.variants, args.seeds, args.K)
    fit_times(args.variants, args.K)
    if args.market:
        market(args.variants, args.seeds, args.users)


if __name__ == "__main__":
    main()
