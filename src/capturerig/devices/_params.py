"""Driver params: each driver declares what its ``params`` may hold as a typed model.

A rig file gives every device a free ``params`` mapping; what belongs there is the driver's business, so a
driver class names a :class:`DriverParams` subclass as its ``Params`` attribute. The rig loader validates
every device's params against it (through :func:`~capturerig.devices.installed_drivers`, with the rig's
``file:line field`` errors), and the driver reads its params through the same model when it is made
(:meth:`DriverParams.of`), so a config built in code is held to the same rules.

The field types several drivers share (an IPv4 address, a DMX sender rate ...) are defined here once.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, ValidationError

from capturerig.config import (
    MAX_DMX_RATE_HZ,
    DeviceConfig,
    FrozenModel,
    RigConfig,
    format_field_path,
    validation_messages,
)
from capturerig.devices.protocols import DeviceError

__all__ = ["DmxRateHz", "DriverParams", "IPv4Host", "RealtimePriority", "SerialPortUrl"]


class DriverParams(FrozenModel):
    """Base of every driver's params model: frozen, unknown names refused, strict types.

    Strict, because params are typed by hand into a rig file: ``"512"`` and ``512.0`` are not whole numbers,
    ``1`` and ``"yes"`` are not true, and a number where text is wanted (a serial number, which YAML may
    even read as octal) must be written in quotes. A whole number is accepted where a decimal is wanted.
    Give every field a ``Field(description=...)``: the schema is the params' documentation.

    Validators that check a param against the rest of the rig (a camera id, say) find the rig in the
    validation context, ``info.context["rig"]`` (a RigConfig), given at rig load and by :meth:`of`.
    """

    model_config = ConfigDict(strict=True)

    @classmethod
    def of(cls, config: DeviceConfig, rig: RigConfig | None = None) -> Self:
        """``config.params`` read as this model (what a driver does first when it is made).

        Parameters
        ----------
        config : DeviceConfig
            The device's config from the rig; only its ``id`` and ``params`` are read.
        rig : RigConfig, optional
            The whole rig, for validators that check a param against it.

        Raises
        ------
        DeviceError
            Naming every bad param with the rig loader's message (a rig loaded by ``capturerig.load_rig``
            was checked already; this catches configs built in code).
        """
        try:
            return cls.model_validate(config.params, context=None if rig is None else {"rig": rig})
        except ValidationError as exc:
            problems = "; ".join(f"params{'.' + format_field_path(path) if path else ''}: {message}"
                                 for path, message in validation_messages(exc, cls))
            raise DeviceError(config.id, problems, "fix this device's params in the rig file") from None


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        # Names are not resolved: a DMX wire must not wait on DNS.
        raise ValueError(f"{value!r} is not an IPv4 address such as 10.0.0.21 (host names are not looked up)"
                         ) from None


IPv4Host = Annotated[str, AfterValidator(_ipv4)]
"""A dotted IPv4 address (``10.0.0.21``); host names are refused, not resolved."""

DmxRateHz = Annotated[float, Field(ge=1.0, le=MAX_DMX_RATE_HZ)]
"""How often a DMX sender refreshes each universe, per second (1 up to the DMX ceiling, 44)."""

RealtimePriority = Annotated[int, Field(ge=1, le=99)]
"""A SCHED_FIFO priority (1..99) for a sender that must not be delayed by a busy machine."""

SerialPortUrl = Annotated[str, Field(min_length=1)]
"""A serial device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``) or any pyserial URL."""
