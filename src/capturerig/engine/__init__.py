"""The engine: sessions, preflight, the runner, events and the journal."""

from capturerig.engine._control import Session, capturerig_version
from capturerig.engine._events import (
    Event,
    EventBus,
    FileStored,
    PoseStarted,
    PreflightResult,
    RunState,
    SessionMessage,
    StateChanged,
    TakeFailed,
    TakeSkipped,
    TakeStarted,
    TakeVerified,
)
from capturerig.engine._journal import FileRecord, Journal, TakeRecord, TakeStatus
from capturerig.engine._package import IncompleteSession, package_session
from capturerig.engine._preflight import PreflightFailed
from capturerig.engine._runner import RunResult
from capturerig.engine._take import bracket_shutter

__all__ = [
    "Event",
    "EventBus",
    "FileRecord",
    "FileStored",
    "IncompleteSession",
    "Journal",
    "PoseStarted",
    "PreflightFailed",
    "PreflightResult",
    "RunResult",
    "RunState",
    "Session",
    "SessionMessage",
    "StateChanged",
    "TakeFailed",
    "TakeRecord",
    "TakeSkipped",
    "TakeStarted",
    "TakeStatus",
    "TakeVerified",
    "bracket_shutter",
    "capturerig_version",
    "package_session",
]
