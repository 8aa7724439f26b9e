"""``capturerig cameras settings``: apply settings to every camera of a rig and show what they read back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table

from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, fail, load_rig_or_studio
from capturerig.config import CameraConfig
from capturerig.devices import DeviceError, DriverContext, create_camera

__all__ = ["cameras_app", "parse_assignments"]

cameras_app = typer.Typer(no_args_is_help=True, help="Set and check camera settings.")
CONNECT_TIMEOUT_S = 20.0
SETTINGS_TIMEOUT_S = 10.0


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["iso=100", "shutter=1/125"]`` -> ``{"iso": "100", "shutter": "1/125"}``.

    Raises ValueError naming the first item that is not ``NAME=VALUE``.
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"'{item}' is not NAME=VALUE (e.g. iso=100 shutter=1/125 aperture=8)")
        result[key.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class _Outcome:
    camera_id: str
    read_back: dict[str, str]
    error: str | None


def _apply(config: CameraConfig, context: DriverContext, settings: dict[str, str]) -> _Outcome:
    camera = create_camera(config, context)
    try:
        camera.connect(CONNECT_TIMEOUT_S)
        return _Outcome(config.id, camera.apply_settings(settings, SETTINGS_TIMEOUT_S), None)
    except DeviceError as exc:
        return _Outcome(config.id, {}, str(exc))
    finally:
        camera.close()


@cameras_app.command("settings")
def settings_command(
        assignments: Annotated[list[str], typer.Argument(help="NAME=VALUE ... (iso, shutter, aperture, "
                                                              "whitebalance, imageformat, capturetarget)")],
        rig: RigOption = None,
        camera: Annotated[list[str] | None, typer.Option("--camera", help="only this camera (repeatable)")] = None,
) -> None:
    """Apply settings to the rig's cameras (all at once) and print what each reads back; exit 1 on drift."""
    try:
        settings = parse_assignments(assignments)
        loaded = load_rig_or_studio(rig)
    except (ValueError, FileNotFoundError) as exc:  # ConfigError is a ValueError
        raise fail(str(exc), BAD_INPUT) from exc
    wanted = [c for c in loaded.config.cameras if not camera or c.id in camera]
    unknown = sorted(set(camera or []) - {c.id for c in loaded.config.cameras})
    if unknown:
        known = ", ".join(c.id for c in loaded.config.cameras)
        raise fail(f"no camera {', '.join(unknown)} in {loaded.path} (cameras: {known})", BAD_INPUT)
    context = DriverContext(loaded.config, loaded.path.parent)
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        outcomes = list(pool.map(lambda c: _apply(c, context, settings), wanted))
    table = Table(title=f"settings on rig {loaded.config.name}")
    for column in ("camera", "setting", "asked", "reads back", "status"):
        table.add_column(column)
    problems = 0
    refusals = []
    for outcome in outcomes:
        if outcome.error:
            problems += 1
            refusals.append(outcome.error)
            table.add_row(outcome.camera_id, ", ".join(settings), "", "", "[red]refused (below)")
            continue
        for name, value in settings.items():
            got = outcome.read_back.get(name, "")
            drift = got != value
            problems += drift
            table.add_row(outcome.camera_id, name, value, got, "[red]drift" if drift else "ok")
    console.print(table)
    for refusal in refusals:  # whole lines, not wrapped in a table cell: they name values to copy
        console.print(f"[red]refused:[/red] {refusal}", highlight=False)
    if problems:
        raise fail(f"{problems} problem(s): a refused setting or a read-back that differs (drift)", FAILED)
