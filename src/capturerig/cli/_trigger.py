"""``capturerig trigger test``: fire the rig's cameras N times and print how well they are in sync.

With a trigger box the latencies come from its flash-sync inputs (the moment each body's shutter opened,
microseconds after the common pulse; a trigger without them: the capture time each camera reports against the
pulse); without a box, from the capture time each camera reports against the moment its software trigger call
began. Either way the command prints each camera's mean latency, the
spread between cameras (p50/p99 over the fires) and the per-output delays that would equalise them, as a
``delays_us`` block to paste into the trigger's params.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import capturerig
from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, errors, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.devices import Camera, DeviceError, SyncReadBack, TriggerOutputs
from capturerig.engine import RigDevices, SyncReport, percentile, save_rig_sync, software_trigger, sync_statistics

__all__ = ["trigger_app"]

trigger_app = typer.Typer(no_args_is_help=True, help="Test the trigger: fire the cameras and measure their sync.")
OPEN_TIMEOUT_S = 10.0
FIRE_TIMEOUT_S = 5.0
FILES_TIMEOUT_S = 30.0


@contextmanager
def _opened(rig: Path | None) -> Iterator[RigDevices]:
    """The rig's cameras connected and its trigger box (if any) open; errors end the command clearly."""
    devices: RigDevices | None = None
    try:
        loaded = load_rig_or_studio(rig)
        # Constructing every driver lets a simulated studio serve its wire simulators (the box's pty) first.
        devices = RigDevices(loaded.config, loaded.path.parent)
        for camera in devices.cameras.values():
            camera.connect(OPEN_TIMEOUT_S)
        if devices.trigger is not None:
            devices.trigger.open(OPEN_TIMEOUT_S)
        yield devices
    except capturerig.ConfigError as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    except DeviceError as exc:
        raise _fail(str(exc), FAILED) from exc
    finally:
        if devices is not None:
            devices.close()


def _collect(camera: Camera) -> float | None:
    """Download (and delete) a test shot; returns its exposure time, None when the camera delivered nothing."""
    try:
        files = camera.wait_for_files(FILES_TIMEOUT_S)
    except DeviceError as exc:
        errors.print(f"[yellow]{exc}", highlight=False)
        return None
    if files:
        camera.delete_files([f.name for f in files], FILES_TIMEOUT_S)  # test shots: nothing to keep
    return min((f.exposed_at for f in files), default=None)


def _fire_box(devices: RigDevices, pool: ThreadPoolExecutor) -> dict[str, float]:
    """One hardware fire: latencies from the box's flash-sync inputs, else from the cameras' capture times."""
    trigger = devices.trigger
    assert trigger is not None
    ids = list(devices.cameras)
    list(pool.map(lambda c: devices.cameras[c].arm(FIRE_TIMEOUT_S), ids))
    fired_at = trigger.fire(ids, FIRE_TIMEOUT_S)
    exposed = dict(zip(ids, pool.map(lambda c: _collect(devices.cameras[c]), ids), strict=True))
    if isinstance(trigger, SyncReadBack):
        return trigger.read_sync(FIRE_TIMEOUT_S)
    return {c: at - fired_at for c, at in exposed.items() if at is not None}


def _fire_software(devices: RigDevices, pool: ThreadPoolExecutor, dispatch_spreads: list[float]) -> dict[str, float]:
    ids = list(devices.cameras)
    list(pool.map(lambda c: devices.cameras[c].arm(FIRE_TIMEOUT_S), ids))
    wall, perf = time.time(), time.perf_counter()
    dispatched = software_trigger({c: devices.cameras[c] for c in ids}, pool, FIRE_TIMEOUT_S)
    for camera_id, error in dispatched.errors.items():
        errors.print(f"[yellow]{camera_id}: {error}", highlight=False)
    dispatch_spreads.append(dispatched.spread_s)
    exposed = dict(zip(ids, pool.map(lambda c: _collect(devices.cameras[c]), ids), strict=True))
    return {c: at - (wall + dispatched.started[c] - perf) for c, at in exposed.items()
            if at is not None and c in dispatched.started}


def _print_report(report: SyncReport, outputs: Mapping[str, int], mode: str, dispatch: list[float]) -> None:
    table = Table(title=f"trigger sync over {report.fires} fires ({mode})")
    for column in ("camera", "output", "mean latency ms", "jitter ms", "missed", "suggested delay us"):
        table.add_column(column, justify="left" if column == "camera" else "right")
    for camera_id in sorted(report.missing):
        mean = report.mean_latency_s.get(camera_id)
        table.add_row(camera_id, str(outputs.get(camera_id, "")),
                      "-" if mean is None else f"{mean * 1e3:.3f}",
                      "-" if mean is None else f"{report.jitter_s[camera_id] * 1e3:.3f}",
                      str(report.missing[camera_id]), str(report.suggested_delays_us.get(camera_id, "-")))
    console.print(table)
    console.print(f"exposure spread between cameras: p50 {report.spread_p50_s * 1e3:.3f} ms, "
                  f"p99 {report.spread_p99_s * 1e3:.3f} ms")
    if dispatch:
        console.print(f"software dispatch spread: p50 {percentile(dispatch, 50) * 1e3:.3f} ms, "
                      f"p99 {percentile(dispatch, 99) * 1e3:.3f} ms")
    delays = ", ".join(f"{c}: {d}" for c, d in sorted(report.suggested_delays_us.items()))
    if outputs:  # a box with per-output delays
        console.print(f"to equalise, set in the trigger's params:  delays_us: {{{delays}}}")


@trigger_app.command("test")
def trigger_test(rig: RigOption = None,
                 fires: Annotated[int, typer.Option("--fires", "-n", min=1, max=1000, help="how many fires")] = 10,
                 interval: Annotated[float, typer.Option(min=0.0, max=60.0,
                                                         help="seconds between fires")] = 0.2) -> None:
    """Fire every camera N times and print per-camera latency, spread p50/p99 and suggested delays."""
    with _opened(rig) as devices:
        mode = "trigger box" if devices.trigger is not None else "software trigger"
        outputs: Mapping[str, int] = devices.trigger.outputs if isinstance(devices.trigger, TriggerOutputs) else {}
        dispatch: list[float] = []
        samples = []
        with ThreadPoolExecutor(max_workers=max(4, len(devices.cameras)), thread_name_prefix="trigger-test") as pool:
            try:
                for index in range(fires):
                    if index:
                        time.sleep(interval)
                    samples.append(_fire_box(devices, pool) if devices.trigger is not None
                                   else _fire_software(devices, pool, dispatch))
            except DeviceError as exc:
                raise _fail(str(exc), FAILED) from exc
        report = sync_statistics(samples, list(devices.cameras))
        if not report.mean_latency_s:
            raise _fail(f"no camera reported an exposure in {fires} fires ({mode}); check the trigger cables "
                        "and that the cameras are on", FAILED)
        _print_report(report, outputs, mode, dispatch)
        if rig is not None:  # the embedded demo studio has no folder of the user's to keep it in
            console.print(f"saved for preflight: {save_rig_sync(rig, report, mode)}")
