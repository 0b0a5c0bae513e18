"""Image and text learnwares through the real dock: does reusing what search finds beat a user who
trains from scratch with a few labels?

    .venv/bin/python benchmarks/image_text_quality.py [--seeds 0 1 2] [--kinds image text]
        [--labels 5 10] [--image-developers 12] [--image-users 4] [--text-users 4]
        [--privacy none private]   (image specs made with each method, side by side; default: the library's)

Everything goes through the product path: each developer's model is a Python class file packed
with `dock.package.pack.pack_learnware` (which fits the Image/Text RKME spec and probes the model in a
worker) and submitted to a real `Dock` in a temporary home (submission checks run the model in a
worker on inputs sampled from its spec); each user builds its spec with
`specs.generate_stat_spec`, searches with `Dock.search(UserInfo(stat_info=...))`, loads the top-1
and the mixture with `Dock.load` (one sandboxed worker process per learnware) and reuses them with
`dock.reuse.JobSelectorReuser` (routes items in the embedder's feature space) and
`AveragingReuser(mode="vote_by_label")`. Models receive raw items: images (n, 8, 8), strings.

Images: scikit-learn's digits as 8x8 images, split 50/50 stratified per seed (as
benchmarks/digits_market.py). Developers: 200 images of 4 random classes (ratio .4/.4/.1/.1)
from the first half; LogisticRegression on the pixels, its coefficients written into the
learnware's model file. Users: 200 images of 6 random classes (.3/.3/.1/.1/.1/.1) from the
second half. Text: the standard-library docstring corpus of benchmarks/stdlib_corpus.py (PSF
License; 8 topics; label = topic), each topic's documents split once (seed 0) into a developers'
half and a users' half. Five developers, each on 100 documents per topic (the whole developers'
half if smaller: xml has 67) of 3-4 topics, every topic covered by two developers (fixed sets,
TEXT_DEVELOPERS): LogisticRegression on the all-MiniLM-L6-v2 embeddings
(`specs.embedders.text.text_features`, offline), which the model's `predict` computes in its
worker from the strings. Users (per seed): 40 documents per topic of 2-4 random topics.
The text market is built once (packing, checking and loading a text learnware starts the
embedder in three worker processes), the users vary with the seed.

Per user:
  top-1            the search's best single learnware predicts every item
  JobSelector      JobSelectorReuser over the search's mixture (the top-1 alone if none)
  vote             AveragingReuser vote_by_label over the same learnwares (unweighted)
  JS@3             JobSelectorReuser over the search's 3 best singles, whether or not search
                   proposed a mixture (what routing gives when the mixture rule says "no")
  QP-all (ratio)   diagnostic: the score of the simplex-QP mixture over all the market's specs and
                   its residual MMD^2 relative to the best single's (search's rule: a mixture needs
                   ratio <= 0.9 and a score gain >= 0.02)
  scratch k        LogisticRegression (pixels / MiniLM embeddings) on k labelled items per class
                   drawn from the user's half, disjoint from the test items; mean of 3 draws
All accuracies on the user's test items. Times: Dock.search; JobSelector (construct + predict)
and vote (predict) per user, learnwares already loaded; the worker embeds text on 1 thread.

The vote is AveragingReuser(vote_by_label) on the raw images / strings (the figures in
benchmarks/README.md were measured with index wrappers around the learnwares, from before it took
raw items; same predictions)."""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
import time
from pathlib import Path

# numpy/scikit-learn BLAS threads spin against other jobs on a shared 2-core machine; torch (the
# text embedder) keeps its default threads unless OMP_NUM_THREADS is set by the caller.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DRAWS = 3
TEXT_DEV_PER_TOPIC = 100
TEXT_TEST_PER_TOPIC = 40
# Text developers: topic subsets; every topic is covered by exactly two developers.
TEXT_DEVELOPERS = (("email", "networking", "xml"), ("concurrency", "filesystem", "testing"),
                   ("numbers", "storage", "xml"), ("concurrency", "email", "numbers"),
                   ("filesystem", "networking", "storage", "testing"))

MODEL_HEADER = '''
import base64
import io

import numpy as np

from learnware.model.base import BaseModel


def _array(text):
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)

'''

