"""A pose held for many lighting states, shot as one burst on the trigger box: downloads come after the hold.

Per state the light is commanded, the box's pulse goes out one shutter lag before the light is steady (so the
shutters open as it settles; only when the rig's ``trigger test`` measured every body's lag through the box,
else the pulse waits for the steady light), and the next state is commanded as soon as the last shutter
closed.
The bodies buffer the exposures; each camera then delivers them oldest first. What each exposure saw is
checked afterwards: a shutter that opened before its light was steady or closed after the next state was
commanded (by the box's flash-sync times, else the times the cameras report) fails that take.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from capturerig.devices import DeviceError, SyncReadBack, TriggerBox, TriggerDelays
from capturerig.engine._events import LightsApplied, SessionMessage, TakeStarted, TriggerDispatched
from capturerig.engine._firing import Fired
from capturerig.engine._rigdevices import LightsTiming
from capturerig.engine._shooter import RoundControl, TakeParts
from capturerig.engine._shot import CameraResult, Shot, TakeAttemptFailed, sleep_until
from capturerig.engine._sync_store import rig_sync_path
from capturerig.plan import LIGHT_FRAME_S, Take, shutter_seconds

__all__ = ["BurstShooter"]

log = logging.getLogger(__name__)
SYNC_TIMEOUT_S = 0.5
# How much longer than its profile's nominal lag a body's shutter may take when the rig's trigger test never
# measured it (bodies of one model differ by a few milliseconds).
UNMEASURED_LATENCY_S = 0.005
# Host timing slack on each side of an exposure window (a thread wakes up late, a pty write).
WINDOW_MARGIN_S = 0.0005


@dataclass(frozen=True)
class _Latency:
    """When a camera's shutter opens after the box's common pulse (its output delay + its shutter lag)."""

    earliest_s: float
    latest_s: float


@dataclass
class _State:
    take: Take
    lights: LightsTiming
    fired: Fired  # the box's pulse
    closes_by: float  # time.time() the last shutter is closed: the next state may be commanded
    commanded_next: float = float("inf")  # time.time() the next state was commanded
    sync: Mapping[str, float] | None = None  # flash-sync: camera -> seconds after the pulse


class BurstShooter:
    """Shoots a pose's takes as one burst, from the same parts as take by take (consistency: pose only: a
    failed take is landed, and the runner shoots the pose again).

    Raises
    ------
    ValueError
        The rig has no trigger box: a burst times every exposure by the box's pulse.
    """

    def __init__(self, parts: TakeParts, rig_path: Path, attempt: Callable[[Take], int]) -> None:
        self.parts = parts
        self._attempt = attempt  # the attempt a take is shot as (arming labels each exposure with it)
        self.devices = parts.firing.devices
        if self.devices.trigger is None:
            raise ValueError(f"rig {self.devices.rig.name} has no trigger box: a pose can be shot as one burst "
                             "only through a trigger box (the engine shoots it take by take otherwise)")
        self.trigger: TriggerBox = self.devices.trigger
        self._latency = self._latencies(rig_path)
        self._armed_for: tuple[str, ...] = ()  # the takes the cameras are armed for (by ready)
        self._arm_errors: dict[str, str | None] = {}
        # A state's frames reach the wire while its pulse is already timed: one thread waits for the wire.
        self._wire_waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-burst-wire")

    def close(self) -> None:
        """Stop the burst's thread (after the pose)."""
        self._wire_waiter.shutdown(wait=True)

    def ready(self, takes: Sequence[Take]) -> None:
        """Before the hold: the turntable at the pose's station, the cameras' bracket settings and armed for
        every state, and every state's frames worked out, so the hold only sends them. A device failing here
        is left to the first round (which tries again, and counts it). Raises PhotosensitivityRefused."""
        try:
            self._make_ready(takes)
        except TakeAttemptFailed as exc:
            log.warning("getting the burst ready: %s", exc)

    def _make_ready(self, takes: Sequence[Take]) -> None:
        parts = self.parts
        try:
            parts.lights.finish()  # a change under way is over first (its state is then known)
            parts.lights.journal()
            table_steady_by = parts.table.reach(takes[0])
            parts.firing.set_bracket(takes[0])
            sleep_until(table_steady_by)
        except DeviceError as exc:
            parts.forget_state()
            raise TakeAttemptFailed(takes[0].id, {exc.device_id: str(exc)}) from exc
        for take in takes:
            parts.lights.prepared(take)
        self._arm_errors = parts.firing.arm(list(takes[0].cameras), [(t.id, self._attempt(t)) for t in takes])
        self._armed_for = tuple(t.id for t in takes)

    def _latencies(self, rig_path: Path) -> dict[str, _Latency]:
        """Each camera's shutter opening after the pulse: the rig's trigger test if it measured the box; else
        anywhere from at once (the pulse then waits for the steady light) to the body's nominal lag and
        UNMEASURED_LATENCY_S more."""
        measured: dict[str, float] = {}
        jitter: dict[str, float] = {}
        path = rig_sync_path(rig_path)
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            if data.get("mode") == "trigger box":
                measured = {str(k): float(v) for k, v in data.get("mean_latency_s", {}).items()}
                jitter = {str(k): float(v) for k, v in data.get("jitter_s", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("%s unreadable (%s): assuming the bodies' nominal shutter lag", path, exc)
            measured = {}
        delays = self.trigger.delays_us if isinstance(self.trigger, TriggerDelays) else {}
        latencies = {}
        for camera in self.devices.rig.cameras:
            if camera.id in measured:  # measured from the pulse: the output's delay is already in it
                spread = 3.0 * jitter.get(camera.id, 0.0) + WINDOW_MARGIN_S
                latencies[camera.id] = _Latency(measured[camera.id] - spread, measured[camera.id] + spread)
                continue
            nominal = delays.get(camera.id, 0) / 1e6 + self.parts.firing.body(camera.id).trigger_latency_ms / 1e3
            latencies[camera.id] = _Latency(0.0, nominal + UNMEASURED_LATENCY_S + WINDOW_MARGIN_S)
        return latencies

    def shoot(self, takes: Sequence[Take], control: RoundControl) -> None:
        """Light, fire and download every take of the burst, then verify and land each (in order).

        A device failing before the first pulse fails the first take; a failure later ends the burst early and
        the takes not shot land failed, with every file that was taken.
        """
        control.before(takes[0], None, along=takes[1:])
        attempts = {t.id: control.attempt(t) for t in takes}
        if self._armed_for != tuple(t.id for t in takes):
            try:
                self._make_ready(takes)
            except TakeAttemptFailed as not_ready:
                control.landed(takes[0], not_ready)
                return
        started = time.monotonic()
        armed_errors, self._armed_for = self._arm_errors, ()
        cameras = list(takes[0].cameras)
        armed = [c for c in cameras if armed_errors.get(c) is None]
        self.parts.publish_many([TakeStarted(take_id=t.id, ordinal=t.ordinal, total=control.total,
                                             attempt=attempts[t.id]) for t in takes])
        states, failure = self._expose_all(takes, armed)
        self.parts.lights.burst_lit(states[-1].take.lighting.id if states and failure is None else None)
        self.parts.publish_many([LightsApplied(take_id=s.take.id, lighting_id=s.take.lighting.state_id,
                                               wire_at=s.lights.wire_at, settled_at=s.lights.settled_at,
                                               governor_wait_s=s.lights.governor_wait_s,
                                               commanded_at=s.lights.commanded_at) for s in states])
        if failure is not None:
            self.parts.publish(SessionMessage(level="error", text=f"burst of pose {takes[0].pose.id} ended after "
                                                                  f"{len(states)} of {len(takes)} states: {failure}"))
        shots = self._shots(takes, attempts, control.total, started, states, failure,
                            self._download(cameras, armed, armed_errors, states))
        flights = deque((shot.take, self.parts.verifier.verify_later(shot)) for shot in shots)  # every file kept
        try:
            while flights:
                self.parts.land(flights[0], control)  # every take lands: a failure's next step is the runner's
                flights.popleft()
        except BaseException:
            for flight in list(flights)[1:]:  # the first one raised: its verify is over
                self.parts.land_leaving(flight, control)
            raise

    def _shots(self, takes: Sequence[Take], attempts: Mapping[str, int], total: int, started: float,
               states: list[_State], failure: str | None, results: list[dict[str, CameraResult]]) -> list[Shot]:
        """One Shot per take, each camera's exposure judged against its state's light; the takes never fired
        (the burst ended early) come back failed."""
        cameras = list(takes[0].cameras)
        needed = self.parts.firing.plan.coverage.min_cameras or len(cameras)
        shots = []
        for index, take in enumerate(takes):
            triggered = None
            if index < len(states):
                shot_results = self._judged(states[index], results[index])
                triggered = self._trigger_event(states[index], attempts[take.id], shot_results)
            else:
                reason = failure or "the burst ended before this state"
                shot_results = {c: CameraResult(c, [], reason) for c in cameras}
            shots.append(Shot(take, attempts[take.id], total, started, shot_results, self.devices.safe_latched,
                              needed, triggered))
        return shots

    def _expose_all(self, takes: Sequence[Take], armed: list[str]) -> tuple[list[_State], str | None]:
        """The hold: per state, command the light, pulse one shutter lag before it is steady, wait for the
        last shutter to close. Returns the states shot and why the burst stopped early (None: it did not)."""
        devices, parts, trigger = self.devices, self.parts, self.trigger
        earliest = min((self._latency[c].earliest_s for c in armed), default=0.0)
        latest_close = max((self._latency[c].latest_s + self._shutter(c) for c in armed), default=0.0)
        interval = max((1.0 / b.burst_fps for c in armed if (b := parts.firing.body(c)).burst_fps), default=0.0)
        read_sync = trigger.read_sync if isinstance(trigger, SyncReadBack) else None
        clock = time.time() - time.monotonic()  # monotonic -> time.time() for this burst
        states: list[_State] = []
        last_pulse = -float("inf")
        try:
            for take in takes:
                change = devices.begin_lighting(parts.lights.prepared(take), parts.lights.settle_s)
                on_wire = self._wire_waiter.submit(devices.finish_lighting, change)
                if states:
                    states[-1].commanded_next = change.commanded + clock
                steady = change.steady_by(LIGHT_FRAME_S)
                fired = parts.firing.fire(armed, not_before=max(steady - earliest, last_pulse + interval))
                last_pulse = fired.fired_at - clock
                if states and read_sync is not None:  # the last pulse's flash-sync, while these shutters open
                    states[-1].sync = read_sync(SYNC_TIMEOUT_S, wait_for_all=False)
                states.append(_State(take, on_wire.result(), fired, fired.fired_at + latest_close))
                sleep_until(last_pulse + latest_close)
            if states and read_sync is not None:
                states[-1].sync = read_sync(SYNC_TIMEOUT_S, wait_for_all=False)
        except DeviceError as exc:
            parts.forget_state()
            return states, str(exc)
        return states, None

    def _shutter(self, camera_id: str) -> float:
        return shutter_seconds(self.devices.rig.camera(camera_id).settings.get("shutter", "1/125"))

    def _download(self, cameras: list[str], armed: list[str], armed_errors: Mapping[str, str | None],
                  states: list[_State]) -> list[dict[str, CameraResult]]:
        """Each camera's exposures, oldest first, one per state it was pulsed for."""
        firing = self.parts.firing

        def collect(camera_id: str) -> list[CameraResult]:
            if camera_id not in armed:
                return [CameraResult(camera_id, [], armed_errors[camera_id]) for _ in states]
            results = []
            for _ in states:
                try:
                    files = firing.wait_for_files(camera_id)
                except DeviceError as exc:
                    results.append(CameraResult(camera_id, [], str(exc)))
                    continue
                results.append(CameraResult(camera_id, files, None))
            return results

        per_camera = dict(zip(cameras, firing.pool.map(collect, cameras), strict=True))
        return [{c: per_camera[c][index] for c in cameras} for index in range(len(states))]

    def _judged(self, state: _State, results: dict[str, CameraResult]) -> dict[str, CameraResult]:
        """Fail any camera whose exposure did not lie wholly inside its state's steady light."""
        judged = {}
        for camera_id, result in results.items():
            opened = self._opened(state, camera_id, result)
            problem = None
            if result.error is None and opened is not None:
                closed = opened + self._shutter(camera_id)
                if opened < state.lights.settled_at - WINDOW_MARGIN_S:
                    problem = (f"its shutter opened {1e3 * (state.lights.settled_at - opened):.1f} ms before the "
                               "light was steady")
                elif closed > state.commanded_next + WINDOW_MARGIN_S:
                    problem = (f"its shutter closed {1e3 * (closed - state.commanded_next):.1f} ms after the next "
                               "state was sent")
            judged[camera_id] = result if problem is None else CameraResult(
                camera_id, result.files, f"exposed outside the steady light of {state.take.lighting.id}: {problem}")
        return judged

    @staticmethod
    def _opened(state: _State, camera_id: str, result: CameraResult) -> float | None:
        """When the camera's shutter opened (time.time()): its flash-sync edge, else the time it reports."""
        if state.sync is not None:
            offset = state.sync.get(camera_id)
            return None if offset is None else state.fired.fired_at + offset
        if result.files:
            return min(f.exposed_at for f in result.files)
        return None

    def _trigger_event(self, state: _State, attempt: int, results: Mapping[str, CameraResult]) -> TriggerDispatched:
        fired = state.fired
        if state.sync is not None:
            latency = dict(state.sync)
        else:
            latency = {c: min(f.exposed_at for f in r.files) - fired.fired_at - fired.per_camera.get(c, 0.0)
                       for c, r in results.items() if r.files and c in fired.per_camera}
        offsets = fired.per_camera.values()
        return TriggerDispatched(take_id=state.take.id, attempt=attempt, mode=fired.mode, fired_at=fired.fired_at,
                                 spread_s=max(offsets, default=0.0) - min(offsets, default=0.0),
                                 per_camera=dict(fired.per_camera), latency_s=latency)
