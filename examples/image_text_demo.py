"""Image and text learnwares in a local dock: pack, submit, search with a user's spec, reuse.

    python examples/image_text_demo.py [--home DIR]   # ~30 s; a temporary dock unless --home

Images: two developers' digit recognisers (scikit-learn's 8x8 digits 0-4 and 5-9, the model gets
raw (n, 8, 8) images). Text: two developers' topic classifiers on Python standard-library
docstrings (PSF License; benchmarks/stdlib_corpus.py), email+networking and concurrency+testing
(the model gets strings). Each user's data mixes both developers' classes: search ranks one
learnware first and proposes the mixture of both; JobSelectorReuser sends each item to the
learnware whose data it resembles, in the spec's feature space (random-conv features for
images, all-MiniLM-L6-v2 for text). benchmarks/image_text_quality.py measures this at scale.
"""

import argparse
import base64
import io
import pickle
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from benchmarks.stdlib_corpus import build_corpus  # noqa: E402
from dock import Dock, UserInfo  # noqa: E402
from dock.package.pack import pack_learnware  # noqa: E402
from dock.reuse import JobSelectorReuser  # noqa: E402
from specs import generate_semantic_spec, generate_stat_spec  # noqa: E402

# An image model is a class file (the worker passes it raw images); its weights ride inside it.
IMAGE_MODEL = '''
import base64, io
import numpy as np
from learnware.model.base import BaseModel

W = np.load(io.BytesIO(base64.b64decode("{weights}")), allow_pickle=False)  # an .npz
COEF, INTERCEPT, CLASSES = W["coef"], W["intercept"], W["classes"]


class Digits(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(8, 8), output_shape=(1,))

    def predict(self, X):
        X = np.asarray(X, dtype=float).reshape(len(X), 64)
        return CLASSES[(X @ COEF.T + INTERCEPT).argmax(axis=1)]
'''


def semantic(kind, name, n_classes):
    return generate_semantic_spec(name=name, description=f"{kind} classifier: {name}", data_type=kind,
                                  task_type="Classification", library_type="Scikit-learn", scenarios=["Education"],
                                  license="MIT", output_description={"Dimension": n_classes, "Description": {}})


def image_learnware(tmp, images, labels, classes):
    rows = np.isin(labels, classes)
    lr = LogisticRegression(max_iter=2000).fit(images[rows].reshape(-1, 64), labels[rows])
    buf = io.BytesIO()
    np.savez(buf, coef=lr.coef_, intercept=lr.intercept_, classes=lr.classes_)
    name = f"digits {classes[0]}-{classes[-1]}"
    src = tmp / f"{name.replace(' ', '_')}.py"
    src.write_text(IMAGE_MODEL.format(weights=base64.b64encode(buf.getvalue()).decode()))
    return name, pack_learnware(tmp / f"{src.stem}.zip", model_class_file=src, model_class="Digits",
                                X=images[rows], semantic_spec=semantic("Image", name, 10), K=50)


def text_learnware(tmp, docs, labels, topics, names):
    # A text model can be a pickled scikit-learn pipeline: the worker hands it strings.
    rows = np.isin(labels, topics)
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=2000, C=10))
    model.fit(docs[rows], labels[rows])
    name = "+".join(names[t] for t in topics)
    (tmp / f"{name}.pkl").write_bytes(pickle.dumps(model))
    return name, pack_learnware(tmp / f"{name}.zip", model_file=tmp / f"{name}.pkl", X=list(docs[rows]),
                                semantic_spec=semantic("Text", name, len(names)), K=50)


def search_and_reuse(dock, kind, X, y, names):
    spec = generate_stat_spec(kind, X=list(X) if kind == "text" else X, K=50)
    result = dock.search(UserInfo(stat_info={spec.type: spec}))
    top = result.single[0]
    print(f"{kind}: top-1 {names[top.id]!r} (score {top.score:.2f})", end="")
    with dock.load(top.id) as lw:
        print(f", accuracy {np.mean(lw.predict(X) == y):.3f}")
    ids = result.multiple.ids if result.multiple else [top.id]
    weights = result.multiple.weights if result.multiple else [1.0]
    print(f"{kind}: mixture {', '.join(f'{names[i]!r} {w:.2f}' for i, w in zip(ids, weights, strict=True))}")
    learnwares = [dock.load(i) for i in ids]
    try:
        accuracy = np.mean(JobSelectorReuser(learnwares).predict(X) == y)
    finally:
        for lw in learnwares:
            lw.close()
    print(f"{kind}: mixture + JobSelectorReuser accuracy {accuracy:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="dock home (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lwdock-image-text-") as tmp:
        tmp = Path(tmp)
        digits = load_digits()
        images, labels = digits.images, digits.target
        dev = np.arange(len(labels)) % 2 == 0  # developers: even rows; the user: odd rows
        corpus = build_corpus()
        topics = list(corpus)
        # per topic: up to 80 developers' documents (even positions), 40 user documents (odd positions)
        parts = [(d, i, dev) for i, t in enumerate(topics)
                 for dev, part in ((True, corpus[t][0::2][:80]), (False, corpus[t][1::2][:40])) for d in part]
        docs, doc_labels, doc_dev = (np.array(column) for column in zip(*parts, strict=True))
        with Dock.open(Path(args.home) if args.home else tmp / "home") as dock:
            names = {}
            for classes in ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)):
                name, zip_path = image_learnware(tmp, images[dev], labels[dev], classes)
                names[dock.submit(zip_path)] = name
            for pair in (("email", "networking"), ("concurrency", "testing")):
                name, zip_path = text_learnware(tmp, docs[doc_dev], doc_labels[doc_dev],
                                                [topics.index(t) for t in pair], topics)
                names[dock.submit(zip_path)] = name
            print(f"submitted {len(names)} learnwares: {', '.join(names.values())}")
            user = ~dev & np.isin(labels, (1, 3, 6, 8))
            search_and_reuse(dock, "image", images[user], labels[user], names)
            user = ~doc_dev & np.isin(doc_labels, [topics.index("email"), topics.index("testing")])
            search_and_reuse(dock, "text", docs[user], doc_labels[user], names)


if __name__ == "__main__":
    main()
