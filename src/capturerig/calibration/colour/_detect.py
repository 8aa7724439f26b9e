"""Finding the ColorChecker in an image (OpenCV's ``cv2.mcc``, or four given corners) and sampling its patches.

Chart coordinates follow OpenCV's MCC24 model: the chart's outer box is 16.75 x 11.25 units, patches are 2.5
units square on a 2.75 pitch with a 0.25 margin. Corners are always in chart order: the corner by dark
skin (top left), by bluish green (top right), by black (bottom right), by white (bottom left).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._reference import CHART_COLUMNS, CHART_ROWS, NEUTRAL_PATCHES

__all__ = [
    "CHART_SIZE_UNITS",
    "ChartLocation",
    "PatchSamples",
    "detect_chart",
    "draw_detection",
    "location_from_corners",
    "orient",
    "patch_centres_units",
    "sample_patches",
]

FloatArray = npt.NDArray[np.float64]
CHART_SIZE_UNITS = (16.75, 11.25)
_PATCH_UNITS = 2.5
_PITCH_UNITS = 2.75
_MARGIN_UNITS = 0.25
_MIN_PATCH_PIXELS = 16  # fewer than this per patch: the chart is too small in the image to trust a mean
# A pixel at or above this code value (of 255) is treated as clipped: JPEG ringing turns a clipped 255 into
# 253..255, so the top two codes count.
_CLIP_CODE_8BIT = 253.0


def patch_centres_units() -> FloatArray:
    """Centres (24, 2) of the patches in chart units, row-major from dark skin."""
    index = np.arange(CHART_ROWS * CHART_COLUMNS)
    row, column = np.divmod(index, CHART_COLUMNS)
    offset = _MARGIN_UNITS + _PATCH_UNITS / 2.0
    return np.stack([offset + column * _PITCH_UNITS, offset + row * _PITCH_UNITS], axis=1).astype(np.float64)


def _box_units() -> FloatArray:
    width, height = CHART_SIZE_UNITS
    return np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])


@dataclass(frozen=True)
class ChartLocation:
    """Where a chart is in an image.

    Attributes
    ----------
    corners
        (4, 2) pixel coordinates of the chart's outer box in chart order (dark skin, bluish green, black,
        white corners).
    method
        ``"mcc"`` (found by ``cv2.mcc``) or ``"corners"`` (given by the operator's corner file).
    cost
        The detector's matching cost (lower is better; 0 for given corners).
    """

    corners: FloatArray
    method: Literal["mcc", "corners"]
    cost: float = 0.0

    @property
    def homography(self) -> FloatArray:
        """The 3x3 map from chart units to pixels."""
        matrix = cv2.getPerspectiveTransform(_box_units().astype(np.float32), self.corners.astype(np.float32))
        return np.asarray(matrix, dtype=np.float64)

    def patch_quads(self, fraction: float = 0.5) -> FloatArray:
        """Pixel quads (24, 4, 2) of each patch's central square, ``fraction`` of the patch's side."""
        half = _PATCH_UNITS * fraction / 2.0
        corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        units = patch_centres_units()[:, None, :] + corners[None, :, :]
        projected = cv2.perspectiveTransform(units.reshape(1, -1, 2), self.homography)
        return np.asarray(projected.reshape(-1, 4, 2), dtype=np.float64)

    def rolled(self, steps: int) -> ChartLocation:
        """The same box with its corner order turned by ``steps`` (the chart seen rotated by 90 deg * steps)."""
        return ChartLocation(np.roll(self.corners, -steps, axis=0), self.method, self.cost)


def location_from_corners(corners: npt.ArrayLike) -> ChartLocation:
    """A location from four operator-given corners (pixels, chart order).

    Raises
    ------
    ValueError
        When ``corners`` is not four (x, y) pairs of finite numbers making a convex quadrilateral.
    """
    points = np.asarray(corners, dtype=np.float64)
    if points.shape != (4, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"chart corners must be four [x, y] pixel pairs, got {np.asarray(corners).tolist()}")
    if not cv2.isContourConvex(points.astype(np.float32).reshape(-1, 1, 2)) or cv2.contourArea(
            points.astype(np.float32)) < 1.0:
        raise ValueError("chart corners do not make a convex quadrilateral; give them in order: dark skin, "
                         "bluish green, black, white corner")
    return ChartLocation(points, "corners")


def detect_chart(image_bgr: npt.NDArray[np.generic]) -> ChartLocation | None:
    """Find one ColorChecker 24 with ``cv2.mcc`` (MCC24, no neural network); None when there is none.

    The detector's orientation comes from matching colours against OpenCV's sRGB reference, which a strong
    camera cast can fool, so the box is turned to the orientation whose bottom row is a descending grey ramp.
    """
    detector = cv2.mcc.CCheckerDetector.create()
    detector.setColorChartType(cv2.mcc.MCC24)
    detector.setUseDnnModel(False)
    if not detector.process(_as_8bit(image_bgr), 1):
        return None
    checker = detector.getBestColorChecker()
    location = ChartLocation(np.asarray(checker.getBox(), dtype=np.float64).reshape(4, 2), "mcc",
                             float(checker.getCost()))
    return orient(image_bgr, location)


def _grey_ramp_score(image_bgr: npt.NDArray[np.generic], location: ChartLocation) -> float:
    """How unlike a descending neutral ramp the location's bottom row is (0 = perfect)."""
    try:
        samples = sample_patches(image_bgr, location)
    except ValueError:  # that orientation puts a patch outside the image: not it
        return float("inf")
    row = samples.mean[list(NEUTRAL_PATCHES)]
    brightness = row.mean(axis=1)
    chroma = float(np.mean((row.max(axis=1) - row.min(axis=1)) / np.maximum(brightness, 1e-3)))
    rising = float(np.sum(np.maximum(np.diff(brightness), 0.0)))
    return chroma + 10.0 * rising


def orient(image_bgr: npt.NDArray[np.generic], location: ChartLocation) -> ChartLocation:
    """``location`` turned to the corner order whose bottom row is the chart's grey ramp (white to black)."""
    candidates = [location.rolled(steps) for steps in range(4)]
    scores = [_grey_ramp_score(image_bgr, candidate) for candidate in candidates]
    return candidates[int(np.argmin(scores))]


@dataclass(frozen=True)
class PatchSamples:
    """Patch statistics from one chart image, RGB order, code values scaled to 0..1.

    Attributes
    ----------
    mean
        (24, 3) mean code value of each patch's central square.
    std
        (24, 3) standard deviation within it (noise plus any gradient).
    clipped
        (24,) fraction of the patch's pixels with some channel at the top code.
    pixels
        (24,) pixels sampled per patch.
    """

    mean: FloatArray
    std: FloatArray
    clipped: FloatArray
    pixels: npt.NDArray[np.int64]


def _full_scale(image: npt.NDArray[np.generic]) -> float:
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    raise ValueError(f"chart images must be 8- or 16-bit, got {image.dtype}")


def sample_patches(image_bgr: npt.NDArray[np.generic], location: ChartLocation,
                   fraction: float = 0.5) -> PatchSamples:
    """Mean, spread and clipping of each patch's central square (``fraction`` of its side).

    Raises
    ------
    ValueError
        When the image is not 8/16-bit BGR, or a patch falls outside it or covers fewer than 16 pixels.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"chart images must be BGR (height, width, 3), got shape {image_bgr.shape}")
    scale = _full_scale(image_bgr)
    clip_level = _CLIP_CODE_8BIT / 255.0 * scale
    height, width = image_bgr.shape[:2]
    quads = location.patch_quads(fraction)
    means = np.zeros((len(quads), 3))
    stds = np.zeros((len(quads), 3))
    clipped = np.zeros(len(quads))
    pixels = np.zeros(len(quads), dtype=np.int64)
    for index, quad in enumerate(quads):
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise ValueError(f"patch {index + 1} lies outside the image ({width}x{height}); is the whole chart "
                             "in view?")
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(mask, np.rint(quad - (x0, y0)).astype(np.int32), 1)
        values = image_bgr[y0:y1, x0:x1][mask.astype(bool)].astype(np.float64)
        if len(values) < _MIN_PATCH_PIXELS:
            raise ValueError(f"patch {index + 1} covers only {len(values)} pixels; move the chart closer")
        means[index] = values.mean(axis=0)[::-1] / scale
        stds[index] = values.std(axis=0)[::-1] / scale
        clipped[index] = float(np.mean(np.any(values >= clip_level, axis=1)))
        pixels[index] = len(values)
    return PatchSamples(means, stds, clipped, pixels)


def _as_8bit(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """8-bit contiguous view or copy (16-bit scaled down): what OpenCV's detectors and drawing take."""
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image, dtype=np.uint8)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint16) // 257, dtype=np.uint8)


