"""The semantic filters: one Select per class field, a checklist of scenario tags."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Label, Select, SelectionList

from .. import specs_access

CLASS_FIELDS = ("Data", "Task", "Library", "License")


class FilterPanel(VerticalScroll):
    DEFAULT_CSS = """
    FilterPanel { width: 26; padding: 0 1; border-right: vkey $foreground 20%; }
    FilterPanel Label { color: $text-muted; margin-top: 1; }
    FilterPanel SelectionList { height: auto; max-height: 10; }
    """

    class Changed(Message):
        def __init__(self, panel: "FilterPanel") -> None:
            super().__init__()
            self.panel = panel

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.choices = specs_access.semantic_choices()
        self._quiet = False

    def compose(self):
        for key in CLASS_FIELDS:
            yield Label(key)
            yield Select([(v, v) for v in self.choices[key]], prompt=f"any {key.lower()}", id=f"filter-{key.lower()}",
                         compact=True)
        yield Label("Scenario (any of)")
        yield SelectionList(*[(v, v) for v in self.choices["Scenario"]], id="filter-scenario", compact=True)

    def values(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for key in CLASS_FIELDS:
            value = self.query_one(f"#filter-{key.lower()}", Select).value
            out[key] = () if value is Select.NULL else (str(value),)
        out["Scenario"] = tuple(self.query_one(SelectionList).selected)
        return out

    def reset(self) -> None:
        self._quiet = True
        for key in CLASS_FIELDS:
            self.query_one(f"#filter-{key.lower()}", Select).clear()
        self.query_one(SelectionList).deselect_all()
        self.call_after_refresh(self._loud)

    def _loud(self) -> None:
        self._quiet = False

    def set_value(self, key: str, value: str) -> None:
        if key == "Scenario":
            self.query_one(SelectionList).select(value)
        else:
            self.query_one(f"#filter-{key.lower()}", Select).value = value

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not self._quiet:
            self.post_message(self.Changed(self))

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        if not self._quiet:
            self.post_message(self.Changed(self))
