"""The engine: sessions, preflight, the runner, events and the journal."""

from capturerig.engine._board_coach import BoardCoach, BoardTally, missing_regions, region_shares
from capturerig.engine._calibration_frames import calibration_frames
from capturerig.engine._control import Session, capturerig_version
from capturerig.engine._disk_reserve import DiskReserve, DiskReserveReached
from capturerig.engine._events import (
    Event,
    EventBus,
    FileStored,
    LightsApplied,
    PhotosensitivityOverrideUsed,
    PoseStarted,
    PreflightResult,
    RunState,
    SessionMessage,
    StateChanged,
    StationReached,
    TakeFailed,
    TakeSkipped,
    TakeStarted,
    TakeVerified,
    TriggerDispatched,
)
from capturerig.engine._firing import bracket_shutter
from capturerig.engine._journal import (
    JOURNAL_SCHEMA_VERSION,
    FileRecord,
    Journal,
    JournalError,
    TakeRecord,
    TakeStatus,
)
from capturerig.engine._package import IncompleteSession, package_session
from capturerig.engine._preflight import PreflightFailed, run_preflight
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._runner import RunResult
from capturerig.engine._sync_store import (
    NOT_MEASURED,
    SYNC_CHECK,
    describe_rig_sync,
    preflight_verdict,
    rig_sync_path,
    save_rig_sync,
    session_sync,
)
from capturerig.engine._trigger import (
    DispatchResult,
    SyncReport,
    dispatch_prepared,
    dispatch_together,
    percentile,
    software_trigger,
    sync_statistics,
)

__all__ = [
    "JOURNAL_SCHEMA_VERSION",
    "NOT_MEASURED",
    "SYNC_CHECK",
    "BoardCoach",
    "BoardTally",
    "DiskReserve",
    "DiskReserveReached",
    "DispatchResult",
    "Event",
    "EventBus",
    "FileRecord",
    "FileStored",
    "IncompleteSession",
    "Journal",
    "JournalError",
    "LightsApplied",
    "PhotosensitivityOverrideUsed",
    "PoseStarted",
    "PreflightFailed",
    "PreflightResult",
    "RigDevices",
    "RunResult",
    "RunState",
    "Session",
    "SessionMessage",
    "StateChanged",
    "StationReached",
    "SyncReport",
    "TakeFailed",
    "TakeRecord",
    "TakeSkipped",
    "TakeStarted",
    "TakeStatus",
    "TakeVerified",
    "TriggerDispatched",
    "bracket_shutter",
    "calibration_frames",
    "capturerig_version",
    "describe_rig_sync",
    "dispatch_prepared",
    "dispatch_together",
    "missing_regions",
    "package_session",
    "percentile",
    "preflight_verdict",
    "region_shares",
    "rig_sync_path",
    "run_preflight",
    "save_rig_sync",
    "session_sync",
    "software_trigger",
    "sync_statistics",
]
