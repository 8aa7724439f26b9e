"""Camera geometry of a package: where it comes from, and the two conventions a package speaks.

Geometry is either the rig's nominal values or a calibration (``geometry.json``, schema
``capturerig.geometry/1``: per camera ``width, height, model: OPENCV, K, dist [k1, k2, p1, p2, k3], R, t``
with x_cam = R x_world + t in the rig's world frame). Both become :class:`CameraGeometry`.

The rig frame is metres, z up, origin at the turntable centre on the floor. A package is expressed in the
*subject* frame instead: the turntable rotates the subject about the rig's z axis by the station angle, so
a subject point p_s sits at rig point Rz(angle) p_s. A camera with x_cam = R x_rig + t therefore sees
x_cam = R Rz(angle) p_s + t, and every station of a turntable session becomes a different virtual camera
around one static subject, which is what a trainer needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from capturerig.config import RigConfig
from capturerig.geometry import PIXEL_CENTRE_OFFSET, CameraGeometry, rz

__all__ = [
    "GEOMETRY_SCHEMA",
    "PIXEL_CENTRE_OFFSET",
    "CameraGeometry",
    "Geometry",
    "geometry_from_document",
    "nominal_geometry",
    "opengl_c2w",
    "rz",
]

FloatArray = npt.NDArray[np.float64]
GEOMETRY_SCHEMA = "capturerig.geometry/1"

@dataclass(frozen=True)
class Geometry:
    """Every camera's geometry plus where it came from.

    Attributes
    ----------
    cameras : Mapping[str, CameraGeometry]
        By rig camera id.
    source : str
        ``"nominal"`` (the rig file's values) or ``"calibration"``.
    document : Mapping[str, Any]
        The ``geometry.json`` document stored in the package's calibration folder.
    """

    cameras: Mapping[str, CameraGeometry]
    source: str
    document: Mapping[str, Any]

    @property
    def calibration_id(self) -> str | None:
        """The calibration's ``id`` (None for nominal values, or a file written before calibrations had ids)."""
        value = self.document.get("id")
        return None if value is None else str(value)

    @property
    def rms_px(self) -> float | None:
        """The calibration's reprojection RMS over every camera (px), or None when it does not say."""
        cameras = self.document.get("cameras")
        values = [entry["rms_px"] for entry in cameras.values() if isinstance(entry, Mapping)
                  and isinstance(entry.get("rms_px"), int | float)] if isinstance(cameras, Mapping) else []
        return float(np.sqrt(np.mean(np.square(values)))) if values else None


def nominal_geometry(rig: RigConfig) -> Geometry:
    """The rig file's intrinsics and nominal poses, as a :class:`Geometry` (``source="nominal"``)."""
    cameras = {}
    for camera in rig.cameras:
        rotation, translation = camera.pose.cam_from_world()
        cameras[camera.id] = CameraGeometry(
            camera.intrinsics.width, camera.intrinsics.height, np.asarray(camera.intrinsics.matrix(), float),
            np.asarray(camera.intrinsics.distortion(), float), np.asarray(rotation, float),
            np.asarray(translation, float))
    document = {"schema": GEOMETRY_SCHEMA, "source": "nominal", "rig": rig.name,
                "note": "the rig file's nominal intrinsics and poses; no calibration was given",
                "cameras": {camera_id: geometry.to_document() for camera_id, geometry in cameras.items()}}
    return Geometry(cameras, "nominal", document)


def _matrix(entry: Mapping[str, Any], key: str, shape: tuple[int, ...], where: str) -> FloatArray:
    if key not in entry:
        raise ValueError(f"{where}.{key}: missing")
    try:
        value = np.asarray(entry[key], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.{key}: not numbers ({exc})") from exc
    if value.shape != shape:
        raise ValueError(f"{where}.{key}: shape {value.shape}, want {shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{where}.{key}: holds a non-finite number")
    return value


def _camera(entry: Any, where: str) -> CameraGeometry:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be an object")
    if entry.get("model", "OPENCV") != "OPENCV":
        raise ValueError(f"{where}.model: '{entry.get('model')}' is not supported (want OPENCV)")
    size = []
    for key in ("width", "height"):
        value = entry.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{where}.{key}: must be a positive integer, got {value!r}")
        size.append(value)
    dist = np.asarray(entry.get("dist", [0.0] * 5), dtype=float)
    if dist.shape not in ((4,), (5,)) or not np.all(np.isfinite(dist)):
        raise ValueError(f"{where}.dist: want 4 or 5 finite numbers (k1, k2, p1, p2[, k3])")
    rotation = _matrix(entry, "R", (3, 3), where)
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        raise ValueError(f"{where}.R: not a rotation matrix")
    return CameraGeometry(size[0], size[1], _matrix(entry, "K", (3, 3), where),
                          np.concatenate([dist, [0.0]])[:5], rotation, _matrix(entry, "t", (3,), where))


def geometry_from_document(document: Mapping[str, Any], rig: RigConfig, where: str = "geometry.json") -> Geometry:
    """Read a ``capturerig.geometry/1`` document for ``rig``.

    Parameters
    ----------
    document : Mapping
        The parsed JSON; ``cameras`` maps camera id -> entry (a list of entries with ``id`` works too).
    rig : RigConfig
        Every camera of the rig must be in the document, with the rig's image size.
    where : str
        Name used in error messages (the file).

    Raises
    ------
    ValueError
        Naming the file, camera and field that is wrong.
    """
    schema = document.get("schema")
    if schema != GEOMETRY_SCHEMA:
        raise ValueError(f"{where}: schema is {schema!r}, want '{GEOMETRY_SCHEMA}'")
    gauge = document.get("gauge", "rig")
    if gauge != "rig":
        # Turntable stations rotate about the rig's z axis through its origin: poses in another frame (one
        # camera's, say) would put every station's cameras in the wrong place.
        raise ValueError(f"{where}: gauge is {gauge!r}, but a package needs poses in the rig frame "
                         "(calibrate with the rig file so the gauge is 'rig')")
    raw = document.get("cameras")
    if isinstance(raw, list):
        raw = {entry.get("id"): entry for entry in raw if isinstance(entry, Mapping)}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: 'cameras' must map camera ids to their geometry")
    cameras = {}
    for camera in rig.cameras:
        if camera.id not in raw:
            raise ValueError(f"{where}: camera '{camera.id}' of rig '{rig.name}' is not calibrated")
        geometry = _camera(raw[camera.id], f"{where}: cameras.{camera.id}")
        size = (camera.intrinsics.width, camera.intrinsics.height)
        if (geometry.width, geometry.height) != size:
            raise ValueError(f"{where}: cameras.{camera.id} is {geometry.width}x{geometry.height}, but the rig's "
                             f"images are {size[0]}x{size[1]}")
        cameras[camera.id] = geometry
    return Geometry(cameras, "calibration", dict(document))


def opengl_c2w(rotation: FloatArray, translation: FloatArray) -> FloatArray:
    """Camera-to-world 4x4 with OpenGL/Blender camera axes (x right, y up, z backwards), as nerfstudio wants.

    Parameters
    ----------
    rotation, translation : ndarray
        cam_from_world in OpenCV axes (x_cam = R x + t).

    Returns
    -------
    ndarray
        4x4 matrix whose columns are the camera's right, up and backward axes and its centre, in world.
    """
    c2w = np.eye(4)
    c2w[:3, :3] = rotation.T
    c2w[:3, 3] = -rotation.T @ translation
    # OpenCV looks down +z with y down; OpenGL looks down -z with y up: same x, y and z negated.
    c2w[:3, 1:3] *= -1.0
    return c2w
