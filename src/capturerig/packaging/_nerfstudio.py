"""nerfstudio's ``transforms.json`` for one snapshot of a package.

Format and conventions follow nerfstudio's "Data conventions" page
(https://docs.nerf.studio/quickstart/data_conventions.html): ``camera_model`` at the top, intrinsics
(``fl_x, fl_y, cx, cy, w, h`` and distortion ``k1, k2, [k3,] p1, p2``) either at the top or per frame,
``file_path`` (and ``mask_path``) relative to the file, and ``transform_matrix`` a camera-to-world 4x4 with
OpenGL/Blender camera axes (+x right, +y up, +z backwards) in a world whose up is +z - which our subject
frame already is, so no ``applied_transform`` is needed. Per-frame intrinsics let one file hold every
camera of the rig; extra per-frame keys (camera_id, pose_id, ...) are ignored by nerfstudio and keep the
frame traceable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from capturerig.packaging._geometry import Geometry, opengl_c2w

__all__ = ["transforms_document"]


def _entry(geometry: Geometry, image: Mapping[str, Any]) -> dict[str, Any]:
    camera = geometry.cameras[image["camera_id"]]
    p = camera.pixel_centre_half()
    entry: dict[str, Any] = {
        "file_path": image["file_path"],
        "fl_x": p["fx"], "fl_y": p["fy"], "cx": p["cx"], "cy": p["cy"], "w": camera.width, "h": camera.height,
        "k1": p["k1"], "k2": p["k2"], "p1": p["p1"], "p2": p["p2"],
    }
    if p["k3"] != 0.0:
        entry["k3"] = p["k3"]
    if image.get("mask_path"):
        entry["mask_path"] = image["mask_path"]
    rotation, translation = camera.cam_from_subject(image["station_angle_deg"])
    entry["transform_matrix"] = opengl_c2w(rotation, translation).tolist()
    for key in ("camera_id", "pose_id", "station_id", "light_id", "bracket_id"):
        entry[key] = image[key]
    return entry


def transforms_document(geometry: Geometry, images: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``transforms.json`` of a snapshot.

    Parameters
    ----------
    geometry : Geometry
        Camera intrinsics and rig-frame poses.
    images : Sequence[Mapping]
        One entry per image: ``file_path`` (relative to the snapshot), optional ``mask_path``,
        ``camera_id``, ``station_angle_deg`` and the plan ids.

    Returns
    -------
    dict
        ``camera_model`` ``OPENCV`` and one frame per image with its own intrinsics (principal point in the
        pixel-centre-at-0.5 convention nerfstudio uses) and an OpenGL camera-to-world ``transform_matrix``
        in the subject frame (metres, z up).
    """
    # nerfstudio's OPENCV model reads k1..k4, p1, p2 when present, so k3 rides along without a separate
    # model name (COLMAP, by contrast, needs FULL_OPENCV for it).
    return {"camera_model": "OPENCV", "frames": [_entry(geometry, image) for image in images]}
