"""COLMAP models of a package, written by pycolmap: one rig, one frame per station.

The rig's cameras are one COLMAP rig (its first camera is the reference sensor); each turntable station
(or rig position) is a frame of that rig, with rig_from_world = the reference camera's pose in the subject
frame at that station. pycolmap 4 writes ``rigs.bin`` and ``frames.bin`` for that; ``cameras.bin`` and
``images.bin`` keep the three-file layout that COLMAP 3.8, 3DGS, gsplat and nerfstudio's colmap parser read
(each image carries its full cam_from_world).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pycolmap

from capturerig.packaging._geometry import CameraGeometry, Geometry

__all__ = [
    "ModelImage",
    "build_model",
    "colmap_camera",
    "colmap_model_name",
    "pinhole_camera",
]

CameraFactory = Callable[[str, int], pycolmap.Camera]


@dataclass(frozen=True)
class ModelImage:
    """An image of a COLMAP model: its name, camera and station (the frame it belongs to)."""

    name: str
    camera_id: str
    station_id: str
    station_angle_deg: float | None


def colmap_model_name(k3: float) -> str:
    """``OPENCV`` (k1, k2, p1, p2) unless k3 is needed, then ``FULL_OPENCV`` (k4..k6 stay zero)."""
    return "FULL_OPENCV" if k3 != 0.0 else "OPENCV"


def colmap_camera(geometry: CameraGeometry, colmap_id: int) -> pycolmap.Camera:
    """The distorted camera: OpenCV intrinsics with the principal point moved to COLMAP's pixel centres."""
    p = geometry.pixel_centre_half()
    params = [p["fx"], p["fy"], p["cx"], p["cy"], p["k1"], p["k2"], p["p1"], p["p2"]]
    model = colmap_model_name(p["k3"])
    if model == "FULL_OPENCV":
        params += [p["k3"], 0.0, 0.0, 0.0]
    return pycolmap.Camera(camera_id=colmap_id, model=model, width=geometry.width, height=geometry.height,
                           params=params)


def pinhole_camera(geometry: CameraGeometry, colmap_id: int) -> pycolmap.Camera:
    """The PINHOLE camera COLMAP's image undistorter would choose for this camera (no blank pixels)."""
    camera = pycolmap.undistort_camera(pycolmap.UndistortCameraOptions(), colmap_camera(geometry, colmap_id))
    camera.camera_id = colmap_id
    return camera


def _rigid(rotation: np.ndarray, translation: np.ndarray) -> pycolmap.Rigid3d:
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), np.asarray(translation, dtype=float))


def build_model(geometry: Geometry, camera_ids: Mapping[str, int], images: Sequence[ModelImage],
                camera: CameraFactory) -> pycolmap.Reconstruction:
    """A posed COLMAP model of ``images`` (no 3-D points): one rig of every camera, one frame per station.

    Parameters
    ----------
    geometry : Geometry
        Intrinsics and rig-frame poses of the cameras.
    camera_ids : Mapping[str, int]
        COLMAP camera id by rig camera id; these cameras form the rig (the lowest id is its reference).
    images : Sequence[ModelImage]
        Image ids are 1-based positions here; frame ids number the stations in order of first use.
    camera : callable
        ``(rig camera id, colmap id) -> pycolmap.Camera`` (distorted or PINHOLE).
    """
    reconstruction = pycolmap.Reconstruction()
    for camera_id, colmap_id in camera_ids.items():
        reconstruction.add_camera(camera(camera_id, colmap_id))
    reference = min(camera_ids, key=camera_ids.__getitem__)
    ref = geometry.cameras[reference]
    ref_rotation_t = ref.rotation.T
    rig = pycolmap.Rig(rig_id=1)
    rig.add_ref_sensor(reconstruction.camera(camera_ids[reference]).sensor_id)
    for camera_id, colmap_id in camera_ids.items():
        if camera_id == reference:
            continue
        cam = geometry.cameras[camera_id]
        # sensor_from_rig = cam_from_world(camera) * world_from_cam(reference), all in the rig frame.
        rotation = cam.rotation @ ref_rotation_t
        rig.add_sensor(reconstruction.camera(colmap_id).sensor_id,
                       _rigid(rotation, cam.translation - rotation @ ref.translation))
    reconstruction.add_rig(rig)
    frame_ids: dict[str, int] = {}
    frames: dict[int, pycolmap.Frame] = {}
    for image_id, image in enumerate(images, start=1):
        frame_id = frame_ids.setdefault(image.station_id, len(frame_ids) + 1)
        if frame_id not in frames:
            rotation, translation = ref.cam_from_subject(image.station_angle_deg)
            frames[frame_id] = pycolmap.Frame(frame_id=frame_id, rig_id=1, rig_from_world=_rigid(rotation, translation))
        data = pycolmap.Image(name=image.name, camera_id=camera_ids[image.camera_id], image_id=image_id)
        frames[frame_id].add_data_id(data.data_id)
    for frame in frames.values():
        reconstruction.add_frame(frame)
    for image_id, image in enumerate(images, start=1):
        reconstruction.add_image(pycolmap.Image(name=image.name, camera_id=camera_ids[image.camera_id],
                                                image_id=image_id, frame_id=frame_ids[image.station_id]))
    for frame_id in frames:
        reconstruction.register_frame(frame_id)
    return reconstruction

