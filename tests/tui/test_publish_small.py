"""Publishing a table under the private spec's minimum rows from the TUI (issue 17): refused with the
reason on the screen, nothing stored; the "Publish a small table anyway" checkbox lets the user go on
knowingly, and the stored spec says it was made small."""

from __future__ import annotations

import pickle

from textual.widgets import Checkbox, SelectionList

from tui.app import make_app
from tui.screens.publish import PublishScreen

from .conftest import plain, run, type_into, wait_until

SMALL_ROWS = 30  # under specs/privacy.py MIN_ROWS (50)


def _small_table(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    keep = list(range(0, 150, 5))  # 30 rows, all three classes
    X, y = X[keep], y[keep]
    model_path = tmp_path / "small-model.pkl"
    model_path.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(X, y)))
    data_path = tmp_path / "small.csv"
    lines = [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    data_path.write_text("a,b,c,d,species\n" + "\n".join(lines) + "\n")
    return model_path, data_path


def test_a_small_table_is_refused_with_its_reason_then_published_knowingly(dock, tmp_path):
    model_path, data_path = _small_table(tmp_path)
    before = len(dock.list())
    seen: dict = {}

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        box = screen.query_one("#allow-small", Checkbox)
        seen["box shown at first"] = box.display
        await type_into(pilot, "#model-path", str(model_path))
        await type_into(pilot, "#data-path", str(data_path))
        await type_into(pilot, "#label-column", "species")
        await type_into(pilot, "#name", "Tiny iris typer")
        screen.query_one("#sem-scenario", SelectionList).select("Agriculture")
        # 1. publish straight away (no "Read data"): refused on the screen, not an error dialog
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Not published" in plain(screen, "#publish-result"),
                         timeout=60, what="the refusal")
        seen["refusal"] = plain(screen, "#publish-result")
        seen["screen after refusal"] = type(pilot.app.screen).__name__
        seen["box shown after refusal"] = box.display
        seen["stored after refusal"] = len(dock.list())
        # 2. reading the data says the same before publishing, and what proceeding means
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await pilot.pause()
        seen["sketch"] = plain(screen, "#sketch-info")
        # 3. tick the box: the same publish goes through
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        seen["ticked"] = box.value
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Published" in plain(screen, "#publish-result")
                         or pilot.app.screen is not screen, timeout=90, what="publishing")
        seen["result"] = plain(screen, "#publish-result")

    run(make_app(dock=dock), scenario)
    assert seen["box shown at first"] is False
    refusal = seen["refusal"]
    assert f"{SMALL_ROWS} rows are too few for a private spec" in refusal and "Publish a small table anyway" in refusal
    assert "--allow-small" not in refusal  # the screen's own words, not the CLI flag
    assert seen["screen after refusal"] == "PublishScreen" and seen["box shown after refusal"] is True
    assert seen["stored after refusal"] == before  # nothing stored by the refused publish
    assert "too few for a private spec" in seen["sketch"] and "reveals:" in seen["sketch"]
    assert seen["ticked"] is True
    assert "Published" in seen["result"]
    assert len(dock.list()) == before + 1
    record = next(r for r in dock.list() if r.name == "Tiny iris typer")
    (spec,) = dock.get_stat_specs(record.id).values()
    assert spec.num_points == SMALL_ROWS and spec.privacy["small"] == 1 and spec.z.shape[0] < SMALL_ROWS


def test_a_large_enough_table_never_shows_the_checkbox(dock, iris_csv):
    seen: dict = {}

    async def scenario(pilot):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PublishScreen), what="the publish screen")
        screen = pilot.app.screen
        await type_into(pilot, "#data-path", str(iris_csv))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.sketch is not None, what="the data sketch")
        await pilot.pause()
        seen["box shown"] = screen.query_one("#allow-small", Checkbox).display
        seen["sketch"] = plain(screen, "#sketch-info")
        seen["form allows small"] = screen.form().allow_small

    run(make_app(dock=dock), scenario)
    assert seen["box shown"] is False and seen["form allows small"] is False
    assert "too few" not in seen["sketch"] and "reveals:" in seen["sketch"]


def test_the_refusal_of_few_images_speaks_of_images():
    """Image specs are private by default too: the screen's reason for 30 images says images, and
    the sketch it shows when allowed is the small private spec."""
    import numpy as np
    from sklearn.datasets import load_digits

    from specs import generate_stat_spec
    from specs.errors import SmallTableError
    from tui.publish_job import small_table_advice

    images = load_digits().images[:SMALL_ROWS]
    try:
        generate_stat_spec("image", X=images)
    except SmallTableError as refusal:
        advice = small_table_advice(refusal)
    else:
        raise AssertionError("30 images made a private spec without allow_small")
    assert advice.startswith(f"{SMALL_ROWS} images are too few for a private spec") and "rows" not in advice
    assert "only a few images each" in advice
    allowed = generate_stat_spec("image", X=images, allow_small=True)
    assert allowed.privacy["small"] == 1 and np.isfinite(allowed.z).all()
