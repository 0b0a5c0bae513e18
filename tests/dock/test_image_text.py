"""Image and text learnwares through the real Dock: zips with RKMEImageSpecification /
RKMETextSpecification pass the checks (image models are fed image arrays, text models strings),
are stored, and a search ranks the learnware whose data matches the user's first; specs from
another embedder are never compared.

The text corpus below was written for this test (public domain, CC0): short English sentences on
four topics, split between developers and users.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from dock import CheckError, Dock, UserInfo
from dock.records import compat_key
from specs import generate_stat_spec, load_spec

from .fixtures import model_source, semantic, write_zip

IMAGE_MODEL = """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (8, 8) or X.dtype.kind != "f":
        raise ValueError(f"expected (n, 8, 8) float images, got {X.shape} {X.dtype}")
    return (X.reshape(len(X), -1).mean(axis=1) > 4).astype(np.int64)
"""

TEXT_MODEL = """
    X = np.asarray(X)
    if X.ndim != 1 or X.dtype.kind != "U":
        raise ValueError(f"expected a 1-D array of strings, got {X.shape} {X.dtype}")
    return np.array([len(s) % 2 for s in X], dtype=np.int64)
"""

CORPUS = {
    "football": [
        "The striker scored twice in the second half.",
        "The goalkeeper saved a penalty in the last minute.",
        "The league title will be decided on the final match day.",
        "The coach was sent off after arguing with the referee.",
        "Fans filled the stadium for the derby.",
        "The midfielder signed a four-year contract with the club.",
        "The defender headed the ball off the line.",
        "The team lost the cup final on penalties.",
        "The winger crossed for a late equaliser.",
        "The referee added five minutes of stoppage time.",
        "Both clubs were fined for crowd trouble at the match.",
        "The captain lifted the trophy in front of the supporters.",
    ],
    "finance": [
        "The central bank raised interest rates by a quarter point.",
        "Shares fell after the company missed its earnings forecast.",
        "Inflation slowed for the third month in a row.",
        "Bond yields climbed as investors sold government debt.",
        "The currency weakened against the dollar.",
        "The firm announced a share buyback worth two billion.",
        "Quarterly revenue beat analysts' expectations.",
        "Mortgage rates reached their highest level in a decade.",
        "The stock market closed lower on recession fears.",
        "The bank reported a jump in bad loans.",
        "Oil prices pushed the index of producer costs higher.",
        "Investors moved money into gold and treasury bills.",
    ],
    "cooking": [
        "Whisk the eggs with sugar until pale and fluffy.",
        "Simmer the tomato sauce for twenty minutes.",
        "Season the chicken with salt, pepper and paprika.",
        "Knead the dough until it is smooth and elastic.",
        "Roast the vegetables in a hot oven until golden.",
        "Fold the flour gently into the batter.",
        "Let the bread rise in a warm place for an hour.",
        "Fry the onions in butter until soft.",
        "Chop the garlic finely and add it to the pan.",
        "Bake the cake until a skewer comes out clean.",
        "Stir in the cream and remove the pot from the heat.",
        "Marinate the beef overnight in soy sauce and ginger.",
    ],
    "weather": [
        "Heavy rain is expected across the north tonight.",
        "Temperatures will drop below freezing by the weekend.",
        "A storm warning has been issued for the coast.",
        "Skies will clear in the afternoon with light winds.",
        "Snow fell on the hills for the first time this winter.",
        "The heatwave will continue until Thursday.",
        "Fog may slow traffic on the motorway in the morning.",
        "Strong gusts brought down trees in several towns.",
        "Showers will spread east later in the day.",
        "Humidity will rise ahead of thunderstorms.",
        "The forecast calls for a dry and sunny week.",
        "Frost is likely in rural areas overnight.",
    ],
}


def _sem(data: str, name: str, description: str) -> dict:
    sem = semantic(name=name, out_dim=2)
    sem["Data"]["Values"] = [data]
    sem["Description"]["Values"] = description
    del sem["Input"]
    return sem


def _zip(path, source: str, spec, sem: dict):
    # input_shape None: model_source's class defaults to (4,), a table shape the image check refuses.
    config = {"model": {"class_name": "M", "kwargs": {"input_shape": None, "output_shape": (1,)}},
              "stat_specifications": [{"module_path": "learnware.specification", "class_name": spec.type,
                                       "file_name": "stat_spec.json", "kwargs": {}}]}
    files = {"__init__.py": source.encode(), "learnware.yaml": yaml.dump(config).encode(),
             "stat_spec.json": json.dumps(spec.to_json_dict()).encode(),
             "semantic_specification.json": json.dumps(sem).encode()}
    return write_zip(path, files)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def test_image_market_ranks_the_matching_classes_first(tmp_path, digits):
    X, y = digits
    dev = np.arange(len(X)) % 2 == 0  # developers get the even rows, the user the odd ones
    subsets = {"digits-012": (0, 1, 2), "digits-345": (3, 4, 5), "digits-678": (6, 7, 8), "digits-59": (5, 9)}
    ids = {}
    with Dock.open(tmp_path / "home") as dock:
        for name, classes in subsets.items():
            rows = dev & np.isin(y, classes)
            spec = generate_stat_spec("image", X=X[rows], K=20)
            zip_path = _zip(tmp_path / f"{name}.zip", model_source(IMAGE_MODEL), spec,
                            _sem("Image", name, f"digit images of classes {classes}"))
            ids[name] = dock.submit(zip_path)
        user = generate_stat_spec("image", X=X[~dev & np.isin(y, (3, 4, 5))], K=20)
        result = dock.search(UserInfo(stat_info={user.type: user}), limit=4)
        assert [m.id for m in result.single][0] == ids["digits-345"]
        # (the random-conv kernel, like the pixel one, sees disjoint digit sets as partly overlapping)
        assert result.single[0].score > 0.9 and result.single[-1].score < result.single[0].score - 0.2

        # A user mixing two developers' classes gets both in the mixture.
        mixed = generate_stat_spec("image", X=X[~dev & np.isin(y, (0, 1, 2, 6, 7, 8))], K=20)
        result = dock.search(UserInfo(stat_info={mixed.type: mixed}), limit=4)
        mix = result.multiple
        assert mix is not None and {ids["digits-012"], ids["digits-678"]} <= set(mix.ids)
        weights = dict(zip(mix.ids, mix.weights, strict=True))
        assert weights[ids["digits-012"]] + weights[ids["digits-678"]] > 0.7, weights

        # Another embedder's spec is never compared with these: no match, or a refusal.
        d = user.to_json_dict()
        d["lwdock"]["embedder"] = "lwdock-randconv-v9:0000000000000000"
        alien = load_spec(d)
        assert compat_key(alien) != compat_key(user)
        try:
            result = dock.search(UserInfo(stat_info={alien.type: alien}), limit=4)
        except Exception as exc:  # SearchError
            assert type(exc).__name__ == "SearchError"
        else:
            assert result.single == []


def test_image_model_that_wants_tables_fails_the_checks(tmp_path, digits):
    X, _ = digits
    spec = generate_stat_spec("image", X=X[:200], K=10)
    table_model = model_source("return (np.asarray(X) @ np.ones(64) > 0).astype(int)")  # (n, 64) only
    zip_path = _zip(tmp_path / "bad.zip", table_model, spec, _sem("Image", "bad", "wants flat rows"))
    with Dock.open(tmp_path / "home") as dock, pytest.raises(CheckError, match="predict"):
        dock.submit(zip_path)
    # An Image learnware must carry an image spec.
    table_spec = generate_stat_spec("table", X=X[:200].reshape(200, -1), K=10)
    zip_path = _zip(tmp_path / "nospec.zip", model_source(IMAGE_MODEL), table_spec, _sem("Image", "x", "y"))
    with Dock.open(tmp_path / "home") as dock, pytest.raises(CheckError, match="need an RKMEImageSpecification"):
        dock.submit(zip_path)


def test_text_market_ranks_the_matching_topic_first(tmp_path):
    ids = {}
    with Dock.open(tmp_path / "home") as dock:
        for topic, docs in CORPUS.items():
            spec = generate_stat_spec("text", X=docs[::2], K=6)
            zip_path = _zip(tmp_path / f"{topic}.zip", model_source(TEXT_MODEL), spec,
                            _sem("Text", f"{topic}-classifier", f"sentences about {topic}"))
            ids[topic] = dock.submit(zip_path)
        for topic, docs in CORPUS.items():
            user = generate_stat_spec("text", X=docs[1::2], K=6)
            result = dock.search(UserInfo(stat_info={user.type: user}), limit=4)
            assert result.single[0].id == ids[topic], (topic, [(m.name, m.score) for m in result.single])


def test_job_selector_routes_images_in_the_embedders_feature_space(tmp_path, digits):
    from dock.reuse import JobSelectorReuser

    X, y = digits
    dev = np.arange(len(X)) % 2 == 0
    with Dock.open(tmp_path / "home") as dock:
        ids = []
        for name, classes in {"digits-012": (0, 1, 2), "digits-678": (6, 7, 8)}.items():
            spec = generate_stat_spec("image", X=X[dev & np.isin(y, classes)], K=20)
            zip_path = _zip(tmp_path / f"{name}.zip", model_source(IMAGE_MODEL), spec,
                            _sem("Image", name, f"digit images of classes {classes}"))
            ids.append(dock.submit(zip_path))
        learnwares = [dock.load(i) for i in ids]
        user = ~dev & np.isin(y, (0, 1, 2, 6, 7, 8))
        reuser = JobSelectorReuser(learnwares)
        route = reuser.job_selector(X[user].astype(np.float64))
        expected = np.isin(y[user], (6, 7, 8)).astype(int)  # 0: digits-012, 1: digits-678
        assert np.mean(route == expected) > 0.9, np.mean(route == expected)
        predictions = reuser.predict(X[user].astype(np.float64))  # raw images reach the image models
        assert predictions.shape == (int(user.sum()),)
