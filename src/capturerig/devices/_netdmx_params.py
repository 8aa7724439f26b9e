"""Reading a network DMX output's ``params`` with errors that name the device and the field."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any

from capturerig.config import MAX_DMX_RATE_HZ
from capturerig.devices.protocols import DeviceError

__all__ = ["param_bool", "param_float", "param_host", "param_int", "param_str", "rate_hz", "realtime_priority"]

_HINT = "fix this output's params in the rig file"


def param_float(device_id: str, params: Mapping[str, Any], name: str, default: float,
                low: float, high: float) -> float:
    """``params[name]`` as a float in ``low..high`` (``default`` when absent)."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DeviceError(device_id, f"params.{name} must be a number, got {value!r}", _HINT)
    if not low <= value <= high:
        raise DeviceError(device_id, f"params.{name} {value:g} is outside {low:g}..{high:g}", _HINT)
    return float(value)


def param_int(device_id: str, params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """``params[name]`` as an int in ``low..high``."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeviceError(device_id, f"params.{name} must be a whole number, got {value!r}", _HINT)
    if not low <= value <= high:
        raise DeviceError(device_id, f"params.{name} {value} is outside {low}..{high}", _HINT)
    return value


def param_bool(device_id: str, params: Mapping[str, Any], name: str, default: bool) -> bool:
    """``params[name]`` as true/false."""
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise DeviceError(device_id, f"params.{name} must be true or false, got {value!r}", _HINT)
    return value


def param_str(device_id: str, params: Mapping[str, Any], name: str, default: str) -> str:
    """``params[name]`` as a string."""
    value = params.get(name, default)
    if not isinstance(value, str):
        raise DeviceError(device_id, f"params.{name} must be text, got {value!r}", _HINT)
    return value


def param_host(device_id: str, params: Mapping[str, Any], name: str, default: str) -> str:
    """``params[name]`` as a dotted IPv4 address (names are not resolved: a DMX wire must not wait on DNS)."""
    value = param_str(device_id, params, name, default)
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise DeviceError(device_id, f"params.{name} {value!r} is not an IPv4 address such as 10.0.0.21",
                          _HINT) from None


def rate_hz(device_id: str, params: Mapping[str, Any]) -> float:
    """The sender clock's rate from ``params.rate_hz`` (default and maximum 44 Hz)."""
    return param_float(device_id, params, "rate_hz", MAX_DMX_RATE_HZ, 1.0, MAX_DMX_RATE_HZ)


def realtime_priority(device_id: str, params: Mapping[str, Any]) -> int | None:
    """``params.realtime_priority`` (1..99: run the sender thread under SCHED_FIFO), or None when absent."""
    if params.get("realtime_priority") is None:
        return None
    return param_int(device_id, params, "realtime_priority", 0, 1, 99)
