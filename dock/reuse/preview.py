"""Preview: the measured quality of the top search results on a sample of the user's labelled rows.

A search ranks learnwares by the similarity of input distributions (dock/search/scores.py): how much
of the user's data's kernel mean embedding a learnware's training data explains. It says nothing
about labels: a digits 6-9 recogniser looks 86% similar to digits 0-5 and gets every row wrong.
When the user's file has labels, the preview runs the top candidates (and the recommended mixture,
through the JobSelectorReuser that reuse uses for mixtures by default) in their worker processes
on a seeded sample of the labelled rows (stratified by class for classification) and reports what
they measured: accuracy for classification, RMSE for regression.

Zips that are only on peers: fetched first when the dock is online and the zip is small
(FETCH_MAX_BYTES: a demo-sized model costs well under a second); otherwise that candidate says
"not local". Every failure (a model that rejects the data, a worker that cannot start) becomes one
line on that candidate; the preview of the others goes on.

Callers: `lwdock search --data FILE --preview N` (dock/cli/cmd_preview.py) and the TUI's search
screen (tui/preview_job.py). Works over any DockAPI (embedded or a daemon's): workers run here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dock.api import DockAPI
    from dock.search.query import SearchResult

log = logging.getLogger(__name__)

PREVIEW_ROWS = 200  # labelled rows the candidates run on: enough for +-7 points of accuracy at worst
PREVIEW_TOP = 5
FETCH_MAX_BYTES = 20 * 2**20
MIXTURE_KEY = "mixture"
MIXTURE_REUSER = "JobSelectorReuser"  # the reuse screen's default for a mixture (dock/reuse/evaluate.py)

# Entry statuses
MEASURED, NOT_LOCAL, FAILED, NO_METRIC = "measured", "not local", "failed", "no metric"


@dataclass(frozen=True)
class Candidate:
    """One row to preview: a learnware, or the recommended mixture (several ids)."""

    key: str  # the learnware id, or MIXTURE_KEY
    ids: tuple[str, ...]
    name: str
    similarity: float | None  # the search's score when it was statistical, else None
    task: str | None  # the semantic Task: "Classification" | "Regression" | ...

    @property
    def is_mixture(self) -> bool:
        return self.key == MIXTURE_KEY


@dataclass(frozen=True)
class PreviewEntry:
    """What one candidate measured (or why it did not)."""

    key: str
    ids: tuple[str, ...]
    name: str
    similarity: float | None
    status: str  # MEASURED | NOT_LOCAL | FAILED | NO_METRIC
    metric: str | None = None  # "accuracy" | "rmse"
    value: float | None = None
    rows: int = 0
    message: str = ""  # one line: why not measured, or how ("on 200 rows")
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)  # regression: mae, r2

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "metric": self.metric, "value": self.value, "rows": self.rows,
                               "message": self.message, "seconds": round(self.seconds, 3)}
        if self.metric:
            out[self.metric] = self.value
        out.update(self.extra)
        return out

    def cell(self) -> str:
        """A short cell text: "acc 98.5%", "RMSE 3.21", "not local", "rejected the data", "failed"."""
        if self.status == MEASURED and self.value is not None:
            return f"acc {self.value:.1%}" if self.metric == "accuracy" else f"RMSE {self.value:.3g}"
        if self.status == FAILED:
            return "rejected the data" if "rejected the data" in self.message else "failed"
        return self.status


@dataclass(frozen=True)
class PreviewSample:
    """The labelled rows the candidates run on: a seeded sample of the file's."""

    X: Any  # a table (n, d), images, or an array of documents
    y: np.ndarray
    of_rows: int  # rows in the user's file
    stratified: bool
    seed: int

    @property
    def rows(self) -> int:
        return len(self.y)

    def describe(self) -> str:
        how = "stratified by class, " if self.stratified else ""
        if self.rows == self.of_rows:
            return f"all {self.rows} labelled rows"
        return f"{self.rows} of {self.of_rows} labelled rows ({how}seed {self.seed})"


