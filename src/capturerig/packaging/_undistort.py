"""Undistorted images for trainers that want PINHOLE cameras (3D Gaussian Splatting and gsplat).

The PINHOLE camera is the one COLMAP's image undistorter chooses (``pycolmap.undistort_camera``: same
focal length, size grown or shrunk so no blank pixels show); the pixels are resampled by OpenCV with the
same distortion model, because OpenCV's (k1, k2, p1, p2[, k3]) model is COLMAP's OPENCV / FULL_OPENCV. The
remap tables are built once per camera and kept for a few cameras at a time (work arrives grouped by
camera), so a rig of 24-megapixel cameras does not hold every table in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pycolmap

from capturerig.packaging._colmap import pinhole_camera
from capturerig.packaging._geometry import PIXEL_CENTRE_OFFSET, Geometry

__all__ = ["RASTER_EXTENSIONS", "Undistorter", "decode_image", "encode_image"]

# Formats OpenCV decodes and trainers read; anything else (camera RAW) is packaged as it is.
RASTER_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
JPEG_QUALITY = 95

Image = npt.NDArray[np.integer[Any] | np.floating[Any]]
_Maps = tuple[Image, Image]


def decode_image(data: bytes, where: str) -> Image:
    """Decode image bytes as stored (8- or 16-bit, colour or grey); ValueError naming ``where`` on failure."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{where}: OpenCV cannot decode this image")
    return np.asarray(image)


def encode_image(image: Image, extension: str, where: str) -> bytes:
    """Encode an image in the format its extension names (JPEG at quality 95)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if extension in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(extension, image, params)
    if not ok:
        raise ValueError(f"{where}: OpenCV cannot encode this image as {extension}")
    return encoded.tobytes()


class Undistorter:
    """PINHOLE cameras and undistorted images for the cameras of a package.

    Parameters
    ----------
    geometry : Geometry
        The distorted cameras.
    camera_ids : Mapping[str, int]
        COLMAP camera id by rig camera id.
    cached_cameras : int
        How many cameras' remap tables to keep at once.
    """

    def __init__(self, geometry: Geometry, camera_ids: Mapping[str, int], cached_cameras: int = 4) -> None:
        self.geometry = geometry
        self.pinhole = {camera_id: pinhole_camera(geometry.cameras[camera_id], colmap_id)
                        for camera_id, colmap_id in camera_ids.items()}
        self._maps: OrderedDict[str, _Maps] = OrderedDict()
        self._lock = threading.Lock()
        self._cached = max(1, cached_cameras)

    def camera(self, camera_id: str, colmap_id: int) -> pycolmap.Camera:
        """The PINHOLE camera of ``camera_id`` (a model-building camera factory)."""
        del colmap_id  # the PINHOLE cameras were made with their COLMAP ids
        return self.pinhole[camera_id]

    def _tables(self, camera_id: str) -> _Maps:
        with self._lock:
            if camera_id in self._maps:
                self._maps.move_to_end(camera_id)
                return self._maps[camera_id]
        source = self.geometry.cameras[camera_id]
        fx, fy, cx, cy = (float(v) for v in self.pinhole[camera_id].params)
        # COLMAP's principal point is half a pixel on from OpenCV's (see PIXEL_CENTRE_OFFSET).
        new_k = np.array([[fx, 0.0, cx - PIXEL_CENTRE_OFFSET], [0.0, fy, cy - PIXEL_CENTRE_OFFSET], [0, 0, 1.0]])
        size = (self.pinhole[camera_id].width, self.pinhole[camera_id].height)
        maps = cv2.initUndistortRectifyMap(source.k, source.dist, None, new_k, size, cv2.CV_16SC2)
        with self._lock:
            self._maps[camera_id] = (maps[0], maps[1])
            while len(self._maps) > self._cached:
                self._maps.popitem(last=False)
        return maps[0], maps[1]

    def undistort_mask(self, camera_id: str, mask: Image) -> npt.NDArray[np.uint8]:
        """A 0/255 mask of ``camera_id`` warped with its image's maps (bilinear, as the image), then thresholded
        at half so it stays 0/255 and its edge follows the image's; 0 outside the distorted frame."""
        warped = self.undistort(camera_id, mask)
        return np.where(warped >= 128, 255, 0).astype(np.uint8)

    def undistort(self, camera_id: str, image: Image) -> Image:
        """``image`` of ``camera_id`` resampled onto its PINHOLE camera (bilinear, black outside)."""
        first, second = self._tables(camera_id)
        return np.asarray(cv2.remap(image, first, second, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
