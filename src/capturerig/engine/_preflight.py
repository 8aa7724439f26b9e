"""Preflight: every device answers, serials match, settings read back as set, storage has room."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from capturerig.config import CameraConfig, PlanConfig, selected_cameras
from capturerig.devices import CameraStatus, DeviceError, GroupSetup
from capturerig.devices.remote import check_hosts
from capturerig.engine._events import PreflightResult
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._sync_store import SYNC_CHECK, describe_rig_sync
from capturerig.engine._version import capturerig_version
from capturerig.packaging import signing_readiness
from capturerig.plan import PlanEstimate

SIGNING_CHECK = "signing"  # preflight's line about the studio's C2PA signing identity

__all__ = ["PreflightFailed", "run_preflight"]

CONNECT_TIMEOUT_S = 10.0
SETTINGS_TIMEOUT_S = 10.0
HOME_TIMEOUT_S = 60.0
DISK_MARGIN = 1.25  # room for retries and sidecar files beyond the plan's estimate


class PreflightFailed(RuntimeError):
    """One or more devices or the storage are not ready; ``problems`` lists each with its device id."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("preflight failed:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class _CameraCheck:
    camera_id: str
    problem: str | None
    detail: str


def _check_camera(devices: RigDevices, config: CameraConfig) -> _CameraCheck:
    camera = devices.cameras[config.id]
    try:
        status: CameraStatus = camera.connect(CONNECT_TIMEOUT_S)
        mismatch = _serial_mismatch(config, status)
        if mismatch is not None:
            return mismatch
        read_back = camera.apply_settings(config.settings, SETTINGS_TIMEOUT_S)
    except DeviceError as exc:
        return _CameraCheck(config.id, str(exc), "no answer")
    return _judged(config, status, read_back)


def _check_group(devices: RigDevices, configs: list[CameraConfig]) -> list[_CameraCheck]:
    """The cameras of one group (``GroupSetup``: one capture host) checked as ``_check_camera`` checks each, with
    one request for all their connects and one for the settings of those whose serial matched."""
    cameras = [devices.cameras[c.id] for c in configs]
    first = cameras[0]
    assert isinstance(first, GroupSetup)
    statuses = first.connect_together(cameras, CONNECT_TIMEOUT_S)
    checks: dict[str, _CameraCheck] = {}
    matched: list[tuple[CameraConfig, CameraStatus]] = []
    for config in configs:
        status = statuses[config.id]
        if isinstance(status, DeviceError):
            checks[config.id] = _CameraCheck(config.id, str(status), "no answer")
        else:
            mismatch = _serial_mismatch(config, status)
            if mismatch is None:
                matched.append((config, status))
            else:
                checks[config.id] = mismatch
    read_backs = first.apply_settings_together([(devices.cameras[c.id], c.settings) for c, _ in matched],
                                               SETTINGS_TIMEOUT_S)
    for config, status in matched:
        read_back = read_backs[config.id]
        checks[config.id] = (_CameraCheck(config.id, str(read_back), "no answer")
                             if isinstance(read_back, DeviceError) else _judged(config, status, read_back))
    return [checks[c.id] for c in configs]


def _serial_mismatch(config: CameraConfig, status: CameraStatus) -> _CameraCheck | None:
    if status.serial == config.serial:
        return None
    return _CameraCheck(config.id, f"{config.id}: reports serial {status.serial} but the rig says {config.serial} "
                                   "(cameras swapped between ports?)", "serial mismatch")


def _judged(config: CameraConfig, status: CameraStatus, read_back: dict[str, str]) -> _CameraCheck:
    drift = [f"{key} set to {value} but reads back {read_back.get(key)}"
             for key, value in config.settings.items() if read_back.get(key) != value]
    if drift:
        return _CameraCheck(config.id, f"{config.id}: " + "; ".join(drift), "settings not applied")
    battery = "" if status.battery_percent is None else f", battery {status.battery_percent:.0f}%"
    return _CameraCheck(config.id, None, f"{status.model} serial {status.serial}{battery}")


def _check_cameras(devices: RigDevices, wanted: list[CameraConfig], pool: ThreadPoolExecutor) -> list[_CameraCheck]:
    """Every wanted camera checked, in order: a group's (GroupSetup) together, every other on its own thread."""
    groups: dict[str, list[CameraConfig]] = {}
    alone: list[CameraConfig] = []
    for config in wanted:
        camera = devices.cameras[config.id]
        if isinstance(camera, GroupSetup):
            groups.setdefault(camera.setup_group, []).append(config)
        else:
            alone.append(config)
    grouped = [pool.submit(_check_group, devices, configs) for configs in groups.values()]
    checks = {check.camera_id: check for check in pool.map(lambda c: _check_camera(devices, c), alone)}
    for future in grouped:
        checks.update((check.camera_id, check) for check in future.result())
    return [checks[c.id] for c in wanted]