def sample_rows(y: np.ndarray, max_rows: int = PREVIEW_ROWS, seed: int = 0, stratify: bool = True) -> np.ndarray:
    """Sorted indices of at most `max_rows` rows: every class gets its share (at least one row) when
    stratifying, so a rare class is never left out; seeded, so a preview is repeatable."""
    n = len(y)
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.choice(n, max_rows, replace=False))
    classes, inverse = np.unique(y, return_inverse=True)
    if len(classes) > max_rows:  # more classes than rows: a plain random sample
        return np.sort(rng.choice(n, max_rows, replace=False))
    counts = np.bincount(inverse)
    share = counts * max_rows / n
    take = np.maximum(1, np.floor(share)).astype(int)
    for c in np.argsort(-(share - np.floor(share))):  # largest remainders first, up to max_rows
        if take.sum() >= max_rows:
            break
        if take[c] < counts[c]:
            take[c] += 1
    while take.sum() > max_rows:  # the "at least one" floors overshot: trim the largest classes
        take[np.argmax(take)] -= 1
    picks = [rng.choice(np.flatnonzero(inverse == c), take[c], replace=False) for c in range(len(classes))]
    return np.sort(np.concatenate(picks))


def make_sample(X, y, task: str | None, max_rows: int = PREVIEW_ROWS, seed: int = 0) -> PreviewSample:
    y = np.asarray(y)
    stratify = (task or "").lower() == "classification" and bool(np.all(np.mod(y, 1) == 0))
    idx = sample_rows(y, max_rows, seed, stratify)
    Xs = np.asarray(X)[idx] if not isinstance(X, np.ndarray) else X[idx]
    return PreviewSample(Xs, y[idx], len(y), stratify and len(idx) < len(y), seed)


def candidates_of(result: SearchResult, top: int = PREVIEW_TOP) -> list[Candidate]:
    """The top `top` single learnwares of a search, then its recommended mixture (if any)."""
    from specs.semantic import SemanticView

    out = []
    for match in result.single[:top]:
        view = SemanticView.from_spec(match.semantic_spec)
        similarity = match.score if match.mmd2 is not None else None
        out.append(Candidate(match.id, (match.id,), view.name, similarity, view.task_type))
    mix = result.multiple
    if mix is not None and len(mix.ids) > 1:
        views = [SemanticView.from_spec(s) for s in mix.semantic_specs]
        tasks = {v.task_type for v in views}
        name = "mixture of " + " + ".join(v.name for v in views)
        out.append(Candidate(MIXTURE_KEY, tuple(mix.ids), name, mix.score, tasks.pop() if len(tasks) == 1 else None))
    return out


def _metric_of(task: str | None) -> str | None:
    return {"classification": "accuracy", "regression": "rmse"}.get((task or "").lower())


