"""Typed messages that workers post to their screens ("attributes down, messages up").

Workers run in threads; `post_message` is thread-safe. A newer `Progress` of the same job
replaces an older one still in the queue, so a fast job never floods the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from .network_status import NetworkStatus
from .publish_job import DataSketch
from .reuse_job import ReuseOutcome
from .viewmodels import LearnwareDetails, SearchOutcome, StatSpecChoice

# Worker groups (one exclusive job per group and screen).
SEARCH, SPEC, DETAILS, ACTION, FETCH, REUSE, SAVE, SKETCH, PUBLISH, NETWORK = (
    "search", "spec", "details", "action", "fetch", "reuse", "save", "sketch", "publish", "network",
)


@dataclass
class Progress(Message):
    job: str
    done: float
    total: float | None  # None: indeterminate
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progress) and message.job == self.job


@dataclass
class SearchDone(Message):
    outcome: SearchOutcome


@dataclass
class SpecReady(Message):
    choice: StatSpecChoice


@dataclass
class DetailsLoaded(Message):
    details: LearnwareDetails


@dataclass
class Exported(Message):
    learnware_id: str
    path: Path


@dataclass
class Removed(Message):
    learnware_id: str
    name: str


@dataclass
class Fetched(Message):
    learnware_id: str
    path: Path


@dataclass
class ReuseDone(Message):
    outcome: ReuseOutcome


@dataclass
class PredictionsSaved(Message):
    path: Path


@dataclass
class SketchDone(Message):
    sketch: DataSketch


@dataclass
class Published(Message):
    learnware_id: str
    name: str


@dataclass
class NetworkPolled(Message):
    status: NetworkStatus


@dataclass
class DockChanged(Message):
    """The dock's contents changed (published, removed): searches shown are stale."""

    learnware_id: str