def _square_candidates(image_bgr: npt.NDArray[np.generic]) -> list[npt.NDArray[np.int32]]:
    """Quadrilateral contours like the patches ``cv2.mcc`` looks for (what a failed attempt saw)."""
    grey = cv2.cvtColor(_as_8bit(image_bgr), cv2.COLOR_BGR2GRAY)
    binary = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 23, 7)
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    squares = []
    for contour in contours:
        if cv2.contourArea(contour) < 100.0:
            continue
        approx = cv2.approxPolyDP(contour, 0.05 * cv2.arcLength(contour, True), True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            squares.append(np.asarray(approx, dtype=np.int32))
    return squares


def draw_detection(image_bgr: npt.NDArray[np.generic], location: ChartLocation | None,
                   message: str) -> npt.NDArray[np.uint8]:
    """An 8-bit copy of the image showing what detection saw, with ``message`` written on it.

    With a location: the chart box and the sampled patch squares, numbered. Without one: the square
    candidates a detector works from (yellow), so the operator sees whether the patches were visible at all.
    """
    canvas = _as_8bit(image_bgr).copy()
    if location is None:
        cv2.drawContours(canvas, _square_candidates(image_bgr), -1, (0, 220, 255), 1, cv2.LINE_AA)
    else:
        cv2.polylines(canvas, [np.rint(location.corners).astype(np.int32)], True, (0, 255, 0), 2, cv2.LINE_AA)
        for index, quad in enumerate(location.patch_quads()):
            cv2.polylines(canvas, [np.rint(quad).astype(np.int32)], True, (255, 255, 255), 1, cv2.LINE_AA)
            centre = tuple(int(v) for v in np.rint(quad.mean(axis=0)))
            cv2.putText(canvas, str(index + 1), centre, cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    for line_number, line in enumerate(message.splitlines()):
        origin = (8, 20 + 20 * line_number)
        (width, height), baseline = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(canvas, (origin[0] - 3, origin[1] - height - 4), (origin[0] + width + 3, origin[1] + baseline),
                      (255, 255, 255), -1)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1, cv2.LINE_AA)
    return canvas
