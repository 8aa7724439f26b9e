"""The session runner: one loop over the plan's poses, an explicit state machine, safe on every exit.

``Runner.run`` opens the devices, runs preflight and then, per pose, ``_shoot_pose``: which takes are still
to shoot, the pose announced (and confirmed by the operator where the plan asks), and rounds of a
``Shooter`` (engine/_shooter.py) until every take is verified or the retries are spent. The policy lives
here: pause, resume and abort act at take boundaries (``_Round.before``), the disk reserve is checked
there, and a failed take is shot again at once (consistency: take) or the whole pose is (consistency: pose).

Each verified take's images are checked on a background thread (engine/_take_checks.py). A take whose check
failed under the plan's ``qc.on_fail: reshoot``, or one the operator asks for (``request_reshoot``), is shot
again as a new attempt at the end of its pose, while the subject still holds it (or, if that pose is over, at
the end of the run, the pose announced again); the run reports done only once the queued checks are finished.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from capturerig.config import Consistency, PlanKind, Pose
from capturerig.engine._burst import BurstShooter
from capturerig.engine._disk_reserve import DiskReserve, DiskReserveReached
from capturerig.engine._events import (
    Event,
    EventBus,
    PoseStarted,
    QcAction,
    RunState,
    SessionMessage,
    StateChanged,
    TakeFailed,
    TakeSkipped,
    TakeVerified,
)
from capturerig.engine._held_files import recover_held_files
from capturerig.engine._journal import TakeStatus
from capturerig.engine._preflight import run_preflight
from capturerig.engine._recovery import proven_done, recover_unjournalled_files
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._session import SessionFolder
from capturerig.engine._shooter import Next, Shooter, TakeParts
from capturerig.engine._shot import TakeAttemptFailed
from capturerig.engine._sync_store import session_sync, sync_summary
from capturerig.engine._take_by_take import TakeByTakeShooter
from capturerig.engine._take_checks import DRAIN_TIMEOUT_S, TakeChecks
from capturerig.plan import Take, burst_refusal, estimate_plan, expand_plan
from capturerig.qc import Verdict, regions_document, rig_volume, session_views

__all__ = ["AbortRequested", "PoseConfirmer", "RunResult", "Runner"]

log = logging.getLogger(__name__)
PoseConfirmer = Callable[[Pose], bool]
_PAUSE_POLL_S = 0.2
# on_fail reshoot: at the end of a pose, how long the runner waits for its takes' checks (the subject holds on;
# a check is ~10 ms per image, so this is only ever reached by a machine far behind)
POSE_CHECKS_WAIT_S = 30.0


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
        self._parts: TakeParts | None = None
        self._announced: str | None = None  # the pose the person was last told to hold (None after a pause)
        self._checks: TakeChecks | None = None
        self._redo_lock = threading.Lock()
        self._redo: dict[str, str] = {}  # take id -> why it is to be shot again (a failed check, the operator)
        self._accepting = False  # re-shoot requests still reach this run
        self._check_reshoots: Counter[str] = Counter()

    # -- control from other threads ---------------------------------------------------------------------
    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def request_reshoot(self, take_id: str, reason: str) -> bool:
        """Shoot verified take ``take_id`` again in this run (a new attempt, at the end of its pose, or at the end
        of the run with its pose announced again). False: this run takes no more requests (it is over or
        finishing). Raises ValueError for a take the plan does not have."""
        if take_id not in {t.id for t in self._takes}:
            raise ValueError(f"take '{take_id}' is not in the plan of session {self.folder.info.session_id}")
        with self._redo_lock:
            if not self._accepting:
                return False
            self._redo[take_id] = reason
        return True

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

    def _checkpoint(self) -> bool:
        """Take boundary: honour abort, and wait here while paused (lights safe meanwhile). Returns whether it
        paused: the person has relaxed, and the pose is announced again before the next exposure."""
        if self._abort.is_set():
            raise AbortRequested
        if not self._pause.is_set():
            return False
        if self._parts is not None:
            self._parts.forget_state()  # first: a light change under way must not undo the safe state
        if self._devices is not None:
            self._devices.lights_safe()
        self._announced = None
        self._set_state(RunState.PAUSED)
        while self._pause.is_set() and not self._abort.is_set():
            self._abort.wait(_PAUSE_POLL_S)
        if self._abort.is_set():
            raise AbortRequested
        self._set_state(RunState.RUNNING, "resumed")
        return True

    def _announce(self, pose: Pose) -> None:
        """Tell the person to hold ``pose`` (PoseStarted), once the operator has confirmed it if the plan asks."""
        if pose.operator_confirmed and self.confirm_pose is not None and not self.confirm_pose(pose):
            raise AbortRequested
        self._announced = pose.id
        self._publish(PoseStarted(pose_id=pose.id, description=pose.description))

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
            parts = self._parts = TakeParts.open(devices, plan, folder.path, self._publish, self.bus.publish_many,
                                                 pool, folder.info.session_id)
            if folder.journal.event_count("TakeStarted"):  # a session never started has nothing on any host
                recover_held_files(folder.info.session_id, takes, parts, self._publish,
                                   "since the controller stopped before it acknowledged them",
                                   {f.sha256 for f in folder.journal.files()})
            self._checks = self._open_checks(parts, takes)
            parts.firing.base_settings_applied()  # by preflight, which read them back
            if homed_at is not None:
                parts.table.homed(homed_at)
            self._reserve = DiskReserve(rig, folder.rig.path.parent, folder.path)
            # Everything set up so far (devices, profiles, numpy, the web app...) is moved out of the garbage
            # collector's way: a full collection walks it all and stops every thread for ~0.1 s, a stall the
            # next trigger waits out. Garbage made during the capture is still collected.
            gc.freeze()
            try:
                for _, pose_takes in groupby(takes, key=lambda t: t.pose.id):
                    self._shoot_pose(list(pose_takes), len(takes), parts)
            finally:
                gc.unfreeze()
            # Exposures a capture host delivered after their take stopped waiting (it was shot again): kept, and
            # brought home, so no host keeps a file of this session.
            recover_held_files(folder.info.session_id, takes, parts, self._publish,
                               "exposures that came after their take stopped waiting and was shot again")
            self._finish_checks(takes, parts)
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

    def _open_checks(self, parts: TakeParts, takes: tuple[Take, ...]) -> TakeChecks | None:
        """The per-image checks, fed by the verifier (none for a calibration plan: its board moves by design)."""
        folder, plan = self.folder, self.folder.plan.config
        if not plan.qc.enabled or plan.kind == PlanKind.CALIBRATION:
            return None
        # The subject regions: the rig's capture volume through its nominal geometry (a session records no
        # geometry calibration; `capturerig qc --geometry` re-checks through one).
        regions = regions_document(*session_views(folder.rig.config), volume=rig_volume(folder.rig.config))
        checks = TakeChecks([c.id for c in folder.rig.config.cameras], plan.qc, folder.path, self._publish,
                            self._decide, regions)
        if folder.journal.event_count("TakeVerified"):  # resumed: what was checked is history, not re-checked
            checks.resume(folder.journal, takes)
        parts.verifier.on_verified = checks.submit
        with self._redo_lock:
            self._accepting = True
        return checks

    def _decide(self, take: Take, attempt: int, verdict: Verdict) -> QcAction:
        """A take's check failed (on the checks' thread): what the plan's ``qc.on_fail`` makes of it."""
        plan = self.folder.plan.config
        if plan.qc.on_fail == "report":
            return QcAction.REPORTED
        if plan.qc.on_fail == "ask":
            return QcAction.AWAITING_OPERATOR
        with self._redo_lock:
            if not self._accepting or self._check_reshoots[take.id] >= plan.retries:
                return QcAction.RETRIES_SPENT
            self._check_reshoots[take.id] += 1
            self._redo[take.id] = f"attempt {attempt} failed a check"
        return QcAction.RESHOOT

    def _take_redo(self, pose_takes: Sequence[Take]) -> list[Take]:
        """The takes of this pose to shoot again now (failed checks, operator requests), taken off the list."""
        checks = self._checks
        if checks is not None and self.folder.plan.config.qc.on_fail == "reshoot":
            checks.wait([t.id for t in pose_takes], POSE_CHECKS_WAIT_S)
        with self._redo_lock:
            again = [t for t in pose_takes if t.id in self._redo]
            reasons = {t.id: self._redo.pop(t.id) for t in again}
        for take_id, reason in reasons.items():
            self._publish(SessionMessage(level="info", text=f"take {take_id}: shooting it again ({reason})"))
        return again

    def _finish_checks(self, takes: tuple[Take, ...], parts: TakeParts) -> None:
        """Before the run reports done: every queued check finished (bounded), and the takes still to be shot
        again (their pose is over) shot, pose by pose, each pose announced again."""
        checks = self._checks
        if checks is None:
            return
        while True:
            left = checks.wait(None, DRAIN_TIMEOUT_S)
            checks.raise_failure()
            if left:
                self._publish(SessionMessage(level="warning", text=(
                    f"{len(left)} takes not checked within {DRAIN_TIMEOUT_S:.0f} s (first: {left[0]}); run "
                    f"`capturerig qc {self.folder.path}` to check them")))
            with self._redo_lock:
                again = [t for t in takes if t.id in self._redo]
                if not again:
                    self._accepting = False  # a request from now on marks the take for the next run
                reasons = {t.id: self._redo.pop(t.id) for t in again}
            if not again:
                if checks.unchecked:
                    self._publish(SessionMessage(level="warning", text=(
                        f"{len(checks.unchecked)} takes were not checked ({checks.gone}); run `capturerig qc "
                        f"{self.folder.path}` to check them")))
                return
            for take_id, reason in reasons.items():
                self._publish(SessionMessage(level="info", text=f"take {take_id}: shooting it again ({reason}); "
                                             "its pose is announced again"))
            for pose_id, pose_again in groupby(again, key=lambda t: t.pose.id):
                self._shoot_pose([t for t in takes if t.pose.id == pose_id], len(takes), parts,
                                 again=list(pose_again))

    def _finish(self, devices: RigDevices | None, pool: ThreadPoolExecutor) -> None:
        if self._parts is not None:
            self._parts.close()  # no light change may land after the safe state below
        if devices is not None:  # first: nothing below (the last checks, the journal) may keep the light on
            unsafe = devices.lights_safe()
            if unsafe:
                self._publish(SessionMessage(level="error", text="could not put lights in the safe state: "
                                             + ", ".join(unsafe) + " (switch them off by hand)"))
        if self._checks is not None:  # the last take's checks too: the journal holds a verdict for each
            left = self._checks.close()
            if left:
                log.warning("session %s: %d takes left unchecked", self.folder.info.session_id, len(left))
        with self._redo_lock:
            self._accepting = False
            leftover, self._redo = list(self._redo), {}
        if leftover:  # stopped before shooting them again: the next run of the session (a re-shoot) will
            try:
                self.folder.journal.supersede(leftover)
            except Exception:  # the run is ending on an error already; the takes stay verified
                log.exception("could not mark %s to be shot again", ", ".join(leftover))
        if devices is not None:
            devices.close()
        pool.shutdown(wait=True)

    def _result(self, takes: tuple[Take, ...], error: str | None) -> RunResult:
        return RunResult(self.state, len(takes), len(self._verified), self._shot_now, error)

    def _shoot_pose(self, pose_takes: list[Take], total: int, parts: TakeParts,
                    again: list[Take] | None = None) -> None:
        """Shoot a pose's takes not yet done (or the verified takes ``again``): announce the pose, then rounds of
        its shooter until every take is verified (a failed round shoots the whole pose again under consistency:
        pose); then, while the subject still holds the pose, the takes to shoot again (failed checks, operator)."""
        pending = self._pending(pose_takes, total) if again is None else self._again(pose_takes, again)
        if not pending:
            return
        self._checkpoint()
        shooter = self._shooter(pending, parts)
        retries = self.folder.plan.config.retries
        try:
            shooter.ready(pending)  # before the hold, not in it (a burst: settings, arming, light frames)
            self._announce(pose_takes[0].pose)
            while pending:
                for round_index in range(retries + 1):
                    control = _Round(self, total, retries)
                    shooter.shoot(pending, control)
                    if not control.failures:
                        break
                    will_retry = round_index < retries
                    for failure in control.failures:
                        failed = next(t for t in pending if t.id == failure.take_id)
                        self._publish(TakeFailed(take_id=failed.id, attempt=self._attempt(failed) - 1,
                                                 error=str(failure), will_retry=will_retry))
                    if not will_retry:
                        raise control.failures[0]
                    self._supersede(control.verified)
                    pending = list(pose_takes)
                redo = self._take_redo(pose_takes)  # the subject still holds the pose
                pending = self._again(pose_takes, redo) if redo else []
        finally:
            shooter.close()

    def _again(self, pose_takes: list[Take], again: list[Take]) -> list[Take]:
        """Verified takes to shoot again as new attempts: those alone (consistency: take), or the whole pose
        (consistency: pose: its verified takes superseded, as when a take of it fails)."""
        if self.folder.plan.config.consistency == Consistency.POSE:
            self._supersede(list(pose_takes))
            return list(pose_takes)
        self._verified -= {t.id for t in again}
        return list(again)

    def _pending(self, pose_takes: list[Take], total: int) -> list[Take]:
        """The pose's takes still to shoot; the others are announced skipped. Under consistency: pose a pose
        partly done is shot again whole (a person cannot resume a hold exactly), the old files kept."""
        journal = self.folder.journal
        done = [t for t in pose_takes if proven_done(self.folder.path, journal, t.id)]
        pending = [t for t in pose_takes if t not in done]
        if pending and done and self.folder.plan.config.consistency == Consistency.POSE:
            self._supersede(done)
            self._publish(SessionMessage(level="info", text=f"pose {pose_takes[0].pose.id}: re-shooting all "
                                         f"{len(pose_takes)} takes together (consistency: pose)"))
            return list(pose_takes)
        for take in done:
            self._publish(TakeSkipped(take_id=take.id, ordinal=take.ordinal, total=total))
        return pending

    def _shooter(self, pending: list[Take], parts: TakeParts) -> Shooter:
        """A burst on the trigger box when the pose is held for it and the bodies can buffer it, else take by
        take."""
        has_box = parts.firing.devices.trigger is not None
        if self.folder.plan.config.consistency == Consistency.POSE and burst_refusal(
                pending, {c: parts.firing.body(c) for c in pending[0].cameras}, has_box) is None:
            return BurstShooter(parts, self.folder.rig.path, self._attempt)
        return TakeByTakeShooter(parts)

    def _check_reserve(self, take: Take, storing: Take | None, along: Sequence[Take] = ()) -> None:
        """Before ``take``: stop (DiskReserveReached) if its files (and those of the take still being
        stored, and of the takes shot ``along`` with it) would eat into the storage reserve."""
        if self._reserve is None:
            return
        records = self.folder.journal.takes()
        remaining = [t.id for t in self._takes if t.id == take.id or (
            t != storing and t.id not in self._verified
            and (t.id not in records or records[t.id].status != TakeStatus.VERIFIED))]
        self._reserve.check(take, remaining, storing, along)

    def _attempt(self, take: Take) -> int:
        record = self.folder.journal.takes().get(take.id)
        return 1 if record is None else record.attempts + 1