def run_preflight(devices: RigDevices, plan: PlanConfig, estimate: PlanEstimate, session_dir: Path,
                  publish: Callable[[PreflightResult], None], pool: ThreadPoolExecutor,
                  rig_path: Path | None = None) -> float | None:
    """Open and check every device; raise PreflightFailed listing every problem found.

    With ``rig_path``, the rig's last sync measurement (``capturerig trigger test``) is shown as well.
    Returns when (time.monotonic()) the turntable, homed here, stood still at 0 degrees (None: no table).
    """
    problems: list[str] = []
    homed_at: float | None = None
    held: list[PreflightResult] = []  # reported once the hosts are
    hosts_reported = False

    def report(device_id: str, problem: str | None, detail: str) -> None:
        result = PreflightResult(device_id=device_id, ok=problem is None, detail=problem or detail)
        if hosts_reported:
            publish(result)
        else:
            held.append(result)
        if problem:
            problems.append(problem)

    # Capture hosts first (a host refused here names itself, not each of its cameras), asked while the lights,
    # trigger and table open: their round trips overlap, and so do the cameras' checks, which follow the hosts'.
    hosts = pool.submit(check_hosts, devices.rig, devices.context.base_dir, capturerig_version(), CONNECT_TIMEOUT_S)
    wanted = [devices.rig.camera(camera_id) for camera_id in selected_cameras(devices.rig, plan)]

    def check_cameras_after_hosts() -> list[_CameraCheck]:
        hosts.result()  # (its error is raised where it is reported)
        return _check_cameras(devices, wanted, pool)

    # Its own thread, not the pool's: it waits for pool tasks, and the pool may be as small as the rig.
    camera_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-preflight")
    cameras = camera_checker.submit(check_cameras_after_hosts)
    camera_checker.shutdown(wait=False)
    try:
        for output_id, output in devices.lights.items():
            try:
                output.open(CONNECT_TIMEOUT_S)
                report(output_id, None, "open")
            except DeviceError as exc:
                report(output_id, str(exc), "")
        if devices.trigger is not None:
            try:
                devices.trigger.open(CONNECT_TIMEOUT_S)
                report(devices.trigger.id, None, "open")
            except DeviceError as exc:
                report(devices.trigger.id, str(exc), "")
        if devices.turntable is not None:
            try:
                devices.turntable.open(CONNECT_TIMEOUT_S)
                devices.turntable.home(HOME_TIMEOUT_S)
                homed_at = time.monotonic()
                report(devices.turntable.id, None, "homed")
            except DeviceError as exc:
                report(devices.turntable.id, str(exc), "")
        for host in hosts.result():
            publish(PreflightResult(device_id=host.host, ok=host.problem is None, detail=host.problem or host.detail,
                                    kept_files_dir=host.kept_files_dir))
            if host.problem:
                problems.append(host.problem)
        for result in held:
            publish(result)
        hosts_reported = True
    except BaseException:  # a preflight cut short leaves no camera being connected behind it
        wait([cameras])
        raise
    for check in cameras.result():
        report(check.camera_id, check.problem, check.detail)
    free = shutil.disk_usage(session_dir).free
    # The engine stops a session at its disk reserve, so a plan only fits when it fits above the reserve.
    need = max(devices.rig.storage.min_free_bytes,
               devices.rig.storage.reserve_bytes + int(estimate.disk_bytes * DISK_MARGIN))
    report("storage", None if free >= need else
           f"storage: {free / 1e9:.2f} GB free at {session_dir}, the plan needs {need / 1e9:.2f} GB "
           f"including the {devices.rig.storage.reserve_bytes / 1e9:.2f} GB reserve (storage.reserve_bytes) "
           "(free space or choose another --out)", f"{free / 1e9:.1f} GB free")
    # The studio's signing identity: a missing or expired one is a warning (capture is not refused; packaging
    # then signs nothing, or refuses to sign with it).
    report(SIGNING_CHECK, None, signing_readiness()[1])
    if rig_path is not None and len(wanted) > 1:
        report(SYNC_CHECK, None, describe_rig_sync(rig_path))  # information: a stale or missing one is no failure
    if problems:
        raise PreflightFailed(problems)
    return homed_at

