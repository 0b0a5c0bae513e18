"""Publish screen: model + data → spec → form → checks → stored; the next search finds it.
Tables, images (.npz of digits) and documents (.csv with a `text` column) alike."""

from __future__ import annotations

import pickle

import numpy as np
from textual.widgets import Select, SelectionList

# Model class files (the worker imports them; nothing is unpickled): 8x8 images in, a class out;
# strings in, a class out. Each refuses the other kind of input, so the probe catches a mix-up.
from tests.dock.test_pack_image_text import IMAGE_MODEL, TEXT_MODEL
from tui.app import make_app
from tui.screens.publish import PublishScreen

from .conftest import plain, result_names, run, settle, type_into, wait_until


def test_publish_creates_a_learnware_that_the_next_search_finds(dock, tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    model_path = tmp_path / "wine-model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    data_path = tmp_path / "wine.csv"
    header = ",".join([f"f{i}" for i in range(X.shape[1])] + ["cultivar"])
    lines = [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    data_path.write_text(header + "\n" + "\n".join(lines) + "\n")
    before = len(dock.list())
    reveals: list[str] = []

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(data_path))
        await type_into(pilot, "#label-column", "cultivar")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await pilot.pause()
        suggested = (screen.query_one("#sem-task", Select).value, screen.query_one("#output-dim").value)
        reveals.extend(line for line in plain(screen, "#sketch-info").splitlines() if "reveals:" in line)
        await type_into(pilot, "#name", "Vineyard grape typer")
        await type_into(pilot, "#description", "Tells three grape cultivars apart")
        screen.query_one("#sem-scenario", SelectionList).select("Agriculture")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result"),
                         timeout=90, what="publishing")
        await pilot.press("f2")
        await type_into(pilot, "#query", "vineyard grape")
        await pilot.press("enter")
        await settle(pilot)
        return suggested, result_names(pilot.app)

    suggested, names = run(make_app(dock=dock), scenario)
    assert suggested == ("Classification", "3")
    # one line says what the published spec discloses (the private default: 178 rows, 14 points)
    assert len(reveals) == 1 and "noised points summarising 178 rows" in reveals[0]
    assert names[0] == "Vineyard grape typer"
    assert len(dock.list()) == before + 1
    record = next(r for r in dock.list() if r.name == "Vineyard grape typer")
    assert record.scenarios == ["Agriculture"] and record.output_dim == 3 and record.input_dim == 13
    described = record.semantic_spec["Input"]["Description"]  # from the header, label column left out (issue 14)
    assert described["0"] == "f0" and described["12"] == "f12" and len(described) == 13


def test_publish_without_a_name_says_so(dock, tmp_path, iris_csv):
    model_path = tmp_path / "m.pkl"
    model_path.write_bytes(b"not used: the form is refused first")

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(iris_csv))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ErrorDialog", what="the error")
        return pilot.app.screen.message

    assert "name" in run(make_app(dock=dock), scenario)


def _digits_npz(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 5
    path = tmp_path / "digits.npz"
    np.savez(path, X=digits.images[keep][:300], y=digits.target[keep][:300])
    return path


def _topics_csv(tmp_path):
    import csv

    from tests.dock.test_image_text import CORPUS

    path = tmp_path / "news.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "topic"])
        for label, sentences in enumerate(CORPUS.values()):
            writer.writerows([sentence, label] for sentence in sentences)
    return path


async def _fill_in(pilot, model_path, class_name, data_path, label=""):
    await pilot.press("f3")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
    await type_into(pilot, "#model-path", str(model_path))
    await type_into(pilot, "#class-name", class_name)
    await type_into(pilot, "#data-path", str(data_path))
    if label:
        await type_into(pilot, "#label-column", label)


async def _read_and_publish(pilot, name, scenario):
    screen = pilot.app.screen
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: screen.sketch is not None, timeout=60, what="the data sketch")
    await pilot.pause()
    form = {key: str(screen.query_one(f"#sem-{key}", Select).value) for key in ("data", "task")}
    form["output"] = screen.query_one("#output-dim").value
    form["sketch"] = plain(screen, "#sketch-info")
    await type_into(pilot, "#name", name)
    screen.query_one("#sem-library", Select).value = "Others"
    screen.query_one("#sem-scenario", SelectionList).select(scenario)
    await pilot.press("ctrl+s")
    await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result")
                     or pilot.app.screen.__class__.__name__ == "ErrorDialog", timeout=90, what="publishing")
    assert pilot.app.screen is screen, getattr(pilot.app.screen, "message", "")
    return form


