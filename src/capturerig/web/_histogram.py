"""An image's histogram for the viewer: per channel, with clipped highlights and crushed shadows counted.

The image is decoded at a reduced size (a JPEG's DCT gives a quarter or an eighth of the pixels almost for
free): a histogram's fractions barely move with the scale, and the viewer asks for one per image it shows.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["CLIP_HIGH", "CLIP_WARN_FRACTION", "CRUSH_LOW", "HistogramCache", "HistogramError", "image_histogram"]

# JPEG rounding leaves a blown-out area at 254-255 and a black one at 0-1, so one step of slack each side.
CLIP_HIGH = 254
CRUSH_LOW = 1
CLIP_WARN_FRACTION = 0.005  # more than 0.5 % of the frame clipped (or crushed) is worth a technician's look
_CHANNELS = ("red", "green", "blue")
_REDUCE_ABOVE_BYTES = ((8_000_000, cv2.IMREAD_REDUCED_COLOR_8), (1_000_000, cv2.IMREAD_REDUCED_COLOR_4),
                       (200_000, cv2.IMREAD_REDUCED_COLOR_2))


class HistogramError(ValueError):
    """The file is not an image the panel can decode (RAW, corrupt, empty)."""


def _decode(path: Path) -> np.ndarray:
    """``path`` as an RGB array, reduced by how big the file is (a 24 MP JPEG to an eighth of its side)."""
    size = path.stat().st_size
    flag = next((f for limit, f in _REDUCE_ABOVE_BYTES if size > limit), cv2.IMREAD_COLOR)
    image = cv2.imread(str(path), flag)
    if image is None or image.size == 0:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # not a JPEG: no DCT to reduce with
    if image is None or image.size == 0:
        raise HistogramError(f"{path.name}: not an image the panel can read (RAW or damaged)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _percent(fraction: float) -> str:
    if fraction == 0:
        return "0 %"
    if fraction < 0.001:
        return "under 0.1 %"
    return f"{fraction * 100:.1f} %"


def _words(kind: str, where: str, total: float, by_channel: dict[str, float]) -> str:
    if total == 0:
        return f"no {kind}"
    channels = ", ".join(f"{name} {_percent(value)}" for name, value in by_channel.items() if value > 0)
    return f"{_percent(total)} of the frame has {kind} ({where}; {channels})"


def image_histogram(rgb: np.ndarray) -> dict[str, Any]:
    """The histogram of an RGB ``uint8`` image and what it says about clipping.

    Returns ``bins`` (256 counts per channel), ``pixels``, per channel ``clipped`` / ``crushed`` fractions,
    ``clipped_any`` (pixels with any channel at the ceiling: a blown highlight loses colour before it turns
    white), ``crushed_all`` (pixels black in every channel), ``words`` (one sentence each) and ``level``
    (``warn`` when either exceeds :data:`CLIP_WARN_FRACTION`).
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise HistogramError(f"an 8-bit RGB image is needed, not {rgb.dtype} of shape {rgb.shape}")
    pixels = rgb.shape[0] * rgb.shape[1]
    if pixels == 0:
        raise HistogramError("the image has no pixels")
    bins = {name: np.bincount(rgb[:, :, i].ravel(), minlength=256) for i, name in enumerate(_CHANNELS)}
    clipped = {name: float(counts[CLIP_HIGH:].sum()) / pixels for name, counts in bins.items()}
    crushed = {name: float(counts[:CRUSH_LOW + 1].sum()) / pixels for name, counts in bins.items()}
    clipped_any = float(np.count_nonzero((rgb >= CLIP_HIGH).any(axis=2))) / pixels
    crushed_all = float(np.count_nonzero((rgb <= CRUSH_LOW).all(axis=2))) / pixels
    warn = clipped_any > CLIP_WARN_FRACTION or crushed_all > CLIP_WARN_FRACTION
    return {
        "pixels": pixels, "width": rgb.shape[1], "height": rgb.shape[0],
        "bins": {name: counts.tolist() for name, counts in bins.items()},
        "clip_high": CLIP_HIGH, "crush_low": CRUSH_LOW,
        "clipped": clipped, "crushed": crushed, "clipped_any": clipped_any, "crushed_all": crushed_all,
        "words": {"highlights": _words("clipped highlights", f"a channel at {CLIP_HIGH} or more", clipped_any,
                                       clipped),
                  "shadows": _words("crushed shadows", f"every channel at {CRUSH_LOW} or less", crushed_all,
                                    crushed)},
        "level": "warn" if warn else "ok",
    }


class HistogramCache:
    """Histograms of image files, kept in memory by path, size and mtime (a re-shot file gets a new one)."""

    def __init__(self, entries: int = 256) -> None:
        self.entries = entries
        self._kept: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def histogram(self, path: Path) -> dict[str, Any]:
        """The histogram of ``path`` (already resolved inside a storage root) at its reduced decode size."""
        stat = path.stat()
        key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        result = image_histogram(_decode(path))
        with self._lock:
            self._kept[key] = result
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)
        return result
