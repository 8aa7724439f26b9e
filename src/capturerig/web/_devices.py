"""The dashboard's device work: camera status checks, the engine's preflight, and the lights page.

Each call claims the rig (:class:`Hardware`) so it never talks to a device a running session is using, and
publishes what it finds to the hub so every open panel sees it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from capturerig.config import CameraConfig, FixtureCommand, LightingCondition, LoadedRig, PlanConfig, Pose, Station
from capturerig.devices import DeviceError, DriverContext, create_camera, send_frames_once
from capturerig.devices.remote import HostReport, check_hosts
from capturerig.engine import PreflightFailed, PreflightResult, RigDevices, capturerig_version, run_preflight
from capturerig.lighting import (
    BLACKOUT,
    FlashGovernor,
    FlashLimit,
    PhotosensitivityRefused,
    UniverseKey,
    blackout_frames,
    change_between,
    decode_fixture,
    find_scene,
    fixture_commands,
    fixture_mode,
    frames_for_commands,
    light_shares,
    safe_state_frames,
)
from capturerig.plan import estimate_plan
from capturerig.web._catalog import UnknownChoice
from capturerig.web._hub import EventHub, event_message
from capturerig.web._lights_view import LightsHistory, fixture_swatch
from capturerig.web._messages import (
    PANEL_SESSION,
    DeviceStatus,
    HostStatus,
    LightsSet,
    PreflightFinished,
    PreflightStarted,
)
from capturerig.web._runs import Hardware

__all__ = ["PanelDevices", "PanelLights"]

CONNECT_TIMEOUT_S = 10.0
HOST_TIMEOUT_S = 5.0
LIGHT_TIMEOUT_S = 5.0


def host_status(loaded: LoadedRig, report: HostReport) -> dict[str, Any]:
    """A ``HostStatus`` message from what ``check_hosts`` found of one host."""
    host = loaded.config.host(report.host)
    hello = report.hello
    if hello is None:
        return HostStatus(host=report.host, url=report.url, cameras=list(host.cameras), problem=report.problem,
                          ).message()
    return HostStatus(host=report.host, url=report.url, cameras=list(host.cameras), problem=report.problem,
                      capturerig_version=hello.capturerig_version, agent_cameras=list(hello.cameras),
                      clock_offset_ms=report.clock_offset_ms, round_trip_ms=report.round_trip_ms,
                      spool_files=hello.spool.files, spool_bytes=hello.spool.bytes,
                      free_bytes=hello.spool.free_bytes, reserve_bytes=hello.spool.reserve_bytes).message()


def _check_plan(loaded: LoadedRig) -> PlanConfig:
    """Every camera group, one station, no light: what preflight needs to check every device."""
    return PlanConfig(name="panel-preflight", poses=(Pose(id="p00"),), stations=(Station(id="s00"),),
                      lighting=(LightingCondition(id="l00"),), camera_groups=tuple(loaded.config.groups()))


class PanelDevices:
    """Camera status tiles and the preflight button."""

    def __init__(self, hub: EventHub, hardware: Hardware, storage_dir: Path) -> None:
        self.hub = hub
        self.hardware = hardware
        self.storage_dir = storage_dir

    def _camera_status(self, loaded: LoadedRig, config: CameraConfig) -> dict[str, Any]:
        camera = create_camera(config, DriverContext(loaded.config, loaded.path.parent))

        def tile(**found: Any) -> dict[str, Any]:
            return DeviceStatus(id=config.id, device="camera", driver=config.driver, expected_serial=config.serial,
                                group=config.group, **found).message()

        try:
            status = camera.connect(CONNECT_TIMEOUT_S)
            read_back = camera.apply_settings(config.settings, CONNECT_TIMEOUT_S)
        except DeviceError as exc:
            return tile(connected=False, last_error=str(exc))
        finally:
            camera.close()
        drift = {key: {"wanted": value, "reads": read_back.get(key)} for key, value in config.settings.items()
                 if read_back.get(key) != value}
        return tile(connected=True, serial=status.serial, model=status.model, battery_percent=status.battery_percent,
                    free_bytes=status.free_bytes, drift=drift, settings=dict(read_back),
                    serial_ok=status.serial == config.serial,
                    last_error=None if status.serial == config.serial else
                    f"reports serial {status.serial}, the rig says {config.serial}")

    def _check_hosts(self, loaded: LoadedRig) -> list[dict[str, Any]]:
        reports = check_hosts(loaded.config, loaded.path.parent, capturerig_version(), HOST_TIMEOUT_S)
        statuses = [host_status(loaded, report) for report in reports]
        for status in statuses:
            self.hub.publish_threadsafe(status)
        return statuses

    def check_hosts(self, loaded: LoadedRig) -> list[dict[str, Any]]:
        """Ask every capture host's agent how it is (reachable, release, clock, spool); publish and return one
        ``HostStatus`` per host (none for a rig without ``hosts:``)."""
        owner = "host check"
        self.hardware.claim(owner)
        try:
            return self._check_hosts(loaded)
        finally:
            self.hardware.release(owner)

    def check_cameras(self, loaded: LoadedRig) -> list[dict[str, Any]]:
        """Check the capture hosts (``HostStatus``), then connect every camera and read back its settings;
        publish and return one tile per camera."""
        owner = "camera check"
        self.hardware.claim(owner)
        try:
            self._check_hosts(loaded)
            with ThreadPoolExecutor(max_workers=max(4, len(loaded.config.cameras)),
                                    thread_name_prefix="capturerig-panel-check") as pool:
                tiles = list(pool.map(lambda c: self._camera_status(loaded, c), loaded.config.cameras))
        finally:
            self.hardware.release(owner)
        for tile in tiles:
            self.hub.publish_threadsafe(tile)
        return tiles

    def preflight(self, loaded: LoadedRig) -> dict[str, Any]:
        """The engine's preflight (open, home, connect, settings, storage) without shooting."""
        owner = "preflight"
        self.hardware.claim(owner)
        self.hub.publish_threadsafe(PreflightStarted().message())
        results: list[PreflightResult] = []

        def publish(result: PreflightResult) -> None:
            results.append(result)
            self.hub.publish_threadsafe(event_message(result, PANEL_SESSION))

        problems: list[str] = []
        try:
            plan = _check_plan(loaded)
            estimate = estimate_plan(loaded.config, plan, loaded.path.parent)
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            devices = RigDevices(loaded.config, loaded.path.parent)
            pool = ThreadPoolExecutor(max_workers=max(4, len(loaded.config.cameras)),
                                      thread_name_prefix="capturerig-panel-preflight")
            try:
                run_preflight(devices, plan, estimate, self.storage_dir, publish, pool, loaded.path)
            except PreflightFailed as exc:
                problems = exc.problems
            except DeviceError as exc:
                problems = [str(exc)]
            finally:
                devices.lights_safe()
                devices.close()
                pool.shutdown(wait=True)
        finally:
            self.hardware.release(owner)
        self.hub.publish_threadsafe(PreflightFinished(ok=not problems, problems=problems).message())
        return {"ok": not problems, "problems": problems,
                "results": [{"device_id": r.device_id, "ok": r.ok, "detail": r.detail} for r in results]}


