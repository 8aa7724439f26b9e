"""``capturerig turntable home|goto``: drive the rig's turntable by hand (setup, checks, after an alarm)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

import capturerig
from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.devices import AlarmUnlock, DeviceError, Turntable
from capturerig.engine import RigDevices

__all__ = ["turntable_app"]

turntable_app = typer.Typer(no_args_is_help=True, help="Home the turntable or turn it to an angle.")
OPEN_TIMEOUT_S = 10.0
MOVE_TIMEOUT_S = 120.0


@contextmanager
def _turntable(rig: Path | None) -> Iterator[Turntable]:
    """The rig's turntable, opened; bad input or a device failure ends the command with its message."""
    devices: RigDevices | None = None
    try:
        loaded = load_rig_or_studio(rig)
        if loaded.config.turntable is None:
            raise _fail(f"rig {loaded.config.name} ({loaded.path}) has no turntable", BAD_INPUT)
        # Every driver is constructed (none but the table is opened) so a simulated studio serves its wire
        # simulators, the table's among them, before the table's port is opened.
        devices = RigDevices(loaded.config, loaded.path.parent)
        table = devices.turntable
        assert table is not None
        table.open(OPEN_TIMEOUT_S)
        yield table
    except capturerig.ConfigError as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    except DeviceError as exc:
        raise _fail(str(exc), FAILED) from exc
    finally:
        if devices is not None:
            devices.close()


@turntable_app.command("home")
def home(rig: RigOption = None,
         unlock: Annotated[bool, typer.Option(
             "--unlock", help="first leave an alarm with $X (after you cleared its cause; the position may be off)",
         )] = False) -> None:
    """Home the table ($H with a home switch, else the current position becomes 0 deg)."""
    with _turntable(rig) as table:
        if unlock:
            if not isinstance(table, AlarmUnlock):
                raise _fail(f"{table.id}: this turntable driver has no alarm to unlock", BAD_INPUT)
            table.unlock(OPEN_TIMEOUT_S)
        started = time.monotonic()
        table.home(MOVE_TIMEOUT_S)
        console.print(f"{table.id}: homed, at 0 deg ({time.monotonic() - started:.1f} s)")


@turntable_app.command("goto")
def goto(angle: Annotated[float, typer.Argument(help="target angle in degrees")], rig: RigOption = None,
         home_first: Annotated[bool, typer.Option("--home", help="home the table first")] = False) -> None:
    """Turn the table to ANGLE and print the angle it confirms once idle there."""
    with _turntable(rig) as table:
        if home_first:
            table.home(MOVE_TIMEOUT_S)
        started = time.monotonic()
        confirmed = table.move_to(angle, MOVE_TIMEOUT_S)
        console.print(f"{table.id}: at {confirmed:.3f} deg (confirmed idle, {time.monotonic() - started:.1f} s)")
