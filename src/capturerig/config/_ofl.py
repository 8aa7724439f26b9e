"""The Open Fixture Library (OFL) fixture format, as far as capturerig reads it.

Schema: https://github.com/OpenLightingProject/open-fixture-library (schemas/fixture.json, channel.json,
capability.json). Fields we do not interpret (meta, physical, rdm, links ...) are accepted as they are, so a
fixture file downloaded from the library loads unchanged; matrix fixtures (templateChannels) are refused.
One non-OFL key is allowed: ``capturerig`` (``{"settleMs": N}``), the time the fixture's light needs to
reach a new level after the frame is on the wire (an OFL validator would reject it; leave it out there).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from capturerig.config._base import FrozenModel

__all__ = [
    "CAPABILITY_TYPES",
    "OflCapability",
    "OflChannel",
    "OflExtension",
    "OflFixture",
    "OflMode",
    "parse_entity",
]

CAPABILITY_TYPES = (
    "NoFunction", "ShutterStrobe", "StrobeSpeed", "StrobeDuration", "Intensity", "ColorIntensity",
    "ColorPreset", "ColorTemperature", "Pan", "PanContinuous", "Tilt", "TiltContinuous", "PanTiltSpeed",
    "WheelSlot", "WheelShake", "WheelSlotRotation", "WheelRotation", "Effect", "EffectSpeed", "EffectDuration",
    "EffectParameter", "SoundSensitivity", "Focus", "Zoom", "Iris", "IrisEffect", "Frost", "FrostEffect", "Prism",
    "PrismRotation", "BladeInsertion", "BladeRotation", "BladeSystemRotation", "Fog", "FogOutput", "FogType",
    "BeamAngle", "Rotation", "Speed", "Time", "Maintenance", "Generic",
)
CapabilityType = Literal[
    "NoFunction", "ShutterStrobe", "StrobeSpeed", "StrobeDuration", "Intensity", "ColorIntensity",
    "ColorPreset", "ColorTemperature", "Pan", "PanContinuous", "Tilt", "TiltContinuous", "PanTiltSpeed",
    "WheelSlot", "WheelShake", "WheelSlotRotation", "WheelRotation", "Effect", "EffectSpeed", "EffectDuration",
    "EffectParameter", "SoundSensitivity", "Focus", "Zoom", "Iris", "IrisEffect", "Frost", "FrostEffect", "Prism",
    "PrismRotation", "BladeInsertion", "BladeRotation", "BladeSystemRotation", "Fog", "FogOutput", "FogType",
    "BeamAngle", "Rotation", "Speed", "Time", "Maintenance", "Generic",
]
OflColor = Literal["Red", "Green", "Blue", "Cyan", "Magenta", "Yellow", "Amber", "White", "Warm White",
                   "Cold White", "UV", "Lime", "Indigo"]
ShutterEffect = Literal["Open", "Closed", "Strobe", "Pulse", "RampUp", "RampDown", "RampUpDown", "Lightning",
                        "Spikes"]

_ENTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$")


def parse_entity(text: str | float | None, unit: str) -> float | None:
    """The number of an OFL entity such as ``"2700K"`` or ``"10Hz"`` in ``unit``; None for keywords (warm, fast).

    Raises ValueError for a number in another unit.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    match = _ENTITY.match(text)
    if not match:
        return None
    number, given = float(match.group(1)), match.group(2)
    if given.lower() == unit.lower() or (not given):
        return number
    if unit == "Hz" and given.lower() == "bpm":
        return number / 60.0
    raise ValueError(f"'{text}' is not in {unit}")


class _Ofl(FrozenModel):
    model_config = ConfigDict(populate_by_name=True)  # OFL's "$schema" key, by its field name in code


class OflCapability(FrozenModel):
    """One capability (a DMX range of a channel); only the fields capturerig uses are checked."""

    model_config = ConfigDict(extra="allow")
    type: CapabilityType
    dmxRange: tuple[int, int] | None = None
    color: OflColor | None = None
    colorTemperature: str | None = None
    colorTemperatureStart: str | None = None
    colorTemperatureEnd: str | None = None
    shutterEffect: ShutterEffect | None = None
    speed: str | None = None
    speedStart: str | None = None
    speedEnd: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> OflCapability:
        if self.type == "ColorIntensity" and self.color is None:
            raise ValueError("a ColorIntensity capability needs 'color' (Red, Green, Blue, White, Amber, ...)")
        if self.type == "ShutterStrobe" and self.shutterEffect is None:
            raise ValueError("a ShutterStrobe capability needs 'shutterEffect' (Open, Closed, Strobe, ...)")
        if self.type == "ColorTemperature" and self.colorTemperature is None and (
                self.colorTemperatureStart is None or self.colorTemperatureEnd is None):
            raise ValueError("a ColorTemperature capability needs colorTemperature, or colorTemperatureStart and "
                             "colorTemperatureEnd (e.g. \"2700K\" and \"6500K\")")
        if self.dmxRange is not None and not 0 <= self.dmxRange[0] <= self.dmxRange[1]:
            raise ValueError(f"dmxRange {list(self.dmxRange)} must be [start, end] with 0 <= start <= end")
        return self


class OflChannel(_Ofl):
    name: str | None = None
    fineChannelAliases: tuple[str, ...] = ()
    dmxValueResolution: Literal["8bit", "16bit", "24bit"] | None = None
    defaultValue: int | str | None = None
    highlightValue: int | str | None = None
    constant: bool | None = None
    precedence: Literal["LTP", "HTP"] | None = None
    capability: OflCapability | None = None
    capabilities: tuple[OflCapability, ...] | None = Field(default=None, min_length=2)

    @model_validator(mode="after")
    def _one_of(self) -> OflChannel:
        if (self.capability is None) == (self.capabilities is None):
            raise ValueError("a channel needs exactly one of 'capability' (one function over the whole range) "
                             "or 'capabilities' (a list with dmxRange each)")
        if self.capabilities is not None and any(c.dmxRange is None for c in self.capabilities):
            raise ValueError("every item of 'capabilities' needs a dmxRange")
        if len(self.fineChannelAliases) > 2:
            raise ValueError("at most two fine channels (24 bit) are supported")
        return self

    def all_capabilities(self) -> tuple[OflCapability, ...]:
        return self.capabilities if self.capabilities is not None else (self.capability,)  # type: ignore[return-value]


class OflMode(_Ofl):
    name: str = Field(min_length=1)
    shortName: str | None = None
    rdmPersonalityIndex: int | None = None
    physical: dict[str, Any] | None = None
    channels: tuple[str | None, ...] = Field(min_length=1, max_length=512)

    @property
    def key(self) -> str:
        """What a rig's ``mode:`` names: the short name if there is one, else the name."""
        return self.shortName or self.name


class OflExtension(_Ofl):
    """capturerig's own additions (not OFL)."""

    settleMs: float = Field(default=0.0, ge=0, le=30000)


class OflFixture(_Ofl):
    schema_: str = Field(alias="$schema")
    name: str = Field(min_length=1)
    shortName: str | None = None
    categories: tuple[str, ...] = Field(min_length=1)
    meta: dict[str, Any]
    comment: str | None = None
    manualURL: str | None = None
    links: dict[str, Any] | None = None
    helpWanted: str | None = None
    rdm: dict[str, Any] | None = None
    physical: dict[str, Any] | None = None
    wheels: dict[str, Any] | None = None
    availableChannels: dict[str, OflChannel] = Field(min_length=1)
    modes: tuple[OflMode, ...] = Field(min_length=1)
    capturerig: OflExtension = OflExtension()
