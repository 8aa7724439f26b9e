"""Firing: the cameras' bracket settings, arm, trigger (the box's pulse or software calls), collect the files.

``Firing.fire`` is the one place a take's shutters are released, for every way of shooting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

from capturerig.config import CameraBodyProfile, CameraConfig, PlanConfig, load_body_profile
from capturerig.devices import (
    Camera,
    CameraFile,
    DeviceError,
    ExposureLabels,
    GroupArming,
    SyncReadBack,
    TriggerDelays,
)
from capturerig.engine._events import Event, SessionMessage, TriggerDispatched
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._shot import CameraResult, sleep_until
from capturerig.engine._trigger import software_trigger
from capturerig.plan import Take, shutter_seconds

__all__ = ["ARM_TIMEOUT_S", "TRIGGER_TIMEOUT_S", "Fired", "Firing", "bracket_shutter"]

ARM_TIMEOUT_S = 10.0
TRIGGER_TIMEOUT_S = 5.0
SYNC_TIMEOUT_S = 1.0


def bracket_shutter(base: str, ev: float) -> str:
    """The shutter speed ``ev`` stops from ``base`` (more exposure for positive ev), as a camera string."""
    seconds = Fraction(shutter_seconds(base)).limit_denominator(100000) * Fraction(2.0**ev).limit_denominator(1000)
    if seconds >= 1:
        return f"{float(seconds):g}"
    return f"1/{round(1 / seconds)}"


@dataclass(frozen=True)
class Fired:
    mode: str  # "box" or "software"
    fired_at: float  # time.time() of the pulse or of the first software call
    per_camera: dict[str, float]  # output delay (box) or call start after the first (software), seconds
    errors: dict[str, str]  # cameras the software trigger could not fire


class Firing:
    """The rig's cameras and trigger as a take uses them; remembers the bracket the cameras are set to."""

    def __init__(self, devices: RigDevices, plan: PlanConfig, pool: ThreadPoolExecutor,
                 publish: Callable[[Event], None], session_id: str = "") -> None:
        self.devices = devices
        self.session_id = session_id
        self.plan = plan
        self.pool = pool  # one thread per camera: arming, software triggers and downloads run side by side
        self.publish = publish
        self.bracket_id: str | None = None
        self._bodies = {c.id: load_body_profile(c.body, devices.context.base_dir) for c in devices.rig.cameras}
        self._wait_timeouts = {c.id: self._download_timeout(c) for c in devices.rig.cameras}

    def body(self, camera_id: str) -> CameraBodyProfile:
        """The body profile of ``camera_id``."""
        return self._bodies[camera_id]

    def download_timeout(self, camera_id: str) -> float:
        """How long one exposure's download may take before the camera counts as failed."""
        return self._wait_timeouts[camera_id]

    def _download_timeout(self, camera: CameraConfig) -> float:
        body = self._bodies[camera.id]
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        expected = (body.trigger_latency_ms + body.card_write_ms) / 1000 + size / (body.download_mbytes_per_s * 1e6)
        longest_ev: float = max(b.ev for b in self.plan.brackets)
        expected += shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**longest_ev
        return float(3.0 * expected + 5.0)  # generous: a timeout here costs a retry, not an image

    def base_settings_applied(self) -> None:
        """Every camera has just been given its rig settings (preflight, read back): a bracket of 0 EV is set."""
        self.bracket_id = next((b.id for b in self.plan.brackets if b.ev == 0), None)

    def set_bracket(self, take: Take) -> None:
        """The cameras' settings for ``take``'s bracket, unless they are known to be set. Raises DeviceError."""
        if take.bracket.id == self.bracket_id:
            return
        self.bracket_id = None

        def apply(camera_id: str) -> None:
            base = self.devices.rig.camera(camera_id).settings.get("shutter")
            if base is not None:
                shutter = bracket_shutter(base, take.bracket.ev)
                self.devices.cameras[camera_id].apply_settings({"shutter": shutter}, ARM_TIMEOUT_S)

        list(self.pool.map(apply, take.cameras))
        self.bracket_id = take.bracket.id

    def forget(self) -> None:
        """After a pause or failure the cameras' bracket is unknown."""
        self.bracket_id = None

    def arm(self, cameras: Sequence[str], takes: Sequence[tuple[str, int]]) -> dict[str, str | None]:
        """Arm every camera for one pulse per (take id, attempt) of ``takes``; per camera, why it could not be
        armed (None: armed). A camera whose host keeps files for the controller learns which take each is for."""
        def label(camera: Camera) -> None:
            if isinstance(camera, ExposureLabels):
                camera.label_exposures(self.session_id, takes)

        def arm_one(camera_id: str) -> dict[str, str | None]:
            camera = self.devices.cameras[camera_id]
            try:
                label(camera)
                camera.arm(ARM_TIMEOUT_S, len(takes))
            except DeviceError as exc:
                return {camera_id: str(exc)}
            return {camera_id: None}

        def arm_group(camera_ids: list[str]) -> dict[str, str | None]:
            group = [self.devices.cameras[c] for c in camera_ids]
            for camera in group:
                label(camera)
            first = group[0]
            assert isinstance(first, GroupArming)
            errors = first.arm_together(group, ARM_TIMEOUT_S, len(takes))
            return {c: None if errors.get(c) is None else str(errors[c]) for c in camera_ids}

        # A host's cameras in one request (GroupArming), every other camera on its own thread.
        groups: dict[str, list[str]] = {}
        alone: list[str] = []
        for camera_id in cameras:
            camera = self.devices.cameras[camera_id]
            if isinstance(camera, GroupArming):
                groups.setdefault(camera.arm_group, []).append(camera_id)
            else:
                alone.append(camera_id)
        grouped = [self.pool.submit(arm_group, ids) for ids in groups.values()]
        errors: dict[str, str | None] = {}
        for result in self.pool.map(arm_one, alone):
            errors.update(result)
        for future in grouped:
            errors.update(future.result())
        return {c: errors[c] for c in cameras}

    def fire(self, armed: list[str], not_before: float = 0.0) -> Fired:
        """Fire the armed cameras at ``not_before`` (time.monotonic()) at the earliest: a box pulse, or software
        calls released together from a barrier. Raises DeviceError when the box fails."""
        sleep_until(not_before)
        trigger = self.devices.trigger
        if trigger is not None:
            fired_at = trigger.fire(armed, TRIGGER_TIMEOUT_S)
            delays_us = trigger.delays_us if isinstance(trigger, TriggerDelays) else {}  # per-output delays
            return Fired("box", fired_at, {c: delays_us.get(c, 0) / 1e6 for c in armed}, {})
        wall, perf = time.time(), time.perf_counter()
        dispatched = software_trigger({c: self.devices.cameras[c] for c in armed}, self.pool, TRIGGER_TIMEOUT_S)
        first = min(dispatched.started.values(), default=perf)
        return Fired("software", wall + (first - perf), dispatched.offsets(), dict(dispatched.errors))

    def wait_for_files(self, camera_id: str) -> list[CameraFile]:
        """The oldest exposure's files from ``camera_id``. Raises DeviceError (failed or timed out)."""
        return self.devices.cameras[camera_id].wait_for_files(self._wait_timeouts[camera_id])

    def trigger_event(self, take: Take, attempt: int, fired: Fired,
                      results: Mapping[str, CameraResult]) -> TriggerDispatched:
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
