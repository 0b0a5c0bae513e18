"""What every lwdock screen shares: the backend, worker error routing, progress, palette entries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState, get_current_worker

from .. import messages as m
from ..widgets.progress_line import ProgressLine
from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from ..backend import DockBackend

# What the user was doing when a job of this group failed (the error modal says "while ...").
JOB_CONTEXT = {
    m.SEARCH: "searching",
    m.SPEC: "making the statistical spec of your data",
    m.DETAILS: "loading the learnware's details",
    m.ACTION: "changing the dock",
    m.FETCH: "fetching the zip from peers",
    m.REUSE: "running the learnwares on your data",
    m.SAVE: "saving the predictions",
    m.SKETCH: "reading your training data",
    m.PUBLISH: "packing, checking and publishing",
    m.NETWORK: "asking the node for its status",
}


class LwdockScreen(Screen):
    """Base screen. Subclasses list `PALETTE` entries: (title, help, action name)."""

    PALETTE: tuple[tuple[str, str, str], ...] = ()

    @property
    def backend(self) -> "DockBackend":
        return self.app.backend  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        if not getattr(self.app, "cursor_blink", True):
            for field in self.query(Input):
                field.cursor_blink = False
        if not self.query(StatusLine):  # every screen: progress and results stay in view, above the footer
            footers = self.query(Footer)
            line = StatusLine(getattr(self.app, "status_hint", ""), id="status-line")
            self.mount(line, before=footers.first()) if footers else self.mount(line)
            for footer in footers:
                footer.compact = True  # the keys fit 80 columns
        self._fit_footer()

    def on_resize(self) -> None:
        self._fit_footer()

    def _fit_footer(self) -> None:
        # at 80 columns the "^p palette" corner would push keys off the footer: ctrl+p still works
        for footer in self.query(Footer):
            footer.show_command_palette = self.size.width >= 100

    @property
    def status_line(self) -> StatusLine | None:
        found = self.query(StatusLine)
        return found.first(StatusLine) if found else None

    def show_status(self, text: str, kind: str = "done") -> None:
        line = self.status_line
        if line is not None:
            line.show(text, kind)

    # -- workers ---------------------------------------------------------------------------
    def progress_reporter(self, job: str) -> Callable[[float, float | None, str], None]:
        """A callable for worker threads: posts (replaceable) Progress messages to this screen."""

        def report(done: float, total: float | None, text: str) -> None:
            self.post_message(m.Progress(job, done, total, text))

        return report

    @staticmethod
    def cancelled() -> bool:
        return get_current_worker().is_cancelled

    def progress_line(self, job: str) -> ProgressLine | None:
        found = self.query(f"#progress-{job}")
        return found.first(ProgressLine) if found else None

    def on_progress(self, message: m.Progress) -> None:
        line = self.progress_line(message.job)
        # a late message from a finished or superseded job must not bring the bar back
        if self.workers_busy(message.job):
            if line is not None:
                line.update(message.done, message.total, message.text)
            share = f" {message.done / message.total:.0%}" if message.total else ""
            self.show_status(f"{message.text}{share}", "busy")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED, WorkerState.ERROR):
            line = self.progress_line(worker.group)
            if line is not None and not self.workers_busy(worker.group, besides=worker):
                line.stop()
            status = self.status_line
            if status is not None and status.kind == "busy" and event.state is not WorkerState.ERROR:
                status.clear()  # the job's own result (a toast, mirrored here) replaces it
        if event.state is WorkerState.ERROR and worker.error is not None:
            self.job_failed(worker.group, worker.error)

    def workers_busy(self, group: str, besides: Worker | None = None) -> bool:
        return any(
            w.node is self and w.group == group and w is not besides and not w.is_finished for w in self.app.workers
        )

    def job_failed(self, group: str, error: BaseException) -> None:
        context = JOB_CONTEXT.get(group, "")
        self.show_status(f"failed while {context}: {error}" if context else f"failed: {error}", "error")
        self.app.show_error(error, context)  # type: ignore[attr-defined]

    # -- palette ---------------------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        commands = []
        for title, help_text, action in self.PALETTE:
            if self.check_action(action, ()) is False:
                continue
            commands.append((title, help_text, lambda a=action: self.run_action(a)))
        return commands


def key_help(bindings) -> list[tuple[str, str]]:
    """(keys, description) of the bindings worth listing in the help screen."""
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((binding.key_display or binding.key.replace(",", " / "), binding.description))
        elif isinstance(binding, tuple) and len(binding) >= 3:
            rows.append((binding[0], binding[2]))
    return rows
