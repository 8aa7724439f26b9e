"""Fixture profiles (Open Fixture Library JSON) and camera-body profiles from firmware-config/.

A fixture profile is read from OFL JSON (see :mod:`capturerig.config._ofl`) and resolved into modes whose
channels say, slot by slot, what they do: a role (intensity, red, ..., cct, strobe), which byte of a 16-bit
channel they carry, and the capability ranges that map a command onto DMX values.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from capturerig.config._base import FrozenModel
from capturerig.config._errors import ConfigError, ConfigProblem
from capturerig.config._json import load_located_json
from capturerig.config._ofl import OflCapability, OflChannel, OflFixture, parse_entity
from capturerig.config._validation import validate_document
from capturerig.config._yaml import LocatedDocument, load_located_yaml

__all__ = [
    "CAMERA_SETTINGS",
    "COLOR_ROLES",
    "CameraBodyProfile",
    "CapabilityRange",
    "ChannelRole",
    "FixtureMode",
    "FixtureProfile",
    "ModeChannel",
    "WidgetMapping",
    "available_profiles",
    "firmware_config_dir",
    "load_body_profile",
    "load_fixture_profile",
]

ChannelRole = Literal["intensity", "red", "green", "blue", "white", "amber", "uv", "cct", "strobe", "generic",
                      "unused"]
COLOR_ROLES: tuple[ChannelRole, ...] = ("red", "green", "blue", "white", "amber", "uv")
_COLOR_ROLE: dict[str, ChannelRole] = {"Red": "red", "Green": "green", "Blue": "blue", "White": "white",
                                       "Warm White": "white", "Cold White": "white", "Amber": "amber", "UV": "uv"}
FIXTURE_SUFFIX = ".json"


class CapabilityRange(FrozenModel):
    """One capability of a channel with its DMX range at the resolution the mode gives the channel."""

    kind: str
    lo: int
    hi: int
    color: str | None = None
    kelvin: tuple[float, float] | None = None  # at lo, at hi
    shutter: str | None = None
    hz: tuple[float, float] | None = None  # strobe rate at lo, at hi


class ModeChannel(FrozenModel):
    """One DMX slot of a mode: which channel (None = unused), its role, and which byte of it."""

    key: str | None
    role: ChannelRole
    part: int = 0  # 0 = coarse (most significant), 1 = fine, 2 = ultra fine
    parts: int = 1  # bytes this channel has in this mode (2 = 16 bit)
    default: int = 0  # whole channel value at this mode's resolution
    capabilities: tuple[CapabilityRange, ...] = ()

    @property
    def max_value(self) -> int:
        return int(256**self.parts - 1)


class FixtureMode(FrozenModel):
    name: str
    channels: tuple[ModeChannel, ...] = Field(min_length=1, max_length=512)

    @property
    def footprint(self) -> int:
        """DMX channels the mode occupies (fine channels included)."""
        return len(self.channels)

    @property
    def roles(self) -> tuple[ChannelRole, ...]:
        """Roles of the coarse slots, in address order (what a 16-bit channel does appears once)."""
        return tuple(c.role for c in self.channels if c.part == 0)


class FixtureProfile(FrozenModel):
    """What a fixture's DMX channels mean, per personality (mode); read from OFL JSON."""

    key: str  # the file's name without .json: what a rig's ``profile:`` names
    name: str
    categories: tuple[str, ...] = ()
    modes: dict[str, FixtureMode] = Field(min_length=1)
    settle_s: float = Field(default=0.0, ge=0)


class FormatProfile(FrozenModel):
    extension: str
    bytes_estimate: int = Field(gt=0)


CAMERA_SETTINGS = ("iso", "shutter", "aperture", "whitebalance", "imageformat", "capturetarget")


class WidgetMapping(FrozenModel):
    """Where one of our camera settings lives on a body: its libgphoto2 widget and, where spellings differ,
    our values -> the camera's (numbers such as ``8`` vs ``f/8`` or ``1/100`` vs ``0.0100s`` match by value)."""

    widget: str = Field(min_length=1)
    values: dict[str, str] = Field(default_factory=dict)


class CameraBodyProfile(FrozenModel):
    """A camera body's formats and timing (estimates, timeouts) and the widgets our settings map to."""

    name: str
    formats: dict[str, FormatProfile] = Field(min_length=1)
    download_mbytes_per_s: float = Field(gt=0)
    trigger_latency_ms: float = Field(ge=0)
    card_write_ms: float = Field(ge=0)
    # Continuous shooting on hardware triggers: exposures per second the body sustains, and how many it holds
    # in its buffer before it must be downloaded. A consistency: pose hold on a trigger box is shot as one
    # burst (downloads after the hold) when every body can take the pose's states at its pace.
    burst_fps: float | None = Field(default=None, gt=0, le=1000)
    burst_frames: int = Field(default=1, ge=1, le=10_000)
    widgets: dict[str, WidgetMapping] = Field(default_factory=dict)

    @field_validator("widgets")
    @classmethod
    def _known_settings(cls, value: dict[str, WidgetMapping]) -> dict[str, WidgetMapping]:
        unknown = [name for name in value if name not in CAMERA_SETTINGS]
        if unknown:
            raise ValueError(f"unknown setting {', '.join(unknown)} (settings: {', '.join(CAMERA_SETTINGS)})")
        return value


