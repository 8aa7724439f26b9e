"""The COLMAP sparse model of a package (sparse/0), written by pycolmap.

3D Gaussian Splatting, gsplat and nerfstudio's colmap parser all look for ``sparse/0`` beside ``images/``.
pycolmap 4 writes ``rigs.bin`` and ``frames.bin`` too; readers of the older three-file layout ignore them,
and ``cameras.bin`` / ``images.bin`` keep the layout those readers parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pycolmap

from capturerig.config import RigConfig
from capturerig.packaging._frames import PackageFrame
from capturerig.packaging._geometry import cam_from_subject, opencv_to_pixel_centre_half

__all__ = ["colmap_camera_ids", "colmap_model_name", "write_colmap_model"]


def colmap_camera_ids(rig: RigConfig, frames: Sequence[PackageFrame]) -> dict[str, int]:
    """COLMAP camera id of every rig camera the frames use: its 1-based position in the rig.

    Using the rig position (not the order of first use) keeps a camera's id the same in every package
    shot on one rig, so models of different sessions can be compared camera by camera.
    """
    used = {frame.camera_id for frame in frames}
    return {camera.id: index + 1 for index, camera in enumerate(rig.cameras) if camera.id in used}


def colmap_model_name(k3: float) -> str:
    """``OPENCV`` (k1, k2, p1, p2) unless k3 is needed, then ``FULL_OPENCV`` (k4..k6 stay zero)."""
    return "FULL_OPENCV" if k3 != 0.0 else "OPENCV"


def _camera(rig: RigConfig, camera_id: str, colmap_id: int) -> pycolmap.Camera:
    intrinsics = rig.camera(camera_id).intrinsics
    p = opencv_to_pixel_centre_half(intrinsics)
    params = [p["fx"], p["fy"], p["cx"], p["cy"], p["k1"], p["k2"], p["p1"], p["p2"]]
    model = colmap_model_name(p["k3"])
    if model == "FULL_OPENCV":
        params += [p["k3"], 0.0, 0.0, 0.0]
    return pycolmap.Camera(
        camera_id=colmap_id,
        model=model,
        width=intrinsics.width,
        height=intrinsics.height,
        params=params,
    )


def write_colmap_model(rig: RigConfig, frames: Sequence[PackageFrame], model_dir: Path) -> dict[str, int]:
    """Write one COLMAP camera per rig camera used and one posed image per frame; no 3-D points yet.

    Parameters
    ----------
    rig : RigConfig
        The rig (intrinsics and nominal poses).
    frames : Sequence[PackageFrame]
        Validated frames; image ids are 1-based positions in this sequence.
    model_dir : Path
        An existing, empty directory (``sparse/0``).

    Returns
    -------
    dict
        COLMAP camera id by rig camera id.
    """
    camera_ids = colmap_camera_ids(rig, frames)
    reconstruction = pycolmap.Reconstruction()
    for camera_id, colmap_id in camera_ids.items():
        reconstruction.add_camera_with_trivial_rig(_camera(rig, camera_id, colmap_id))
    for image_id, frame in enumerate(frames, start=1):
        rotation, translation = cam_from_subject(rig.camera(frame.camera_id), frame.station_angle_deg)
        image = pycolmap.Image(name=frame.name, camera_id=camera_ids[frame.camera_id], image_id=image_id)
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), translation)
        reconstruction.add_image_with_trivial_frame(image, pose)
    reconstruction.write(str(model_dir))
    return camera_ids
