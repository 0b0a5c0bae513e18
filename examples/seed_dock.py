"""Seed a local dock with demo learnwares built from scikit-learn's bundled datasets.

    python examples/seed_dock.py [--home DIR] [--datasets iris,digits,...]

Several learnwares per dataset, each trained on a different subset of classes (or, for the
regression data, a different feature distribution), so that search has real choices to make:
  iris     all three species; setosa + versicolor only; versicolor + virginica only
  digits   five recognisers of six digits each, windows 0-5, 2-7, 4-9, 6-1, 8-3: every digit is
           known to three of them, none knows all ten (the best single one scores ~0.6 on
           all digits, a mixture voting by label does far better)
  wine, breast_cancer  one each; diabetes  two regressors, younger and older patients
The home is --home, else $LWDOCK_HOME, else ./lwdock-demo-home; the demos use the same rule.
Building is idempotent: a learnware already in the dock (same bytes) is not stored twice.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dock import Dock  # noqa: E402
from dock.demo.market import DemoLearnware, build_demo_zips  # noqa: E402

DEFAULT_HOME = "lwdock-demo-home"


def _digits(lo: int) -> DemoLearnware:
    classes = tuple(sorted((lo + k) % 10 for k in range(6)))
    name = f"Digits {lo}-{(lo + 5) % 10} recogniser"
    return DemoLearnware(name, f"8x8 handwritten digit images; trained on the digits {list(classes)} only.",
                         "load_digits", classes, "Classification", "Education")


SEED_LEARNWARES = {
    "iris": [
        DemoLearnware("Iris species classifier", "Logistic regression on sepal and petal length and width, "
                      "all three species.", "load_iris", None, "Classification", "Nature"),
        DemoLearnware("Iris setosa/versicolor classifier", "Tells setosa from versicolor by four flower "
                      "measurements.", "load_iris", (0, 1), "Classification", "Nature"),
        DemoLearnware("Iris versicolor/virginica classifier", "Tells versicolor from virginica by four flower "
                      "measurements.", "load_iris", (1, 2), "Classification", "Nature"),
    ],
    "digits": [_digits(lo) for lo in (0, 2, 4, 6, 8)],
    "wine": [DemoLearnware("Wine cultivar classifier", "Predicts one of three cultivars from 13 chemical "
                           "measurements.", "load_wine", None, "Classification", "Agriculture")],
    "breast_cancer": [DemoLearnware("Breast cancer diagnosis", "Benign or malignant from 30 features of cell "
                                    "nuclei images.", "load_breast_cancer", None, "Classification", "Health")],
    "diabetes": [
        DemoLearnware("Diabetes progression, younger patients", "Ridge regression of disease progression one "
                      "year after baseline; trained on patients below the mean age.", "load_diabetes", None,
                      "Regression", "Health", rows=(0, 0.0, False)),
        DemoLearnware("Diabetes progression, older patients", "Ridge regression of disease progression one "
                      "year after baseline; trained on patients at or above the mean age.", "load_diabetes",
                      None, "Regression", "Health", rows=(0, 0.0, True)),
    ],
}


def seed(home: str | os.PathLike, datasets: list[str] | None = None, log=print) -> list[str]:
    """Build and submit the seed learnwares of `datasets` (all by default); returns their ids."""
    items = [item for name in (datasets or list(SEED_LEARNWARES)) for item in SEED_LEARNWARES[name]]
    with tempfile.TemporaryDirectory(prefix="lwdock-seed-") as tmp, Dock.open(home) as dock:
        # Training, spec fitting and the packing probe of one learnware overlap with the checks of
        # the previous one (each check and probe runs the model in its own worker process).
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(build_demo_zips, Path(tmp) / str(n), items=[item]) for n, item in enumerate(items)]
            ids = []
            for item, future in zip(items, futures, strict=True):
                ids.append(dock.submit(future.result()[0]))
                log(f"{ids[-1][:12]}  {item.name}")
        log(f"the dock in {dock.home.root} holds {len(dock.list())} learnwares")
    return ids


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Seed a local dock with demo learnwares.")
    ap.add_argument("--home", default=os.environ.get("LWDOCK_HOME", DEFAULT_HOME))
    ap.add_argument("--datasets", default=",".join(SEED_LEARNWARES),
                    help=f"comma-separated, from {', '.join(SEED_LEARNWARES)}")
    args = ap.parse_args(argv)
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(names) - set(SEED_LEARNWARES))
    if unknown:
        ap.error(f"unknown datasets {unknown}; choose from {', '.join(SEED_LEARNWARES)}")
    seed(args.home, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
