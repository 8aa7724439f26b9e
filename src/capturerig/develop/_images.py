"""A developed frame in the forms image code takes: 16-bit linear BGR (OpenCV's order) and an 8-bit preview."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from capturerig.develop._linear import Developed

__all__ = ["linear_bgr16", "linear_rgb16", "neutral_srgb8", "preview_bgr8"]

_PREVIEW_GAMMA = 1 / 2.2
# Whole-frame conversions go a band of rows at a time: a 45 MP frame's float temporaries would be ~540 MB each,
# every one freshly mapped and faulted in by the kernel (and two workers fault at once); a band's stay in cache.
_BAND_ROWS = 64


def _bands(height: int) -> list[slice]:
    return [slice(top, min(top + _BAND_ROWS, height)) for top in range(0, height, _BAND_ROWS)]


def linear_rgb16(rgb: npt.NDArray[np.float32], reverse: bool = False) -> npt.NDArray[np.uint16]:
    """``rgb`` (linear 0..1) as 0..65535, clipped, rounded to the nearest code; ``reverse`` gives BGR."""
    out = np.empty(rgb.shape, dtype=np.uint16)
    for rows in _bands(rgb.shape[0]):
        band = rgb[rows, :, ::-1] if reverse else rgb[rows]
        scaled = np.clip(band, 0.0, 1.0) * np.float32(65535.0)
        np.rint(scaled, out=scaled)
        out[rows] = scaled
    return out


def linear_bgr16(developed: Developed) -> npt.NDArray[np.uint16]:
    """Camera-native linear values, 0..65535 for black..white level, BGR: what the colour fit samples."""
    return linear_rgb16(developed.rgb, reverse=True)


def preview_bgr8(developed: Developed) -> npt.NDArray[np.uint8]:
    """A viewable 8-bit BGR rendition for finding things in the frame (a chart, a board), not for colour:
    balanced by the camera's neutral, brightest 1 % at white, a plain 2.2 gamma."""
    balanced = developed.rgb / developed.as_shot_neutral.astype(np.float32)
    top = float(np.percentile(balanced, 99.0)) or 1.0
    encoded = np.power(np.clip(balanced / np.float32(top), 0.0, 1.0), np.float32(_PREVIEW_GAMMA))
    return np.ascontiguousarray(np.rint(encoded[..., ::-1] * np.float32(255.0)).astype(np.uint8))


def _srgb_table(levels: int) -> npt.NDArray[np.uint8]:
    """8-bit sRGB code of each of ``levels`` evenly spaced linear values 0..1 (the curve once, not per pixel)."""
    linear = np.linspace(0.0, 1.0, levels)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.asarray(np.rint(encoded * 255.0), dtype=np.uint8)


_SRGB_16_TO_8 = _srgb_table(65536)


def neutral_srgb8(developed: Developed) -> npt.NDArray[np.uint8]:
    """8-bit sRGB BGR without a colour calibration: balanced by the camera's own neutral, its RGB taken as
    sRGB's primaries, clipped at the white level, the sRGB curve (through a 16-bit table: exact to the 8-bit
    code but for values within 1/65535 of a code's edge). A faithful exposure, not calibrated colour."""
    gains = (np.float32(65535.0) / developed.as_shot_neutral.astype(np.float32))[::-1]
    out = np.empty(developed.rgb.shape, dtype=np.uint8)
    for rows in _bands(developed.rgb.shape[0]):
        balanced = developed.rgb[rows, :, ::-1] * gains
        np.clip(balanced, 0.0, 65535.0, out=balanced)
        np.rint(balanced, out=balanced)
        out[rows] = _SRGB_16_TO_8[balanced.astype(np.uint16)]
    return out