IMAGE_MODEL = MODEL_HEADER + '''
COEF = _array("{coef}")
INTERCEPT = _array("{intercept}")
CLASSES = _array("{classes}")


class DigitsModel(BaseModel):
    """LogisticRegression on the 64 pixels of 8x8 digit images; predicts digit labels."""

    def __init__(self, input_shape=(8, 8), output_shape=(1,)):
        super().__init__(input_shape=tuple(input_shape), output_shape=output_shape)

    def predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1:] != (8, 8):
            raise ValueError(f"expected (n, 8, 8) images, got {{X.shape}}")
        return CLASSES[(X.reshape(len(X), -1) @ COEF.T + INTERCEPT).argmax(axis=1)]
'''

TEXT_MODEL = MODEL_HEADER + '''
COEF = _array("{coef}")
INTERCEPT = _array("{intercept}")
CLASSES = _array("{classes}")


class TopicModel(BaseModel):
    """LogisticRegression on all-MiniLM-L6-v2 embeddings (lwdock's offline text embedder);
    predicts topic labels of strings."""

    def __init__(self, input_shape=None, output_shape=(1,)):
        super().__init__(input_shape=input_shape, output_shape=output_shape)

    def predict(self, X):
        from specs.embedders.text import text_features

        X = np.asarray(X)
        if X.ndim != 1 or X.dtype.kind != "U":
            raise ValueError(f"expected a 1-D array of strings, got {{X.shape}} {{X.dtype}}")
        return CLASSES[(text_features([str(s) for s in X]) @ COEF.T + INTERCEPT).argmax(axis=1)]
'''


def _b64(a) -> str:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def model_source(template: str, lr) -> str:
    coef, intercept = lr.coef_, lr.intercept_
    if len(lr.classes_) == 2:  # binary LR keeps one row: make it two so argmax works
        coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    return template.format(coef=_b64(coef.astype(np.float64)), intercept=_b64(intercept.astype(np.float64)),
                           classes=_b64(lr.classes_.astype(np.int64)))


def semantic(kind: str, name: str, description: str, n_classes: int) -> dict:
    from specs import generate_semantic_spec

    return generate_semantic_spec(
        name=name, description=description, data_type=kind, task_type="Classification",
        library_type="Scikit-learn", scenarios=["Education"], license="MIT",
        output_description={"Dimension": n_classes, "Description": {}})


def acc(pred, y) -> float:
    return float(np.mean(np.asarray(pred).reshape(-1) == y))


def draw_rows(y, rows, classes, counts, rng):
    """`counts[i]` rows of class classes[i] from the index array `rows`, without replacement."""
    return np.concatenate([rng.choice(rows[y[rows] == c], size=k, replace=False)
                           for c, k in zip(classes, counts, strict=True)])


# ------------------------------------------------------------------ markets


def submit_learnware(dock, tmp: Path, template: str, class_name: str, lr, X, sem: dict, K: int,
                     privacy: str | None = None) -> str:
    from dock.package.pack import pack_learnware

    n = len(list(tmp.glob("dev*.py")))
    src = tmp / f"dev{n}.py"
    src.write_text(model_source(template, lr))
    zip_path = pack_learnware(tmp / f"dev{n}.zip", model_class_file=src, model_class=class_name, X=X,
                              semantic_spec=sem, K=K, privacy=privacy)
    return dock.submit(zip_path)


def image_market(dock, tmp, images, y, dev_rows, n_dev, rng, privacy=None) -> dict[str, tuple]:
    from sklearn.linear_model import LogisticRegression

    names = {}
    for _ in range(n_dev):
        classes = sorted(rng.choice(10, 4, replace=False).tolist())
        order = rng.permutation(classes)  # which classes get .4/.4 and which .1/.1
        rows = draw_rows(y, dev_rows, order, (80, 80, 20, 20), rng)
        lr = LogisticRegression(max_iter=2000).fit(images[rows].reshape(len(rows), -1), y[rows])
        sem = semantic("Image", f"digits {classes}", "LogisticRegression on 8x8 digit images", 10)
        names[submit_learnware(dock, tmp, IMAGE_MODEL, "DigitsModel", lr, images[rows], sem, K=50,
                                     privacy=privacy)] = tuple(classes)
    return names


