"""nerfstudio's ``transforms.json`` for a package.

Format and conventions follow nerfstudio's "Data conventions" page
(https://docs.nerf.studio/quickstart/data_conventions.html): ``camera_model`` at the top, intrinsics
(``fl_x, fl_y, cx, cy, w, h`` and distortion ``k1, k2, [k3,] p1, p2``) either at the top or per frame,
``file_path`` relative to the file, and ``transform_matrix`` a camera-to-world 4x4 with OpenGL/Blender
camera axes (+x right, +y up, +z backwards) in a world whose up is +z - which our subject frame already is,
so no ``applied_transform`` is needed. Per-frame intrinsics let one file hold every camera of the rig;
extra per-frame keys (camera_id, pose_id, ...) are ignored by nerfstudio and keep the frame traceable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from capturerig.config import RigConfig
from capturerig.packaging._frames import PackageFrame
from capturerig.packaging._geometry import cam_from_subject, opencv_to_pixel_centre_half, opengl_c2w

__all__ = ["IMAGES_DIR", "transforms_document"]

IMAGES_DIR = "images"


def _frame_entry(rig: RigConfig, frame: PackageFrame) -> dict[str, Any]:
    camera = rig.camera(frame.camera_id)
    p = opencv_to_pixel_centre_half(camera.intrinsics)
    rotation, translation = cam_from_subject(camera, frame.station_angle_deg)
    entry: dict[str, Any] = {
        "file_path": f"{IMAGES_DIR}/{frame.name}",
        "fl_x": p["fx"],
        "fl_y": p["fy"],
        "cx": p["cx"],
        "cy": p["cy"],
        "w": camera.intrinsics.width,
        "h": camera.intrinsics.height,
        "k1": p["k1"],
        "k2": p["k2"],
        "p1": p["p1"],
        "p2": p["p2"],
    }
    if p["k3"] != 0.0:
        entry["k3"] = p["k3"]
    entry["transform_matrix"] = opengl_c2w(rotation, translation).tolist()
    entry.update(
        camera_id=frame.camera_id,
        pose_id=frame.pose_id,
        station_id=frame.station_id,
        light_id=frame.light_id,
        bracket_id=frame.bracket_id,
    )
    return entry


def transforms_document(rig: RigConfig, frames: Sequence[PackageFrame]) -> dict[str, Any]:
    """The ``transforms.json`` content for validated frames.

    Parameters
    ----------
    rig : RigConfig
        The rig (intrinsics and nominal poses).
    frames : Sequence[PackageFrame]
        Validated frames, in package order.

    Returns
    -------
    dict
        A JSON-ready document: ``camera_model`` ``OPENCV`` and one entry per frame with its own intrinsics
        (principal point in the pixel-centre-at-0.5 convention nerfstudio uses) and an OpenGL camera-to-world
        ``transform_matrix`` in the subject frame (metres, z up).
    """
    return {
        # nerfstudio's OPENCV model reads k1..k4, p1, p2 when present, so k3 rides along without a
        # separate model name (COLMAP, by contrast, needs FULL_OPENCV for it).
        "camera_model": "OPENCV",
        "frames": [_frame_entry(rig, frame) for frame in frames],
    }
