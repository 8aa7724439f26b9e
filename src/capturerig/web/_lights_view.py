"""What the lights page shows of each fixture and of the governor: a colour swatch per fixture, computed from
the channel levels the panel sent, and a bounded history of light changes with their clock time and verdict.

The swatch is a display colour, not a colorimetric claim. Each emitter a fixture's mode has is given a linear
sRGB primary (red, green and blue LEDs as the sRGB primaries, a white LED as a black body at its nominal
temperature, amber as 590 nm, UV as a faint violet since a camera sees little of it), the levels mix them
linearly, and a ``cct`` channel tints white through :func:`capturerig.lighting.cct_to_rgb` (Tanner Helland's
black-body fit, good to a few per cent from 1000 to 40000 K). The brightest channel of the mix sets the
swatch's brightness, so "all white, half" reads as a grey and "all red" as red at any intensity above zero.
"""

from __future__ import annotations

import colorsys
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from capturerig.config import FixtureMode
from capturerig.lighting import cct_to_rgb

__all__ = ["HISTORY_LENGTH", "LightsHistory", "fixture_swatch"]

HISTORY_LENGTH = 20  # light changes the server keeps for a page opened later

# Nominal temperature of each kind of white emitter (OFL capability colours).
_WHITE_KELVIN = {"White": 5600.0, "Cold White": 6500.0, "Warm White": 3000.0}
_PRIMARIES: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0),
    "amber": (1.0, 0.52, 0.0),  # ~590 nm: sRGB (255, 191, 0) linearised
    "uv": (0.06, 0.0, 0.12),  # barely visible violet
}
# Hue names by the upper end of their hue angle (degrees), for the text beside the swatch.
_HUES = ((15, "red"), (45, "orange"), (70, "yellow"), (165, "green"), (195, "cyan"), (255, "blue"),
         (290, "violet"), (340, "magenta"), (360, "red"))


def _white_kelvin(mode: FixtureMode) -> float:
    for channel in mode.channels:
        if channel.role == "white":
            for capability in channel.capabilities:
                if capability.color in _WHITE_KELVIN:
                    return _WHITE_KELVIN[capability.color]
    return _WHITE_KELVIN["White"]


def _encode(linear: float) -> int:
    """A linear 0..1 value as an 8-bit sRGB code value (the sRGB transfer curve)."""
    value = min(max(linear, 0.0), 1.0)
    encoded = value * 12.92 if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055
    return round(encoded * 255)


def _name(rgb: tuple[float, float, float], kelvin: float | None, white_only: bool) -> str:
    # A white LED is warm or cool, not "orange": only a mix with coloured emitters gets a hue name.
    _, saturation, _ = colorsys.rgb_to_hsv(*rgb)
    if white_only or saturation < 0.25:
        return f"white {kelvin:.0f} K" if kelvin is not None else "white"
    degrees = colorsys.rgb_to_hsv(*rgb)[0] * 360
    return next(name for top, name in _HUES if degrees < top)


def fixture_swatch(mode: FixtureMode, levels: Mapping[str, float]) -> dict[str, Any]:
    """The display colour of a fixture whose channels read ``levels`` (as ``decode_mode`` gives them).

    Returns ``{"hex": "#rrggbb", "text": "red 100 %" | "white 3200 K 50 %" | "off", "cct": kelvin or None}``.
    """
    roles = set(mode.roles)
    intensity = levels.get("intensity", 1.0) if "intensity" in roles else 1.0
    kelvin = levels.get("cct") if "cct" in roles else None
    mix = [0.0, 0.0, 0.0]
    emitters = {role: level for role, level in levels.items() if (role in _PRIMARIES or role == "white") and level > 0}
    if not emitters and kelvin is not None:  # a bi-colour panel: its dimmer drives white at its CCT
        emitters = {"white": 1.0}
    for role, level in emitters.items():
        if role == "white":
            primary = cct_to_rgb(kelvin if kelvin is not None else _white_kelvin(mode))
        else:
            primary = _PRIMARIES[role]
        for i in range(3):
            mix[i] += level * primary[i]
    brightest = max(mix)
    if brightest <= 0.0 or intensity <= 0.0:
        return {"hex": "#000000", "text": "off", "cct": kelvin}
    hue = (mix[0] / brightest, mix[1] / brightest, mix[2] / brightest)
    shown = min(brightest, 1.0) * intensity
    code = "#" + "".join(f"{_encode(c * shown):02x}" for c in hue)
    name = _name(hue, kelvin, set(emitters) == {"white"})
    return {"hex": code, "text": f"{name} {round(shown * 100)} %", "cct": kelvin}


class LightsHistory:
    """The last :data:`HISTORY_LENGTH` light changes of one rig, newest first: when (epoch seconds; the page
    shows its clock time), which scene or state, and the governor's verdict."""

    def __init__(self, length: int = HISTORY_LENGTH) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=length)
        self._lock = threading.Lock()  # the panel's changes come from request threads, a session's from the loop

    def add(self, at: float, scene: str, name: str, verdict: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Record a change made at ``at`` (epoch seconds); returns the history with it, newest first."""
        with self._lock:
            self._entries.appendleft({"at": at, "scene": scene, "name": name,
                                      "waited_s": verdict.get("waited_s", 0.0), "verdict": verdict.get("text", "")})
            return list(self._entries)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)
