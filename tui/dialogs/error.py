"""An error, shown in a modal over whatever the user was doing; the app lives on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ErrorDialog(ModalScreen[None]):
    """The error's first line (its cause); the rest (a model's traceback, the worker's stderr)
    behind a Details toggle."""

    BINDINGS = [Binding("escape,enter", "dismiss_dialog", "Close"), Binding("d", "toggle_details", "Details")]
    DEFAULT_CSS = """
    ErrorDialog { align: center middle; }
    ErrorDialog > Vertical { width: 72; max-width: 90%; height: auto; max-height: 80%;
                             border: thick $error; background: $surface; padding: 1 2; }
    ErrorDialog #error-title { text-style: bold; color: $error; width: 1fr; }
    ErrorDialog VerticalScroll { height: auto; max-height: 16; margin: 1 0; }
    ErrorDialog Horizontal { height: auto; align-horizontal: right; }
    ErrorDialog #error-details { display: none; color: $text-muted; margin-top: 1; }
    ErrorDialog.-details #error-details { display: block; }
    """

    def __init__(self, title: str, message: str, context: str = ""):
        super().__init__()
        self.error_title = title
        self.message = message
        self.context = context

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.error_title, id="error-title")
            with VerticalScroll():
                if self.context:
                    yield Static(f"while {self.context}:", classes="error-context", markup=False)
                cause, _, details = self.message.partition("\n")
                yield Static(cause, id="error-message", markup=False)
                if details.strip():
                    yield Static(details, id="error-details", markup=False)
            with Horizontal():
                if details.strip():
                    yield Button("Details (d)", id="error-details-toggle")
                yield Button("OK", variant="error", id="error-ok")

    def on_mount(self) -> None:
        self._focus_ok()
        self.call_after_refresh(self._focus_ok)  # pushed from outside a handler, the buttons mount later

    def _focus_ok(self) -> None:
        for button in self.query("#error-ok").results(Button):
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "error-details-toggle":
            self.action_toggle_details()
        else:
            self.dismiss()

    def action_toggle_details(self) -> None:
        if self.query("#error-details"):
            self.toggle_class("-details")

    def action_dismiss_dialog(self) -> None:
        self.dismiss()
