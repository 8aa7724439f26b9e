"""Fixture and camera-body profiles from firmware-config/ (or a path named in the rig)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from capturerig.config._validation import validate_document
from capturerig.config._yaml import load_located_yaml

__all__ = [
    "CameraBodyProfile",
    "ChannelRole",
    "FixtureMode",
    "FixtureProfile",
    "available_profiles",
    "firmware_config_dir",
    "load_body_profile",
    "load_fixture_profile",
]

ChannelRole = Literal["intensity", "red", "green", "blue", "white", "strobe", "unused"]


class FixtureMode(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    channels: tuple[ChannelRole, ...] = Field(min_length=1, max_length=512)

    @property
    def footprint(self) -> int:
        return len(self.channels)


class FixtureProfile(BaseModel):
    """What a fixture's DMX channels mean, per personality (mode)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    name: str
    manufacturer: str = "generic"
    modes: dict[str, FixtureMode] = Field(min_length=1)


class FormatProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    extension: str
    bytes_estimate: int = Field(gt=0)


class CameraBodyProfile(BaseModel):
    """A camera body's formats and timing, used for estimates and timeouts."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
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


def available_profiles(kind: str) -> list[str]:
    """Profile names shipped in firmware-config/``kind`` (``fixtures`` or ``cameras``)."""
    folder = firmware_config_dir() / kind
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _stamp(path: Path) -> tuple[int, int]:
    """Modification time and size: a profile edited while the controller runs is read again."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@cache
def _load_fixture_profile(path: Path, stamp: tuple[int, int]) -> FixtureProfile:
    return validate_document(FixtureProfile, load_located_yaml(path, name=str(path)), "a fixture profile")


@cache
def _load_body_profile(path: Path, stamp: tuple[int, int]) -> CameraBodyProfile:
    return validate_document(CameraBodyProfile, load_located_yaml(path, name=str(path)), "a camera body profile")


def _missing(what: str, kind: str, name: str, path: Path) -> FileNotFoundError:
    available = ", ".join(available_profiles(kind)) or "none"
    return FileNotFoundError(f"no {what} '{name}' (looked for {path}; available: {available}, "
                             "or a path to a .yaml file relative to the rig file)")


def load_fixture_profile(name: str, base_dir: Path | None = None) -> FixtureProfile:
    """Load a fixture profile by name (``generic-rgbw``) or path; raises ConfigError or FileNotFoundError."""
    path = _resolve("fixtures", name, base_dir)
    if not path.is_file():
        raise _missing("fixture profile", "fixtures", name, path)
    path = path.resolve()
    return _load_fixture_profile(path, _stamp(path))


def load_body_profile(name: str, base_dir: Path | None = None) -> CameraBodyProfile:
    """Load a camera body profile by name (``nikon-d750``) or path; raises ConfigError or FileNotFoundError."""
    path = _resolve("cameras", name, base_dir)
    if not path.is_file():
        raise _missing("camera body profile", "cameras", name, path)
    path = path.resolve()
    return _load_body_profile(path, _stamp(path))