@cache  # where the package lives does not change while it runs; resolving it is many syscalls
def firmware_config_dir() -> Path:
    """The firmware-config folder: the wheel's copy, else the source checkout's."""
    packaged = Path(__file__).resolve().parent.parent / "_firmware_config"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "firmware-config"


_SUFFIXES = {"fixtures": (FIXTURE_SUFFIX,), "cameras": (".yaml", ".yml")}


def _resolve(kind: str, name: str, base_dir: Path | None) -> Path:
    if name.endswith((".json", ".yaml", ".yml")) or "/" in name:
        candidate = Path(name)
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        return candidate
    return firmware_config_dir() / kind / f"{name}{_SUFFIXES[kind][0]}"


def available_profiles(kind: str) -> list[str]:
    """Profile names shipped in firmware-config/``kind`` (``fixtures`` or ``cameras``)."""
    folder = firmware_config_dir() / kind
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix in _SUFFIXES[kind])


def _stamp(path: Path) -> tuple[int, int]:
    """Modification time and size: a profile edited while the controller runs is read again."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


# -- OFL -> resolved modes ---------------------------------------------------------------------------------


def _scale(value: int, native: int, parts: int, end: bool = False) -> int:
    """A DMX value given at ``native`` bytes of resolution, at ``parts`` bytes (OFL's rule for ranges)."""
    if parts == native:
        return value
    if parts > native:
        factor = int(256 ** (parts - native))
        return (value + 1) * factor - 1 if end else value * factor
    return value // int(256 ** (native - parts))


def _role(channel: OflChannel) -> ChannelRole:
    """What a channel does, from its first capability that does something."""
    for capability in channel.all_capabilities():
        if capability.type == "NoFunction":
            continue
        if capability.type == "Intensity":
            return "intensity"
        if capability.type == "ColorIntensity":
            return _COLOR_ROLE.get(capability.color or "", "generic")
        if capability.type == "ColorTemperature":
            return "cct"
        if capability.type in ("ShutterStrobe", "StrobeSpeed"):
            return "strobe"
        return "generic"
    return "unused"


def _range(capability: OflCapability, native: int, parts: int) -> CapabilityRange:
    full = 256**native - 1
    lo, hi = capability.dmxRange if capability.dmxRange is not None else (0, full)
    kelvin = None
    if capability.type == "ColorTemperature":
        start = parse_entity(capability.colorTemperatureStart or capability.colorTemperature, "K")
        end = parse_entity(capability.colorTemperatureEnd or capability.colorTemperature, "K")
        if start is not None and end is not None:
            kelvin = (start, end)
    hz = None
    if capability.type in ("ShutterStrobe", "StrobeSpeed"):
        start = parse_entity(capability.speedStart or capability.speed, "Hz")
        end = parse_entity(capability.speedEnd or capability.speed, "Hz")
        if start is not None and end is not None:
            hz = (start, end)
    return CapabilityRange(kind=capability.type, lo=_scale(lo, native, parts), hi=_scale(hi, native, parts, True),
                           color=capability.color, kelvin=kelvin, shutter=capability.shutterEffect, hz=hz)


def _default(channel: OflChannel, native: int, parts: int) -> int:
    value = channel.defaultValue
    if value is None:
        return 0
    if isinstance(value, str):
        percent = parse_entity(value, "%")
        if percent is None:
            raise ValueError(f"defaultValue '{value}' is neither a DMX value nor a percentage")
        return round(percent / 100 * int(256**parts - 1))
    return _scale(value, native, parts)


def _native(channel: OflChannel) -> int:
    if channel.dmxValueResolution is not None:
        return {"8bit": 1, "16bit": 2, "24bit": 3}[channel.dmxValueResolution]
    return 1 + len(channel.fineChannelAliases)


def _resolve_modes(ofl: OflFixture, doc: LocatedDocument) -> tuple[dict[str, FixtureMode], list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    aliases: dict[str, tuple[str, int]] = {}  # fine channel alias -> (channel key, byte index)
    for key, channel in ofl.availableChannels.items():
        for index, alias in enumerate(channel.fineChannelAliases, start=1):
            if alias in ofl.availableChannels or alias in aliases:
                problems.append(doc.problem(("availableChannels", key, "fineChannelAliases", index - 1),
                                            f"fine channel alias '{alias}' is already a channel or an alias"))
            aliases[alias] = (key, index)
    modes: dict[str, FixtureMode] = {}
    for m, mode in enumerate(ofl.modes):
        if mode.key in modes:
            problems.append(doc.problem(("modes", m, "shortName" if mode.shortName else "name"),
                                        f"a second mode called '{mode.key}'; mode names must be unique"))
            continue
        slots: list[tuple[str | None, int]] = []
        for c, ref in enumerate(mode.channels):
            if ref is None:
                slots.append((None, 0))
            elif ref in ofl.availableChannels:
                slots.append((ref, 0))
            elif ref in aliases:
                slots.append(aliases[ref])  # a fine byte: (its channel, byte index)
            else:
                known = ", ".join([*ofl.availableChannels, *aliases])
                problems.append(doc.problem(("modes", m, "channels", c),
                                            f"mode '{mode.key}' uses channel '{ref}', which is neither in "
                                            f"availableChannels nor a fine channel alias (known: {known})"))
                slots.append((None, 0))
        used = [s for s in slots if s[0] is not None]
        if len(set(used)) != len(used):
            problems.append(doc.problem(("modes", m, "channels"), f"mode '{mode.key}' uses a channel twice"))
        parts_of = {name: sum(1 for k, _ in used if k == name) for name, _ in used}
        channels = []
        for c, (slot_key, part) in enumerate(slots):
            if slot_key is None:
                channels.append(ModeChannel(key=None, role="unused"))
                continue
            channel = ofl.availableChannels[slot_key]
            parts, native = parts_of[slot_key], _native(channel)
            if part >= parts:
                problems.append(doc.problem(("modes", m, "channels", c),
                                            f"mode '{mode.key}' has a fine byte of '{slot_key}' but not the bytes "
                                            "before it"))
                continue
            try:
                default = _default(channel, native, parts)
            except ValueError as exc:
                problems.append(doc.problem(("availableChannels", slot_key, "defaultValue"), str(exc)))
                default = 0
            try:
                ranges = tuple(_range(cap, native, parts) for cap in channel.all_capabilities())
            except ValueError as exc:
                problems.append(doc.problem(("availableChannels", slot_key), str(exc)))
                ranges = ()
            channels.append(ModeChannel(key=slot_key, role=_role(channel), part=part, parts=parts, default=default,
                                        capabilities=ranges))
        modes[mode.key] = FixtureMode(name=mode.name, channels=tuple(channels))
    return modes, problems


@cache
def _load_fixture_profile(path: Path, stamp: tuple[int, int]) -> FixtureProfile:
    doc = load_located_json(path, name=str(path))
    ofl = validate_document(OflFixture, doc, "a fixture profile (Open Fixture Library JSON)")
    modes, problems = _resolve_modes(ofl, doc)
    if problems:
        raise ConfigError(problems)
    return FixtureProfile(key=path.stem, name=ofl.name, categories=ofl.categories, modes=modes,
                          settle_s=ofl.capturerig.settleMs / 1000.0)


@cache
def _load_body_profile(path: Path, stamp: tuple[int, int]) -> CameraBodyProfile:
    return validate_document(CameraBodyProfile, load_located_yaml(path, name=str(path)), "a camera body profile")


def _missing(what: str, kind: str, name: str, path: Path, suffix: str) -> FileNotFoundError:
    available = ", ".join(available_profiles(kind)) or "none"
    return FileNotFoundError(f"no {what} '{name}' (looked for {path}; available: {available}, "
                             f"or a path to a {suffix} file relative to the rig file)")


def load_fixture_profile(name: str, base_dir: Path | None = None) -> FixtureProfile:
    """Load a fixture profile by name (``generic-rgbw``) or path to an OFL ``.json`` file.

    Raises
    ------
    ConfigError
        The file is not valid JSON (file:line, with the column) or not a usable OFL fixture (field paths).
    FileNotFoundError
        No such profile; the message lists the shipped ones.
    """
    path = _resolve("fixtures", name, base_dir)
    if path.suffix in (".yaml", ".yml"):
        raise FileNotFoundError(f"fixture profile '{name}': fixture profiles are Open Fixture Library JSON files "
                                "(.json); convert the YAML profile (see firmware-config/README.md)")
    if not path.is_file():
        raise _missing("fixture profile", "fixtures", name, path, FIXTURE_SUFFIX)
    path = path.resolve()
    return _load_fixture_profile(path, _stamp(path))


def load_body_profile(name: str, base_dir: Path | None = None) -> CameraBodyProfile:
    """Load a camera body profile by name (``nikon-d750``) or path; raises ConfigError or FileNotFoundError."""
    path = _resolve("cameras", name, base_dir)
    if not path.is_file():
        raise _missing("camera body profile", "cameras", name, path, ".yaml")
    path = path.resolve()
    return _load_body_profile(path, _stamp(path))
