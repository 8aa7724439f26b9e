"""Images as linear light, and the noise a plate carries at each level: what differences are measured in.

Shadows are a multiplication of the light, so they are recognised in linear values, not in tone-mapped ones.
An 8-bit file (JPEG, PNG) is taken as sRGB-encoded and its curve undone; a camera's curve is not exactly sRGB
(see the colour notes), but a ratio test only needs it monotonic and close. A 16-bit PNG or TIFF is taken as
linear already (what ``capturerig develop --linear`` writes). A RAW file is developed linearly by
:func:`capturerig.develop.develop_linear`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.develop import DevelopError, develop_linear, is_raw

__all__ = ["IMAGE_SUFFIXES", "MIN_SIGMA_CODES", "LinearImage", "MaskError", "encoded_values", "noise_sigma",
           "read_linear", "srgb_to_linear", "texture_of"]

Float32Array = npt.NDArray[np.float32]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})


class MaskError(ValueError):
    """Masks cannot be made as asked: the message names the file, camera or lighting state at fault."""


@dataclass(frozen=True)
class LinearImage:
    """Linear RGB (height, width, 3) float32, 0..1 of the file's range, and where it came from."""

    rgb: Float32Array
    path: Path
    encoding: str = "linear"  # "srgb8" (an 8-bit file, its curve undone) or "linear"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]


def _srgb_table() -> Float32Array:
    code = np.arange(256, dtype=np.float64) / 255.0
    return np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4).astype(np.float32)


_SRGB_8 = _srgb_table()


def srgb_to_linear(image8: npt.NDArray[np.uint8]) -> Float32Array:
    """8-bit sRGB codes to linear 0..1 (a table: exact and fast)."""
    return np.asarray(_SRGB_8[image8], dtype=np.float32)


def read_linear(path: Path) -> LinearImage:
    """Read an image or RAW file as linear RGB.

    Raises
    ------
    MaskError
        The file cannot be read or decoded, or is not a colour image (naming it).
    """
    if is_raw(path):
        try:
            return LinearImage(develop_linear(path).rgb, path)
        except DevelopError as exc:
            raise MaskError(str(exc)) from exc
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise MaskError(f"{path}: cannot be read as an image (missing, truncated or not an image)")
    if data.ndim != 3 or data.shape[2] not in (3, 4):
        raise MaskError(f"{path}: a {data.ndim}-dimensional image with shape {data.shape}; want colour (RGB)")
    rgb = np.ascontiguousarray(data[..., 2::-1])  # BGR(A) -> RGB
    if rgb.dtype == np.uint8:
        return LinearImage(srgb_to_linear(rgb.astype(np.uint8, copy=False)), path, "srgb8")
    if rgb.dtype == np.uint16:
        return LinearImage(rgb.astype(np.float32) * np.float32(1.0 / 65535.0), path)
    raise MaskError(f"{path}: {rgb.dtype} samples; want 8-bit sRGB or 16-bit linear")


def _srgb_slope(linear: Float32Array) -> Float32Array:
    """d(linear)/d(8-bit code) of the sRGB curve at each linear value."""
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(np.maximum(linear, 1e-12), 1 / 2.4)
                       - 0.055)
    slope = np.where(encoded <= 0.04045, 1.0 / 12.92, 2.4 / 1.055 * ((encoded + 0.055) / 1.055) ** 1.4)
    return np.asarray(slope / 255.0, dtype=np.float32)


def encoded_values(image: LinearImage) -> Float32Array:
    """The values noise is constant in: 8-bit codes for sRGB files, the linear values for the others."""
    if image.encoding == "srgb8":
        linear = image.rgb
        return np.asarray(255.0 * np.where(linear <= 0.0031308, 12.92 * linear,
                                           1.055 * np.power(np.maximum(linear, 1e-12), 1 / 2.4) - 0.055),
                          dtype=np.float32)
    return image.rgb


# A JPEG's flat areas come out smoother than the sensor made them, but its coding error near any detail is about
# a code: the noise an 8-bit file is trusted to is never below this.
MIN_SIGMA_CODES = 1.0


def noise_sigma(plate: LinearImage) -> Float32Array:
    """Each pixel's noise (linear units, per channel), measured where the plate is flat.

    The noise of the file's own values (8-bit codes for sRGB, linear otherwise) is taken as one figure per
    channel: the spread (median absolute deviation) of a 3 x 3 box blur's residual over the flattest tenth of
    the plate -- a textured floor would otherwise count as noise. For sRGB files it goes back to linear light
    through the curve's slope at each pixel's level, so it grows with the light as a JPEG's noise does.
    """
    encoded = encoded_values(plate)
    level = cv2.blur(encoded, (3, 3))
    residual = np.abs(encoded - level)
    texture = cv2.blur(residual.mean(axis=2), (5, 5))
    flat = texture <= np.quantile(texture, 0.1)
    spread = np.array([float(np.median(residual[..., channel][flat])) for channel in range(encoded.shape[2])])
    # MAD to sigma (1.4826), and the blur's share of the pixel itself (sqrt(9/8)).
    floor = MIN_SIGMA_CODES if plate.encoding == "srgb8" else 1e-5
    sigma = np.maximum(spread * 1.4826 * 1.0607, floor).astype(np.float32)
    if plate.encoding == "srgb8":
        return np.asarray(_srgb_slope(plate.rgb) * sigma, dtype=np.float32)
    return np.broadcast_to(sigma, plate.rgb.shape).astype(np.float32)


def texture_of(plate: LinearImage) -> Float32Array:
    """The plate's local detail (linear, per channel): where JPEG blocks and a pixel's shift make differences."""
    return np.asarray(np.abs(plate.rgb - cv2.blur(plate.rgb, (3, 3))), dtype=np.float32)
