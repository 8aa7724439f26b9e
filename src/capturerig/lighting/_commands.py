"""Fixture commands to DMX bytes and back, through the fixture's OFL profile.

Encoding follows the profile's capabilities: an intensity or colour level 0..1 spans the capability's DMX
range (both bytes of a 16-bit channel, coarse first), a CCT in kelvin is placed on the profile's
colorTemperatureStart..End, a strobe rate on the Strobe range's speedStart..End, and a strobe channel with no
rate sits in its Open range (else its Closed range): strobe is off unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from capturerig.config import (
    CapabilityRange,
    ChannelRole,
    FixtureCommand,
    FixtureMode,
    ModeChannel,
)

__all__ = [
    "LUMINANCE_WEIGHTS",
    "StrobeOutOfRange",
    "cct_to_rgb",
    "decode_mode",
    "encode_fixture",
    "fixture_luminance",
]

# Rec. 709 luma weights for R, G, B; a white emitter counts as full luminance, amber about 0.6, UV none.
LUMINANCE_WEIGHTS: dict[str, float] = {"red": 0.2126, "green": 0.7152, "blue": 0.0722, "white": 1.0,
                                       "amber": 0.6, "uv": 0.0}
_COLOR_KINDS = {"red": ("Red",), "green": ("Green",), "blue": ("Blue",), "white": ("White", "Warm White", "Cold White"),
                "amber": ("Amber",), "uv": ("UV",)}


class StrobeOutOfRange(ValueError):
    """A fixture was asked to strobe at a rate its profile has no strobe range for; the message names both."""


def cct_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB (largest component 1) of a black body at ``kelvin``, from Tanner Helland's sRGB fit.

    Good to a few per cent between 1000 and 40000 K; enough to tint a simulated bi-colour panel.
    """
    t = min(max(kelvin, 1000.0), 40000.0) / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    encoded = [min(max(c / 255.0, 0.0), 1.0) for c in (r, g, b)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in encoded]
    top = max(linear)
    return (linear[0] / top, linear[1] / top, linear[2] / top)


def _span(capability: CapabilityRange | None, channel: ModeChannel) -> tuple[int, int]:
    return (capability.lo, capability.hi) if capability is not None else (0, channel.max_value)


def _find(channel: ModeChannel, kinds: tuple[str, ...], colors: tuple[str, ...] = ()) -> CapabilityRange | None:
    for capability in channel.capabilities:
        if capability.kind in kinds and (not colors or capability.color in colors):
            return capability
    return None


def _level_value(channel: ModeChannel, level: float) -> int:
    if channel.role == "intensity":
        capability = _find(channel, ("Intensity",))
    else:
        capability = _find(channel, ("ColorIntensity",), _COLOR_KINDS.get(channel.role, ()))
    lo, hi = _span(capability, channel)
    return lo + round(min(max(level, 0.0), 1.0) * (hi - lo))


def _cct_value(channel: ModeChannel, kelvin: float | None) -> int:
    capability = next((c for c in channel.capabilities if c.kelvin is not None), None)
    if kelvin is None or capability is None or capability.kelvin is None:
        return channel.default
    start, end = capability.kelvin
    fraction = 0.0 if start == end else (kelvin - start) / (end - start)
    return capability.lo + round(min(max(fraction, 0.0), 1.0) * (capability.hi - capability.lo))


def _strobe_value(channel: ModeChannel, hz: float | None, fixture: str) -> int:
    if not hz:
        for effect in ("Open", "Closed"):
            found = next((c for c in channel.capabilities if c.shutter == effect), None)
            if found is not None:
                return found.lo
        return channel.default
    for capability in channel.capabilities:
        if capability.hz is None or capability.shutter not in (None, "Strobe"):
            continue
        start, end = capability.hz
        if min(start, end) <= hz <= max(start, end):
            fraction = 0.0 if start == end else (hz - start) / (end - start)
            return capability.lo + round(fraction * (capability.hi - capability.lo))
    raise StrobeOutOfRange(f"fixture '{fixture}' cannot strobe at {hz:g} Hz (its profile has no strobe range for it)")