def test_publish_an_image_learnware_from_a_model_class_and_an_npz(dock, tmp_path):
    (tmp_path / "bright.py").write_text(IMAGE_MODEL)
    data_path = _digits_npz(tmp_path)
    before = len(dock.list())

    async def scenario(pilot):
        await _fill_in(pilot, tmp_path / "bright.py", "Bright", data_path)
        return await _read_and_publish(pilot, "Bright digits", "Education")

    form = run(make_app(dock=dock), scenario)
    assert (form["data"], form["task"], form["output"]) == ("Image", "Classification", "5")
    assert "300 images 8×8" in form["sketch"] and "class numbers 0..4" in form["sketch"]
    assert len(dock.list()) == before + 1
    record = next(r for r in dock.list() if r.name == "Bright digits")
    assert record.data_type == "Image" and record.output_dim == 5 and record.input_dim is None
    assert set(dock.get_stat_specs(record.id)) == {"RKMEImageSpecification"}


def test_publish_a_text_learnware_from_a_model_class_and_a_text_csv(dock, tmp_path):
    (tmp_path / "parity.py").write_text(TEXT_MODEL)
    data_path = _topics_csv(tmp_path)

    async def scenario(pilot):
        await _fill_in(pilot, tmp_path / "parity.py", "Parity", data_path, label="topic")
        return await _read_and_publish(pilot, "Parity of news", "Education")

    form = run(make_app(dock=dock), scenario)
    assert (form["data"], form["task"], form["output"]) == ("Text", "Classification", "4")
    assert "documents" in form["sketch"]
    record = next(r for r in dock.list() if r.name == "Parity of news")
    assert record.data_type == "Text" and record.output_dim == 4 and record.input_dim is None
    assert set(dock.get_stat_specs(record.id)) == {"RKMETextSpecification"}


def test_publish_images_with_the_wrong_data_type_or_a_text_model_says_why(dock, tmp_path):
    """Data left at Table for an image file: refused before packing. A text model given images:
    the probe fails. Either way an error dialog says why and nothing is stored."""
    (tmp_path / "parity.py").write_text(TEXT_MODEL)
    data_path = _digits_npz(tmp_path)
    before = [r.id for r in dock.list()]

    async def scenario(pilot):
        await _fill_in(pilot, tmp_path / "parity.py", "Parity", data_path)
        screen = pilot.app.screen
        await type_into(pilot, "#name", "Mixed up")
        screen.query_one("#sem-scenario", SelectionList).select("Education")
        await pilot.press("ctrl+s")  # the data not read: Data is still Table
        await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ErrorDialog", what="the error")
        messages = [pilot.app.screen.message]
        await pilot.press("escape")
        await wait_until(pilot, lambda: pilot.app.screen is screen, what="the dialog to close")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, timeout=60, what="the data sketch")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ErrorDialog", timeout=60,
                         what="the error")
        messages.append(pilot.app.screen.message)
        return messages, plain(screen, "#publish-result")

    (data_error, probe_error), result = run(make_app(dock=dock), scenario)
    assert "digits.npz holds 300 images 8×8" in data_error and "set Data to Image" in data_error
    assert "the model rejected the data: expected strings" in probe_error
    assert "Published" not in result
    assert [r.id for r in dock.list()] == before


def test_publish_guesses_the_label_column_and_takes_a_subset_of_classes(dock, tmp_path):
    """digits 6-9 with a `label` column nobody typed: the guess is used (and said), Output.Dimension
    is 10 (class numbers 0..9), the checks pass; a file without such a column gets no stale guess."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, y = X[y >= 6], y[y >= 6]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    model_path = tmp_path / "d69.pkl"
    model_path.write_bytes(pickle.dumps(model))
    data_path = tmp_path / "digits_6-9.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    rows = [",".join(f"{v:g}" for v in x) for x in X]
    data_path.write_text(header + "\n" + "\n".join(f"{row},{t}" for row, t in zip(rows, y, strict=True)) + "\n")
    unlabelled = tmp_path / "features.csv"
    unlabelled.write_text(header.rsplit(",", 1)[0] + "\n" + "\n".join(rows) + "\n")

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        await type_into(pilot, "#data-path", str(unlabelled))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the first sketch")
        first = (screen.query_one("#label-column").value, screen.sketch.has_labels)
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(data_path))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None and screen.sketch.path == data_path,
                         what="the second sketch")
        await pilot.pause()
        guessed = (screen.query_one("#label-column").value, screen.query_one("#output-dim").value)
        await type_into(pilot, "#name", "Digits 6-9")
        screen.query_one("#sem-scenario", SelectionList).select("Education")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result"), timeout=90,
                         what="publishing")
        return first, guessed

    first, guessed = run(make_app(dock=dock), scenario)
    assert first == ("", False)
    assert guessed == ("label", "10")
    record = next(r for r in dock.list() if r.name == "Digits 6-9")
    assert record.output_dim == 10 and record.input_dim == 64
