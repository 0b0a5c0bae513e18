"""Reference (Beimingwu) image specs under the reference's NNGP kernel: before/after in one run.

    python benchmarks/reference_image_kernel.py [--before d4490d9] [--learnwares 20] [--fit-images 1000]

"Before" is the tree at --before (git archive of specs/, dock/, tests/ into a temp dir), "after" is
this worktree; each side is measured in its own subprocess with the same data, one after the other,
and the load average is printed next to the figures. Measured per side:
  * pair: inner product of a K=50 colour spec with another K=50 one (2,500 kernel pairs), best of 3;
    `dist` (its two self terms and the cross term) once;
  * search: a K=50 digits query over N reference image learnwares of K=50 (real DuckDB catalogue,
    the engine's search), the first search (self terms not cached yet) and a second query after it;
  * fit: RKMEImageSpecification.fit_reference on 1,000 colour images, K=50.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _digit_images(colour: bool):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.kron(X.reshape(-1, 1, 8, 8), np.ones((1, 1, 4, 4)))
    images = (images - images.mean()) / images.std()
    if colour:  # three channels that differ: the digit, shifted by a pixel, and a fixed noise
        rng = np.random.default_rng(1)
        images = np.concatenate([images, np.roll(images, 1, axis=-1), images + 0.3 * rng.standard_normal(images.shape)],
                                axis=1)
    return images, y


def _reference_json(z: np.ndarray) -> dict:
    return {"RKME_IMAGE_VERSION": 1, "msg": None, "z": z.astype(np.float32).tolist(),
            "beta": np.full(len(z), 1.0 / len(z)).tolist(), "n_models": 16,
            "model_config": {"k": 2, "mu": 0, "sigma": None, "net_width": 128, "net_depth": 3},
            "type": "RKMEImageSpecification"}


def measure(learnwares: int, fit_images: int) -> dict:
    """This side's figures (run in a subprocess whose PYTHONPATH picks the code)."""
    from dock.search.engine import SearchIndex, search
    from dock.search.query import UserInfo
    from specs import load_spec
    from specs.image import RKMEImageSpecification
    from tests.dock.test_search_stat import catalogue_with

    out = {}
    colour, _ = _digit_images(colour=True)
    a, b = load_spec(_reference_json(colour[:50])), load_spec(_reference_json(colour[50:100]))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out["pair_value"] = a.inner_prod(b)
        times.append(time.perf_counter() - t0)
    out["pair_s"] = min(times)
    t0 = time.perf_counter()
    out["dist_value"] = a.dist(b)
    out["dist_s"] = time.perf_counter() - t0

    images, y = _digit_images(colour=False)
    rng = np.random.default_rng(0)
    specs = []
    for i in range(learnwares):  # each learnware: 50 images of 2-3 digit classes
        classes = rng.choice(10, size=2 + i % 2, replace=False)
        pool = np.flatnonzero(np.isin(y, classes))
        specs.append(load_spec(_reference_json(images[rng.choice(pool, 50, replace=False)])))
    queries = [load_spec(_reference_json(images[rng.choice(np.flatnonzero(np.isin(y, c)), 50, replace=False)]))
               for c in ([0, 1], [2, 3, 4])]
    with tempfile.TemporaryDirectory() as tmp:
        cat = catalogue_with(Path(tmp), specs)
        index = SearchIndex.from_catalogue(cat)
        for name, query in zip(("search_first_s", "search_second_s"), queries, strict=True):
            t0 = time.perf_counter()
            result = search(index, cat, UserInfo(stat_info={query.type: query}), limit=5)
            out[name] = time.perf_counter() - t0
            out[name[:-2] + "_top"] = [m.id[-2:] for m in result.single[:3]]
            out[name[:-2] + "_mmd2"] = [round(m.mmd2, 9) for m in result.single[:3]]
        cat.close()

    X = np.concatenate([colour] * (fit_images // len(colour) + 1))[:fit_images]
    X = X + 0.05 * np.random.default_rng(2).standard_normal(X.shape)
    t0 = time.perf_counter()
    spec = RKMEImageSpecification.fit_reference(X, K=50)
    out["fit_s"] = time.perf_counter() - t0
    out["fit_self"] = spec.inner_prod(spec)
    return out


def _run_side(pythonpath: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", "--learnwares", str(args.learnwares),
           "--fit-images", str(args.fit_images)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=pythonpath, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="d4490d9", help="git revision measured as 'before'")
    parser.add_argument("--learnwares", type=int, default=20)
    parser.add_argument("--fit-images", type=int, default=1000)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.learnwares, args.fit_images)))
        return
    sides = {}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "specs", "dock", "tests"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        for name, path in (("before " + args.before, tmp), ("after", str(ROOT))):
            load_start = _load()
            sides[name] = _run_side(path, args)
            print(f"{name}: load average {load_start} at start, {_load()} at end", flush=True)
    rows = [("pair K=50 x K=50 inner product (s)", "pair_s"), ("dist K=50 vs K=50 (s)", "dist_s"),
            (f"search {args.learnwares} learnwares, first (s)", "search_first_s"),
            ("search, second query (s)", "search_second_s"),
            (f"fit_reference {args.fit_images} images K=50 (s)", "fit_s")]
    names = list(sides)
    print(f"{'':42s}" + "".join(f"{n:>18s}" for n in names))
    for label, key in rows:
        print(f"{label:42s}" + "".join(f"{sides[n][key]:18.3f}" for n in names))
    before, after = (sides[n] for n in names)
    same = all(np.isclose(before[k], after[k], rtol=1e-9) for k in ("pair_value", "dist_value"))
    print(f"same pair/dist values (rel 1e-9): {same}; pair {after['pair_value']:.12g}, dist {after['dist_value']:.6g}")
    for k in ("search_first", "search_second"):
        print(f"{k} top-3: before {before[k + '_top']} {before[k + '_mmd2']}, after {after[k + '_top']} "
              f"{after[k + '_mmd2']}")
    print(f"fit self term: before {before['fit_self']:.9g}, after {after['fit_self']:.9g}")


if __name__ == "__main__":
    main()
