"""A camera on another capture host, seen through the agent link as any other Camera.

The engine does not know which cameras are remote. Arming names the exposures to come; the agent downloads
each into its spool and says so; ``wait_for_files`` pulls that exposure's files and hands them to the
engine with the agent's hashes, which it checks as it stores and journals them; ``delete_files`` (called only
then) acknowledges them, and only then does the agent delete them, from its spool and from the card. A
software trigger is scheduled on the agent's clock (``fire_at``), never "fire now" over the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from capturerig.config import CameraConfig, load_body_profile
from capturerig.devices.protocols import Camera, CameraFile, CameraStatus, DeviceError, DeviceTimeout, HeldFile
from capturerig.devices.remote._link import AgentLink
from capturerig.devices.remote._links import release_link

__all__ = ["FIRE_LEAD_MIN_S", "RemoteCamera"]

FIRE_LEAD_MIN_S = 0.05  # a scheduled fire goes this far ahead at least (and 3 round trips)
ARM_TO_FIRE_S = 10.0  # how long after arming the agent waits for an exposure beyond its download time
DELETE_TIMEOUT_S = 10.0
LATE_GRACE_S = 5.0  # a live host's exposure may come this much after the engine's download time


class RemoteCamera:
    """One camera of another host, driven through that host's ``AgentLink``."""

    def __init__(self, config: CameraConfig, link: AgentLink, base_dir: Path, software_trigger: bool,
                 max_clock_offset_s: float) -> None:
        self._config = config
        self.link = link
        self._software = software_trigger
        self._max_clock_offset_s = max_clock_offset_s
        body = load_body_profile(config.body, base_dir)
        size = sum(body.formats[f].bytes_estimate for f in config.formats if f in body.formats)
        expected = (body.trigger_latency_ms + body.card_write_ms) / 1000 + size / (body.download_mbytes_per_s * 1e6)
        self._bytes_needed = size
        self._wait_s = 3.0 * expected + 5.0 + ARM_TO_FIRE_S
        self._lock = threading.Lock()
        self._arm_id: str | None = None
        self._next_exposure = 0
        self._generation = -1  # the link generation this camera was set up on
        self._settings: dict[str, str] = {}  # everything applied, replayed on a restarted agent
        self._labels: list[tuple[str, str, int]] = []  # (session, take, attempt) of the next arm's exposures

    @property
    def id(self) -> str:
        return self._config.id

    def connect(self, timeout_s: float) -> CameraStatus:
        self._check_clock(timeout_s)
        return self._connected(self.link.command(self.id, "connect", {}, timeout_s))

    def _check_clock(self, timeout_s: float) -> None:
        self.link.open(timeout_s)
        offset = self.link.clock_offset_s
        # Off by more than the bound whatever the wire's delay (the offset is known to half a round trip): a
        # scheduled fire would land off by as much.
        if abs(offset) - self.link.round_trip_s / 2 > self._max_clock_offset_s:
            raise DeviceError(self.id, f"host {self.link.host}'s clock is {offset * 1e3:+.1f} ms off the "
                                       f"controller's (bound {self._max_clock_offset_s * 1e3:g} ms)",
                              "sync the capture hosts' clocks to the controller (chrony)")

    def _connected(self, result: Mapping[str, Any]) -> CameraStatus:
        self._generation = self.link.generation
        return CameraStatus(serial=str(result["serial"]), model=str(result["model"]),
                            battery_percent=result.get("battery_percent"), free_bytes=result.get("free_bytes"))

    @property
    def setup_group(self) -> str:
        """The cameras of one host are connected and set together (``GroupSetup``)."""
        return self.arm_group

    def connect_together(self, cameras: Sequence[Camera], timeout_s: float) -> dict[str, CameraStatus | DeviceError]:
        """Connect this host's ``cameras`` in one request to its agent; a camera of another group alone."""
        results: dict[str, CameraStatus | DeviceError] = {}
        ours: list[RemoteCamera] = []
        for camera in cameras:
            try:
                if self._same_host(camera):
                    camera._check_clock(timeout_s)
                    ours.append(camera)
                else:
                    results[camera.id] = camera.connect(timeout_s)
            except DeviceError as exc:
                results[camera.id] = exc
        answers = self.link.commands([(c.id, "connect", {}) for c in ours], timeout_s)
        for camera, answer in zip(ours, answers, strict=True):
            results[camera.id] = answer if isinstance(answer, DeviceError) else camera._connected(answer)
        return results

    def apply_settings_together(self, settings: Sequence[tuple[Camera, Mapping[str, str]]],
                                timeout_s: float) -> dict[str, dict[str, str] | DeviceError]:
        """Apply this host's cameras' settings in one request to its agent; a camera of another group alone."""
        results: dict[str, dict[str, str] | DeviceError] = {}
        ours: list[tuple[RemoteCamera, Mapping[str, str]]] = []
        for camera, wanted in settings:
            try:
                if self._same_host(camera):
                    camera._set_up_again(timeout_s)
                    ours.append((camera, wanted))
                else:
                    results[camera.id] = camera.apply_settings(wanted, timeout_s)
            except DeviceError as exc:
                results[camera.id] = exc
        answers = self.link.commands([(c.id, "apply_settings", {"settings": dict(w)}) for c, w in ours], timeout_s)
        for (camera, wanted), answer in zip(ours, answers, strict=True):
            results[camera.id] = answer if isinstance(answer, DeviceError) else camera._settings_applied(wanted, answer)
        return results

    def _same_host(self, camera: Camera) -> TypeGuard[RemoteCamera]:
        return isinstance(camera, RemoteCamera) and camera.link is self.link

    def _set_up_again(self, timeout_s: float) -> None:
        """The agent restarted since this camera was set up: connect it there again, with its settings."""
        self.link.open(timeout_s)  # takes up a link that went silent or saw a restart (a no-op otherwise)
        if self._generation == self.link.generation:
            return
        self.link.command(self.id, "connect", {}, timeout_s)
        if self._settings:
            self.link.command(self.id, "apply_settings", {"settings": dict(self._settings)}, timeout_s)
        self._generation = self.link.generation

    def apply_settings(self, settings: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        self._set_up_again(timeout_s)
        return self._settings_applied(
            settings, self.link.command(self.id, "apply_settings", {"settings": dict(settings)}, timeout_s))

    def _settings_applied(self, settings: Mapping[str, str], result: Mapping[str, Any]) -> dict[str, str]:
        self._settings.update(settings)  # replayed on a restarted agent
        return {str(k): str(v) for k, v in dict(result["settings"]).items()}

    def label_exposures(self, session_id: str, takes: Sequence[tuple[str, int]]) -> None:
        """The agent keeps these with the next arm's files, so ``capturerig resume`` can ask for them."""
        self._labels = [(session_id, take_id, attempt) for take_id, attempt in takes]

    def arm(self, timeout_s: float, exposures: int = 1) -> None:
        self._set_up_again(timeout_s)
        self._armed(self.link.command(self.id, "arm", self._arm_args(exposures), timeout_s))

    @property
    def arm_group(self) -> str:
        """The cameras of one host are armed together (``GroupArming``)."""
        return f"agent {self.link.host} {self.link.url}"

    def arm_together(self, cameras: Sequence[Camera], timeout_s: float,
                     exposures: int) -> dict[str, DeviceError | None]:
        """Arm this host's ``cameras`` in one request to its agent; a camera of another group is armed alone."""
        errors: dict[str, DeviceError | None] = {}
        ours: list[RemoteCamera] = []
        for camera in cameras:
            try:
                if self._same_host(camera):
                    camera._set_up_again(timeout_s)  # a restarted agent: connected and set again first
                    ours.append(camera)
                else:
                    camera.arm(timeout_s, exposures)
                    errors[camera.id] = None
            except DeviceError as exc:
                errors[camera.id] = exc
        answers = self.link.commands([(c.id, "arm", c._arm_args(exposures)) for c in ours], timeout_s)
        for camera, answer in zip(ours, answers, strict=True):
            if isinstance(answer, DeviceError):
                errors[camera.id] = answer
            else:
                camera._armed(answer)
                errors[camera.id] = None
        return errors

    def _arm_args(self, exposures: int) -> dict[str, Any]:
        labels, self._labels = self._labels, []
        return {"exposures": exposures, "software": self._software, "wait_s": self._wait_s,
                "bytes_needed": exposures * self._bytes_needed, "labels": labels}

    def _armed(self, result: Mapping[str, Any]) -> None:
        with self._lock:
            self._arm_id, self._next_exposure = str(result["arm_id"]), 0

    def trigger_capture(self, timeout_s: float) -> None:
        lead = max(FIRE_LEAD_MIN_S, 3.0 * self.link.round_trip_s)
        fire_at = time.time() + lead + self.link.clock_offset_s  # on the agent's clock
        self.link.command(self.id, "fire", {"fire_at": fire_at}, timeout_s + lead)

    def wait_for_files(self, timeout_s: float) -> list[CameraFile]:
        with self._lock:
            arm_id, exposure = self._arm_id, self._next_exposure
            self._next_exposure += 1
        if arm_id is None:
            raise DeviceError(self.id, "wait_for_files before arm")
        try:
            event = self.link.wait_exposure(self.id, arm_id, exposure, timeout_s)
        except DeviceTimeout:
            # Late, but its host is alive (a dead or cut-off one raises DeviceError at once): its spool, a healed
            # link's stalled connection or a first render may be what holds it up, not the camera.
            try:
                event = self.link.wait_exposure(self.id, arm_id, exposure, LATE_GRACE_S)
            except DeviceTimeout:
                raise DeviceTimeout(self.id, f"no exposure from host {self.link.host} within {timeout_s:.1f} s "
                                             f"(and {LATE_GRACE_S:g} s more while the host was alive)") from None
        if event.kind == "exposure_failed":
            raise DeviceError(self.id, f"{event.error} (on host {self.link.host})")
        # Checked against the agent's hash as the engine stores them (one hash of the bytes, not two).
        return [CameraFile(name=f.file_id, format=f.format, data=self.link.fetch(f, timeout_s),
                           exposed_at=f.exposed_at, sha256=f.sha256) for f in event.files]

    def held_files(self, session_id: str, timeout_s: float) -> list[HeldFile]:
        """Every file of ``session_id`` this camera's agent still holds (the controller died before it
        acknowledged them), pulled and checked."""
        self.link.open(timeout_s)
        held = []
        for spooled in self.link.spooled(timeout_s):
            if spooled.camera_id != self.id or spooled.session_id != session_id or spooled.take_id is None:
                continue
            data = self.link.fetch(spooled, timeout_s)
            held.append(HeldFile(CameraFile(spooled.file_id, spooled.format, data, spooled.exposed_at,
                                            spooled.sha256), spooled.take_id, spooled.attempt or 1))
        return held

    def delete_files(self, names: Sequence[str], timeout_s: float) -> None:
        """The files are journalled: acknowledge them (the agent then deletes them, and clears the card). The
        acknowledgement leaves on the link's own thread: the next take does not wait for it."""
        self.link.acknowledge(names)

    def close(self) -> None:
        """Let go of the link (closed with the last camera of its host); the agent keeps the camera."""
        release_link(self.link)