def text_market(dock, tmp, docs, y, feats, topics, dev_rows, rng) -> dict[str, tuple]:
    from sklearn.linear_model import LogisticRegression

    names = {}
    for subset in TEXT_DEVELOPERS:
        labels = [topics.index(t) for t in subset]
        counts = [min(TEXT_DEV_PER_TOPIC, int(np.sum(y[dev_rows] == c))) for c in labels]
        rows = draw_rows(y, dev_rows, labels, counts, rng)
        lr = LogisticRegression(max_iter=2000).fit(feats[rows], y[rows])
        sem = semantic("Text", f"stdlib docs: {'+'.join(subset)}",
                       "LogisticRegression on MiniLM embeddings of Python docstrings", len(topics))
        names[submit_learnware(dock, tmp, TEXT_MODEL, "TopicModel", lr, [docs[i] for i in rows], sem,
                               K=50)] = tuple(labels)
    return names


# ------------------------------------------------------------------ users


def full_mixture(dock, user, ids) -> tuple[float, float]:
    """Diagnostic, not the product path: the simplex-QP mixture over *all* of the market's specs
    under the user's gamma. (its score, its residual MMD^2 / the best single's). Search proposes a
    mixture only if the ratio is <= 0.9 and the score gain >= 0.02 (dock/search/scores.py)."""
    from specs import solve_simplex_qp

    specs_ = [dock.get_stat_specs(i)[user.type] for i in ids]
    g, uu = user.gamma, user.inner_prod(user)
    H = np.array([[a.inner_prod(b, gamma=g) for b in specs_] for a in specs_])
    c = np.array([user.inner_prod(s, gamma=g) for s in specs_])
    w = solve_simplex_qp(H, c)
    mix = max(float(w @ H @ w - 2 * w @ c + uu), 0.0)
    best = min(user.dist(s) for s in specs_)
    return 1.0 - mix / uu, mix / best


def load(dock, loaded: dict, learnware_id: str, items) -> None:
    """Load once and warm up (a text model starts its embedder on its first call), so the reuse
    times below are the steady state, not worker start-up."""
    if learnware_id not in loaded:
        loaded[learnware_id] = dock.load(learnware_id)
        loaded[learnware_id].predict(items[:1])


def run_user(kind, dock, loaded, names, items, y, scratch_X, test, pool, classes, label_counts, rng, privacy=None):
    from sklearn.linear_model import LogisticRegression

    from dock import UserInfo
    from dock.reuse import AveragingReuser, JobSelectorReuser
    from specs import generate_stat_spec

    X_test = items[test]
    y_test = y[test]
    spec = generate_stat_spec(kind, X=list(X_test) if kind == "text" else X_test, K=50,
                              **({"privacy": privacy} if privacy else {}))
    t0 = time.perf_counter()
    result = dock.search(UserInfo(stat_info={spec.type: spec}), limit=len(names))
    search_s = time.perf_counter() - t0
    qp_score, qp_ratio = full_mixture(dock, spec, list(names))
    top = result.single[0]
    load(dock, loaded, top.id, X_test)
    top1_acc = acc(loaded[top.id].predict(X_test), y_test)
    if result.multiple is not None:
        members, weights = result.multiple.ids, result.multiple.weights
    else:
        members, weights = [top.id], []
    for i in members:
        load(dock, loaded, i, X_test)
    mixture = [loaded[i] for i in members]

    t0 = time.perf_counter()
    js_acc = acc(JobSelectorReuser(mixture).predict(X_test), y_test)
    js_s = time.perf_counter() - t0
    top3 = [m.id for m in result.single[:3]]
    for i in top3:
        load(dock, loaded, i, X_test)
    js3_acc = js_acc if top3 == list(members) else acc(
        JobSelectorReuser([loaded[i] for i in top3]).predict(X_test), y_test)
    t0 = time.perf_counter()
    vote = AveragingReuser(list(mixture), mode="vote_by_label")
    vote_acc = acc(vote.predict(X_test), y_test)
    vote_s = time.perf_counter() - t0

    scratch = {}
    for k in label_counts:
        runs = []
        for _ in range(DRAWS):
            rows = draw_rows(y, pool, classes, [k] * len(classes), rng)
            lr = LogisticRegression(max_iter=2000).fit(scratch_X[rows], y[rows])
            runs.append(acc(lr.predict(scratch_X[test]), y_test))
        scratch[k] = float(np.mean(runs))
    return {"kind": kind, "classes": tuple(classes), "top1": names[top.id], "top1_score": top.score,
            "top1_acc": top1_acc, "mixture": [(names[i], w) for i, w in zip(members, weights, strict=False)],
            "js_acc": js_acc, "js3_acc": js3_acc, "vote_acc": vote_acc, "scratch": scratch, "search_s": search_s,
            "mixture_score": result.multiple.score if result.multiple is not None else None,
            "qp_score": qp_score, "qp_ratio": qp_ratio,
            "js_s": js_s, "vote_s": vote_s, "n_test": len(test)}


