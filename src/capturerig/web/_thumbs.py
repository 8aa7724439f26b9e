"""Contact-sheet thumbnails, made on the server once per image and cached on disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ThumbnailCache", "ThumbnailError"]

THUMB_LONG_SIDE = 160
JPEG_QUALITY = 80


class ThumbnailError(ValueError):
    """The file is not an image the panel can shrink (RAW, corrupt)."""


class ThumbnailCache:
    """JPEG thumbnails keyed by the source's path, size and mtime (a re-shot file gets a new one)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.made = 0
        self._lock = threading.Lock()

    def _key(self, source: Path) -> Path:
        stat = source.stat()
        digest = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{digest}.jpg"

    def thumbnail(self, source: Path) -> Path:
        """The cached thumbnail of ``source`` (an image already resolved inside a storage root)."""
        target = self._key(source)
        if target.is_file():
            return target
        # The reduced decode reads a quarter-size image straight from the JPEG's DCT: cheap for 100s of tiles.
        image = cv2.imread(str(source), cv2.IMREAD_REDUCED_COLOR_4)
        if image is None or image.size == 0:
            image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            raise ThumbnailError(f"{source.name}: not an image the panel can show")
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