def encode_fixture(mode: FixtureMode, command: FixtureCommand, fixture: str = "fixture") -> bytes:
    """The ``mode.footprint`` DMX bytes that make a fixture do ``command``.

    Raises StrobeOutOfRange (a ValueError) when the fixture cannot strobe at the rate asked for.
    """
    roles = {c.role for c in mode.channels}
    colours = command.channel_levels()
    if command.cct is not None and "cct" not in roles and not colours:
        # An RGB(W) fixture asked for a colour temperature mixes it from its emitters.
        colours = dict(zip(("red", "green", "blue"), cct_to_rgb(command.cct), strict=True))
    intensity = command.intensity if command.intensity is not None else 0.0
    # Without an intensity channel the colour channels carry the intensity (a virtual dimmer).
    scale = 1.0 if "intensity" in roles else (command.intensity if command.intensity is not None else 1.0)
    values: dict[str, int] = {}
    for channel in mode.channels:
        if channel.key is None or channel.part or channel.key in values:
            continue
        role = channel.role
        if role == "intensity":
            value = _level_value(channel, intensity)
        elif role in LUMINANCE_WEIGHTS:
            value = _level_value(channel, colours.get(role, 0.0) * scale)
        elif role == "cct":
            value = _cct_value(channel, command.cct)
        elif role == "strobe":
            value = _strobe_value(channel, command.strobe_hz, fixture)
        else:
            value = channel.default
        values[channel.key] = value
    out = bytearray(mode.footprint)
    for slot, channel in enumerate(mode.channels):
        if channel.key is not None:
            shift = 8 * (channel.parts - 1 - channel.part)
            out[slot] = (values[channel.key] >> shift) & 0xFF
    return bytes(out)


def decode_mode(mode: FixtureMode, data: bytes) -> dict[ChannelRole, float]:
    """What ``data`` (the fixture's footprint bytes) makes the fixture do, by role.

    Intensity and colours as 0..1 of their capability range, ``cct`` in kelvin, ``strobe`` in Hz (0 = not
    strobing). A shutter in a Closed range reads as intensity 0. Roles the mode lacks are absent.
    """
    whole: dict[str, int] = {}
    for slot, channel in enumerate(mode.channels):
        if channel.key is not None:
            whole[channel.key] = (whole.get(channel.key, 0) << 8) | data[slot]
    result: dict[ChannelRole, float] = {}
    closed = False
    for channel in mode.channels:
        if channel.key is None or channel.part:
            continue
        value = whole[channel.key]
        role = channel.role
        if role == "intensity" or role in LUMINANCE_WEIGHTS:
            if role == "intensity":
                capability = _find(channel, ("Intensity",))
            else:
                capability = _find(channel, ("ColorIntensity",), _COLOR_KINDS[role])
            lo, hi = _span(capability, channel)
            result[role] = 0.0 if hi <= lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
        elif role == "cct":
            capability = next((c for c in channel.capabilities if c.kelvin is not None), None)
            if capability is not None and capability.kelvin is not None:
                start, end = capability.kelvin
                span = max(capability.hi - capability.lo, 1)
                fraction = min(max((value - capability.lo) / span, 0.0), 1.0)
                result["cct"] = start + fraction * (end - start)
        elif role == "strobe":
            result["strobe"] = 0.0
            for capability in channel.capabilities:
                if capability.lo <= value <= capability.hi:
                    closed = closed or capability.shutter == "Closed"
                    if capability.hz is not None and capability.shutter in (None, "Strobe"):
                        span = max(capability.hi - capability.lo, 1)
                        start, end = capability.hz
                        result["strobe"] = start + (value - capability.lo) / span * (end - start)
    if closed:
        result["intensity"] = 0.0
    return result


def fixture_luminance(mode: FixtureMode, levels: Mapping[ChannelRole, float]) -> float:
    """A fixture's light as a share (0..1) of its own full output, from decoded ``levels``."""
    intensity = levels.get("intensity", 1.0)
    present = [role for role in LUMINANCE_WEIGHTS if role in mode.roles and LUMINANCE_WEIGHTS[role] > 0]
    if not present:
        return float(intensity)
    full = sum(LUMINANCE_WEIGHTS[role] for role in present)
    return float(intensity * sum(LUMINANCE_WEIGHTS[role] * levels.get(role, 0.0) for role in present) / full)
