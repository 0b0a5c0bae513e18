"""digits-market: the protocol of Beimingwu's image experiment, on scikit-learn's bundled digits.

    .venv/bin/python benchmarks/digits_market.py [--seeds 0 1 2] [--users 10] [--developers 20]

Per seed: digits split 50/50 (stratified). 20 developers each train LogisticRegression on 200
rows of 4 random classes in ratio .4/.4/.1/.1 from the first half, pack it as a learnware and
submit it into a real Dock in a temporary home (checks, store, search index, worker processes,
all as a user would get them). 10 users each hold 200 rows of 6 random classes in ratio
.3/.3/.1/.1/.1/.1 from the second half, build the RKME of their rows and search.
Reported (accuracy on the user's 200 rows, mean over users, then over seeds):
  mean-in-market / best-in-market  every learnware of the market on the user's rows
  top-1                            the search's best single learnware
  mixture + averaging              the search's mixture (else the top-1), AveragingReuser vote_by_label
  mixture + JobSelector            the same learnwares, JobSelectorReuser
  labelled reuse, n = 10/20/30/100 labelled rows drawn from the user's own distribution (first
                                   half, same classes and ratios), 3 draws each: LogisticRegression
                                   from scratch vs FeatureAugment (on the mixture) vs EnsemblePruning
                                   (on the search's top-10 singles plus the mixture)
Times: per search, and per user for the two unlabelled reuses together (the reference: 0.12 s
and 6.2 s). Learnwares output labels (their model's predict), as in the reference's figures.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFERENCE = {"mean-in-market": 0.384, "best-in-market": 0.689, "top-1": 0.613,
             "mixture + averaging": 0.705, "mixture + JobSelector": 0.919}
LABELS = (10, 20, 30, 100)
DRAWS = 3
PRUNING_POOL = 10


def draw(X, y, classes, ratios, n, rng):
    """n rows of the given classes in the given ratios (without replacement inside a class)."""
    counts = np.floor(np.asarray(ratios) * n).astype(int)
    counts[0] += n - counts.sum()
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), size=k, replace=False)
                          for c, k in zip(classes, counts, strict=True)])
    rng.shuffle(idx)
    return X[idx], y[idx]


def semantic(name: str) -> dict:
    from specs import generate_semantic_spec

    return generate_semantic_spec(
        name=name, description="LogisticRegression on 8x8 digit images of four classes.",
        data_type="Table", task_type="Classification", library_type="Scikit-learn",
        scenarios=["Education"], license="MIT",
        input_description={"Dimension": 64, "Description": {}},
        output_description={"Dimension": 10, "Description": {}})


def build_market(dock, Xtr, ytr, n_dev: int, rng, tmp: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from dock.package.pack import pack_learnware

    for d in range(n_dev):
        classes = rng.choice(10, 4, replace=False)
        X, y = draw(Xtr, ytr, classes, (0.4, 0.4, 0.1, 0.1), 200, rng)
        model = LogisticRegression(max_iter=1000).fit(X, y)
        model_file = tmp / f"dev{d}.pkl"
        model_file.write_bytes(pickle.dumps(model, protocol=4))
        zip_path = pack_learnware(tmp / f"dev{d}.zip", model_file=model_file, X=X,
                                  semantic_spec=semantic(f"digits {sorted(classes.tolist())} developer {d}"))
        dock.submit(zip_path)


def acc(pred, y) -> float:
    return float(np.mean(np.asarray(pred).reshape(-1) == y))


def run_user(dock, loaded, Xu, yu, Xpool, ypool, rng, out: dict, labelled: bool = True) -> None:
    from sklearn.linear_model import LogisticRegression

    from dock.reuse import AveragingReuser, EnsemblePruningReuser, FeatureAugmentReuser, JobSelectorReuser
    from dock.search.query import UserInfo
    from specs import generate_stat_spec

    spec = generate_stat_spec(type="table", X=Xu)
    t0 = time.perf_counter()
    result = dock.search(UserInfo(stat_info={spec.type: spec}), limit=len(loaded))
    out["search_s"].append(time.perf_counter() - t0)

    market = [acc(lw.predict(Xu), yu) for lw in loaded.values()]
    out["mean-in-market"].append(float(np.mean(market)))
    out["best-in-market"].append(max(market))
    top1 = loaded[result.single[0].id]
    out["top-1"].append(acc(top1.predict(Xu), yu))
    mixture = [loaded[i] for i in result.multiple.ids] if result.multiple else [top1]
    out["mixture size"].append(len(mixture))

    t0 = time.perf_counter()
    vote = AveragingReuser(mixture, mode="vote_by_label").predict(Xu)
    routed = JobSelectorReuser(mixture).predict(Xu)
    out["reuse_s"].append(time.perf_counter() - t0)
    out["mixture + averaging"].append(acc(vote, yu))
    out["mixture + JobSelector"].append(acc(routed, yu))

    if not labelled:
        return
    pool = list(dict.fromkeys([m.id for m in result.single[:PRUNING_POOL]] + [lw.id for lw in mixture]))
    pool = [loaded[i] for i in pool]
    for n in LABELS:
        for _ in range(DRAWS):
            rows = rng.choice(len(Xpool), n, replace=False)
            Xl, yl = Xpool[rows], ypool[rows]
            if len(np.unique(yl)) > 1:
                scratch = LogisticRegression(max_iter=1000).fit(Xl, yl).predict(Xu)
            else:
                scratch = np.full(len(Xu), yl[0])
            out[f"scratch {n}"].append(acc(scratch, yu))
            out[f"FeatureAugment {n}"].append(acc(FeatureAugmentReuser(mixture).fit(Xl, yl).predict(Xu), yu))
            out[f"EnsemblePruning {n}"].append(acc(EnsemblePruningReuser(pool).fit(Xl, yl).predict(Xu), yu))


def run_seed(seed: int, n_dev: int, n_users: int, labelled: bool = True) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from dock.dock import Dock

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    out: dict = {k: [] for k in [*REFERENCE, "mixture size", "search_s", "reuse_s"]}
    for n in LABELS:
        for k in ("scratch", "FeatureAugment", "EnsemblePruning"):
            out[f"{k} {n}"] = []
    with tempfile.TemporaryDirectory(prefix="lwdock-digits-") as tmp:
        tmp = Path(tmp)
        with Dock.open(tmp / "home") as dock:
            t0 = time.perf_counter()
            build_market(dock, Xtr, ytr, n_dev, rng, tmp)
            out["build_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            loaded = {r.id: dock.load(r.id) for r in dock.list()}
            out["load_s"] = time.perf_counter() - t0
            for _ in range(n_users):
                classes = rng.choice(10, 6, replace=False)
                ratios = (0.3, 0.3, 0.1, 0.1, 0.1, 0.1)
                Xu, yu = draw(Xte, yte, classes, ratios, 200, rng)
                Xpool, ypool = draw(Xtr, ytr, classes, ratios, 200, rng)
                run_user(dock, loaded, Xu, yu, Xpool, ypool, rng, out, labelled)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--developers", type=int, default=20)
    args = ap.parse_args(argv)
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = run_seed(seed, args.developers, args.users)
        r = per_seed[seed]
        print(f"seed {seed}: market built in {r['build_s']:.0f} s, {len(r['top-1'])} users, "
              f"{args.developers} learnwares loaded in {r['load_s']:.1f} s", flush=True)
    seeds = list(per_seed)

    def mean(key):
        return [float(np.mean(per_seed[s][key])) for s in seeds]

    head = " | ".join(f"seed {s}" for s in seeds)
    print(f"\n| measure | {head} | mean | reference |")
    print("|---" * (len(seeds) + 3) + "|")
    for key, ref in REFERENCE.items():
        vals = mean(key)
        print(f"| {key} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | **{np.mean(vals):.3f}** | {ref:.3f} |")
    vals = mean("mixture size")
    print("| mixture size | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {np.mean(vals):.1f} | |")
    for n in LABELS:
        for k in ("scratch", "FeatureAugment", "EnsemblePruning"):
            vals = mean(f"{k} {n}")
            print(f"| {n} labels: {k} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | **{np.mean(vals):.3f}** | |")
    for key, label, ref in (("search_s", "search time per user (s)", "0.12"),
                            ("reuse_s", "averaging + JobSelector time per user (s)", "6.2")):
        vals = mean(key)
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {np.mean(vals):.3f} | {ref} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
