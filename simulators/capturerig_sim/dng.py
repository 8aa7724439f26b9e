"""DNG files as a sim camera writes them: one uncompressed CFA image in IFD 0 with the tags LibRaw needs.

Written with tifffile (the TIFF container) and these Adobe DNG 1.4 tags, each as the specification types it:
DNGVersion / DNGBackwardVersion (BYTE 4), UniqueCameraModel (ASCII), CFARepeatPatternDim (SHORT 2),
CFAPattern (BYTE 4), BlackLevel and WhiteLevel (SHORT), ColorMatrix1 (SRATIONAL 9, XYZ to camera),
CalibrationIlluminant1 (SHORT, 21 = D65), AsShotNeutral (RATIONAL 3), plus Make / Model and the exposure
(ExposureTime, FNumber, ISOSpeedRatings) in IFD 0, and the lens's vignetting correction as OpcodeList3
(UNDEFINED: big-endian count, then FixVignetteRadial, opcode 3: k0..k4, cx, cy as doubles), which a DNG
reader applies after demosaicing. Strips, no compression: the layout every raw reader opens.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import tifffile

from capturerig_sim.raw_sensor import CFA_PATTERNS, SensorModel

__all__ = ["DngMeta", "encode_dng", "opcode_list_fix_vignette"]

_PHOTOMETRIC_CFA = 32803
_D65 = 21
_RATIONAL_DENOMINATOR = 1_000_000
_FIX_VIGNETTE_RADIAL = 3
_OPCODE_DNG_VERSION = 0x01030000  # the opcode's minimum DNG version, 1.3


@dataclass(frozen=True)
class DngMeta:
    """What a DNG says about the camera and the exposure besides the counts."""

    make: str
    model: str  # also the UniqueCameraModel: a raw reader's key to the camera
    colour_matrix: npt.NDArray[np.float64]  # 3x3, XYZ (D65) to camera native
    as_shot_neutral: npt.NDArray[np.float64]  # 3, maximum 1
    shutter_s: float
    aperture: float
    iso: float
    serial: str = ""
    vignette_k: tuple[float, float, float, float, float] | None = None  # FixVignetteRadial k0..k4


def _rationals(values: Sequence[float], signed: bool) -> tuple[int, ...]:
    out: list[int] = []
    for value in values:
        if not signed and value < 0:
            raise ValueError(f"a RATIONAL tag cannot hold {value}")
        fraction = Fraction(value).limit_denominator(_RATIONAL_DENOMINATOR)
        out += [fraction.numerator, fraction.denominator]
    return tuple(out)


def opcode_list_fix_vignette(k: tuple[float, float, float, float, float], cx: float = 0.5,
                             cy: float = 0.5) -> bytes:
    """An OpcodeList holding one FixVignetteRadial (optical centre ``cx``, ``cy`` as fractions of the image)."""
    params = struct.pack(">7d", *k, cx, cy)
    return struct.pack(">I", 1) + struct.pack(">IIII", _FIX_VIGNETTE_RADIAL, _OPCODE_DNG_VERSION, 0,
                                               len(params)) + params


def encode_dng(counts: npt.NDArray[np.uint16], sensor: SensorModel, meta: DngMeta) -> bytes:
    """The DNG file of ``counts`` (height, width) uint16 CFA values, as bytes."""
    if counts.dtype != np.uint16 or counts.ndim != 2:
        raise ValueError(f"a CFA image is 2-D uint16, not {counts.dtype} {counts.shape}")
    tags: list[tuple[int, int | str, int, object, bool]] = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, meta.model, True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, CFA_PATTERNS[sensor.pattern], True),  # CFAPattern
        (50714, "H", 1, (sensor.black_level,), True),  # BlackLevel
        (50717, "H", 1, (sensor.white_level,), True),  # WhiteLevel
        (50721, "2i", 9, _rationals(meta.colour_matrix.reshape(-1).tolist(), signed=True), True),  # ColorMatrix1
        (50778, "H", 1, (_D65,), True),  # CalibrationIlluminant1
        (50728, "2I", 3, _rationals(meta.as_shot_neutral.tolist(), signed=False), True),  # AsShotNeutral
        (271, "s", 0, meta.make, True),  # Make
        (272, "s", 0, meta.model, True),  # Model
        (33434, "2I", 1, _rationals([meta.shutter_s], signed=False), True),  # ExposureTime
        (33437, "2I", 1, _rationals([meta.aperture], signed=False), True),  # FNumber
        (34855, "H", 1, (round(meta.iso),), True),  # ISOSpeedRatings
    ]
    if meta.serial:
        tags.append((50735, "s", 0, meta.serial, True))  # CameraSerialNumber
    if meta.vignette_k is not None:
        opcodes = opcode_list_fix_vignette(meta.vignette_k)
        tags.append((51022, 7, len(opcodes), opcodes, True))  # OpcodeList3, UNDEFINED
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, counts, photometric=_PHOTOMETRIC_CFA, extratags=tags, metadata=None,
                     compression=None, software="capturerig simulator")
    return buffer.getvalue()
