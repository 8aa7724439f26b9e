"""A rig's drivers and their params, checked at load against what the device layer says is installed.

The config layer cannot know the drivers: they live above it (``capturerig.devices``) or in other packages
(the simulators), found through entry points. So the loader asks a :class:`DriverCatalog` that the caller
hands it (``capturerig.load_rig`` passes ``capturerig.devices.installed_drivers()``): which drivers of a kind
are installed, and the params model a driver declares. Each device's ``params`` are validated against that
model here, so a misspelt or mistyped param is reported like any other rig problem (``rig.yaml:14
light_outputs[0].params.port: ...``) instead of when the device opens. Without a catalog (tools that only
read the rig, e.g. the subject registry or calibration from images) neither is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ValidationError

from capturerig.config._errors import ConfigProblem, FieldPath
from capturerig.config._rig import DeviceConfig, RigConfig
from capturerig.config._validation import problems_from_validation_error
from capturerig.config._yaml import LocatedDocument

__all__ = ["DriverCatalog", "check_drivers", "rig_devices"]


class DriverCatalog(Protocol):
    """The installed drivers, as the rig loader needs to know them (the device layer provides one).

    A device kind is ``camera``, ``light``, ``trigger`` or ``turntable``; a driver name is what a rig file
    writes after ``driver:``.
    """

    def names(self, kind: str) -> Sequence[str]:
        """The installed drivers of ``kind``, sorted (empty for a kind nothing is installed for)."""
        ...

    def params_model(self, kind: str, name: str) -> type[BaseModel]:
        """The params model driver ``name`` of ``kind`` declares (``name`` is one of :meth:`names`).

        The loader validates a device's ``params`` with it, passing the rig as validation context
        (``info.context["rig"]``, a RigConfig) for validators that check a param against the rest of the
        rig (a camera id, say).

        Raises
        ------
        ValueError
            When the driver cannot be loaded or declares no params model; the message says which and why.
        """
        ...


def rig_devices(rig: RigConfig) -> list[tuple[str, FieldPath, DeviceConfig]]:
    """Every device of the rig as (kind, where it is in the file, its config), in file order."""
    devices: list[tuple[str, FieldPath, DeviceConfig]] = [
        ("camera", ("cameras", i), c) for i, c in enumerate(rig.cameras)]
    devices += [("light", ("light_outputs", i), o) for i, o in enumerate(rig.light_outputs)]
    if rig.trigger:
        devices.append(("trigger", ("trigger",), rig.trigger))
    if rig.turntable:
        devices.append(("turntable", ("turntable",), rig.turntable))
    return devices


def check_drivers(rig: RigConfig, doc: LocatedDocument, drivers: DriverCatalog) -> list[ConfigProblem]:
    """Every device names an installed driver of its kind, and its ``params`` fit that driver's model."""
    problems: list[ConfigProblem] = []
    for kind, where, device in rig_devices(rig):
        names = drivers.names(kind)
        if device.driver not in names:
            problems.append(doc.problem((*where, "driver"), f"unknown {kind} driver '{device.driver}' "
                                                            f"(installed: {', '.join(sorted(names)) or 'none'})"))
            continue
        try:
            model = drivers.params_model(kind, device.driver)
        except ValueError as exc:
            problems.append(doc.problem((*where, "driver"), str(exc)))
            continue
        try:
            model.model_validate(device.params, context={"rig": rig})
        except ValidationError as exc:
            problems += problems_from_validation_error(exc, doc, model, prefix=(*where, "params"))
    return problems
