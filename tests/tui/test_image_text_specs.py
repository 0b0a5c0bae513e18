"""Image and text data in the TUI: the search screen's spec from a .npy / .npz of images or a
.txt (or a .csv with a `text` column) of documents, reuse of image and text learnwares on
labelled files, and clear errors for bad files (dock.datafiles reads them all).

One small market per module (packing runs the model and the embedders): three image learnwares,
nearest-centroid classifiers of 8x8 digits each trained on a subset of the classes (even rows),
and four text learnwares, one per topic of the CC0 corpus of tests/dock/test_image_text.py (even
sentences). The user's data are the odd rows / sentences.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.dock.test_image_text import CORPUS
from tui.app import make_app
from tui.dialogs.error import ErrorDialog
from tui.messages import SPEC, Progress
from tui.reuse_job import offered_reusers, reuser_class
from tui.screens.reuse import ReuseScreen
from tui.screens.search import SearchScreen
from tui.viewmodels import ReuseTarget
from tui.widgets.results import ResultsTable

from .conftest import plain, result_names, reuse_and_save, run, settle, type_into, wait_until

IMAGE_SUBSETS = {"Digit images 0-2": (0, 1, 2), "Digit images 3-5": (3, 4, 5), "Digit images 6-9": (6, 7, 8, 9)}
TOPICS = tuple(CORPUS)  # football, finance, cooking, weather: labels 0-3
KEYWORDS = {
    "football": ["striker", "goal", "league", "coach", "referee", "fans", "stadium", "club", "team", "winger",
                 "defender", "midfielder", "captain", "match", "cup", "penalt"],
    "finance": ["bank", "rates", "shares", "inflation", "bond", "investors", "currency", "dollar", "firm",
                "revenue", "mortgage", "stock", "market", "loans", "prices", "gold", "earnings"],
    "cooking": ["whisk", "simmer", "sauce", "season", "knead", "dough", "roast", "oven", "flour", "batter",
                "bread", "fry", "garlic", "bake", "cake", "cream", "marinate", "beef", "eggs"],
    "weather": ["rain", "temperatures", "freezing", "storm", "skies", "winds", "snow", "heatwave", "fog",
                "gusts", "showers", "humidity", "thunder", "forecast", "frost", "sunny"],
}

NEAREST_CENTROID = textwrap.dedent('''
    import numpy as np

    from learnware.model.base import BaseModel


    class NearestCentroid(BaseModel):
        def __init__(self, centroids, labels, input_shape=(8, 8), output_shape=(1,)):
            super().__init__(input_shape=tuple(input_shape), output_shape=tuple(output_shape))
            self.centroids = np.asarray(centroids, dtype=float)
            self.labels = np.asarray(labels, dtype=np.int64)

        def predict(self, X):
            X = np.asarray(X, dtype=float)
            if X.ndim != 3:
                raise ValueError(f"expected (n, 8, 8) images, got {X.shape}")
            flat = X.reshape(len(X), -1)
            d2 = ((flat[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
            return self.labels[d2.argmin(axis=1)]
''')

KEYWORD_TOPICS = textwrap.dedent('''
    import numpy as np

    from learnware.model.base import BaseModel


    class KeywordTopics(BaseModel):
        def __init__(self, keywords, input_shape=None, output_shape=(1,)):
            super().__init__(input_shape=input_shape, output_shape=tuple(output_shape))
            self.keywords = keywords

        def predict(self, X):
            X = np.asarray(X)
            if X.ndim != 1 or X.dtype.kind != "U":
                raise ValueError(f"expected a 1-D array of strings, got {X.shape} {X.dtype}")
            hits = [[sum(w in doc.lower() for w in words) for words in self.keywords] for doc in X]
            return np.asarray(hits, dtype=np.int64).argmax(axis=1)
''')


@dataclass
class Market:
    dock: object
    ids: dict[str, str]  # learnware name -> id
    images: np.ndarray
    labels: np.ndarray
    user: np.ndarray  # boolean mask of the user's rows (the odd ones)


def _semantic(data: str, name: str, classes: int) -> dict:
    from dock import generate_semantic_spec

    return generate_semantic_spec(
        name=name, description=f"a small {data.lower()} classifier for the TUI tests", data_type=data,
        task_type="Classification", library_type="Others", scenarios=["Education"], license="MIT",
        output_description={"Dimension": classes, "Description": {}},
    )


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    from sklearn.datasets import load_digits

    from dock import Dock
    from dock.package.pack import pack_learnware

    folder = tmp_path_factory.mktemp("image-text-market")
    (folder / "centroid.py").write_text(NEAREST_CENTROID)
    (folder / "topics.py").write_text(KEYWORD_TOPICS)
    digits = load_digits()
    images, labels = digits.images, digits.target
    dev = np.arange(len(images)) % 2 == 0
    zips = {}
    for name, classes in IMAGE_SUBSETS.items():
        rows = dev & np.isin(labels, classes)
        centroids = [images[rows & (labels == c)].reshape(-1, 64).mean(axis=0).round(4).tolist() for c in classes]
        zips[name] = pack_learnware(
            folder / f"{name}.zip", model_class_file=folder / "centroid.py", model_class="NearestCentroid",
            model_kwargs={"centroids": centroids, "labels": list(classes)}, X=images[rows],
            semantic_spec=_semantic("Image", name, 10), K=20)
    keywords = [KEYWORDS[t] for t in TOPICS]
    for topic, docs in CORPUS.items():
        name = f"{topic.capitalize()} sentences"
        zips[name] = pack_learnware(
            folder / f"{topic}.zip", model_class_file=folder / "topics.py", model_class="KeywordTopics",
            model_kwargs={"keywords": keywords}, X=docs[::2], semantic_spec=_semantic("Text", name, len(TOPICS)),
            K=6)
    with Dock.open(folder / "home") as dock:
        ids = {name: dock.submit(path) for name, path in zips.items()}
        yield Market(dock, ids, images, labels, ~dev)


def _user_digits(market: Market, classes) -> tuple[np.ndarray, np.ndarray]:
    rows = market.user & np.isin(market.labels, classes)
    return market.images[rows], market.labels[rows]


async def _use_spec(pilot, path: Path, timeout: float = 90) -> None:
    await type_into(pilot, "#spec-path", str(path))
    await pilot.press("enter")
    await wait_until(pilot, lambda: pilot.app.screen.stat is not None, timeout=timeout, what="the spec")
    await settle(pilot)


def _spec_progress(messages) -> list[str]:
    return [msg.text for msg in messages if isinstance(msg, Progress) and msg.job == SPEC]


# -- the search screen ---------------------------------------------------------------------------
def test_an_image_npy_becomes_an_image_spec_and_finds_the_matching_digits(market, tmp_path):
    images, _ = _user_digits(market, (3, 4, 5))
    path = tmp_path / "digits.npy"
    np.save(path, images)

    async def scenario(pilot):
        await _use_spec(pilot, path)
        return result_names(pilot.app), plain(pilot.app.screen, "#spec-info"), pilot.app.screen.stat

    seen: list = []
    names, info, stat = run(make_app(dock=market.dock), scenario, messages=seen)
    assert names[0] == "Digit images 3-5"
    assert stat.kind == "image" and stat.spec.type == "RKMEImageSpecification" and stat.data_path == path
    assert f"digits.npy (image, {len(images)} images 8×8 → {int(stat.spec.z.shape[0])} points)" in info
    assert any("computing the features of" in text for text in _spec_progress(seen))


def test_a_txt_becomes_a_text_spec_and_finds_the_matching_topic(market, tmp_path):
    docs = CORPUS["finance"][1::2]
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(docs[:3]) + "\n\n   \n" + "\n".join(docs[3:]) + "\n", encoding="utf-8")  # blanks skipped

    async def scenario(pilot):
        await _use_spec(pilot, path)
        return result_names(pilot.app), plain(pilot.app.screen, "#spec-info"), pilot.app.screen.stat

    seen: list = []
    names, info, stat = run(make_app(dock=market.dock), scenario, messages=seen)
    assert names[0] == "Finance sentences"
    assert all(name.endswith("sentences") for name in names)  # image learnwares' specs are never compared
    assert stat.kind == "text" and stat.spec.type == "RKMETextSpecification"
    assert f"docs.txt (text, {len(docs)} documents → {int(stat.spec.z.shape[0])} points)" in info
    assert any("loading the text embedder" in text for text in _spec_progress(seen))


def test_reuse_an_image_learnware_on_a_labelled_npz_shows_accuracy(market, tmp_path):
    images, labels = _user_digits(market, (0, 1, 2))
    path = tmp_path / "mine.npz"
    np.savez(path, X=images, y=labels)
    out = tmp_path / "pred.csv"

    async def scenario(pilot):
        await _use_spec(pilot, path)  # the .npz's images are the spec; its labels only score the reuse
        screen = pilot.app.screen
        info = plain(screen, "#spec-info")
        row = next(r for r in screen.query_one(ResultsTable).rows_shown if r.name == "Digit images 0-2")
        await pilot.app.push_screen(screen.reuse_screen(row))  # prefilled with the file searched with
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReuseScreen), what="the reuse screen")
        metric = await reuse_and_save(pilot, out)
        return info, pilot.app.screen.outcome, metric

    info, outcome, metric = run(make_app(dock=market.dock), scenario)
    assert f"mine.npz (image, {len(images)} images 8×8" in info
    assert outcome.rows == len(images) and outcome.kind == "image"
    assert outcome.metrics["accuracy"] > 0.9, outcome.metrics
    assert f"Accuracy {outcome.metrics['accuracy']:.1%}" in metric and f"{len(images)} images" in metric
    assert out.read_text().splitlines()[0] == "prediction,label"


def test_a_text_csv_is_searched_by_its_text_column_and_reused_with_its_labels(market, tmp_path):
    import csv

    rows = [(doc, TOPICS.index(topic)) for topic in ("cooking", "weather") for doc in CORPUS[topic][1::2]]
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)

    async def scenario(pilot):
        await _use_spec(pilot, path)
        screen = pilot.app.screen
        names, info, label = result_names(pilot.app), plain(screen, "#spec-info"), screen.stat.label_column
        row = next(r for r in screen.query_one(ResultsTable).rows_shown if r.name == names[0])
        await pilot.app.push_screen(screen.reuse_screen(row))
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReuseScreen), what="the reuse screen")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, timeout=60, what="predictions")
        return names, info, label, pilot.app.screen.outcome

    names, info, label, outcome = run(make_app(dock=market.dock), scenario)
    assert set(names[:2]) == {"Cooking sentences", "Weather sentences"}
    assert f"reviews.csv (text, {len(rows)} documents" in info
    assert label == "label"  # guessed from the header, like a table's, and handed to the reuse screen
    assert outcome.kind == "text" and outcome.rows == len(rows)
    assert outcome.metrics["accuracy"] > 0.8, outcome.metrics


def _write_bad(path: Path, content) -> None:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        np.save(path, content)


BAD_FILES = (
    ("empty.txt", "\n  \n\n", "empty.txt: no documents (expected one per line)"),
    ("words.npy", np.array(["a cat", "a dog"]), "is not numeric (it holds strings; documents go in a .txt"),
    ("flat.npz", {"X": np.zeros((5, 64))}, "shape (5, 64) is not allowed for images"),
    ("five.npy", np.zeros((3, 5, 8, 8)), "5 channels is not allowed"),
    ("nox.npz", {"pixels": np.zeros((3, 8, 8))}, "no images array named X or images"),
    ("notext.csv", "text,label\nThe striker scored.,0\n,1\n", "row 3 has an empty 'text' cell"),
)


def test_a_bad_file_is_a_clear_error_and_no_spec(market, tmp_path):
    for name, content, _ in BAD_FILES:
        _write_bad(tmp_path / name, content)

    async def scenario(pilot):
        seen = []
        for name, _, _ in BAD_FILES:  # one after the other in one app: each fails alone, the app lives on
            await type_into(pilot, "#spec-path", str(tmp_path / name))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog), what=f"the error on {name}")
            seen.append((pilot.app.screen.error_title, pilot.app.screen.message))
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, SearchScreen), what="the search screen")
            screen = pilot.app.screen
            line = screen.query_one("#progress-spec")
            await wait_until(pilot, lambda line=line: not line.busy, what="the progress line")
            assert screen.stat is None and plain(screen, "#spec-info").startswith("No statistical spec"), name
        return seen

    seen = run(make_app(dock=market.dock), scenario)
    for (name, _, message), (title, text) in zip(BAD_FILES, seen, strict=True):
        assert title == "Cannot read the data file", (name, title, text)
        assert message in text, (name, text)


# -- the reuse screen ------------------------------------------------------------------------------
def test_reusing_an_image_learnware_on_documents_says_what_it_takes(market, tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("The striker scored twice.\n", encoding="utf-8")
    name = "Digit images 0-2"
    target = ReuseTarget((market.ids[name],), (name,), None, "Classification", "Image")

    async def scenario(pilot):
        await pilot.app.push_screen(ReuseScreen(target, path))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog), what="the error modal")
        return pilot.app.screen.error_title, pilot.app.screen.message

    title, message = run(make_app(dock=market.dock), scenario)
    assert title == "Cannot read the data file"
    assert "docs.txt holds documents, but this learnware takes Image data" in message
    assert ".npz with X (and labels y)" in message


def test_an_image_or_text_mixture_is_offered_the_reusers_that_take_raw_items():
    for data_type in ("Image", "Text"):
        choices, _ = offered_reusers(ReuseTarget(("a", "b"), ("A", "B"), (0.5, 0.5), "Classification", data_type))
        keys = [c.key for c in choices]
        # every reuser that only hands the items to the learnwares; feature augment needs numbers
        assert keys == ["direct", "job_selector", "vote_by_prob", "vote_by_label", "mean", "ensemble_pruning"]
    table, _ = offered_reusers(ReuseTarget(("a", "b"), ("A", "B"), (0.5, 0.5), "Classification", "Table"))
    assert len(table) > 2 or reuser_class("AveragingReuser") is None


# -- dock.datafiles, the readers both the TUI and the CLI use ---------------------------------
def test_user_data_kind_and_read_user_data(tmp_path):
    from dock.datafiles import read_user_data, user_data_kind

    np.save(tmp_path / "table.npy", np.zeros((4, 3)))
    np.save(tmp_path / "grey.npy", np.zeros((4, 8, 8)))
    np.save(tmp_path / "rgb.npy", np.zeros((2, 3, 5, 6)))
    np.savez(tmp_path / "labelled.npz", images=np.ones((3, 4, 4)), labels=np.array([0, 1, 1]))
    (tmp_path / "docs.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    (tmp_path / "docs.csv").write_text("id,Text,label\n1,\"hello, world\",0\n2,bye,1\n", encoding="utf-8")
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    kinds = {p.name: user_data_kind(p) for p in sorted(tmp_path.iterdir())}
    assert kinds == {"docs.csv": "text", "docs.txt": "text", "grey.npy": "image", "labelled.npz": "image",
                     "rgb.npy": "image", "rows.csv": "table", "table.npy": "table"}
    assert read_user_data(tmp_path / "rgb.npy").describe() == "2 images 3×5×6"
    labelled = read_user_data(tmp_path / "labelled.npz")
    assert labelled.describe() == "3 images 4×4" and labelled.y.tolist() == [0, 1, 1]
    docs = read_user_data(tmp_path / "docs.csv", "label")
    assert docs.X == ["hello, world", "bye"] and docs.y.tolist() == [0, 1] and docs.describe() == "2 documents"
    assert read_user_data(tmp_path / "docs.txt").X == ["one", "two"]
    assert read_user_data(tmp_path / "rows.csv").describe() == "1 row × 2 columns"
