"""The session runner: an explicit state machine over the plan's takes, safe on every exit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from capturerig.config import Consistency, Pose
from capturerig.engine._disk_reserve import DiskReserve, DiskReserveReached
from capturerig.engine._events import (
    Event,
    EventBus,
    PoseStarted,
    RunState,
    SessionMessage,
    StateChanged,
    TakeFailed,
    TakeSkipped,
    TakeVerified,
)
from capturerig.engine._journal import TakeStatus
from capturerig.engine._preflight import run_preflight
from capturerig.engine._recovery import proven_done, recover_unjournalled_files
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._session import SessionFolder
from capturerig.engine._sync_store import session_sync, sync_summary
from capturerig.engine._take import TakeAttemptFailed, TakeExecutor
from capturerig.plan import Take, estimate_plan, expand_plan

__all__ = ["AbortRequested", "PoseConfirmer", "RunResult", "Runner"]

log = logging.getLogger(__name__)
PoseConfirmer = Callable[[Pose], bool]
_PAUSE_POLL_S = 0.2


class AbortRequested(Exception):
    """Raised inside the run loop at a take boundary after ``abort()``."""


@dataclass(frozen=True)
class RunResult:
    state: RunState
    takes_total: int
    takes_verified: int
    takes_shot_now: int
    error: str | None


class Runner:
    """Runs (or resumes) one session folder; pause, resume and abort act at take boundaries."""

    def __init__(self, folder: SessionFolder, bus: EventBus, confirm_pose: PoseConfirmer | None = None) -> None:
        self.folder = folder
        self.bus = bus
        self.confirm_pose = confirm_pose
        self.state = RunState.IDLE
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._devices: RigDevices | None = None  # while running: abort() puts their lights safe at once
        self._shot_now = 0
        self._verified: set[str] = set()  # what this runner knows is done, even if the journal breaks
        self._reserve: DiskReserve | None = None
        self._takes: tuple[Take, ...] = ()

    # -- control from other threads ---------------------------------------------------------------------
    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def abort(self) -> None:
        self._abort.set()
        devices = self._devices
        if devices is not None:  # lights safe now (within 100 ms), not at the take boundary; never blocks
            threading.Thread(target=devices.latch_safe, name="capturerig-abort-lights", daemon=True).start()

    # -- internals -------------------------------------------------------------------------------------------
    def _publish(self, event: Event) -> None:
        self.bus.publish(event)
        if isinstance(event, (TakeVerified, TakeSkipped)):
            self._verified.add(event.take_id)

    def _supersede(self, takes: list[Take]) -> None:
        self.folder.journal.supersede([t.id for t in takes])
        self._verified -= {t.id for t in takes}

    def _set_state(self, state: RunState, reason: str = "") -> None:
        self.state = state
        self._publish(StateChanged(state=state, reason=reason))

    def _checkpoint(self, devices: RigDevices, executor: TakeExecutor) -> None:
        """Take boundary: honour abort, and wait here while paused (lights safe meanwhile)."""
        if self._abort.is_set():
            raise AbortRequested
        if not self._pause.is_set():
            return
        devices.lights_safe()
        executor.forget_state()
        self._set_state(RunState.PAUSED)
        while self._pause.is_set() and not self._abort.is_set():
            self._abort.wait(_PAUSE_POLL_S)
        if self._abort.is_set():
            raise AbortRequested
        self._set_state(RunState.RUNNING, "resumed")

    def run(self) -> RunResult:
        folder = self.folder
        rig, plan = folder.rig.config, folder.plan.config
        takes = self._takes = expand_plan(rig, plan)
        error: str | None = None
        devices: RigDevices | None = None
        pool = ThreadPoolExecutor(max_workers=max(4, len(rig.cameras)), thread_name_prefix="capturerig-dev")
        try:
            self._set_state(RunState.PREFLIGHT)
            devices = self._devices = RigDevices(rig, folder.rig.path.parent)
            estimate = estimate_plan(rig, plan, folder.rig.path.parent)
            run_preflight(devices, plan, estimate, folder.path, self._publish, pool, Path(folder.info.rig_source))
            self._set_state(RunState.RUNNING)
            for path in recover_unjournalled_files(folder.path, folder.journal):
                self._publish(SessionMessage(level="warning",
                                             text=f"{path}: on disk but not in the journal; hashed and kept"))
            devices.lights_safe()
            executor = TakeExecutor(devices, plan, folder.path, self._publish, pool)
            self._reserve = DiskReserve(rig, folder.rig.path.parent, folder.path)
            for _, pose_takes in groupby(takes, key=lambda t: t.pose.id):
                self._shoot_pose(list(pose_takes), len(takes), devices, executor)
            self._record_sync()
            self._set_state(RunState.DONE)
        except AbortRequested:
            self._set_state(RunState.ABORTING)
            error = "aborted by the operator"
        except DiskReserveReached as exc:  # a clean stop at a take boundary, not a crash: no traceback
            error = str(exc)
            self.folder.journal.set_meta("disk_reserve", {
                "free_bytes": exc.free_bytes, "reserve_bytes": exc.reserve_bytes, "take_bytes": exc.take_bytes,
                "remaining": list(exc.remaining)})
            self._publish(SessionMessage(level="error", text=error))
            self._finish(devices, pool)
            self._set_state(RunState.FAILED, error)
            return self._result(takes, error)
        except BaseException as exc:
            error = str(exc) or type(exc).__name__
            log.exception("session %s failed", folder.info.session_id)
            self._finish(devices, pool)
            try:
                self._set_state(RunState.FAILED, error)
            except Exception:
                log.exception("could not record the failed state")
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends still end the process, after the lights are safe
            return self._result(takes, error)
        self._finish(devices, pool)
        if self.state == RunState.ABORTING:
            self._set_state(RunState.ABORTED, error or "")
        return self._result(takes, error)

    def _record_sync(self) -> None:
        """Store the exposure spread the session's takes really had (journal meta ``sync``)."""
        report = session_sync(self.folder.journal)
        if report is None:
            return
        self.folder.journal.set_meta("sync", sync_summary(report, "session"))
        self._publish(SessionMessage(level="info", text=f"sync over {report.fires} takes: exposure spread p50 "
                                     f"{report.spread_p50_s * 1e3:.2f} ms, p99 {report.spread_p99_s * 1e3:.2f} ms"))

    def _finish(self, devices: RigDevices | None, pool: ThreadPoolExecutor) -> None:
        if devices is not None:
            unsafe = devices.lights_safe()
            if unsafe:
                self._publish(SessionMessage(level="error", text="could not put lights in the safe state: "
                                             + ", ".join(unsafe) + " (switch them off by hand)"))
            devices.close()
        pool.shutdown(wait=True)

    def _result(self, takes: tuple[Take, ...], error: str | None) -> RunResult:
        return RunResult(self.state, len(takes), len(self._verified), self._shot_now, error)

    def _shoot_pose(self, pose_takes: list[Take], total: int, devices: RigDevices,
                    executor: TakeExecutor) -> None:
        journal = self.folder.journal
        done = [t for t in pose_takes if proven_done(self.folder.path, journal, t.id)]
        pending = [t for t in pose_takes if t not in done]
        consistency = self.folder.plan.config.consistency
        if pending and done and consistency == Consistency.POSE:
            # A person cannot resume a hold exactly: the whole pose is shot again, old files kept.
            self._supersede(done)
            self._publish(SessionMessage(level="info", text=f"pose {pose_takes[0].pose.id}: re-shooting all "
                                         f"{len(pose_takes)} takes together (consistency: pose)"))
            pending, done = list(pose_takes), []
        for take in done:
            self._publish(TakeSkipped(take_id=take.id, ordinal=take.ordinal, total=total))
        if not pending:
            return
        pose = pose_takes[0].pose
        self._checkpoint(devices, executor)
        if pose.operator_confirmed and self.confirm_pose is not None and not self.confirm_pose(pose):
            raise AbortRequested
        self._publish(PoseStarted(pose_id=pose.id, description=pose.description))
        retries = self.folder.plan.config.retries
        if consistency == Consistency.POSE:
            self._shoot_pose_together(pending, pose_takes, total, retries, devices, executor)
        else:
            for take in pending:
                self._shoot_take_with_retries(take, total, retries, devices, executor)

    def _check_reserve(self, take: Take) -> None:
        """Before ``take``: stop (DiskReserveReached) if its files would eat into the storage reserve."""
        if self._reserve is None:
            return
        records = self.folder.journal.takes()
        remaining = [t.id for t in self._takes if t.id == take.id or (
            t.id not in self._verified and (t.id not in records or records[t.id].status != TakeStatus.VERIFIED))]
        self._reserve.check(take, remaining)

    def _attempt(self, take: Take) -> int:
        record = self.folder.journal.takes().get(take.id)
        return 1 if record is None else record.attempts + 1

    def _shoot_take_with_retries(self, take: Take, total: int, retries: int, devices: RigDevices,
                                 executor: TakeExecutor) -> None:
        for round_index in range(retries + 1):
            self._checkpoint(devices, executor)
            attempt = self._attempt(take)
            self._check_reserve(take)
            try:
                executor.run(take, attempt, total)
                self._shot_now += 1
                return
            except TakeAttemptFailed as exc:
                will_retry = round_index < retries
                self._publish(TakeFailed(take_id=take.id, attempt=attempt, error=str(exc), will_retry=will_retry))
                if not will_retry:
                    raise

    def _shoot_pose_together(self, pending: list[Take], pose_takes: list[Take], total: int, retries: int,
                             devices: RigDevices, executor: TakeExecutor) -> None:
        for round_index in range(retries + 1):
            shot: list[Take] = []
            try:
                for take in pending:
                    self._checkpoint(devices, executor)
                    self._check_reserve(take)
                    executor.run(take, self._attempt(take), total)
                    self._shot_now += 1
                    shot.append(take)
                return
            except TakeAttemptFailed as exc:
                will_retry = round_index < retries
                failed = next(t for t in pending if t.id == exc.take_id)
                self._publish(TakeFailed(take_id=failed.id, attempt=self._attempt(failed) - 1, error=str(exc),
                                         will_retry=will_retry))
                if not will_retry:
                    raise
                self._supersede(shot)
                pending = list(pose_takes)


