"""What a simulated camera does to light: exposure settings, its colour response and its tone curve.

Each camera body gets its own colour mix, white-balance gains and per-channel gammas, fixed by its serial,
so that colour calibration has a real (and known) error to find and correct.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_SETTINGS",
    "SETTING_KEYS",
    "WHITE_BALANCE_PRESETS",
    "CameraResponse",
    "ExposureSettings",
    "camera_response",
]

# What a sim camera holds at power-on; also the exposure reference (EV 0), so the rig's default settings
# give a well-exposed image.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "iso": "100",
    "shutter": "1/125",
    "aperture": "8",
    "whitebalance": "daylight",
    "imageformat": "jpeg",
}
SETTING_KEYS: tuple[str, ...] = tuple(DEFAULT_SETTINGS)

# Multipliers on the camera's own daylight gains (red, green, blue); "auto" does no scene analysis here so
# that images stay deterministic.
WHITE_BALANCE_PRESETS: Mapping[str, tuple[float, float, float]] = {
    "auto": (1.0, 1.0, 1.0),
    "daylight": (1.0, 1.0, 1.0),
    "cloudy": (1.08, 1.0, 0.92),
    "shade": (1.15, 1.0, 0.85),
    "flash": (1.03, 1.0, 0.97),
    "fluorescent": (0.85, 1.0, 1.2),
    "tungsten": (0.65, 1.0, 1.55),
}

_REFERENCE_SHUTTER_S = 1.0 / 125.0
_REFERENCE_ISO = 100.0
_REFERENCE_APERTURE = 8.0
_FRACTION = re.compile(r"^1/(\d+(?:\.\d+)?)$")


def _parse_shutter(value: str) -> float:
    text = value.strip().lower().removesuffix("s").removesuffix('"').strip()
    match = _FRACTION.match(text)
    seconds = 1.0 / float(match.group(1)) if match else float(text)
    if not 1.0 / 8000.0 <= seconds <= 30.0:
        raise ValueError(f"shutter '{value}' is outside 1/8000..30 s")
    return seconds


def _parse_iso(value: str) -> float:
    iso = float(value.strip())
    if not 50.0 <= iso <= 51200.0:
        raise ValueError(f"iso '{value}' is outside 50..51200")
    return iso


def _parse_aperture(value: str) -> float:
    text = value.strip().lower().removeprefix("f/").removeprefix("f")
    number = float(text)
    if not 1.0 <= number <= 32.0:
        raise ValueError(f"aperture '{value}' is outside f/1..f/32")
    return number


@dataclass(frozen=True)
class ExposureSettings:
    """Exposure-relevant settings as numbers."""

    shutter_s: float
    iso: float
    aperture: float
    whitebalance: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> ExposureSettings:
        """Parse camera settings (missing keys take :data:`DEFAULT_SETTINGS`).

        Raises
        ------
        ValueError
            Naming the key and value that cannot be used (``shutter`` takes ``1/125`` or seconds, ``aperture``
            takes ``8`` or ``f/8``, ``whitebalance`` one of :data:`WHITE_BALANCE_PRESETS`).
        """
        merged = {**DEFAULT_SETTINGS, **settings}
        parsers = {"shutter": _parse_shutter, "iso": _parse_iso, "aperture": _parse_aperture}
        values: dict[str, float] = {}
        for key, parse in parsers.items():
            try:
                values[key] = parse(merged[key])
            except ValueError as exc:
                raise ValueError(f"{key}: cannot use '{merged[key]}' ({exc})") from exc
        balance = merged["whitebalance"].strip().lower()
        if balance not in WHITE_BALANCE_PRESETS:
            raise ValueError(f"whitebalance: cannot use '{merged['whitebalance']}' "
                             f"(known: {', '.join(WHITE_BALANCE_PRESETS)})")
        return cls(values["shutter"], values["iso"], values["aperture"], balance)

    @property
    def gain(self) -> float:
        """Linear exposure relative to the reference (1/125 s, ISO 100, f/8): 2.0 is one stop brighter."""
        return ((self.shutter_s / _REFERENCE_SHUTTER_S) * (self.iso / _REFERENCE_ISO)
                * (_REFERENCE_APERTURE / self.aperture) ** 2)

    @property
    def ev(self) -> float:
        """Stops relative to the reference."""
        return math.log2(self.gain)


@dataclass(frozen=True)
class CameraResponse:
    """A camera's map from scene-linear RGB to its 8-bit output (before noise).

    ``output = (clip(gain * (mix @ rgb) * wb_gains)) ** (1 / gammas)``, channel by channel.
    """

    mix: npt.NDArray[np.float32]  # 3x3, rows sum to 1 so grey stays grey before white balance
    wb_gains: npt.NDArray[np.float32]  # daylight gains (red, green, blue), green = 1
    gammas: npt.NDArray[np.float32]  # per-channel tone-curve exponent, close to sRGB's ~2.2

    def apply(self, linear_rgb: npt.NDArray[np.float32], gain: float,
              whitebalance: str = "daylight") -> npt.NDArray[np.float32]:
        """Scene-linear RGB (..., 3) to tone-mapped RGB in 0..1."""
        balance = self.wb_gains * np.asarray(WHITE_BALANCE_PRESETS[whitebalance], dtype=np.float32)
        camera_rgb = (linear_rgb @ self.mix.T) * (balance * np.float32(gain))
        np.clip(camera_rgb, 0.0, 1.0, out=camera_rgb)
        return np.power(camera_rgb, (1.0 / self.gammas).astype(np.float32))

    def to_linear(self, image_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Undo the tone curve of an 8-bit BGR image: camera-linear RGB in 0..1 (mix and gains stay)."""
        rgb = image_bgr[..., ::-1].astype(np.float32) / np.float32(255.0)
        return np.asarray(np.power(rgb, self.gammas), dtype=np.float32)


def _seed(text: str) -> int:
    # hashlib, not hash(): Python salts str hashes per process and the response must be stable.
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def camera_response(serial: str) -> CameraResponse:
    """The colour response of the sim camera with this serial (deterministic, a few percent off ideal)."""
    rng = np.random.default_rng(_seed(f"response:{serial}"))
    mix = np.eye(3) + rng.uniform(-0.03, 0.03, size=(3, 3)) * (1.0 - np.eye(3))
    mix /= mix.sum(axis=1, keepdims=True)
    gains = 1.0 + rng.uniform(-0.08, 0.08, size=3)
    gains /= gains[1]
    gammas = 2.2 * (1.0 + rng.uniform(-0.05, 0.05, size=3))
    return CameraResponse(mix.astype(np.float32), gains.astype(np.float32), gammas.astype(np.float32))
