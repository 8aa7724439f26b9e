"""Typed events and the bus that carries them to the journal, the CLI and the web panel."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Event",
    "EventBus",
    "FileStored",
    "LightsApplied",
    "PhotosensitivityOverrideUsed",
    "PoseStarted",
    "PreflightResult",
    "QcAction",
    "ReshootRequested",
    "RunState",
    "SessionMessage",
    "StateChanged",
    "StationReached",
    "Subscriber",
    "Subscription",
    "TakeChecked",
    "TakeFailed",
    "TakeSkipped",
    "TakeStarted",
    "TakeVerified",
    "TriggerDispatched",
]

log = logging.getLogger(__name__)


class RunState(StrEnum):
    """Where a session's runner is; pause, resume and abort act at take boundaries."""

    IDLE = "idle"
    PREFLIGHT = "preflight"
    RUNNING = "running"
    PAUSED = "paused"
    ABORTING = "aborting"
    ABORTED = "aborted"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class Event:
    at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class StateChanged(Event):
    state: RunState
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PreflightResult(Event):
    device_id: str
    ok: bool
    detail: str
    # A capture host's: the folder on that host where the files it keeps after they are acknowledged stay, each
    # under its spool id (a remote file's FileStored.card_name); post-capture tasks there read them. None for
    # other devices, a host that deletes acknowledged files, or a journal from before it was recorded.
    kept_files_dir: str | None = None


@dataclass(frozen=True, kw_only=True)
class PoseStarted(Event):
    pose_id: str
    description: str


@dataclass(frozen=True, kw_only=True)
class TakeStarted(Event):
    take_id: str
    ordinal: int
    total: int
    attempt: int


@dataclass(frozen=True, kw_only=True)
class StationReached(Event):
    """The turntable confirmed a station: idle at ``angle_deg`` (as it reported) at ``reached_at`` (time.time())."""

    station_id: str
    angle_deg: float
    reached_at: float


@dataclass(frozen=True, kw_only=True)
class TakeSkipped(Event):
    """A take the journal proves done (on resume)."""

    take_id: str
    ordinal: int
    total: int


@dataclass(frozen=True, kw_only=True)
class FileStored(Event):
    """A file is on disk, fsynced and hashed; only now may it leave the camera card."""

    take_id: str
    attempt: int
    camera_id: str
    file_format: str
    path: str  # relative to the session folder
    size: int
    sha256: str
    exposed_at: float
    card_name: str


@dataclass(frozen=True, kw_only=True)
class TakeVerified(Event):
    take_id: str
    ordinal: int
    total: int
    attempt: int
    files: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class TriggerDispatched(Event):
    """A take's cameras were triggered: by the trigger box (``mode="box"``, at ``fired_at``) or by software.

    Software: ``per_camera`` is when each ``trigger_capture`` call began, seconds after the first, and
    ``spread_s`` the last minus the first. Box: each fired camera's output delay (0 without delays).
    ``latency_s`` is each camera's measured latency from its trigger to its exposure: the box's flash-sync
    input when it has one, else the capture time the camera reported (absent for cameras that delivered none).
    """

    take_id: str
    attempt: int
    mode: str  # "box" or "software"
    fired_at: float  # time.time() of the pulse, or of the first software call
    spread_s: float
    per_camera: dict[str, float]
    latency_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TakeFailed(Event):
    take_id: str
    attempt: int
    error: str
    will_retry: bool


class QcAction(StrEnum):
    """What a take's per-image checks led to (``TakeChecked.action``)."""

    NONE = "none"  # nothing failed
    REPORTED = "reported"  # a check failed; the plan's on_fail is report: journalled, nothing else
    RESHOOT = "reshoot"  # a check failed; the take is shot again while the subject is in the rig
    AWAITING_OPERATOR = "awaiting_operator"  # a check failed; the operator decides (Session.reshoot_take)
    RETRIES_SPENT = "retries_spent"  # a check failed after the plan's retries of re-shoots: the operator decides


@dataclass(frozen=True, kw_only=True)
class TakeChecked(Event):
    """A verified take's images checked (capturerig.qc): sharpness, exposure, stale, light, black, moved.

    ``verdict`` is the worst file's (ok / warn / fail). ``files``: per file ``camera``, ``path`` (relative to the
    session folder), ``format``, ``verdict``, ``checks`` (each ``check``, ``verdict``, ``reason``, ``figures``) and
    ``reasons`` (what to do, for the checks that warned or failed, worst first). ``action`` is what the plan's
    ``qc.on_fail`` made of a failure (:class:`QcAction`). ``error``: the checks could not read the take's files
    (verdict ``warn``, no action: the files are stored and hashed, ``capturerig qc`` names the file).
    """

    take_id: str
    attempt: int
    verdict: str
    files: list[dict[str, Any]]
    action: QcAction
    on_fail: str
    seconds: float  # CPU time of the checks (one core)
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReshootRequested(Event):
    """The operator asked for a verified take to be shot again (after a failed check, or by eye)."""

    take_id: str
    reason: str
    queued: bool  # True: shot again in this run; False: marked for the next run (the take was superseded)


@dataclass(frozen=True, kw_only=True)
class LightsApplied(Event):
    """A take's lighting state reached the fixtures: commanded at ``commanded_at``, on the wire at ``wire_at``
    (as seen by the host, at the latest), settled at ``settled_at`` (the plan's settle counts from the
    command, the fixtures' own from the wire).

    All are ``time.time()`` (``commanded_at`` is None in journals from before it was recorded);
    ``governor_wait_s`` is how long the photosensitivity governor held the change back to keep within the
    subject's flash limit.
    """

    take_id: str
    lighting_id: str
    wire_at: float
    settled_at: float
    governor_wait_s: float = 0.0
    commanded_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class PhotosensitivityOverrideUsed(Event):
    """The plan raised the person's flash limit after a photosensitivity screening (logged every run)."""

    screened_by: str
    screened_on: str
    max_flashes_per_s: int
    note: str


@dataclass(frozen=True, kw_only=True)
class SessionMessage(Event):
    level: str
    text: str


Subscriber = Callable[[Event], None]
BatchSubscriber = Callable[[Sequence[Event]], None]


@dataclass(frozen=True)
class Subscription:
    callback: Subscriber
    critical: bool
    batch: BatchSubscriber | None = None  # takes a burst of events at once (the journal: one transaction)


class EventBus:
    """Delivers every event to subscribers in order of subscription.

    A *critical* subscriber (the journal) that raises stops the run: the exception propagates to the
    publisher. Any other subscriber that raises is logged and counted, and never breaks the run.
    """

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._lock = threading.RLock()
        self.observer_failures = 0

    def subscribe(self, callback: Subscriber, *, critical: bool = False,
                  batch: BatchSubscriber | None = None) -> Subscription:
        subscription = Subscription(callback, critical, batch)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def publish(self, event: Event) -> None:
        self.publish_many([event])

    def publish_many(self, events: Sequence[Event]) -> None:
        """Deliver ``events`` in order; a subscriber with a batch callback gets them in one call."""
        if not events:
            return
        with self._lock:
            for subscription in list(self._subscriptions):
                if subscription.critical:
                    self._deliver(subscription, events)
                    continue
                try:
                    self._deliver(subscription, events)
                except Exception:
                    self.observer_failures += 1
                    log.exception("event subscriber %r failed on %s", subscription.callback, events[0].kind)

    @staticmethod
    def _deliver(subscription: Subscription, events: Sequence[Event]) -> None:
        if subscription.batch is not None and len(events) > 1:
            subscription.batch(events)
            return
        for event in events:
            subscription.callback(event)
