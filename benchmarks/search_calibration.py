"""Are search scores calibrated? The same comparisons on four datasets, under three formulas.

    python benchmarks/search_calibration.py [--seeds 5] [--json]

For scikit-learn's iris (4 features), wine (13), breast_cancer (30) and digits (64), RKME
specs (K=100, the specs' median-grid4 gamma) are compared, always under the first spec's
(the "user's") gamma, in three kinds of pair:
  halves     two random halves of the same data (same distribution; only sampling noise)
  classes    the first half of the classes vs the rest, both directions (related, disjoint)
  class0v1   class 0 alone vs class 1 alone, both directions (narrower, disjoint)
  different  another dataset's first d columns (d = the user's dimension), both directions
and scored by
  old   1 - MMD / sqrt(2)                      (lwdock's first formula)
  dice  2 <mu_u, mu_l> / (|mu_u|^2 + |mu_l|^2)   (= 1 - MMD^2 / (|mu_u|^2 + |mu_l|^2))
  r2    max(0, 1 - MMD^2 / |mu_u|^2)            (the formula search uses: dock/search/scores.py)
A calibrated score gives each kind the same band on every dataset; a discriminating one keeps
the bands apart. The summary prints min-max per kind and the margin between the lowest
"halves" score and the highest "different" score (higher is better).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATASETS = ("iris", "wine", "breast_cancer", "digits")


def scores(user, other) -> dict:
    from specs.kernels import gaussian_kernel

    g = user.gamma
    su = float(user.beta @ gaussian_kernel(user.z, user.z, g) @ user.beta)
    sl = float(other.beta @ gaussian_kernel(other.z, other.z, g) @ other.beta)
    c = float(user.beta @ gaussian_kernel(user.z, other.z, g) @ other.beta)
    mmd2 = max(su + sl - 2 * c, 0.0)
    return {"mmd2": mmd2, "old": 1 - np.sqrt(mmd2) / np.sqrt(2), "dice": 2 * c / (su + sl),
            "r2": max(0.0, 1 - mmd2 / su)}


def pairs(seeds: int):
    from sklearn import datasets

    from specs import RKMETableSpecification as R

    data = {n: getattr(datasets, f"load_{n}")(return_X_y=True) for n in DATASETS}
    rng = np.random.default_rng(0)
    for name, (X, y) in data.items():
        for seed in range(seeds):
            p = rng.permutation(len(X))
            h = len(X) // 2
            yield name, "halves", R.fit(X[p[:h]], K=100, seed=seed), R.fit(X[p[h:]], K=100, seed=seed)
        classes = np.unique(y)
        first = np.isin(y, classes[: len(classes) // 2])
        a, b = R.fit(X[first], K=100), R.fit(X[~first], K=100)
        yield name, "classes", a, b
        yield name, "classes", b, a
        c0, c1 = R.fit(X[y == classes[0]], K=100), R.fit(X[y == classes[1]], K=100)
        yield name, "class0v1", c0, c1
        yield name, "class0v1", c1, c0
        for other, (X2, _) in data.items():
            if other != name and X2.shape[1] >= X.shape[1]:
                mine, theirs = R.fit(X, K=100), R.fit(X2[:, : X.shape[1]], K=100)
                yield name, "different", mine, theirs
                yield f"{other}[:{X.shape[1]}]", "different", theirs, mine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="random halves per dataset")
    parser.add_argument("--json", action="store_true", help="one JSON object per comparison")
    args = parser.parse_args()
    rows = []
    for name, kind, user, other in pairs(args.seeds):
        row = {"user": name, "kind": kind, **{k: round(v, 4) for k, v in scores(user, other).items()}}
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if args.json:
        return
    print(f"{'user data':20s} {'kind':10s} {'MMD^2':>7s} {'old':>6s} {'dice':>6s} {'r2':>6s}")
    for r in rows:
        print(f"{r['user']:20s} {r['kind']:10s} {r['mmd2']:7.4f} {r['old']:6.3f} {r['dice']:6.3f} {r['r2']:6.3f}")
    print("\nrange per kind (min - max over all datasets):")
    for formula in ("old", "dice", "r2"):
        kinds = ("halves", "classes", "class0v1", "different")
        bands = {k: [r[formula] for r in rows if r["kind"] == k] for k in kinds}
        text = "  ".join(f"{k} {min(v):.3f}-{max(v):.3f}" for k, v in bands.items())
        margin = min(bands["halves"]) - max(bands["different"])
        print(f"  {formula:5s} {text}  margin(halves - different) {margin:+.3f}")


if __name__ == "__main__":
    main()
