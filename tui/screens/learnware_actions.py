"""Export and remove, shared by the search and detail screens (dialogs, then a worker)."""

from __future__ import annotations

import re
from pathlib import Path

from textual import work

from .. import messages as m
from ..dialogs.confirm import ConfirmDialog
from ..dialogs.path_prompt import PathPrompt


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "learnware"


class LearnwareActionsMixin:
    """For LwdockScreen subclasses: `ask_export(id, name)`, `ask_remove(id, name)`."""

    def ask_export(self, learnware_id: str, name: str, local: bool = True) -> None:
        if not local:
            self.app.notify("Its zip is not in this dock: fetch it first.", severity="warning")
            return
        default = f"{_slug(name)}.zip"

        def chosen(dest: Path | None) -> None:
            if dest is not None:
                self.export_zip(learnware_id, dest)

        self.app.push_screen(PathPrompt(f"Export the zip of {name!r} to:", default), chosen)

    def ask_remove(self, learnware_id: str, name: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_learnware(learnware_id, name)

        question = f"Remove {name!r} ({learnware_id[:12]}…) from this dock? Its record and zip are deleted."
        self.app.push_screen(ConfirmDialog(question, yes="Remove"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.ACTION)
    def export_zip(self, learnware_id: str, dest: Path) -> None:
        path = self.backend.export(learnware_id, dest)
        self.post_message(m.Exported(learnware_id, path))

    @work(thread=True, exclusive=True, exit_on_error=False, group=m.ACTION)
    def remove_learnware(self, learnware_id: str, name: str) -> None:
        self.backend.remove(learnware_id)
        self.post_message(m.Removed(learnware_id, name))

    def on_exported(self, message: m.Exported) -> None:
        self.app.notify(f"Exported to {message.path}", title="Zip exported", markup=False)

    def on_removed(self, message: m.Removed) -> None:
        self.app.notify(f"Removed {message.name!r}", title="Learnware removed", markup=False)
        self.app.dock_changed(message.learnware_id)
