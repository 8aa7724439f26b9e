"""A developed frame in the forms image code takes: 16-bit linear BGR (OpenCV's order) and an 8-bit preview."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from capturerig.develop._linear import Developed

__all__ = ["linear_bgr16", "neutral_srgb8", "preview_bgr8"]

_PREVIEW_GAMMA = 1 / 2.2


def linear_bgr16(developed: Developed) -> npt.NDArray[np.uint16]:
    """Camera-native linear values, 0..65535 for black..white level, BGR: what the colour fit samples."""
    scaled = np.rint(np.clip(developed.rgb[..., ::-1], 0.0, 1.0) * np.float32(65535.0))
    return np.ascontiguousarray(scaled.astype(np.uint16))


def preview_bgr8(developed: Developed) -> npt.NDArray[np.uint8]:
    """A viewable 8-bit BGR rendition for finding things in the frame (a chart, a board), not for colour:
    balanced by the camera's neutral, brightest 1 % at white, a plain 2.2 gamma."""
    balanced = developed.rgb / developed.as_shot_neutral.astype(np.float32)
    top = float(np.percentile(balanced, 99.0)) or 1.0
    encoded = np.power(np.clip(balanced / np.float32(top), 0.0, 1.0), np.float32(_PREVIEW_GAMMA))
    return np.ascontiguousarray(np.rint(encoded[..., ::-1] * np.float32(255.0)).astype(np.uint8))


def neutral_srgb8(developed: Developed) -> npt.NDArray[np.uint8]:
    """8-bit sRGB BGR without a colour calibration: balanced by the camera's own neutral, its RGB taken as
    sRGB's primaries, clipped at the white level, the sRGB curve. A faithful exposure, not calibrated colour."""
    balanced = np.clip(developed.rgb / developed.as_shot_neutral.astype(np.float32), 0.0, 1.0)
    encoded = np.where(balanced <= 0.0031308, 12.92 * balanced,
                       1.055 * np.power(balanced, np.float32(1 / 2.4)) - 0.055)
    return np.ascontiguousarray(np.rint(encoded[..., ::-1] * np.float32(255.0)).astype(np.uint8))