class PanelLights:
    """Scenes, per-fixture levels and blackout from the panel, paced by the photosensitivity governor.

    The panel assumes a person may be in the rig: every change goes through a governor at the rig's flash
    limit (``light_safety``), which delays a change that would flash too often and refuses a strobe above it.
    """

    def __init__(self, hub: EventHub, hardware: Hardware, safe_states: dict[str, str] | None = None) -> None:
        self.hub = hub
        self.hardware = hardware
        self._safe_states = dict(safe_states or {})  # rig name -> its safe_state (where a session leaves it)
        self._governors: dict[str, FlashGovernor] = {}
        self._shares: dict[str, tuple[float, ...]] = {}
        self._levels: dict[str, dict[str, dict[str, float]]] = {}
        self._last: dict[str, dict[str, Any]] = {}  # rig name -> the last LightsSet (scene, swatches ...)
        self._history: dict[str, LightsHistory] = {}
        self._run: tuple[str, dict[str, str]] | None = None  # the running session's rig, lighting id -> name

    def note_session(self, message: dict[str, Any]) -> None:
        """A hub reducer: a session's light changes join its rig's history (its ``RunStarted`` names the rig),
        so the lights page shows the governor's verdict on each take's lighting with its time, and the
        session's end puts the rig's safe state on top."""
        kind = message.get("kind")
        if kind == "RunStarted":
            info, takes = message.get("info") or {}, message.get("takes") or []
            rig = str(info.get("rig"))
            self._run = (rig, {t["lighting"]: t.get("lighting_name") or t["lighting"] for t in takes})
            # The session drives the lights now: what the panel last sent no longer holds (and the governor's
            # next "before" is the safe state the session leaves, not the panel's old levels).
            for known in (self._shares, self._levels, self._last):
                known.pop(rig, None)
        elif kind == "RunFinished" and self._run is not None:
            rig, _ = self._run
            safe = self._safe_states.get(rig, BLACKOUT)
            self._history.setdefault(rig, LightsHistory()).add(
                float(message["at"]), safe, safe, {"waited_s": 0.0, "text": f"session {message['session']} ended "
                                                  f"({message['state']}), the lights in the rig's safe state"})
            self._run = None
        elif kind == "LightsApplied" and self._run is not None:
            rig, names = self._run
            waited = float(message.get("governor_wait_s") or 0.0)
            text = (f"session take {message['take_id']}: " +
                    (f"held back {waited:.2f} s by the governor" if waited > 0 else "no wait needed"))
            self._history.setdefault(rig, LightsHistory()).add(
                float(message.get("wire_at") or message["at"]), message["lighting_id"],
                names.get(message["lighting_id"], message["lighting_id"]), {"waited_s": waited, "text": text})

    def last(self, loaded: LoadedRig) -> dict[str, Any] | None:
        """The last change the panel made to this rig's lights (a ``LightsSet`` message), None before any."""
        return self._last.get(loaded.config.name)

    def history(self, loaded: LoadedRig) -> list[dict[str, Any]]:
        """The rig's latest light changes, newest first: ``at``, ``scene``, ``name``, ``waited_s``, ``verdict``."""
        history = self._history.get(loaded.config.name)
        return history.entries() if history is not None else []

    def limit(self, loaded: LoadedRig) -> FlashLimit:
        safety = loaded.config.light_safety
        source = "the WCAG general flash threshold" if safety.max_flashes_per_s == 3 else "the studio's light_safety"
        return FlashLimit(safety.max_flashes_per_s, safety.flash_threshold, 1.0, source)

    def levels(self, loaded: LoadedRig) -> dict[str, dict[str, float]]:
        """What the panel last put on each fixture (decoded from the frames it sent)."""
        return self._levels.get(loaded.config.name, {})

    def apply(self, loaded: LoadedRig, frames: dict[UniverseKey, bytes], label: str, name: str = "") -> dict[str, Any]:
        """Send ``frames`` once the governor allows it; returns (and publishes) the verdict, the levels, each
        fixture's swatch and the rig's history of changes. ``name``: the scene's or state's name, if any.

        Raises Busy while the rig is in use, PhotosensitivityRefused for a strobe above the limit, DeviceError.
        """
        rig, base_dir = loaded.config, loaded.path.parent
        limit = self.limit(loaded)
        governor = self._governors.setdefault(rig.name, FlashGovernor(limit))
        before = self._shares.get(rig.name) or light_shares(rig, safe_state_frames(rig, base_dir), base_dir)
        after = light_shares(rig, frames, base_dir)
        levels: dict[str, dict[str, float]] = {
            f.id: {str(k): round(float(v), 4) for k, v in decode_fixture(f, frames, base_dir).items()}
            for f in rig.fixtures}
        swatches = {f.id: fixture_swatch(fixture_mode(f, base_dir), levels[f.id]) for f in rig.fixtures}
        for fixture, share in zip(rig.fixtures, after, strict=True):
            hz = levels[fixture.id].get("strobe", 0.0)
            if hz > limit.max_flashes / limit.window_s and share >= limit.threshold:
                raise PhotosensitivityRefused(
                    f"{label}: {fixture.id} would strobe at {hz:g} Hz, above the limit of {limit.max_flashes} "
                    f"flashes per {limit.window_s:g} s set by {limit.source}")
        owner = f"lights: {label}"
        self.hardware.claim(owner)
        try:
            waited = governor.delay_for(change_between(before, after, time.monotonic(), label))
            if waited > 0:
                time.sleep(waited)
            send_frames_once(loaded, frames, LIGHT_TIMEOUT_S)
            governor.record(change_between(before, after, time.monotonic(), label))
            self._shares[rig.name] = after
            self._levels[rig.name] = levels
        finally:
            self.hardware.release(owner)
        verdict = {"ok": True, "waited_s": round(waited, 3), "limit": f"{limit.max_flashes} flashes per "
                   f"{limit.window_s:g} s ({limit.source})",
                   "text": (f"held back {waited:.2f} s to stay within {limit.max_flashes} flashes per second"
                            if waited > 0 else f"within {limit.max_flashes} flashes per second")}
        at = time.time()
        history = self._history.setdefault(rig.name, LightsHistory()).add(at, label, name or label, verdict)
        message = LightsSet(at=at, rig=rig.name, scene=label, name=name or label, levels=levels, verdict=verdict,
                            swatches=swatches, history=history).message()
        self._last[rig.name] = message
        self.hub.publish_threadsafe(message)
        return message

    def scene(self, loaded: LoadedRig, name: str, plan: PlanConfig | None = None) -> dict[str, Any]:
        """A rig scene, a plan lighting state, or ``blackout``; raises UnknownScene listing what exists."""
        if name == BLACKOUT:
            return self.apply(loaded, blackout_frames(loaded.config), BLACKOUT)
        condition = find_scene(loaded.config, name, plan)
        commands = fixture_commands(loaded.config, condition)
        return self.apply(loaded, frames_for_commands(loaded.config, commands, loaded.path.parent), name,
                          condition.name or name)

    def set_fixtures(self, loaded: LoadedRig, levels: dict[str, FixtureCommand]) -> dict[str, Any]:
        """Per-fixture commands; fixtures not named keep what the panel last gave them.

        Raises UnknownChoice (a fixture the rig does not have), StrobeOutOfRange, and as :meth:`apply`.
        """
        known = {f.id for f in loaded.config.fixtures}
        unknown = sorted(set(levels) - known)
        if unknown:
            raise UnknownChoice(f"rig {loaded.config.name} has no fixture {', '.join(unknown)} "
                           f"(fixtures: {', '.join(sorted(known))})")
        current = self.levels(loaded)
        commands: dict[str, FixtureCommand] = {}
        for fixture_id, decoded in current.items():
            fields = {k: v for k, v in decoded.items() if k in FixtureCommand.model_fields and k != "strobe"}
            if any(fields.values()):
                commands[fixture_id] = FixtureCommand.model_validate(fields)
        commands.update(levels)
        frames = frames_for_commands(loaded.config, commands, loaded.path.parent)
        return self.apply(loaded, frames, "fixture levels")
