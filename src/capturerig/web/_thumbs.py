"""Contact-sheet thumbnails, made on the server once per image and cached on disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ThumbnailCache", "ThumbnailError"]

# The contact sheet draws cells of up to ~130 px on a desk monitor; 256 keeps them sharp on a 2x (HiDPI) screen too.
THUMB_LONG_SIDE = 256
JPEG_QUALITY = 80
# Cheapest decode first: a JPEG's DCT gives an eighth, a quarter or half of its side almost for free.
_REDUCED_DECODES = (cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_COLOR_2,
                    cv2.IMREAD_COLOR)


class ThumbnailError(ValueError):
    """The file is not an image the panel can shrink (RAW, corrupt)."""


def _decode_at_least(source: Path, long_side: int) -> np.ndarray:
    """``source`` decoded at the smallest reduction whose long side still reaches ``long_side`` (or whole)."""
    best: np.ndarray | None = None
    for flag in _REDUCED_DECODES:
        image = cv2.imread(str(source), flag)
        if image is None or image.size == 0:
            continue  # not a JPEG (no DCT to reduce with) or not an image: the next, fuller decode says
        best = image
        if max(image.shape[:2]) >= long_side:
            return image
    if best is None:
        raise ThumbnailError(f"{source.name}: not an image the panel can show")
    return best  # smaller than a thumbnail: shown as it is, never enlarged


class ThumbnailCache:
    """JPEG thumbnails keyed by the source's path, size and mtime (a re-shot file gets a new one)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.made = 0
        self._lock = threading.Lock()

    def _key(self, source: Path) -> Path:
        stat = source.stat()
        # The size is part of the key: a thumbnail cached at an older, smaller size is made again.
        key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{THUMB_LONG_SIDE}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.cache_dir / f"{digest}.jpg"

    def thumbnail(self, source: Path) -> Path:
        """The cached thumbnail of ``source`` (an image already resolved inside a storage root)."""
        target = self._key(source)
        if target.is_file():
            return target
        image = _decode_at_least(source, THUMB_LONG_SIDE)
        scale = THUMB_LONG_SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ThumbnailError(f"{source.name}: could not encode a thumbnail")
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, target)  # two requests for one image: the last rename wins, both are whole
        with self._lock:
            self.made += 1
        return target
