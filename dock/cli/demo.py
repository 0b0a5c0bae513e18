"""`lwdock demo`: the main job until the TUI lands. Builds a dock from bundled datasets in a
given home, then searches it as two users would (iris data; a digits user with classes 0-5),
loads the best match and reports its accuracy on the user's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dock.cli import output as out


def run_demo(home: Path, *, as_json: bool = False) -> dict:
    from dock.demo.market import build_demo_zips, load_dataset
    from dock.dock import Dock
    from dock.search.query import UserInfo
    from specs import generate_stat_spec

    zips = build_demo_zips(home / "demo-zips", progress=out.info)
    report: dict = {"home": str(home), "learnwares": [], "users": []}
    with Dock.open(home / "dock") as dock:
        for n, path in enumerate(zips, 1):
            out.info(f"[{n}/{len(zips)}] checking and storing {path.name}")
            report["learnwares"].append(dock.submit(path))
        out.info(f"the dock holds {len(dock.list())} learnwares\n")
        users = [("iris", "load_iris", None), ("digits 0-5", "load_digits", (0, 1, 2, 3, 4, 5))]
        for label, loader, classes in users:
            X, y = load_dataset(loader, classes)
            spec = generate_stat_spec(type="table", X=X)
            result = dock.search(UserInfo(stat_info={spec.type: spec}), limit=5)
            best = result.single[0]
            with dock.load(best.id) as learnware:
                accuracy = float(np.mean(learnware.predict(X).reshape(-1) == y))
            entry = {
                "user": label,
                "rows": int(X.shape[0]),
                "result": result.to_dict(),
                "best": best.name,
                "best_accuracy": accuracy,
            }
            report["users"].append(entry)
            if not as_json:
                out.stdout.print(f"\n[bold]User with {label} data[/] ({X.shape[0]} rows × {X.shape[1]} columns)")
                out.search_result(result.to_dict())
                out.stdout.print(
                    f"top match [bold]{best.name}[/] predicts the user's labels with accuracy {accuracy:.1%}"
                )
    return report
