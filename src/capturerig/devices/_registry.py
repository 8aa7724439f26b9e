"""Driver lookup by name through the ``capturerig.drivers`` entry-point group.

A rig file says ``driver: sim`` or ``driver: gphoto2``; the registry finds the class registered as
``camera.sim`` / ``camera.gphoto2``, so core code never imports a particular driver (or the simulators).

A driver class is made as ``Driver(config, context)`` and declares its params as a ``Params`` class
attribute, a :class:`~capturerig.devices.DriverParams` subclass. :func:`installed_drivers` hands the rig
loader (``capturerig.config.load_rig``) what it needs to check a rig's drivers and params at load, found
the same way, so the config layer never imports the device layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, cast

from capturerig.config import CameraConfig, ConfigError, DeviceConfig, LightOutputConfig, RigConfig, TurntableConfig
from capturerig.devices._params import DriverParams
from capturerig.devices.protocols import Camera, DeviceError, LightOutput, TriggerBox, Turntable
from capturerig.devices.remote import RemoteCamera, agent_link

__all__ = ["DEVICE_KINDS", "DriverContext", "InstalledDrivers", "available_drivers", "create_camera",
           "create_light_output", "create_trigger", "create_turntable", "installed_drivers"]

ENTRY_POINT_GROUP = "capturerig.drivers"
DEVICE_KINDS = ("camera", "light", "trigger", "turntable")


@dataclass(frozen=True)
class DriverContext:
    """What every driver may read besides its own config: the whole rig, where its file lives, and which capture
    host this process serves as an agent (None: the controller)."""

    rig: RigConfig
    base_dir: Path
    host: str | None = None


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """The installed drivers by entry-point name (``camera.sim``), read once per process: a look-up reads
    every installed package's metadata (10 ms), once per camera made opening 64 cameras take 0.6 s."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def available_drivers() -> dict[str, list[str]]:
    """Installed driver names by device kind, e.g. ``{"camera": ["gphoto2", "sim"], ...}``."""
    result: dict[str, list[str]] = {kind: [] for kind in DEVICE_KINDS}
    for entry_name in _entry_points():
        kind, _, name = entry_name.partition(".")
        result.setdefault(kind, []).append(name)
    return {kind: sorted(names) for kind, names in result.items()}


class InstalledDrivers:
    """The installed drivers as the rig loader asks for them (a ``capturerig.config.DriverCatalog``).

    Only the drivers a rig names are imported (on :meth:`params_model`), so loading a rig of sim devices
    does not import libgphoto2's driver, nor a missing plug-in.
    """

    def names(self, kind: str) -> list[str]:
        """The installed drivers of ``kind`` (``camera``, ``light``, ``trigger``, ``turntable``), sorted."""
        return available_drivers().get(kind, [])

    def params_model(self, kind: str, name: str) -> type[DriverParams]:
        """The ``Params`` model of driver ``name`` of ``kind``.

        Raises
        ------
        ValueError
            When no such driver is installed, it cannot be imported, or it declares no ``Params`` model
            (a DriverParams subclass); the message says which.
        """
        entry = _entry_points().get(f"{kind}.{name}")
        if entry is None:
            raise ValueError(f"no {kind} driver '{name}' is installed (installed: "
                             f"{', '.join(self.names(kind)) or 'none'})")
        try:
            driver = entry.load()
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"the {kind} driver '{name}' ({entry.value}) cannot be loaded: {exc}; "
                             "reinstall the package that provides it") from exc
        model = getattr(driver, "Params", None)
        if not (isinstance(model, type) and issubclass(model, DriverParams)):
            raise ValueError(f"the {kind} driver '{name}' ({entry.value}) declares no params model: a driver "
                             "class names a capturerig.devices.DriverParams subclass as its Params attribute")
        return model


def installed_drivers() -> InstalledDrivers:
    """The drivers installed under the ``capturerig.drivers`` entry points, for ``load_rig(path, drivers=...)``."""
    return InstalledDrivers()


def _create(kind: str, config: DeviceConfig, context: DriverContext) -> Any:
    entry = _entry_points().get(f"{kind}.{config.driver}")
    if entry is None:
        known = ", ".join(available_drivers().get(kind, [])) or "none"
        raise DeviceError(config.id, f"no {kind} driver '{config.driver}' is installed (installed: {known})",
                          "fix the rig file's driver or install the package that provides it")
    driver_class = entry.load()
    return driver_class(config, context)


def create_camera(config: CameraConfig, context: DriverContext) -> Camera:
    """The camera's driver; a camera the rig puts on another capture host is reached through its agent."""
    host = context.rig.host_of(config.id)
    if host is not None and host.name != context.host:
        try:
            token = host.read_token(context.base_dir)
        except ConfigError as exc:
            raise DeviceError(config.id, f"host {host.name}: {exc}", "fix the host's token_file") from exc
        link = agent_link(host.name, host.url, token, context.rig.agent_link.dead_after_s)
        return RemoteCamera(config, link, context.base_dir, software_trigger=context.rig.trigger is None,
                            max_clock_offset_s=context.rig.agent_link.max_clock_offset_ms / 1000)
    return cast(Camera, _create("camera", config, context))


def create_light_output(config: LightOutputConfig, context: DriverContext) -> LightOutput:
    return cast(LightOutput, _create("light", config, context))


def create_trigger(config: DeviceConfig, context: DriverContext) -> TriggerBox:
    return cast(TriggerBox, _create("trigger", config, context))


def create_turntable(config: TurntableConfig, context: DriverContext) -> Turntable:
    return cast(Turntable, _create("turntable", config, context))