def one_line(exc: BaseException) -> str:
    """A user's line for a failure: the model's own error summarised, a dock error's first line."""
    from dock.errors import DockError, RunnerError
    from dock.runtime.worker import summarise_model_failure

    if isinstance(exc, RunnerError):
        return summarise_model_failure(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, DockError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _Workers:
    """Learnwares loaded once for the whole preview (a mixture reuses its members' workers)."""

    def __init__(self, dock: DockAPI, fetch: bool):
        self.dock = dock
        self.fetch = fetch
        self.loaded: dict[str, Any] = {}
        self.refused: dict[str, tuple[str, str]] = {}  # id -> (status, message)

    def get(self, learnware_id: str):
        if learnware_id in self.refused:
            return None
        if learnware_id not in self.loaded:
            why = self._not_local(learnware_id)
            if why:
                self.refused[learnware_id] = (NOT_LOCAL, why)
                return None
            try:
                self.loaded[learnware_id] = self.dock.load(learnware_id)
            except Exception as exc:  # noqa: BLE001 - one candidate's failure; the preview goes on
                log.info("preview: learnware %s did not start", learnware_id[:12], exc_info=True)
                self.refused[learnware_id] = (FAILED, one_line(exc))
                return None
        return self.loaded[learnware_id]

    def _not_local(self, learnware_id: str) -> str:
        if self.dock.has_zip(learnware_id):
            return ""
        if not self.fetch or not self.dock.online:
            return "not local: its zip is on peers (fetch it to preview)"
        size = self.dock.get(learnware_id).size
        if size > FETCH_MAX_BYTES:
            return f"not local: its zip ({size / 2**20:.0f} MB) is on peers; fetch it to preview"
        return ""  # online and small: dock.load fetches it

    def close(self, learnware_id: str | None = None) -> None:
        ids = [learnware_id] if learnware_id else list(self.loaded)
        for i in ids:
            loaded = self.loaded.pop(i, None)
            if loaded is not None:
                loaded.close()


def run_preview(dock: DockAPI, candidates: Sequence[Candidate], sample: PreviewSample, *,
                on_entry: Callable[[PreviewEntry], None] | None = None,
                progress: Callable[[float, float, str], None] | None = None,
                is_cancelled: Callable[[], bool] = lambda: False, fetch: bool = True) -> list[PreviewEntry]:
    """Run each candidate on the sample; `on_entry(entry)` as each one is measured. Returns the
    entries made before `is_cancelled()` turned true (all of them when it never does)."""
    from dock.reuse.evaluate import _as_predictions, _metrics

    report = progress or (lambda done, total, text: None)
    workers = _Workers(dock, fetch)
    members = {i for c in candidates if c.is_mixture for i in c.ids}
    entries: list[PreviewEntry] = []
    try:
        for n, cand in enumerate(candidates):
            if is_cancelled():
                break
            report(n, len(candidates), f"running {cand.name} on {sample.rows} labelled rows")
            start = time.perf_counter()
            try:
                entry = _run_one(cand, sample, workers, _as_predictions, _metrics, is_cancelled)
            except Exception as exc:  # noqa: BLE001 - e.g. a peer's result not in this catalogue: one line
                log.info("preview: %s could not run", cand.name, exc_info=True)
                entry = _entry(cand, FAILED, message=one_line(exc))
            if entry is None:  # cancelled on the way
                break
            entry = _with(entry, seconds=time.perf_counter() - start)
            entries.append(entry)
            if on_entry is not None:
                on_entry(entry)
            if not cand.is_mixture and cand.key not in members:
                workers.close(cand.key)  # a worker holds a model in memory: free it when done
        else:
            report(len(candidates), len(candidates), "done")
    finally:
        workers.close()
    return entries


def _entry(cand: Candidate, status: str, **fields: Any) -> PreviewEntry:
    return PreviewEntry(cand.key, cand.ids, cand.name, cand.similarity, status, **fields)


def _with(entry: PreviewEntry, **changes) -> PreviewEntry:
    import dataclasses

    return dataclasses.replace(entry, **changes)


def _run_one(cand: Candidate, sample: PreviewSample, workers: _Workers, as_predictions, metrics,
             is_cancelled) -> PreviewEntry | None:
    metric = _metric_of(cand.task)
    if metric is None:
        return _entry(cand, NO_METRIC, message=f"no measure for task {cand.task or 'unknown'}")
    wanted = {d for i in cand.ids if (d := workers.dock.get(i).input_dim) is not None}
    if isinstance(sample.X, np.ndarray) and sample.X.ndim == 2 and wanted and sample.X.shape[1] not in wanted:
        takes = ", ".join(map(str, sorted(wanted)))
        takes = f"{'these take' if cand.is_mixture else 'it takes'} {takes}"
        return _entry(cand, FAILED, message=f"your data has {sample.X.shape[1]} feature columns, {takes}")
    loaded = []
    for i in cand.ids:
        if is_cancelled():
            return None
        lw = workers.get(i)
        if lw is None:
            status, why = workers.refused[i]
            if cand.is_mixture:
                why = f"member {workers.dock.get(i).name}: {why}"
            return _entry(cand, status, message=why)
        loaded.append(lw)
    if is_cancelled():
        return None
    try:
        if cand.is_mixture:
            from dock.reuse import reuser_class

            raw = reuser_class(MIXTURE_REUSER)(loaded).predict(sample.X)
        else:
            raw = loaded[0].predict(sample.X)
        pred = as_predictions(raw, cand.task or "")
        if len(pred) != sample.rows:
            raise ValueError(f"the model returned {len(pred)} predictions for {sample.rows} rows")
        measured = metrics(pred, sample.y, cand.task or "")
    except Exception as exc:  # noqa: BLE001 - the model's (or reuser's) failure is this row's result
        log.info("preview: %s failed on the sample", cand.name, exc_info=True)
        return _entry(cand, FAILED, rows=sample.rows, message=one_line(exc))
    value = measured.pop(metric)
    return _entry(cand, MEASURED, metric=metric, value=value, rows=sample.rows,
                        message=f"on {sample.describe()}", extra=measured)


def preview_result(dock: DockAPI, result: SearchResult, X, y, *, top: int = PREVIEW_TOP, rows: int = PREVIEW_ROWS,
                   seed: int = 0, **kwargs) -> tuple[PreviewSample, list[PreviewEntry]]:
    """Preview a search's top `top` learnwares and its mixture on a sample of (X, y); kwargs go to
    run_preview (on_entry, progress, is_cancelled, fetch)."""
    cands = candidates_of(result, top)
    task = next((c.task for c in cands if c.task), None)
    sample = make_sample(X, y, task, rows, seed)
    return sample, run_preview(dock, cands, sample, **kwargs)
