"""Fixture and camera-body profiles from firmware-config/ (or a path named in the rig)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from capturerig.config._errors import ConfigError
from capturerig.config._yaml import load_located_yaml
from capturerig.config._validation import problems_from_validation_error

__all__ = [
    "CameraBodyProfile",
    "ChannelRole",
    "FixtureMode",
    "FixtureProfile",
    "firmware_config_dir",
    "load_body_profile",
    "load_fixture_profile",
]

ChannelRole = Literal["intensity", "red", "green", "blue", "white", "strobe", "unused"]


class FixtureMode(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channels: tuple[ChannelRole, ...] = Field(min_length=1, max_length=512)

    @property
    def footprint(self) -> int:
        return len(self.channels)


class FixtureProfile(BaseModel):
    """What a fixture's DMX channels mean, per personality (mode)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    manufacturer: str = "generic"
    modes: dict[str, FixtureMode] = Field(min_length=1)


class FormatProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    extension: str
    bytes_estimate: int = Field(gt=0)


class CameraBodyProfile(BaseModel):
    """A camera body's formats and timing, used for estimates and timeouts."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    formats: dict[str, FormatProfile] = Field(min_length=1)
    download_mbytes_per_s: float = Field(gt=0)
    trigger_latency_ms: float = Field(ge=0)
    card_write_ms: float = Field(ge=0)


def firmware_config_dir() -> Path:
    """The firmware-config folder: the wheel's copy, else the source checkout's."""
    packaged = Path(__file__).resolve().parent.parent / "_firmware_config"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "firmware-config"


def _resolve(kind: str, name: str, base_dir: Path | None) -> Path:
    if name.endswith((".yaml", ".yml")) or "/" in name:
        candidate = Path(name)
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        return candidate
    return firmware_config_dir() / kind / f"{name}.yaml"


@cache
def _load_fixture_profile(path: Path) -> FixtureProfile:
    doc = load_located_yaml(path, name=str(path))
    try:
        return FixtureProfile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation_error(exc, doc)) from exc


@cache
def _load_body_profile(path: Path) -> CameraBodyProfile:
    doc = load_located_yaml(path, name=str(path))
    try:
        return CameraBodyProfile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation_error(exc, doc)) from exc


def load_fixture_profile(name: str, base_dir: Path | None = None) -> FixtureProfile:
    """Load a fixture profile by name (``generic-rgbw``) or path; raises ConfigError or FileNotFoundError."""
    path = _resolve("fixtures", name, base_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no fixture profile '{name}' (looked for {path})")
    return _load_fixture_profile(path.resolve())


def load_body_profile(name: str, base_dir: Path | None = None) -> CameraBodyProfile:
    """Load a camera body profile by name (``nikon-d750``) or path."""
    path = _resolve("cameras", name, base_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no camera body profile '{name}' (looked for {path})")
    return _load_body_profile(path.resolve())
