"""Frames for package tests: small synthetic captures of the example rig, with their verified sha256."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from capturerig.config import RigConfig
from capturerig.packaging import PackageFrame

METADATA = {"session_id": "S-package-0001", "subject_id": "S-package", "rig": "sim-studio", "plan": "sim-demo",
            "created": "2025-01-01T12:00:00+00:00", "capturerig_version": "0.1.0"}
LIGHTING = {
    "l00": {"id": "l00", "name": "all white, full", "polarisation": "none",
            "levels": {"*": {"intensity": 1.0, "white": 1.0}}, "dmx": {"0": bytes([255, 128, 0, 7])}},
    "olat-fx3": {"id": "olat-fx3", "name": "OLAT: fx3", "polarisation": "cross",
                 "levels": {"fx3": {"intensity": 1.0, "white": 1.0}}},
}


def write_image(path: Path, width: int, height: int, seed: int) -> str:
    """A smooth synthetic JPEG (fast to encode, compresses like a photo); returns its sha256."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                       np.full_like(x, (seed * 37) % 256)], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_frames(rig: RigConfig, folder: Path, cameras: Sequence[str] | None = None,
                stations: Sequence[tuple[str, float | None]] = (("s00", 0.0), ("s01", 90.0)),
                lights: Sequence[str] = ("l00",), scale: int = 1) -> list[PackageFrame]:
    """One JPEG per camera x station x light in ``folder``; ``scale`` > 1 shrinks the images."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for light in lights:
        for station_id, angle in stations:
            for camera in rig.cameras:
                if cameras is not None and camera.id not in cameras:
                    continue
                name = f"{camera.id}_p00_{station_id}_{light}.jpg"
                source = folder / name
                sha256 = write_image(source, camera.intrinsics.width // scale, camera.intrinsics.height // scale,
                                     len(frames))
                frames.append(PackageFrame(
                    source=source, name=name, camera_id=camera.id, pose_id="p00", station_id=station_id,
                    light_id=light, bracket_id="b0", station_angle_deg=angle, sha256=sha256,
                    lighting=LIGHTING[light], exposed_at=1_764_000_000.25 + len(frames),
                    stored_at=1_764_000_001.5 + len(frames),
                    exposure={"iso": "100", "shutter": "1/125", "aperture": "8", "whitebalance": "daylight"}))
    return frames
