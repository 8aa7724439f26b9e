"""RAW files developed linearly: camera-native RGB in 0..1 of the sensor's range, the same scale for every take.

:func:`develop_linear` reads a RAW file (DNG and the formats LibRaw reads) with rawpy and no automatic step:
no auto-brightness, no white balance (all four multipliers 1), no white-point adjustment from the frame's own
maxima, gamma 1, 16 bits, the camera's own colour space, black and white levels from the file; then a DNG's
own lens vignetting correction (OpcodeList3 FixVignetteRadial, which LibRaw leaves to its caller). Half size
bins each 2x2 Bayer block (no demosaic): the fast path for previews and checks.
"""

from capturerig.develop._images import linear_bgr16, linear_rgb16, neutral_srgb8, preview_bgr8
from capturerig.develop._linear import (
    RAW_SUFFIXES,
    Developed,
    DevelopError,
    check_raw,
    develop_linear,
    is_raw,
)

__all__ = ["RAW_SUFFIXES", "DevelopError", "Developed", "check_raw", "develop_linear", "is_raw", "linear_bgr16",
           "linear_rgb16", "neutral_srgb8", "preview_bgr8"]
