"""An error, shown in a modal over whatever the user was doing; the app lives on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ErrorDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss_dialog", "Close")]
    DEFAULT_CSS = """
    ErrorDialog { align: center middle; }
    ErrorDialog > Vertical { width: 72; max-width: 90%; height: auto; max-height: 80%;
                             border: thick $error; background: $surface; padding: 1 2; }
    ErrorDialog #error-title { text-style: bold; color: $error; width: 1fr; }
    ErrorDialog VerticalScroll { height: auto; max-height: 16; margin: 1 0; }
    ErrorDialog Horizontal { height: auto; align-horizontal: right; }
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
                yield Static(self.message, id="error-message", markup=False)
            with Horizontal():
                yield Button("OK", variant="error", id="error-ok")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()

    def action_dismiss_dialog(self) -> None:
        self.dismiss()