class _Round:
    """One round of a pose, as its shooter sees the runner (RoundControl): checkpoints and the retry policy.

    consistency: take -- a failed take is shot again at once, up to the plan's retries each; past them the
    session fails. consistency: pose -- a failed take stops the round; the runner then shoots the pose again.
    """

    def __init__(self, runner: Runner, total: int, retries: int) -> None:
        self.runner = runner
        self.total = total
        self.retries = retries
        self.again_at_once = runner.folder.plan.config.consistency == Consistency.TAKE
        self.verified: list[Take] = []
        self.failures: list[TakeAttemptFailed] = []
        self._failed_times: Counter[str] = Counter()

    def before(self, take: Take, storing: Take | None, along: Sequence[Take] = ()) -> None:
        runner = self.runner
        if runner._checks is not None:
            runner._checks.raise_failure()  # a check result the journal could not record stops the run here
        if runner._checkpoint() or runner._announced != take.pose.id:
            runner._announce(take.pose)  # the person relaxed while paused: confirm and hold again
        runner._check_reserve(take, storing, along)

    def attempt(self, take: Take) -> int:
        return self.runner._attempt(take)

    def landed(self, take: Take, failure: TakeAttemptFailed | None) -> Next:
        runner = self.runner
        if failure is None:
            runner._shot_now += 1
            self.verified.append(take)
            return Next.GO_ON
        if not self.again_at_once:
            self.failures.append(failure)
            return Next.STOP
        self._failed_times[take.id] += 1
        will_retry = self._failed_times[take.id] <= self.retries
        runner._publish(TakeFailed(take_id=take.id, attempt=runner._attempt(take) - 1, error=str(failure),
                                   will_retry=will_retry))
        if not will_retry:
            raise failure
        return Next.AGAIN

    def lost(self, take: Take, failure: TakeAttemptFailed) -> None:
        self.runner._publish(TakeFailed(take_id=failure.take_id, attempt=self.runner._attempt(take) - 1,
                                        error=str(failure), will_retry=False))
