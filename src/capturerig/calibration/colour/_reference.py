"""The ColorChecker 24 reference and the colorimetry that turns it into linear working-space RGB.

The reference is the X-Rite data for charts made after November 2014: CIE L*a*b* under the ICC D50
illuminant (2 degree observer). A working space is linear RGB with D65 white (linear sRGB by default), so the
reference is adapted from D50 to D65 with the Bradford transform (von Kries scaling in Bradford's sharpened
cone space), as ICC v4 and most colour-managed pipelines do. Differences are measured in L*a*b* D50, the
reference's own space: corrected RGB is taken back through the inverse adaptation.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BRADFORD",
    "CHART_COLUMNS",
    "CHART_ROWS",
    "D50_ICC",
    "D65",
    "NEUTRAL_PATCHES",
    "WHITE_PATCH",
    "WORKING_SPACES",
    "ChartReference",
    "WorkingSpace",
    "adaptation_matrix",
    "lab_to_linear",
    "lab_to_xyz",
    "linear_to_lab",
    "load_reference",
    "srgb_decode",
    "srgb_encode",
    "working_space_matrix",
    "xyz_to_lab",
]

FloatArray = npt.NDArray[np.float64]
WorkingSpace = Literal["linear-srgb", "linear-rec2020"]

CHART_ROWS, CHART_COLUMNS = 4, 6
NEUTRAL_PATCHES: tuple[int, ...] = (18, 19, 20, 21, 22, 23)  # 0-based: white .. black, the bottom row
WHITE_PATCH = 18

# ICC profile connection space white (ICC.1:2010 7.2.16), the illuminant of the reference data.
D50_ICC: FloatArray = np.array([0.9642, 1.0, 0.8249])
D65: FloatArray = np.array([0.3127 / 0.3290, 1.0, (1.0 - 0.3127 - 0.3290) / 0.3290])
BRADFORD: FloatArray = np.array([[0.8951, 0.2664, -0.1614],
                                 [-0.7502, 1.7135, 0.0367],
                                 [0.0389, -0.0685, 1.0296]])

# Primaries (x, y) of red, green, blue; both spaces have D65 white.
_PRIMARIES: dict[str, tuple[tuple[float, float], ...]] = {
    "linear-srgb": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),  # IEC 61966-2-1 / ITU-R BT.709
    "linear-rec2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),  # ITU-R BT.2020
}
WORKING_SPACES: tuple[str, ...] = tuple(_PRIMARIES)

_EPSILON = 216.0 / 24389.0  # CIE 15:2004, exact rational form
_KAPPA = 24389.0 / 27.0


def _rgb_to_xyz(space: str) -> FloatArray:
    """The 3x3 RGB -> XYZ matrix of a working space, from its primaries and white (Y of white = 1)."""
    try:
        primaries = _PRIMARIES[space]
    except KeyError:
        raise ValueError(f"unknown working space '{space}' (known: {', '.join(WORKING_SPACES)})") from None
    columns = np.array([[x / y, 1.0, (1.0 - x - y) / y] for x, y in primaries]).T
    scale = np.linalg.solve(columns, D65)
    return np.asarray(columns * scale, dtype=np.float64)


def adaptation_matrix(source_white: FloatArray, target_white: FloatArray) -> FloatArray:
    """Bradford chromatic adaptation: the 3x3 matrix taking XYZ seen under ``source_white`` to ``target_white``."""
    cone_source = BRADFORD @ source_white
    cone_target = BRADFORD @ target_white
    return np.asarray(np.linalg.inv(BRADFORD) @ np.diag(cone_target / cone_source) @ BRADFORD, dtype=np.float64)


def lab_to_xyz(lab: npt.ArrayLike, white: FloatArray = D50_ICC) -> FloatArray:
    """CIE L*a*b* (..., 3) to XYZ (..., 3) relative to ``white`` (Y of white = 1)."""
    values = np.asarray(lab, dtype=np.float64)
    fy = (values[..., 0] + 16.0) / 116.0
    fx = fy + values[..., 1] / 500.0
    fz = fy - values[..., 2] / 200.0
    f = np.stack([fx, fy, fz], axis=-1)
    cubed = f**3
    linear = (116.0 * f - 16.0) / _KAPPA
    return np.asarray(np.where(cubed > _EPSILON, cubed, linear) * white, dtype=np.float64)


def xyz_to_lab(xyz: npt.ArrayLike, white: FloatArray = D50_ICC) -> FloatArray:
    """XYZ (..., 3) relative to ``white`` to CIE L*a*b* (..., 3)."""
    ratio = np.asarray(xyz, dtype=np.float64) / white
    f = np.where(ratio > _EPSILON, np.cbrt(ratio), (_KAPPA * ratio + 16.0) / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])],
                    axis=-1)


def lab_to_linear(lab: npt.ArrayLike, space: str = "linear-srgb") -> FloatArray:
    """L*a*b* D50 (..., 3) to linear working-space RGB (..., 3), adapted D50 -> D65 with Bradford.

    Out-of-gamut colours (the chart's cyan in linear sRGB) keep their negative components.
    """
    to_working = np.linalg.inv(_rgb_to_xyz(space)) @ adaptation_matrix(D50_ICC, D65)
    return np.asarray(lab_to_xyz(lab) @ to_working.T, dtype=np.float64)


def linear_to_lab(rgb: npt.ArrayLike, space: str = "linear-srgb") -> FloatArray:
    """Linear working-space RGB (..., 3) to L*a*b* D50, the inverse of :func:`lab_to_linear`."""
    to_xyz_d50 = adaptation_matrix(D65, D50_ICC) @ _rgb_to_xyz(space)
    return xyz_to_lab(np.asarray(rgb, dtype=np.float64) @ to_xyz_d50.T)


def working_space_matrix(source: str, target: str) -> FloatArray:
    """The 3x3 matrix from linear ``source`` RGB to linear ``target`` RGB (same D65 white)."""
    return np.asarray(np.linalg.inv(_rgb_to_xyz(target)) @ _rgb_to_xyz(source), dtype=np.float64)


def srgb_encode(linear: npt.ArrayLike) -> FloatArray:
    """The sRGB transfer function (IEC 61966-2-1): linear 0..1 to encoded 0..1 (input clipped to 0..1)."""
    values = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(values <= 0.0031308, 12.92 * values, 1.055 * np.power(values, 1.0 / 2.4) - 0.055)


def srgb_decode(encoded: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`srgb_encode`: encoded 0..1 to linear 0..1."""
    values = np.asarray(encoded, dtype=np.float64)
    return np.where(values <= 0.04045, values / 12.92, np.power((values + 0.055) / 1.055, 2.4))


@dataclass(frozen=True)
class ChartReference:
    """A 24-patch chart's reference colours, row-major from dark skin (top left) to black (bottom right).

    Attributes
    ----------
    names
        Patch names, 24.
    lab_d50
        L*a*b* (24, 3) under ICC D50.
    source
        Where the values came from (a file path or the packaged data's name).
    """

    names: tuple[str, ...]
    lab_d50: FloatArray
    source: str

    def linear(self, space: str = "linear-srgb") -> FloatArray:
        """The patches in linear working-space RGB (24, 3); white patch ~0.9."""
        return lab_to_linear(self.lab_d50, space)

    def neutral_luminance(self) -> FloatArray:
        """Relative luminance Y (6,) of the neutral patches, white .. black."""
        return lab_to_xyz(self.lab_d50[list(NEUTRAL_PATCHES)])[:, 1]


_PACKAGED = "colorchecker24_lab_d50.csv"


def load_reference(path: Path | None = None) -> ChartReference:
    """Read a ColorChecker 24 reference CSV (``index,name,L,a,b``; ``#`` lines are comments).

    Parameters
    ----------
    path
        A CSV file; None reads the packaged post-2014 X-Rite data (the same as
        ``../shared/reference/colorchecker24_lab_d50.csv``).

    Raises
    ------
    ValueError
        Naming the file and line of a row that is not ``index,name,L,a,b`` with numbers, or when the file
        does not hold exactly patches 1..24 in order.
    """
    if path is None:
        text = resources.files("capturerig.calibration.colour").joinpath("data", _PACKAGED).read_text("utf-8")
        source = f"capturerig (packaged {_PACKAGED})"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the chart reference ({exc.strerror or exc})") from exc
        source = str(path)
    names: list[str] = []
    values: list[tuple[float, float, float]] = []
    header_seen = False
    for line_number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or row[0].lstrip().startswith("#"):
            continue
        if not header_seen:
            header_seen = True
            if [cell.strip().lower() for cell in row] != ["index", "name", "l", "a", "b"]:
                raise ValueError(f"{source}:{line_number}: header must be 'index,name,L,a,b', got {','.join(row)}")
            continue
        try:
            index = int(row[0])
            lab = (float(row[2]), float(row[3]), float(row[4]))
        except (ValueError, IndexError):
            raise ValueError(f"{source}:{line_number}: expected 'index,name,L,a,b' with numbers, "
                             f"got {','.join(row)}") from None
        if index != len(names) + 1:
            raise ValueError(f"{source}:{line_number}: patch index {index} out of order (expected {len(names) + 1})")
        names.append(row[1].strip())
        values.append(lab)
    if len(names) != CHART_ROWS * CHART_COLUMNS:
        raise ValueError(f"{source}: expected {CHART_ROWS * CHART_COLUMNS} patches, found {len(names)}")
    return ChartReference(tuple(names), np.array(values, dtype=np.float64), source)