def run_image(seed, args, tmp: Path, privacy: str | None = None) -> list[dict]:
    """One seed's image market and users; privacy (None: the library's default) goes to every spec:
    the developers' (pack_learnware) and the users' (generate_stat_spec)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from dock import Dock

    d = load_digits()
    images, y = d.images, d.target
    dev_rows, user_rows = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    out = []
    tag = f"image-{privacy}-{seed}" if privacy else f"image-{seed}"
    (tmp / tag).mkdir(exist_ok=True)
    with Dock.open(tmp / f"{tag}-home") as dock:
        t0 = time.perf_counter()
        names = image_market(dock, tmp / tag, images, y, dev_rows, args.image_developers, rng, privacy)
        build_s = time.perf_counter() - t0
        loaded: dict = {}
        try:
            for _ in range(args.image_users):
                classes = rng.choice(10, 6, replace=False)
                test = draw_rows(y, user_rows, classes, (60, 60, 20, 20, 20, 20), rng)
                pool = np.setdiff1d(user_rows, test)
                r = run_user("image", dock, loaded, names, images, y, images.reshape(len(y), -1), test, pool,
                             sorted(classes.tolist()), args.labels, rng, privacy)
                out.append({**r, "seed": seed, "kind": f"image/{privacy}" if privacy else "image"})
        finally:
            for lw in loaded.values():
                lw.close()
    print(f"{tag}: market of {len(names)} learnwares built in {build_s:.0f} s, "
          f"{len(loaded)} loaded", flush=True)
    return out


def run_text(args, tmp: Path) -> list[dict]:
    from benchmarks.stdlib_corpus import build_corpus
    from dock import Dock
    from specs.embedders.text import text_features

    t0 = time.perf_counter()
    corpus = build_corpus()
    topics = list(corpus)
    docs = np.array([d for t in topics for d in corpus[t]])
    y = np.array([i for i, t in enumerate(topics) for _ in corpus[t]])
    feats = text_features(list(docs))
    print(f"text corpus: {len(docs)} docstrings in {len(topics)} topics "
          f"({', '.join(f'{t} {len(corpus[t])}' for t in topics)}), embedded in {time.perf_counter() - t0:.0f} s",
          flush=True)
    split = np.random.default_rng(0)
    dev_rows, user_rows = [], []
    for c in range(len(topics)):
        rows = split.permutation(np.flatnonzero(y == c))
        dev_rows.append(rows[: len(rows) // 2])
        user_rows.append(rows[len(rows) // 2:])
    dev_rows, user_rows = np.concatenate(dev_rows), np.concatenate(user_rows)
    out = []
    with Dock.open(tmp / "text-home") as dock:
        t0 = time.perf_counter()
        names = text_market(dock, tmp / "text", docs, y, feats, topics, dev_rows, np.random.default_rng(0))
        print(f"text market of {len(names)} learnwares built in {time.perf_counter() - t0:.0f} s", flush=True)
        names = {i: tuple(topics[c] for c in labels) for i, labels in names.items()}
        loaded: dict = {}
        try:
            for seed in args.seeds:
                rng = np.random.default_rng(1000 + seed)
                for _ in range(args.text_users):
                    classes = sorted(rng.choice(len(topics), rng.integers(2, 5), replace=False).tolist())
                    test = draw_rows(y, user_rows, classes, [TEXT_TEST_PER_TOPIC] * len(classes), rng)
                    pool = np.setdiff1d(user_rows, test)
                    r = run_user("text", dock, loaded, names, docs, y, feats, test, pool, classes, args.labels, rng)
                    r["classes"] = tuple(topics[c] for c in classes)
                    out.append({**r, "seed": seed})
                    print(f"  text seed {seed} user {'+'.join(r['classes'])}: done", flush=True)
        finally:
            for lw in loaded.values():
                lw.close()
    return out


# ------------------------------------------------------------------ report


def _set(labels) -> str:
    return "".join(map(str, labels)) if all(isinstance(c, int) for c in labels) else "+".join(
        str(c)[:5] for c in labels)


def report(rows: list[dict], labels: list[int]) -> None:
    scr = [f"scr{k}" for k in labels]
    head = ["kind", "seed", "user classes", "top-1 (score)", "top-1", "mixture (weights) (score)", "JobSel", "vote",
            "JS@3", *scr, "search s", "JS s", "vote s", "QP-all (ratio)"]
    widths = [13, 4, 26, 30, 6, 52, 6, 6, 6, *[6] * len(labels), 8, 6, 6, 14]
    left = {"kind", "user classes", "top-1 (score)", "mixture (weights) (score)"}

    def line(cells):
        return "  ".join(f"{c:<{w}}" if h in left else f"{c:>{w}}" for c, w, h in zip(cells, widths, head, strict=True))

    print("\n" + line(head))
    for r in rows:
        mix = " ".join(f"{_set(m)}:{w:.2f}" for m, w in r["mixture"])
        mix = f"{mix} ({r['mixture_score']:.2f})" if mix else "(none: top-1 alone)"
        print(line([r["kind"], r["seed"], _set(r["classes"]), f"{_set(r['top1'])} ({r['top1_score']:.2f})",
                    f"{r['top1_acc']:.3f}", mix, f"{r['js_acc']:.3f}", f"{r['vote_acc']:.3f}", f"{r['js3_acc']:.3f}",
                    *[f"{r['scratch'][k]:.3f}" for k in labels], f"{r['search_s']:.3f}", f"{r['js_s']:.2f}",
                    f"{r['vote_s']:.2f}", f"{r['qp_score']:.3f} ({r['qp_ratio']:.2f})"]))
    print("\nmean over users and seeds (mixtures = users for whom search proposed one):")
    head2 = ["kind", "users", "mixtures", "top-1", "JobSel", "vote", "JS@3", *scr, "search s", "JS s", "vote s"]
    print("  ".join(f"{h:>8}" for h in head2))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        rs = [r for r in rows if r["kind"] == kind]
        mean = {k: float(np.mean([r[k] for r in rs])) for k in ("top1_acc", "js_acc", "vote_acc", "js3_acc",
                                                                  "search_s", "js_s", "vote_s")}
        cells = [kind, len(rs), sum(r["mixture_score"] is not None for r in rs),
                 *[f"{mean[k]:.3f}" for k in ("top1_acc", "js_acc", "vote_acc", "js3_acc")],
                 *[f"{np.mean([r['scratch'][k] for r in rs]):.3f}" for k in labels],
                 f"{mean['search_s']:.3f}", f"{mean['js_s']:.2f}", f"{mean['vote_s']:.2f}"]
        print("  ".join(f"{c:>8}" for c in cells))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", choices=("image", "text"), default=["image", "text"])
    ap.add_argument("--labels", type=int, nargs="+", default=[5, 10], help="labelled items per class for scratch")
    ap.add_argument("--image-developers", type=int, default=12)
    ap.add_argument("--image-users", type=int, default=4)
    ap.add_argument("--text-users", type=int, default=4)
    ap.add_argument("--privacy", nargs="+", choices=("none", "private"), default=None,
                    help="image specs (developers' and users') made with each of these, side by side in one run "
                         "(default: the library's default only)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lwdock-itq-") as tmp:
        tmp = Path(tmp)
        (tmp / "text").mkdir()
        if "image" in args.kinds:
            for privacy in args.privacy or [None]:
                for seed in args.seeds:
                    rows += run_image(seed, args, tmp, privacy)
        if "text" in args.kinds:
            rows += run_text(args, tmp)
    report(rows, args.labels)
    load = os.getloadavg()
    print(f"\nwhole run {time.perf_counter() - t_start:.0f} s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
