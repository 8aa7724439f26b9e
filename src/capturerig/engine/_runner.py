"""The session runner: an explicit state machine over the plan's takes, safe on every exit."""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from capturerig.config import Consistency, Pose
from capturerig.engine._burst import BurstShooter
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
from capturerig.plan import Take, burst_refusal, estimate_plan, expand_plan

__all__ = ["AbortRequested", "PoseConfirmer", "RunResult", "Runner"]

log = logging.getLogger(__name__)
PoseConfirmer = Callable[[Pose], bool]
_Flight = tuple[Take, "Future[dict[str, list[str]]]"]  # a shot take whose files are being stored and verified
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
        self._executor: TakeExecutor | None = None

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
        executor.forget_state()  # first: a light change under way must not undo the safe state
        devices.lights_safe()
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
            homed_at = run_preflight(devices, plan, estimate, folder.path, self._publish, pool,
                                     Path(folder.info.rig_source))
            self._set_state(RunState.RUNNING)
            for path in recover_unjournalled_files(folder.path, folder.journal):
                self._publish(SessionMessage(level="warning",
                                             text=f"{path}: on disk but not in the journal; hashed and kept"))
            devices.lights_safe()
            executor = self._executor = TakeExecutor(devices, plan, folder.path, self._publish, pool,
                                                     self.bus.publish_many)
            executor.base_settings_applied()  # by preflight, which read them back
            if homed_at is not None:
                executor.table_homed(homed_at)
            self._reserve = DiskReserve(rig, folder.rig.path.parent, folder.path)
            # Everything set up so far (devices, profiles, numpy, the web app...) is moved out of the garbage
            # collector's way: a full collection walks it all and stops every thread for ~0.1 s, a stall the
            # next trigger waits out. Garbage made during the capture is still collected.
            gc.freeze()
            try:
                for _, pose_takes in groupby(takes, key=lambda t: t.pose.id):
                    self._shoot_pose(list(pose_takes), len(takes), devices, executor)
            finally:
                gc.unfreeze()
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
        if self._executor is not None:
            self._executor.close()  # no light change may land after the safe state below
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
        burst = None
        if consistency == Consistency.POSE and burst_refusal(
                pending, {c: executor.body(c) for c in pending[0].cameras}, devices.trigger is not None) is None:
            burst = BurstShooter(executor, self.folder.rig.path)
            try:
                burst.ready(pending)  # camera settings and light frames before the hold, not in it
            except TakeAttemptFailed as exc:  # the first round tries again, and counts it
                log.warning("getting the burst ready: %s", exc)
        if pose.operator_confirmed and self.confirm_pose is not None and not self.confirm_pose(pose):
            raise AbortRequested
        self._publish(PoseStarted(pose_id=pose.id, description=pose.description))
        retries = self.folder.plan.config.retries
        if consistency == Consistency.POSE:
            try:
                self._shoot_pose_together(pending, pose_takes, total, retries, devices, executor, burst)
            finally:
                if burst is not None:
                    burst.close()
        else:
            self._shoot_takes(pending, total, retries, devices, executor)

    def _pose_take_by_take(self, pending: list[Take], total: int, devices: RigDevices,
                           executor: TakeExecutor) -> tuple[list[Take], list[TakeAttemptFailed]]:
        """One round of a pose, take after take (each stored while the next is shot); stops at a failure."""
        verified: list[Take] = []
        failures: list[TakeAttemptFailed] = []
        in_flight: _Flight | None = None
        try:
            for index, take in enumerate(pending):
                self._checkpoint(devices, executor)
                self._check_reserve(take, in_flight)
                following = pending[index + 1] if index + 1 < len(pending) else None
                try:
                    shot = executor.shoot(take, self._attempt(take), total, following)
                except TakeAttemptFailed as exc:
                    failures.append(exc)
                    break
                landing, in_flight = in_flight, (take, executor.settle_later(shot))
                failure = self._collect(landing, verified)
                if failure is not None:
                    failures.append(failure)
                    break
                if shot.doomed:  # a device failed: no further take of this round is worth shooting
                    break
            landing, in_flight = in_flight, None
            failure = self._collect(landing, verified)
        except BaseException:
            self._collect_before_leaving(in_flight)
            raise
        return verified, failures + ([failure] if failure is not None else [])

    def _pose_in_one_burst(self, pending: list[Take], total: int, devices: RigDevices,
                           burst: BurstShooter) -> tuple[list[Take], list[TakeAttemptFailed]]:
        """One round of a pose as a burst: every state shot in the hold, then every take stored and verified."""
        executor = burst.executor
        self._checkpoint(devices, executor)
        self._check_reserve(pending[0], None, along=pending[1:])
        verified: list[Take] = []
        failures: list[TakeAttemptFailed] = []
        try:
            shots = burst.shoot(pending, {t.id: self._attempt(t) for t in pending}, total)
        except TakeAttemptFailed as exc:
            return verified, [exc]
        flights = deque((shot.take, executor.settle_later(shot)) for shot in shots)  # every file is kept
        try:
            while flights:
                failure = self._collect(flights[0], verified)
                flights.popleft()
                if failure is not None:
                    failures.append(failure)
        except BaseException:
            for flight in list(flights)[1:]:  # the first one raised: its settle is over
                self._collect_before_leaving(flight)
            raise
        return verified, failures

    def _check_reserve(self, take: Take, in_flight: _Flight | None, along: Sequence[Take] = ()) -> None:
        """Before ``take``: stop (DiskReserveReached) if its files (and those of the take still being
        stored, and of the takes shot ``along`` with it) would eat into the storage reserve."""
        if self._reserve is None:
            return
        records = self.folder.journal.takes()
        storing = None if in_flight is None else in_flight[0]
        remaining = [t.id for t in self._takes if t.id == take.id or (
            t != storing and t.id not in self._verified
            and (t.id not in records or records[t.id].status != TakeStatus.VERIFIED))]
        self._reserve.check(take, remaining, storing, along)

    def _attempt(self, take: Take) -> int:
        record = self.folder.journal.takes().get(take.id)
        return 1 if record is None else record.attempts + 1

    # -- shooting: a take's files are stored and verified (settle) while the next take is shot -------------
    def _collect(self, flight: _Flight | None, verified: list[Take]) -> TakeAttemptFailed | None:
        """Wait for a take's settle; its failure is returned (other exceptions raise)."""
        if flight is None:
            return None
        take, future = flight
        try:
            deletable = future.result()
        except TakeAttemptFailed as exc:
            return exc
        if self._executor is not None:  # between two takes: no camera is busy with the next one
            self._executor.clear_cards(deletable)
        self._shot_now += 1
        verified.append(take)
        return None

    def _collect_before_leaving(self, flight: _Flight | None) -> None:
        """On the way out (abort, stop, crash): the take under way still gets stored and journalled."""
        if flight is None:
            return
        failure = self._collect(flight, [])
        if failure is not None:
            self._publish(TakeFailed(take_id=failure.take_id, attempt=self._attempt(flight[0]) - 1,
                                     error=str(failure), will_retry=False))

    def _shoot_takes(self, pending: list[Take], total: int, retries: int, devices: RigDevices,
                     executor: TakeExecutor) -> None:
        """consistency: take. A failed take is shot again as soon as its failure is known."""
        queue = deque(pending)
        failures: Counter[str] = Counter()
        in_flight: _Flight | None = None

        def failed(take: Take, exc: TakeAttemptFailed) -> None:
            failures[take.id] += 1
            will_retry = failures[take.id] <= retries
            self._publish(TakeFailed(take_id=take.id, attempt=self._attempt(take) - 1, error=str(exc),
                                     will_retry=will_retry))
            if not will_retry:
                raise exc
            queue.appendleft(take)

        def land(flight: _Flight | None) -> None:
            failure = self._collect(flight, [])
            if flight is not None and failure is not None:
                failed(flight[0], failure)

        try:
            while queue or in_flight is not None:
                if not queue:
                    landing, in_flight = in_flight, None
                    land(landing)
                    continue
                take = queue.popleft()
                self._checkpoint(devices, executor)
                self._check_reserve(take, in_flight)
                try:
                    shot = executor.shoot(take, self._attempt(take), total, queue[0] if queue else None)
                except TakeAttemptFailed as exc:
                    landing, in_flight = in_flight, None
                    land(landing)
                    failed(take, exc)
                    continue
                landing, in_flight = in_flight, (take, executor.settle_later(shot))
                if shot.doomed:  # a device failed: store what came, then shoot it again at once
                    land(landing)
                    landing, in_flight = in_flight, None
                land(landing)
        except BaseException:
            self._collect_before_leaving(in_flight)
            raise

    def _shoot_pose_together(self, pending: list[Take], pose_takes: list[Take], total: int, retries: int,
                             devices: RigDevices, executor: TakeExecutor, burst: BurstShooter | None) -> None:
        """consistency: pose. Any failed take re-shoots the whole pose (the verified ones superseded).

        With a ``burst`` (a trigger box and bodies that buffer) the pose is one burst: downloads after the hold."""
        for round_index in range(retries + 1):
            if burst is not None:
                verified, failures = self._pose_in_one_burst(pending, total, devices, burst)
            else:
                verified, failures = self._pose_take_by_take(pending, total, devices, executor)
            if not failures:
                return
            will_retry = round_index < retries
            for problem in failures:
                failed = next(t for t in pending if t.id == problem.take_id)
                self._publish(TakeFailed(take_id=failed.id, attempt=self._attempt(failed) - 1, error=str(problem),
                                         will_retry=will_retry))
            if not will_retry:
                raise failures[0]
            self._supersede(verified)
            pending = list(pose_takes)
