"""The search screen's preview (issue 13 item 3): with a labelled data file, the top results are run
on a sample of its rows in real worker processes and their measured accuracy appears beside the
similarity, row by row; escape stops it, `p` runs it again; a zip that is not here says so in its
cell. Real app under run_test, the seeded demo dock (iris, digits 0-3, digits 6-9)."""

from __future__ import annotations

import numpy as np
import pytest

from tui.app import make_app
from tui.preview_job import PreviewMeasured
from tui.widgets.results import ResultsTable

from .conftest import plain, run, settle, type_into, wait_until


@pytest.fixture
def digits_0_5(tmp_path):
    from dock.demo.market import load_dataset

    X, y = load_dataset("load_digits", (0, 1, 2, 3, 4, 5))
    path = tmp_path / "digits_0-5.csv"
    header = ",".join([f"x{i}" for i in range(X.shape[1])] + ["label"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6g")
    return path


def _measured(app) -> dict[str, str]:
    table = app.screen.query_one(ResultsTable)
    return {row.name: table.preview_text(row.key) for row in table.rows_shown if not row.is_mixture}


def _header(app) -> list[str]:
    table = app.screen.query_one(ResultsTable)
    return [str(column.label) for column in table.columns.values()]


async def _use(pilot, path) -> None:
    await type_into(pilot, "#spec-path", str(path))
    await pilot.press("enter")  # the label column is guessed (`label`) and the spec made in a worker
    await wait_until(pilot, lambda: pilot.app.screen.stat is not None, what="the spec")


def _accuracy(cell: str) -> float:
    assert cell.startswith("acc "), cell
    return float(cell.removeprefix("acc ").rstrip("%")) / 100


def test_preview_shows_measured_accuracy_beside_similarity_row_by_row(dock, digits_0_5):
    async def scenario(pilot):
        await _use(pilot, digits_0_5)
        await wait_until(pilot, lambda: all(v.startswith("acc") for v in _measured(pilot.app).values()),
                         timeout=120, what="every row measured")
        await settle(pilot)
        return _measured(pilot.app), _header(pilot.app), plain(pilot.app.screen, "#preview-note")

    seen: list = []
    measured, header, note = run(make_app(dock=dock), scenario, messages=seen)
    # The digits 6-9 recogniser is similar in its inputs and wrong on every row: the preview says so.
    assert _accuracy(measured["Digits 6-9 recogniser"]) < 0.05
    assert 0.5 < _accuracy(measured["Digits 0-3 recogniser"]) <= 0.7  # it knows 4 of the 6 classes
    assert "Similarity" in header and "Measured" in header and "Match" not in header
    assert "200 of 1083 labelled rows" in note
    arrivals = [msg.entry.name for msg in seen if isinstance(msg, PreviewMeasured)]
    assert len(arrivals) >= 2  # one message per row, as each is measured: progressive


def test_escape_stops_the_preview_and_p_runs_it_again(dock, digits_0_5):
    async def scenario(pilot):
        await _use(pilot, digits_0_5)
        await wait_until(pilot, lambda: "running…" in _measured(pilot.app).values(), what="the preview to start")
        pilot.app.screen.query_one(ResultsTable).focus()
        await pilot.press("escape")
        await settle(pilot)
        stopped, note = _measured(pilot.app), plain(pilot.app.screen, "#preview-note")
        await pilot.press("p")
        await wait_until(pilot, lambda: all(v.startswith("acc") for v in _measured(pilot.app).values()),
                         timeout=120, what="every row measured after p")
        return stopped, note, _measured(pilot.app)

    stopped, note, again = run(make_app(dock=dock), scenario)
    assert "stopped" in stopped.values() and "Preview stopped" in note
    assert _accuracy(again["Digits 6-9 recogniser"]) < 0.05


def test_a_zip_that_is_not_here_says_not_local_and_the_others_are_measured(dock, digits_0_5):
    gone = next(r for r in dock.list() if r.name == "Digits 0-3 recogniser")
    dock.catalogue.forget_blob(gone.id)  # as after a crash: the record stays, the zip must be fetched
    dock.blobs.remove(gone.id)
    assert not dock.has_zip(gone.id)

    async def scenario(pilot):
        await _use(pilot, digits_0_5)
        def ended():  # every row has its cell (before the preview starts they are all blank)
            values = _measured(pilot.app).values()
            return values and all(v and v != "running…" for v in values)

        await wait_until(pilot, ended, timeout=120, what="the preview to end")
        await settle(pilot)
        return _measured(pilot.app), plain(pilot.app.screen, "#preview-note")

    measured, note = run(make_app(dock=dock), scenario)
    assert measured["Digits 0-3 recogniser"] == "not local"
    assert "Digits 0-3 recogniser: not local" in note and "Traceback" not in note
    assert _accuracy(measured["Digits 6-9 recogniser"]) < 0.05


def test_no_preview_column_without_labels(dock, tmp_path):
    from dock.demo.market import load_dataset

    path = tmp_path / "digits.npy"  # a table without labels: nothing to measure against
    np.save(path, load_dataset("load_digits", (0, 1, 2, 3, 4, 5))[0])

    async def scenario(pilot):
        await _use(pilot, path)
        table = pilot.app.screen.query_one(ResultsTable)
        await wait_until(pilot, lambda: any(r.mmd2 is not None for r in table.rows_shown), what="ranked rows")
        await settle(pilot)
        return _header(pilot.app), pilot.app.screen.workers_busy("preview")

    header, busy = run(make_app(dock=dock), scenario)
    assert "Similarity" in header and "Measured" not in header and not busy


def test_at_80x24_the_preview_keeps_where_on_screen_and_its_note_short(dock, digits_0_5):
    """An 80-column terminal: with the Measured column on, Publisher and Data/task make room so the
    Where column stays visible, and the note under the results never takes more than 3 rows."""
    async def scenario(pilot):
        await _use(pilot, digits_0_5)
        await wait_until(pilot, lambda: all(v.startswith("acc") for v in _measured(pilot.app).values()),
                         timeout=120, what="every row measured")
        await settle(pilot)
        table = pilot.app.screen.query_one(ResultsTable)
        note = pilot.app.screen.query_one("#preview-note")
        return _header(pilot.app), table.virtual_size.width, table.size.width, note.size.height

    header, content_width, shown_width, note_rows = run(make_app(dock=dock), scenario, size=(80, 24))
    assert header[-1] == "Where" and "Measured" in header and "Publisher" not in header
    assert content_width <= shown_width  # no column scrolled off to the right
    assert 1 <= note_rows <= 3


def test_rows_failing_for_one_reason_share_one_note_line():
    from dock.reuse.preview import FAILED, PreviewEntry
    from tui.preview_job import grouped_notes, note_reason

    def failed(name, message):
        return PreviewEntry(key=name, ids=(name,), name=name, similarity=0.9, status=FAILED, message=message)

    offline = "peer P is unreachable"
    notes = [note_reason(failed("Mixture of 3", f"member A: {offline}")),  # a member's failure: its reason
             note_reason(failed("A", offline)), note_reason(failed("B", offline)),
             note_reason(failed("C", f"{offline}\nsecond line never shown")),
             note_reason(failed("D", "the model rejected the data"))]
    assert notes[0] == ("the mixture", offline)
    assert grouped_notes(notes) == ["the mixture, A (+2 more): peer P is unreachable",
                                    "D: the model rejected the data"]
