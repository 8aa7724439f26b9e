"""``capturerig devices check``: the engine's preflight without shooting, printed as a per-device table."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import capturerig
from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, errors, fail, load_rig_or_studio
from capturerig.config import LightingCondition, PlanConfig, Pose, RigConfig, Station
from capturerig.devices import DeviceError
from capturerig.engine import PreflightFailed, PreflightResult, RigDevices, preflight_verdict, run_preflight
from capturerig.plan import estimate_plan

__all__ = ["devices_check"]


def _check_plan(rig: RigConfig) -> PlanConfig:
    """Without a plan: every camera group, one station, no light (what preflight needs to check every device)."""
    return PlanConfig(name="devices-check", poses=(Pose(id="p00"),), stations=(Station(id="s00"),),
                      lighting=(LightingCondition(id="l00"),), camera_groups=tuple(rig.groups()))


def _storage_dir(rig: RigConfig, out: Path | None) -> Path:
    """Where sessions would go; its nearest existing folder is what the disk check measures."""
    path = (out or Path(rig.storage.root)).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def devices_check(
        rig: RigOption = None,
        plan: Annotated[Path | None, typer.Option("--plan", help="plan file: check only its cameras and its "
                                                                 "disk needs (default: every device)")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="where sessions will go (disk space check; "
                                                               "default: the rig's storage root)")] = None,
) -> None:
    """Run the preflight (open, home, connect, settings read-back, storage) without shooting; exit 1 on a problem."""
    try:
        loaded = load_rig_or_studio(rig)
        plan_config = capturerig.load_plan(plan, loaded).config if plan is not None else _check_plan(loaded.config)
        base_dir = loaded.path.parent
        estimate = estimate_plan(loaded.config, plan_config, base_dir)
        # Constructing every driver (not only opening them) also lets a simulated studio serve its wire
        # simulators before the real drivers open their ports.
        devices = RigDevices(loaded.config, base_dir)
    except (capturerig.ConfigError, FileNotFoundError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    except DeviceError as exc:  # a driver that cannot even be set up (its port, its worker process)
        raise fail(str(exc), FAILED) from exc
    results: list[PreflightResult] = []
    failed = False
    pool = ThreadPoolExecutor(max_workers=max(4, len(loaded.config.cameras)), thread_name_prefix="capturerig-check")
    try:
        run_preflight(devices, plan_config, estimate, _storage_dir(loaded.config, out), results.append, pool,
                      loaded.path)
    except PreflightFailed:
        failed = True
    finally:
        devices.lights_safe()
        devices.close()
        pool.shutdown(wait=True)
    table = Table(title=f"preflight of rig {loaded.config.name}" + (f" for plan {plan_config.name}" if plan else ""))
    for column in ("device", "result", "detail"):
        table.add_column(column)
    for result in results:
        verdict = preflight_verdict(result.device_id, result.ok, result.detail)
        shown = {"ok": "[green]ok", "failed": "[red]FAILED"}.get(verdict, f"[yellow]{verdict}")
        table.add_row(result.device_id, shown, result.detail)
    console.print(table)
    bad = sum(1 for result in results if not result.ok)
    if failed or bad:
        for result in results:  # in full below the table: messages carry paths and commands to copy
            if not result.ok:
                errors.print(f"[red]failed:[/red] {result.detail}", highlight=False)  # the detail names the device
        raise fail(f"{bad} of {len(results)} checks failed", FAILED)
    console.print(f"all {len(results)} checks passed")
