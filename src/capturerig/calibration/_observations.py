"""A calibration capture's images, and the board corners found in them (camera -> frame -> detection)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from capturerig.calibration._board import BoardSpec
from capturerig.calibration._detect import BoardDetection, detect_board

__all__ = ["IMAGE_SUFFIXES", "CaptureDetections", "detect_capture", "images_in_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class CaptureDetections:
    """What a calibration capture saw.

    Attributes
    ----------
    board
        The board that was shown.
    image_sizes
        (width, height) of each camera's images.
    views
        camera id -> frame stem -> detection; a frame stem names one instant across all cameras.
    images_read
        camera id -> how many images of that camera were looked at (with or without the board).
    """

    board: BoardSpec
    image_sizes: dict[str, tuple[int, int]]
    views: dict[str, dict[str, BoardDetection]]
    images_read: dict[str, int] = field(default_factory=dict)

    @property
    def camera_ids(self) -> list[str]:
        return list(self.image_sizes)

    def subset(self, keep: Callable[[str], bool]) -> CaptureDetections:
        """Only the frames whose stem ``keep`` accepts (for split-half cross-validation)."""
        views = {camera: {frame: d for frame, d in frames.items() if keep(frame)}
                 for camera, frames in self.views.items()}
        return CaptureDetections(self.board, dict(self.image_sizes), views, dict(self.images_read))


def images_in_dir(root: str | Path) -> dict[str, dict[str, Path]]:
    """``root/<camera_id>/<frame>.<ext>`` as camera id -> frame stem -> image path (sorted).

    Raises FileNotFoundError when ``root`` is missing or holds no camera folder with images, and
    ValueError when a camera folder has two images with the same frame stem (``f01.png`` and ``f01.jpg``).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such image folder (expected {root}/<camera_id>/<frame>.png)")
    images: dict[str, dict[str, Path]] = {}
    for camera_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        frames: dict[str, Path] = {}
        for path in sorted(camera_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            if path.stem in frames:
                raise ValueError(f"{camera_dir}: frame '{path.stem}' is there twice ({frames[path.stem].name} and "
                                 f"{path.name}); keep one image per frame")
            frames[path.stem] = path
        if frames:
            images[camera_dir.name] = frames
    if not images:
        raise FileNotFoundError(f"{root}: no images found; expected {root}/<camera_id>/<frame>.png "
                                f"(one folder per camera, the same frame name for the same instant)")
    return images


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: cannot read this image (corrupt, or not an image)")
    return np.asarray(image)


def detect_capture(images: Mapping[str, Mapping[str, Path]], board: BoardSpec,
                   on_image: Callable[[str, str, BoardDetection | None], None] | None = None,
                   workers: int | None = None) -> CaptureDetections:
    """Find the board in every image of a capture.

    Parameters
    ----------
    images
        camera id -> frame stem -> image file (see :func:`images_in_dir`).
    board
        The board shown in the images.
    on_image
        Called after each image with (camera id, frame stem, detection or None), for progress displays.
    workers
        Detection threads (OpenCV releases the GIL); default: one per CPU.

    Raises ValueError naming the file for an unreadable image or when one camera's images differ in size.
    """
    jobs = [(camera, frame, path) for camera, frames in images.items() for frame, path in frames.items()]

    def work(job: tuple[str, str, Path]) -> tuple[tuple[int, int], BoardDetection | None]:
        image = _read(job[2])
        return (image.shape[1], image.shape[0]), detect_board(image, board)

    sizes: dict[str, tuple[int, int]] = {}
    views: dict[str, dict[str, BoardDetection]] = {camera: {} for camera in images}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for (camera, frame, path), (size, detection) in zip(jobs, pool.map(work, jobs), strict=True):
            known = sizes.setdefault(camera, size)
            if known != size:
                raise ValueError(f"{path}: image is {size[0]} x {size[1]} but camera {camera}'s other images are "
                                 f"{known[0]} x {known[1]}; one camera, one image size")
            if detection is not None:
                views[camera][frame] = detection
            if on_image is not None:
                on_image(camera, frame, detection)
    return CaptureDetections(board, sizes, views, {camera: len(frames) for camera, frames in images.items()})
