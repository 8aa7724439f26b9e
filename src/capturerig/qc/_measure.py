"""One image measured once, from a half-size decode, into the few figures every check needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.develop import DevelopError, develop_linear, is_raw

__all__ = ["ImageStats", "QcError", "centre_region", "measure_image"]

Gray = npt.NDArray[np.float32]
THUMB_SIZE = (32, 24)  # width, height of the near-identity thumbnail
VIEW_WIDTH = 160  # the reduced gray view "moved" compares (half-size 240 -> 160: 3 full-size px per cell)
VIEW_SHADING_CELLS = 3.0  # the view's shading (a Gaussian of this sigma, in cells) is taken out of it


class QcError(ValueError):
    """An image the checks cannot read (names the file)."""


@dataclass(frozen=True)
class ImageStats:
    """What the checks know of one image (arrays small: a thumbnail and a reduced edge image).

    Levels are 8-bit (0..255); a RAW file is developed linearly and put through a 1/2.2 gamma first, so its
    figures read like a JPEG's. ``scale`` is full-size pixels per cell of ``view``.
    """

    sha256: str
    width: int
    height: int
    laplacian: float  # variance of the Laplacian over the region, divided by the region's mean squared
    tenengrad: float  # mean of gx^2 + gy^2 (3x3 Sobel) over the region, divided likewise
    clipped: float  # share of the region at the top (JPEG: every channel > 253; RAW: any channel at white)
    crushed: float  # share of the region at the bottom (every channel < 2)
    mean: float  # mean level over the region (0..255)
    light: float  # mean linear light over the region (0..1: levels through a 2.2 gamma), what EV compare
    chroma: tuple[float, float, float]  # mean R, G, B shares of the region (sum 1)
    spread: float  # standard deviation of the whole frame's levels
    top: float  # the 99th percentile of the whole frame's brightest channel
    phash: int  # 64-bit difference hash of the frame
    thumb: Gray = field(repr=False, compare=False)  # (24, 32) gray
    view: Gray = field(repr=False, compare=False)  # reduced gray levels of the frame, what "moved" correlates
    still: npt.NDArray[np.bool_] = field(repr=False, compare=False)  # the cells of ``view`` "moved" may use
    scale: float = 1.0
    # The share of the frame "moved" measures: outside the subject region when one is left out, else all of it.
    outside: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """The figures (not the arrays)."""
        return {"sha256": self.sha256, "laplacian": round(self.laplacian, 6), "tenengrad": round(self.tenengrad, 6),
                "clipped": round(self.clipped, 6), "crushed": round(self.crushed, 6), "mean": round(self.mean, 3),
                "light": round(self.light, 5),
                "chroma": [round(c, 4) for c in self.chroma], "phash": f"{self.phash:016x}"}


def centre_region(height: int, width: int) -> npt.NDArray[np.bool_]:
    """The default subject region: the middle 60 % of the width and 80 % of the height."""
    region = np.zeros((height, width), dtype=bool)
    region[height // 10 : height - height // 10, width // 5 : width - width // 5] = True
    return region


def _decode(data: bytes, name: str) -> tuple[npt.NDArray[np.float32], bool]:
    """Half-size BGR levels 0..255 (float32) and whether they came from RAW."""
    if is_raw(Path(name)):
        try:
            developed = develop_linear(data, half_size=True, name=name)
        except DevelopError as exc:
            raise QcError(str(exc)) from exc
        linear = np.clip(developed.rgb[..., ::-1], 0.0, 1.0)
        return np.power(linear, np.float32(1 / 2.2)) * np.float32(255.0), True
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        raise QcError(f"{name}: does not decode as an image (JPEG, PNG, TIFF) or RAW")
    return image.astype(np.float32), False


def _dhash(gray: Gray) -> int:
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << index for index, bit in enumerate(bits) if bit))


def _still_view(gray: Gray, size: tuple[int, int],
                exclude: npt.NDArray[np.bool_] | None) -> tuple[Gray, npt.NDArray[np.bool_]]:
    """The reduced view "moved" correlates and the cells of it that show what stands still: all but those touched
    by ``exclude`` (where the subject may be; INTER_AREA: any share of a cell inside reads above zero).

    Gray levels less their shading, not an edge magnitude: averaged over a 3 px cell, the magnitude of a textured
    stage is one flat blob whose only outline is its rim, and a rim cannot show a shift along itself. The shading
    (a backdrop's falloff) goes because a smooth ramp correlates with itself at any shift; it is the local mean
    of the still cells only, so the subject's levels never leak into them.
    """
    view = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), np.float32)
    if exclude is None:
        still = np.ones(view.shape, dtype=bool)
    else:
        still = np.asarray(cv2.resize(exclude.astype(np.float32), size, interpolation=cv2.INTER_AREA) <= 0.0)
    weight = still.astype(np.float32)
    shading = cv2.GaussianBlur(view * weight, (0, 0), VIEW_SHADING_CELLS)
    cover = cv2.GaussianBlur(weight, (0, 0), VIEW_SHADING_CELLS)
    detail = np.where(still, view - shading / np.maximum(cover, np.float32(1e-6)), np.float32(0.0))
    return np.asarray(detail, np.float32), still


def measure_image(data: bytes, name: str, mask: npt.NDArray[np.bool_] | None = None,
                  exclude: npt.NDArray[np.bool_] | None = None) -> ImageStats:
    """Measure ``data`` (a file's bytes; ``name`` says RAW or not and names it in errors).

    ``mask``: the subject region (any size: resized to the half-size frame); default the centre region.
    ``exclude``: where the subject may be (any size), left out of the view "moved" compares; default nothing
    (the whole frame).

    Raises
    ------
    QcError
        When the file decodes as neither an image nor RAW.
    """
    sha = hashlib.sha256(data).hexdigest()
    bgr, raw = _decode(data, name)
    height, width = bgr.shape[:2]
    if mask is None:
        region = centre_region(height, width)
    else:
        region = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        if not region.any():
            raise QcError(f"{name}: the subject mask given for it is empty")
    gray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.float32)
    inside = bgr[region]
    mean = float(gray[region].mean())
    light = float(np.power(gray[region] * np.float32(1 / 255), np.float32(2.2)).mean())
    norm = max(mean, 1.0) ** 2
    laplacian = cv2.Laplacian(gray, cv2.CV_32F, ksize=1)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    # RAW: any channel at the white level (1.0 before the gamma); JPEG: every channel above 253.
    clipped = float(((inside.max(axis=1) >= 254.5) if raw else (inside.min(axis=1) > 253.0)).mean())
    crushed = float((inside.max(axis=1) < 2.0).mean())
    sums = inside.mean(axis=0)[::-1].astype(np.float64)  # R, G, B
    total = float(sums.sum())
    chroma = tuple(float(v) for v in sums / total) if total > 0 else (1 / 3, 1 / 3, 1 / 3)
    view, still = _still_view(gray, (VIEW_WIDTH, max(8, round(height * VIEW_WIDTH / width))), exclude)
    return ImageStats(
        sha256=sha, width=width * 2, height=height * 2,
        laplacian=float(laplacian[region].var()) / norm,
        tenengrad=float((gx[region] ** 2 + gy[region] ** 2).mean()) / norm,
        clipped=clipped, crushed=crushed, mean=mean, light=light, chroma=(chroma[0], chroma[1], chroma[2]),
        spread=float(gray.std()), top=float(np.percentile(bgr.max(axis=2), 99)),
        phash=_dhash(gray), thumb=np.asarray(cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_AREA), np.float32),
        view=view, still=still, scale=2.0 * width / VIEW_WIDTH, outside=float(still.mean()))
