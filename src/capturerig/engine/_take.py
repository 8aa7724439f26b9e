"""One take: lights, table, bracket, arm, trigger, download, store, verify, clear the cards."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from capturerig.config import CameraConfig, PlanConfig, load_body_profile
from capturerig.devices import CameraFile, DeviceError
from capturerig.engine._events import Event, FileStored, SessionMessage, TakeStarted, TakeVerified
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._storage import StorageError, store_bytes
from capturerig.lighting import frames_for_condition
from capturerig.plan import Take, shutter_seconds

__all__ = ["TakeAttemptFailed", "TakeExecutor", "bracket_shutter"]

log = logging.getLogger(__name__)
IMAGES_DIR = "images"
ARM_TIMEOUT_S = 10.0
TRIGGER_TIMEOUT_S = 5.0
TABLE_TIMEOUT_S = 120.0
DELETE_TIMEOUT_S = 10.0


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


@dataclass
class _CameraResult:
    camera_id: str
    files: list[CameraFile]
    error: str | None


class TakeExecutor:
    """Runs takes against opened devices; remembers the rig's current state to skip needless moves."""

    def __init__(self, devices: RigDevices, plan: PlanConfig, session_dir: Path, publish: Callable[[Event], None],
                 pool: ThreadPoolExecutor) -> None:
        self.devices = devices
        self.plan = plan
        self.session_dir = session_dir
        self.publish = publish
        self.pool = pool
        self.angle: float | None = None
        self.lighting_id: str | None = None
        self.bracket_id: str | None = None
        (session_dir / IMAGES_DIR).mkdir(exist_ok=True)
        self._wait_timeouts = {c.id: self._download_timeout(c) for c in devices.rig.cameras}

    def _download_timeout(self, camera: CameraConfig) -> float:
        body = load_body_profile(camera.body, self.devices.context.base_dir)
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        expected = (body.trigger_latency_ms + body.card_write_ms) / 1000 + size / (body.download_mbytes_per_s * 1e6)
        longest_ev: float = max(b.ev for b in self.plan.brackets)
        expected += shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**longest_ev
        return float(3.0 * expected + 5.0)  # generous: a timeout here costs a retry, not an image

    def forget_state(self) -> None:
        """After a pause or failure nothing about the lights or brackets can be assumed."""
        self.lighting_id = None
        self.bracket_id = None

    def _prepare(self, take: Take) -> None:
        table = self.devices.turntable
        if take.station.angle_deg is not None and table is not None and take.station.angle_deg != self.angle:
            self.angle = None
            self.angle = table.move_to(take.station.angle_deg, TABLE_TIMEOUT_S)
            time.sleep(self.plan.settle.turntable_s)
        if take.lighting.id != self.lighting_id:
            self.lighting_id = None
            frames = frames_for_condition(self.devices.rig, take.lighting, self.devices.context.base_dir)
            self.devices.send_frames(frames)
            time.sleep(self.plan.settle.lights_s)
            self.lighting_id = take.lighting.id
        if take.bracket.id != self.bracket_id:
            self.bracket_id = None
            self._apply_bracket(take)
            self.bracket_id = take.bracket.id

    def _apply_bracket(self, take: Take) -> None:
        def apply(camera_id: str) -> None:
            base = self.devices.rig.camera(camera_id).settings.get("shutter")
            if base is not None:
                shutter = bracket_shutter(base, take.bracket.ev)
                self.devices.cameras[camera_id].apply_settings({"shutter": shutter}, ARM_TIMEOUT_S)
        list(self.pool.map(apply, take.cameras))

    def _expose(self, take: Take) -> dict[str, _CameraResult]:
        def arm(camera_id: str) -> str | None:
            try:
                self.devices.cameras[camera_id].arm(ARM_TIMEOUT_S)
            except DeviceError as exc:
                return str(exc)
            return None

        armed_errors = dict(zip(take.cameras, self.pool.map(arm, take.cameras), strict=True))
        armed = [c for c in take.cameras if armed_errors[c] is None]
        if self.devices.trigger is not None:
            self.devices.trigger.fire(armed, TRIGGER_TIMEOUT_S)
        else:
            for camera_id in armed:
                self.devices.cameras[camera_id].trigger_capture(TRIGGER_TIMEOUT_S)

        def collect(camera_id: str) -> _CameraResult:
            if armed_errors[camera_id] is not None:
                return _CameraResult(camera_id, [], armed_errors[camera_id])
            try:
                files = self.devices.cameras[camera_id].wait_for_files(self._wait_timeouts[camera_id])
            except DeviceError as exc:
                return _CameraResult(camera_id, [], str(exc))
            return _CameraResult(camera_id, files, None)

        return {r.camera_id: r for r in self.pool.map(collect, take.cameras)}

    def _store(self, take: Take, attempt: int, result: _CameraResult) -> tuple[list[str], str | None]:
        """Store a camera's files; returns card names safe to delete and an error, if any file failed."""
        config = self.devices.rig.camera(result.camera_id)
        stored: list[str] = []
        seen_formats = set()
        for camera_file in result.files:
            body = load_body_profile(config.body, self.devices.context.base_dir)
            fmt = body.formats.get(camera_file.format)
            if fmt is None:
                return stored, f"sent a {camera_file.format} file this body profile does not know"
            path = self.session_dir / IMAGES_DIR / take.file_name(result.camera_id, fmt.extension, attempt)
            try:
                kept = store_bytes(camera_file.data, path, camera_file.format)
            except StorageError as exc:
                return stored, str(exc)
            self.publish(FileStored(take_id=take.id, attempt=attempt, camera_id=result.camera_id,
                                    file_format=camera_file.format,
                                    path=str(path.relative_to(self.session_dir)), size=kept.size,
                                    sha256=kept.sha256, exposed_at=camera_file.exposed_at,
                                    card_name=camera_file.name))
            stored.append(camera_file.name)
            seen_formats.add(camera_file.format)
        missing = set(config.formats) - seen_formats
        if missing:
            return stored, f"no {', '.join(sorted(missing))} file arrived"
        return stored, None

    def run(self, take: Take, attempt: int, total: int) -> None:
        """Shoot ``take`` once; raises TakeAttemptFailed (after keeping every good file) if incomplete."""
        started = time.monotonic()
        self.publish(TakeStarted(take_id=take.id, ordinal=take.ordinal, total=total, attempt=attempt))
        try:
            self._prepare(take)
            results = self._expose(take)
        except DeviceError as exc:
            self.forget_state()
            raise TakeAttemptFailed(take.id, {exc.device_id: str(exc)}) from exc
        errors: dict[str, str] = {}
        deletable: dict[str, list[str]] = {}
        for camera_id, result in results.items():
            deletable[camera_id], error = self._store(take, attempt, result)
            error = result.error or error
            if error:
                errors[camera_id] = error
        delivered = len(take.cameras) - len(errors)
        needed = self.plan.coverage.min_cameras or len(take.cameras)
        if delivered < needed:
            raise TakeAttemptFailed(take.id, errors)
        if errors:
            self.publish(SessionMessage(level="warning", text=f"take {take.id}: {delivered}/{len(take.cameras)} "
                                        f"cameras delivered (coverage needs {needed}): {errors}"))
        self.publish(TakeVerified(take_id=take.id, ordinal=take.ordinal, total=total, attempt=attempt,
                                  files=sum(len(v) for v in deletable.values()),
                                  seconds=time.monotonic() - started))
        self._clear_cards(deletable)

    def _clear_cards(self, deletable: dict[str, list[str]]) -> None:
        def delete(item: tuple[str, list[str]]) -> None:
            camera_id, names = item
            if not names:
                return
            try:
                self.devices.cameras[camera_id].delete_files(names, DELETE_TIMEOUT_S)
            except DeviceError as exc:  # the files are safe on disk; a full card is the only cost
                self.publish(SessionMessage(level="warning", text=f"could not clear {camera_id}'s card: {exc}"))

        list(self.pool.map(delete, deletable.items()))
