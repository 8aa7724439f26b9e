"""How a test sees that a session's images were lit as its plan said: the subject's linear level per image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from capturerig.config import LoadedRig
from capturerig.engine import Session
from capturerig_sim import camera_response, subject_mask

__all__ = ["assert_lit_as_planned", "subject_brightness"]


def subject_brightness(session: Session, rig: LoadedRig, camera_id: str, light: str) -> float:
    """The subject's summed linear level in ``camera_id``'s image of lighting state ``light`` (pose p00, s00)."""
    camera = rig.config.camera(camera_id)
    image = cv2.imread(str(session.path / "images" / f"{camera_id}_p00_s00_{light}.jpg"))
    assert image is not None, f"{camera_id} {light}: no image"
    linear = camera_response(camera.serial).to_linear(np.asarray(image, dtype=np.uint8))
    return float(linear[subject_mask(camera, 0.0)].mean(axis=0).sum())


def assert_lit_as_planned(session: Session, rig: LoadedRig, cameras: Sequence[str], label: str = "",
                          key_light: tuple[str, str] | None = None) -> None:
    """The example plan's states in the pixels: l01 (half intensity) about half of l00 (full) on each camera;
    with ``key_light`` (facing, away), l02's key light from +x far brighter on the camera that faces it."""
    for camera_id in cameras:
        full = subject_brightness(session, rig, camera_id, "l00")
        half = subject_brightness(session, rig, camera_id, "l01")
        assert 0.42 < half / full < 0.58, f"{label}{camera_id}: half intensity gave {half / full:.2f} of full"
    if key_light is not None:
        facing, away = key_light
        assert subject_brightness(session, rig, facing, "l02") > 5 * subject_brightness(session, rig, away, "l02")
