"""One take: lights, table, bracket, arm, trigger, download, store, verify, clear the cards."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from capturerig.config import CameraBodyProfile, CameraConfig, PlanConfig, load_body_profile
from capturerig.devices import CameraFile, DeviceError, SyncReadBack, TriggerDelays, Turntable
from capturerig.engine._events import (
    Event,
    FileStored,
    LightsApplied,
    PhotosensitivityOverrideUsed,
    SessionMessage,
    StationReached,
    TakeStarted,
    TakeVerified,
    TriggerDispatched,
)
from capturerig.engine._rigdevices import LightChange, PreparedLight, RigDevices
from capturerig.engine._storage import StorageError, store_bytes
from capturerig.engine._trigger import software_trigger
from capturerig.files import fsync_dir
from capturerig.lighting import FlashGovernor, PhotosensitivityRefused, flash_limit
from capturerig.plan import Take, shutter_seconds

__all__ = ["Shot", "TakeAttemptFailed", "TakeExecutor", "bracket_shutter"]

log = logging.getLogger(__name__)
IMAGES_DIR = "images"
ARM_TIMEOUT_S = 10.0
TRIGGER_TIMEOUT_S = 5.0
SYNC_TIMEOUT_S = 1.0
TABLE_TIMEOUT_S = 120.0
DELETE_TIMEOUT_S = 10.0


def _sleep_until(deadline: float) -> None:
    """Sleep until ``deadline`` (time.monotonic()); at once if it has passed."""
    time.sleep(max(0.0, deadline - time.monotonic()))


class TakeAttemptFailed(RuntimeError):
    """An attempt at a take did not yield every expected file; ``errors`` maps device id -> reason."""

    def __init__(self, take_id: str, errors: dict[str, str]) -> None:
        self.take_id = take_id
        self.errors = errors
        detail = "; ".join(f"{device}: {reason}" for device, reason in sorted(errors.items()))
        super().__init__(f"take {take_id}: {detail}")


def bracket_shutter(base: str, ev: float) -> str:
    """The shutter speed ``ev`` stops from ``base`` (more exposure for positive ev), as a camera string."""
    seconds = Fraction(shutter_seconds(base)).limit_denominator(100000) * Fraction(2.0**ev).limit_denominator(1000)
    if seconds >= 1:
        return f"{float(seconds):g}"
    return f"1/{round(1 / seconds)}"


@dataclass(frozen=True)
class _Fired:
    mode: str  # "box" or "software"
    fired_at: float  # time.time() of the pulse or of the first software call
    per_camera: dict[str, float]  # output delay (box) or call start after the first (software), seconds
    errors: dict[str, str]  # cameras the software trigger could not fire


_Stored = tuple[list[FileStored], str | None]  # the files stored (to journal) and an error, if one failed


@dataclass(frozen=True)
class _CameraResult:
    camera_id: str
    files: list[CameraFile]  # as downloaded, in memory
    error: str | None  # what went wrong arming, firing or downloading
    storing: Future[_Stored] | None = None  # the files' storing, started as they arrived (else by settle)


@dataclass(frozen=True)
class Shot:
    """A take whose cameras have all delivered (or failed): its files are in memory, not yet stored."""

    take: Take
    attempt: int
    total: int
    started: float  # time.monotonic() at TakeStarted
    results: dict[str, _CameraResult]
    lights_dropped: bool  # the lights were put safe before every exposure was over
    needed: int  # cameras that must deliver (the plan's coverage)
    # Journalled with the files (one transaction, off the next take's path); None: never fired (a burst
    # that ended before this state).
    triggered: TriggerDispatched | None

    @property
    def doomed(self) -> bool:
        """Already known to fail (devices failed or the lights dropped): its retry need not wait for storage."""
        delivered = sum(1 for r in self.results.values() if r.error is None)
        return self.lights_dropped or delivered < self.needed


class _Countdown:
    """Calls ``then`` once, from the thread that counts the last of ``count`` events."""

    def __init__(self, count: int, then: Callable[[], None]) -> None:
        self._left = count
        self._then = then
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._then()


class TakeExecutor:
    """Runs takes against opened devices; remembers the rig's current state to skip needless moves."""

    def __init__(self, devices: RigDevices, plan: PlanConfig, session_dir: Path, publish: Callable[[Event], None],
                 pool: ThreadPoolExecutor, publish_many: Callable[[Sequence[Event]], None]) -> None:
        self.devices = devices
        self.plan = plan
        self.session_dir = session_dir
        self.publish = publish
        self.publish_many = publish_many
        self.pool = pool
        self.angle: float | None = None
        self._homed_steady_by: float | None = None  # see table_homed
        # The next station's move starts as the last camera delivers (beside the next light): the angle it
        # goes to and when it will be steady (time.monotonic()).
        self._table_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-table")
        self._table_ahead: tuple[float, Future[float]] | None = None
        self.lighting_id: str | None = None
        self.bracket_id: str | None = None
        # The next take's light goes on while this take's files are stored (its exposures are over by then).
        self._lights_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-lights")
        # Resolves with the LightsApplied to journal once the light is steady; the take publishes it after its
        # trigger (a journal commit there waits beside the exposures, not in front of the trigger).
        self._lights_ahead: Future[LightsApplied] | None = None
        self._lights_ahead_id: str | None = None
        self._lit: list[LightsApplied] = []  # light changes that are steady, not yet journalled
        # Each state's frames and settle, worked out once (ahead, on the lights thread): done per change it made
        # hundreds of profile look-ups, each a syscall, and under a storing take's GIL contention that cost
        # more than the DMX frame itself.
        self._prepared: dict[str | None, PreparedLight] = {}
        # A take's files are stored, journalled and verified while the next take is shot (settle_later).
        self._settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-settle")
        # Two storing threads per core: one decodes while the other waits for its fsync. More only queue on
        # the filesystem's journal and the GIL (16 threads stored 64 files in 90 ms on 2 cores, 4 in 55 ms).
        self._store_pool = ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2),
                                              thread_name_prefix="capturerig-store")
        (session_dir / IMAGES_DIR).mkdir(exist_ok=True)
        self._bodies = {c.id: load_body_profile(c.body, devices.context.base_dir) for c in devices.rig.cameras}
        self._wait_timeouts = {c.id: self._download_timeout(c) for c in devices.rig.cameras}
        limit = flash_limit(devices.rig, plan)  # a person gets the photosensitivity governor
        devices.governor = None if limit is None else FlashGovernor(limit)
        override = plan.subject.photosensitivity_override
        if limit is not None and override is not None:
            publish(PhotosensitivityOverrideUsed(screened_by=override.screened_by,
                                                 screened_on=override.screened_on.isoformat(),
                                                 max_flashes_per_s=override.max_flashes_per_s, note=override.note))

    def _download_timeout(self, camera: CameraConfig) -> float:
        body = self._bodies[camera.id]
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        expected = (body.trigger_latency_ms + body.card_write_ms) / 1000 + size / (body.download_mbytes_per_s * 1e6)
        longest_ev: float = max(b.ev for b in self.plan.brackets)
        expected += shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**longest_ev
        return float(3.0 * expected + 5.0)  # generous: a timeout here costs a retry, not an image

    def table_homed(self, at: float) -> None:
        """The turntable was homed (it stands at 0 degrees) and has not moved since ``at`` (time.monotonic()):
        the first move, if it is to 0, is still made (it confirms the angle) but moves nothing, so it waits
        only for what is left of the plan's turntable settle."""
        self._homed_steady_by = at + self.plan.settle.turntable_s

    def forget_state(self) -> None:
        """After a pause or failure nothing about the lights or brackets can be assumed.

        Waits for a light change under way first, so that lights put safe after this stay safe, and journals
        the light changes that were made.
        """
        try:
            self._finish_lights_ahead()
        finally:
            self._journal_lights()
        self.lighting_id = None
        self.bracket_id = None
        self._finish_table_ahead(None)

    def close(self) -> None:
        """Finish storing any take under way, wait for a light change under way and stop the threads.

        The runner collects every settle_later() result itself; this only makes sure none is cut short and
        that no light change lands after the lights are put safe.
        """
        self._settler.shutdown(wait=True)
        self._store_pool.shutdown(wait=True)
        try:
            self.forget_state()
        except Exception:  # the session is ending anyway; the lights go safe next
            log.exception("the last light change failed")
        self._lights_thread.shutdown(wait=True)
        self._table_thread.shutdown(wait=True)

    def _ready_next(self, take: Take, next_take: Take | None, trouble: threading.Event) -> None:
        """Every camera of ``take`` has delivered (so its exposures are over): turn to ``next_take``'s station
        (unless a camera failed: the take is then shot again here) and light it, now."""
        if next_take is None or next_take.pose.id != take.pose.id:
            return
        if not trouble.is_set():
            self._turn_ahead(next_take)
        if next_take.lighting.id == self.lighting_id:
            return
        # The frames go out from this thread at once: handing the command to the lights thread first cost a
        # thread wake-up (1-5 ms) per take.
        self._start_lighting(next_take, command_here=True)

    def _start_lighting(self, take: Take, command_here: bool = False) -> None:
        """Light ``take``'s state (commanded on the lights thread, or with ``command_here`` on this one, which
        then only waits for it on the lights thread); the state is unknown until that is collected.

        A change the flash governor holds back is always left to the lights thread: its wait must not hold up
        this thread (a camera's download)."""
        self.lighting_id = None
        self._lights_ahead_id = take.lighting.id
        if command_here:
            try:
                light = self._prepared_light(take)
                if self.devices.governor_wait_s(light) == 0.0:
                    change = self.devices.begin_lighting(light, self.plan.settle.lights_s)
                    self._lights_ahead = self._lights_thread.submit(self._until_steady, take, change)
                    return
            except (DeviceError, PhotosensitivityRefused) as exc:  # collected like a failure on the lights thread
                failed: Future[LightsApplied] = Future()
                failed.set_exception(exc)
                self._lights_ahead = failed
                return
        self._lights_ahead = self._lights_thread.submit(self._apply_lighting, take)

    def _prepare_ahead(self, take: Take | None) -> None:
        """Work out ``take``'s lighting state on the idle lights thread, before it is needed (a failure
        here is raised again where the state is applied)."""
        if take is not None and take.lighting.id not in self._prepared:
            self._lights_thread.submit(self._prepared_light, take)

    def _finish_lights_ahead(self) -> None:
        """Wait for a light change started ahead; a device failure leaves the state unknown (applied again)."""
        future, self._lights_ahead = self._lights_ahead, None
        if future is None:
            return
        try:
            self._lit.append(future.result())
        except DeviceError as exc:
            log.warning("lighting ahead failed (%s); the take applies its own", exc)
            return
        self.lighting_id = self._lights_ahead_id

    def _journal_lights(self) -> None:
        """Journal the light changes collected since the last call (LightsApplied, in the order made)."""
        lit, self._lit = self._lit, []
        self.publish_many(lit)

    def _prepare(self, take: Take) -> tuple[Future[LightsApplied] | None, bool, float]:
        """Station, bracket and light for ``take``. Returns its light change if one is under way (for
        ``_fire_when_lit``: the cameras are armed while the light settles), whether the previous take
        started it ahead, and when (time.monotonic()) the turntable is steady: the cameras are armed while it
        settles too."""
        ahead = self._lights_ahead is not None and self._lights_ahead_id == take.lighting.id
        if not ahead:
            self._finish_lights_ahead()  # another state's change: the state is known once it is over
            if take.lighting.id != self.lighting_id:  # while the turntable (if any) turns
                self._start_lighting(take)
        table_steady_by = self._reach_station(take)
        self.set_bracket(take)
        light, self._lights_ahead = self._lights_ahead, None
        return light, ahead, table_steady_by

    def _fire_when_lit(self, take: Take, armed: list[str], light: Future[LightsApplied] | None,
                       ahead: bool, not_before: float) -> _Fired:
        """Fire ``armed`` once ``take``'s light (a change under way, if any) and the turntable (steady at
        ``not_before``, time.monotonic()) are steady.

        The lights thread fires right after the change it is running: no thread has to wake up between the
        light being steady and the pulse. A change started ahead that failed is applied again (the take's
        own); the take's own failing is the take's failure.
        """
        if light is None:
            _sleep_until(not_before)
            return self._trigger(armed)
        firing = self._lights_thread.submit(self._trigger_once_lit, light, armed, not_before)
        try:
            self._lit.append(light.result())
        except DeviceError as exc:
            firing.exception()  # it did not fire: the light it waited for failed
            if not ahead:
                raise
            log.warning("lighting ahead failed (%s); the take applies its own", exc)
            self._start_lighting(take)
            light, self._lights_ahead = self._lights_ahead, None
            return self._fire_when_lit(take, armed, light, False, not_before)
        self.lighting_id = take.lighting.id
        return firing.result()

    def _trigger_once_lit(self, light: Future[LightsApplied], armed: list[str], not_before: float) -> _Fired:
        """On the lights thread, after ``light``'s change: fire at ``not_before`` at the earliest, unless that
        change failed (then raise)."""
        light.result()
        _sleep_until(not_before)
        return self._trigger(armed)

    def _prepared_light(self, take: Take) -> PreparedLight:
        """``take``'s lighting state worked out for the rig (once per state; a race only computes it twice)."""
        light = self._prepared.get(take.lighting.id)
        if light is None:
            light = self._prepared[take.lighting.id] = self.devices.prepare_lighting(take.lighting)
        return light

    def _apply_lighting(self, take: Take) -> LightsApplied:
        """Light the take's state (the flash governor may hold it back); returns, once the light is steady,
        the event that says when it was really there (the caller journals it)."""
        return self._until_steady(take, self.devices.begin_lighting(self._prepared_light(take),
                                                                    self.plan.settle.lights_s))

    def _until_steady(self, take: Take, change: LightChange) -> LightsApplied:
        """Wait until the commanded ``change`` is on the wire and steady; the event to journal for it."""
        timing = self.devices.finish_lighting(change)
        _sleep_until(timing.settled_monotonic)  # to a deadline: no drift from the wire wait
        return LightsApplied(take_id=take.id, lighting_id=take.lighting.state_id, wire_at=timing.wire_at,
                             settled_at=timing.settled_at, governor_wait_s=timing.governor_wait_s,
                             commanded_at=timing.commanded_at)

    def _apply_bracket(self, take: Take) -> None:
        def apply(camera_id: str) -> None:
            base = self.devices.rig.camera(camera_id).settings.get("shutter")
            if base is not None:
                shutter = bracket_shutter(base, take.bracket.ev)
                self.devices.cameras[camera_id].apply_settings({"shutter": shutter}, ARM_TIMEOUT_S)
        list(self.pool.map(apply, take.cameras))

    def _expose(self, take: Take, attempt: int, next_take: Take | None, light: Future[LightsApplied] | None,
                ahead: bool, table_steady_by: float) -> tuple[dict[str, _CameraResult], TriggerDispatched]:
        def arm(camera_id: str) -> str | None:
            try:
                self.devices.cameras[camera_id].arm(ARM_TIMEOUT_S)
            except DeviceError as exc:
                return str(exc)
            return None

        armed_errors = dict(zip(take.cameras, self.pool.map(arm, take.cameras), strict=True))
        armed = [c for c in take.cameras if armed_errors[c] is None]
        fired = self._fire_when_lit(take, armed, light, ahead, table_steady_by)
        armed_errors.update(fired.errors)

        trouble = threading.Event()  # a camera failed: the table stays for the take to be shot again
        if any(armed_errors.values()):
            trouble.set()
        waiting = _Countdown(len(take.cameras), lambda: self._ready_next(take, next_take, trouble))

        def collect(camera_id: str) -> _CameraResult:
            try:
                if armed_errors[camera_id] is not None:
                    return _CameraResult(camera_id, [], armed_errors[camera_id])
                files = self.devices.cameras[camera_id].wait_for_files(self._wait_timeouts[camera_id])
            except DeviceError as exc:
                trouble.set()
                return _CameraResult(camera_id, [], str(exc))
            finally:
                waiting.done()
            if next_take is not None:  # stored by settle(), once the next light is on its way
                return _CameraResult(camera_id, files, None)
            # Nothing is lit next: stored from now on, beside the other cameras' downloads (with a next take,
            # storing here would hold up the last camera's thread that commands its light).
            return _CameraResult(camera_id, files, None,
                                 self._store_pool.submit(self._store, take, attempt, camera_id, files))

        collecting = self.pool.map(collect, take.cameras)
        self._prepare_ahead(next_take)
        try:
            self._journal_lights()  # this take's light, journalled while its shutters are open, not before them
        finally:
            results = {r.camera_id: r for r in collecting}
        return results, self._trigger_event(take, attempt, fired, results)

    def _trigger(self, armed: list[str]) -> _Fired:
        """Fire the armed cameras: a box pulse, or software calls released together from a barrier."""
        trigger = self.devices.trigger
        if trigger is not None:
            fired_at = trigger.fire(armed, TRIGGER_TIMEOUT_S)
            delays_us = trigger.delays_us if isinstance(trigger, TriggerDelays) else {}  # per-output delays
            return _Fired("box", fired_at, {c: delays_us.get(c, 0) / 1e6 for c in armed}, {})
        wall, perf = time.time(), time.perf_counter()
        dispatched = software_trigger({c: self.devices.cameras[c] for c in armed}, self.pool, TRIGGER_TIMEOUT_S)
        first = min(dispatched.started.values(), default=perf)
        return _Fired("software", wall + (first - perf), dispatched.offsets(), dict(dispatched.errors))

    def _trigger_event(self, take: Take, attempt: int, fired: _Fired,
                       results: dict[str, _CameraResult]) -> TriggerDispatched:
        """How the take was triggered and each camera's latency (flash-sync, else its capture time)."""
        latency: dict[str, float] = {}
        trigger = self.devices.trigger
        if fired.mode == "box" and isinstance(trigger, SyncReadBack):
            try:  # the shutters opened long before the files arrived: one query, no waiting for stragglers
                latency = dict(trigger.read_sync(SYNC_TIMEOUT_S, wait_for_all=False))
            except DeviceError as exc:
                self.publish(SessionMessage(level="warning", text=f"take {take.id}: no flash-sync times: {exc}"))
        else:
            for camera_id, result in results.items():
                if result.files and camera_id in fired.per_camera:
                    exposed = min(f.exposed_at for f in result.files)
                    latency[camera_id] = exposed - fired.fired_at - fired.per_camera[camera_id]
        offsets = fired.per_camera.values()
        return TriggerDispatched(take_id=take.id, attempt=attempt, mode=fired.mode, fired_at=fired.fired_at,
                                 spread_s=max(offsets, default=0.0) - min(offsets, default=0.0),
                                 per_camera=dict(fired.per_camera), latency_s=latency)

    def _store(self, take: Take, attempt: int, camera_id: str, files: list[CameraFile]) -> _Stored:
        """Store a camera's files; returns the stored ones (to journal) and an error, if any file failed."""
        config = self.devices.rig.camera(camera_id)
        stored: list[FileStored] = []
        seen_formats = set()
        body = self._bodies[camera_id]
        for camera_file in files:
            fmt = body.formats.get(camera_file.format)
            if fmt is None:
                return stored, f"sent a {camera_file.format} file this body profile does not know"
            path = self.session_dir / IMAGES_DIR / take.file_name(camera_id, fmt.extension, attempt)
            try:
                kept = store_bytes(camera_file.data, path, camera_file.format, sync_folder=False)
            except StorageError as exc:
                return stored, str(exc)
            stored.append(FileStored(take_id=take.id, attempt=attempt, camera_id=camera_id,
                                     file_format=camera_file.format, path=str(path.relative_to(self.session_dir)),
                                     size=kept.size, sha256=kept.sha256, exposed_at=camera_file.exposed_at,
                                     card_name=camera_file.name))
            seen_formats.add(camera_file.format)
        missing = set(config.formats) - seen_formats
        if missing:
            return stored, f"no {', '.join(sorted(missing))} file arrived"
        return stored, None

    def shoot(self, take: Take, attempt: int, total: int, next_take: Take | None = None) -> Shot:
        """Light, arm, fire and download ``take``; raises TakeAttemptFailed when a device fails before that.

        With ``next_take`` (the plan's next take in the same pose) its light goes on as soon as every camera
        has delivered, while this take's files are stored (``settle``).
        """
        started = time.monotonic()
        self.publish(TakeStarted(take_id=take.id, ordinal=take.ordinal, total=total, attempt=attempt))
        try:
            light, ahead, table_steady_by = self._prepare(take)
            results, triggered = self._expose(take, attempt, next_take, light, ahead, table_steady_by)
        except DeviceError as exc:
            self.forget_state()
            raise TakeAttemptFailed(take.id, {exc.device_id: str(exc)}) from exc
        needed = self.plan.coverage.min_cameras or len(take.cameras)
        return Shot(take, attempt, total, started, results, self.devices.safe_latched, needed, triggered)

    def settle_later(self, shot: Shot) -> Future[dict[str, list[str]]]:
        """``settle(shot)`` on the settle thread, in order; the caller must collect every result."""
        return self._settler.submit(self.settle, shot)

    def settle(self, shot: Shot) -> dict[str, list[str]]:
        """Store, journal and verify a shot take; raises TakeAttemptFailed if incomplete.

        Every good file is kept and journalled even when the take fails. Returns, per camera, the card names
        now safe to delete: the caller clears them (``clear_cards``) between two takes, so a camera never
        serves a delete while it is armed or downloading for the next take.
        """
        take, attempt = shot.take, shot.attempt
        downloaded = [r for r in shot.results.values() if r.files]  # a camera that failed the take keeps its files
        storing = [r.storing or self._store_pool.submit(self._store, take, attempt, r.camera_id, r.files)
                   for r in downloaded]
        stores = {r.camera_id: future.result() for r, future in zip(downloaded, storing, strict=True)}
        # The take's new names made durable with one folder fsync, then every stored file journalled in one
        # transaction: only now do they count (a crash before this leaves them to recovery, never lost).
        stored = [event for events, _ in stores.values() for event in events]
        if stored:
            fsync_dir(self.session_dir / IMAGES_DIR)
        self.publish_many([*([shot.triggered] if shot.triggered is not None else []), *stored])
        errors = {camera_id: r.error for camera_id, r in shot.results.items() if r.error}
        errors.update({camera_id: error for camera_id, (_, error) in stores.items() if error})
        deletable = {camera_id: [event.card_name for event in events] for camera_id, (events, _) in stores.items()}
        if shot.lights_dropped:  # the light changed under the exposure: keep the files, not the take
            raise TakeAttemptFailed(take.id, {"lights": "went to the safe state during the take (abort or shutdown)"})
        delivered = len(take.cameras) - len(errors)
        needed = shot.needed
        if delivered < needed:
            raise TakeAttemptFailed(take.id, errors)
        if errors:
            self.publish(SessionMessage(level="warning", text=f"take {take.id}: {delivered}/{len(take.cameras)} "
                                        f"cameras delivered (coverage needs {needed}): {errors}"))
        self.publish(TakeVerified(take_id=take.id, ordinal=take.ordinal, total=shot.total, attempt=attempt,
                                  files=sum(len(v) for v in deletable.values()),
                                  seconds=time.monotonic() - shot.started))
        return deletable

    def clear_cards(self, deletable: dict[str, list[str]]) -> None:
        """Delete stored files from the cards (a failure is a warning: the files are safe on disk)."""
        def delete(item: tuple[str, list[str]]) -> None:
            camera_id, names = item
            if not names:
                return
            try:
                self.devices.cameras[camera_id].delete_files(names, DELETE_TIMEOUT_S)
            except DeviceError as exc:  # the files are safe on disk; a full card is the only cost
                self.publish(SessionMessage(level="warning", text=f"could not clear {camera_id}'s card: {exc}"))

        list(self.pool.map(delete, deletable.items()))

    # -- for a burst (engine/_burst.py), which lights and fires each state itself ----------------------------
    def place(self, take: Take) -> None:
        """The turntable at ``take``'s station and the cameras at its bracket; a light change under way is
        finished first (its state is then known). Raises DeviceError."""
        self._finish_lights_ahead()
        self._journal_lights()
        table_steady_by = self._reach_station(take)
        self.set_bracket(take)
        _sleep_until(table_steady_by)

    def _turn_ahead(self, take: Take) -> None:
        """Start turning to ``take``'s station on the table thread (``_reach_station`` collects it)."""
        table, angle = self.devices.turntable, take.station.angle_deg
        if table is None or angle is None or angle == self.angle or self._table_ahead is not None:
            return
        self.angle = None  # unknown until the move is collected
        self._table_ahead = (angle, self._table_thread.submit(self._turn, take, table, angle))

    def _finish_table_ahead(self, take: Take | None) -> float | None:
        """Wait for a move started ahead. Returns when the table is steady if the move was to ``take``'s
        station; a failed move to it raises DeviceError (its take fails), a failed move elsewhere is logged
        (the table's angle is then unknown and the next take moves it again)."""
        ahead, self._table_ahead = self._table_ahead, None
        if ahead is None:
            return None
        angle, move = ahead
        mine = take is not None and take.station.angle_deg == angle
        try:
            steady_by = move.result()
        except DeviceError as exc:
            if mine:
                raise
            log.warning("turning ahead failed (%s); the next take turns the table itself", exc)
            return None
        return steady_by if mine else None

    def _reach_station(self, take: Take) -> float:
        """Turn the table to ``take``'s station (unless it is there, or on its way); returns when
        (time.monotonic()) it is steady, for the caller to wait for while it arms the cameras."""
        steady_by = self._finish_table_ahead(take)
        if steady_by is not None:
            return steady_by
        table, angle = self.devices.turntable, take.station.angle_deg
        if angle is None or table is None or angle == self.angle:
            return 0.0
        return self._turn(take, table, angle)

    def _turn(self, take: Take, table: Turntable, angle: float) -> float:
        """Move ``table`` to ``take``'s station at ``angle``; returns when (time.monotonic()) it is steady."""
        self.angle = None  # a failed move leaves a light change under way to forget_state()
        homed_steady_by, self._homed_steady_by = self._homed_steady_by, None  # a failed move may have moved it
        confirmed = table.move_to(angle, TABLE_TIMEOUT_S)
        self.publish(StationReached(station_id=take.station.id, angle_deg=confirmed, reached_at=time.time()))
        self.angle = angle  # the plan's angle: the next take compares against it
        steady_by = time.monotonic() + self.plan.settle.turntable_s
        if homed_steady_by is not None and angle == 0.0:
            steady_by = homed_steady_by  # it stood at 0 since it was homed: nothing moved
        return steady_by

    def base_settings_applied(self) -> None:
        """Every camera has just been given its rig settings (preflight, read back): a bracket of 0 EV is set."""
        self.bracket_id = next((b.id for b in self.plan.brackets if b.ev == 0), None)

    def set_bracket(self, take: Take) -> None:
        """The cameras' settings for ``take``'s bracket, unless they are known to be set. Raises DeviceError."""
        if take.bracket.id != self.bracket_id:
            self.bracket_id = None
            self._apply_bracket(take)
            self.bracket_id = take.bracket.id

    def body(self, camera_id: str) -> CameraBodyProfile:
        """The body profile of ``camera_id``."""
        return self._bodies[camera_id]

    def download_timeout(self, camera_id: str) -> float:
        """How long one exposure's download may take before the camera counts as failed."""
        return self._wait_timeouts[camera_id]
