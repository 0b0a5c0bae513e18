"""The error dialog: the cause on one line, a model's traceback only behind Details."""

from __future__ import annotations

from tui.app import make_app
from tui.dialogs.error import ErrorDialog

from .conftest import run, wait_until

MESSAGE = ("the model rejected the data: X has 65 features, but StandardScaler is expecting 64 features as input.\n"
           "Traceback (most recent call last):\n  File \".../sklearn/pipeline.py\", line 794, in predict")


def test_the_traceback_is_behind_details(dock):
    async def scenario(pilot):
        pilot.app.push_screen(ErrorDialog("The model failed", MESSAGE))
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog)
                         and bool(pilot.app.screen.query("#error-details")), what="the dialog")
        screen = pilot.app.screen
        cause = str(screen.query_one("#error-message").content)
        details = screen.query_one("#error-details")
        hidden = details.display
        await pilot.press("d")
        await pilot.pause()
        shown = details.display
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, ErrorDialog), what="closing")
        pilot.app.push_screen(ErrorDialog("Cannot read", "wine.csv has 14 feature columns"))  # one line: no toggle
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog)
                         and bool(pilot.app.screen.query("#error-ok")), what="the second dialog")
        return cause, hidden, shown, len(pilot.app.screen.query("#error-details-toggle"))

    cause, hidden, shown, toggles = run(make_app(dock=dock), scenario)
    assert cause.startswith("the model rejected the data: X has 65 features") and "Traceback" not in cause
    assert hidden is False and shown is True
    assert toggles == 0
