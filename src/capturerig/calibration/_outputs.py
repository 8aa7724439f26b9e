"""What a calibration leaves on disk: geometry.json, a COLMAP model of the rig, and the report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from capturerig.calibration._calibrate import RigCalibration
from capturerig.calibration._geometry_file import CameraGeometry, Geometry
from capturerig.calibration._report import write_report

__all__ = ["CalibrationOutputs", "colmap_rig_model", "default_output_dir", "write_calibration"]


@dataclass(frozen=True)
class CalibrationOutputs:
    """Paths of everything :func:`write_calibration` wrote."""

    folder: Path
    geometry: Path
    colmap: Path
    report: Path
    plots: tuple[Path, ...]


def default_output_dir(root: str | Path, rig_name: str | None) -> Path:
    """``<root>/<rig>/<UTC timestamp>/``: a new folder per calibration, so earlier ones stay."""
    return Path(root) / (rig_name or "rig") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _colmap_camera(camera: CameraGeometry, colmap_id: int) -> pycolmap.Camera:
    k = camera.matrix()
    k1, k2, p1, p2, k3 = camera.dist
    # COLMAP puts pixel centres at +0.5 (OpenCV at 0), so its principal point is half a pixel larger.
    params = [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5, k1, k2, p1, p2]
    model = "OPENCV"
    if k3 != 0.0:  # COLMAP's OPENCV has no k3; FULL_OPENCV carries it exactly (k4..k6 = 0)
        model = "FULL_OPENCV"
        params += [k3, 0.0, 0.0, 0.0]
    return pycolmap.Camera(camera_id=colmap_id, model=model, width=camera.width, height=camera.height, params=params)


def colmap_rig_model(geometry: Geometry) -> pycolmap.Reconstruction:
    """The calibrated rig as a COLMAP model: one camera and one posed image (``<camera_id>.png``) per camera."""
    reconstruction = pycolmap.Reconstruction()
    for colmap_id, (camera_id, camera) in enumerate(sorted(geometry.cameras.items()), start=1):
        reconstruction.add_camera_with_trivial_rig(_colmap_camera(camera, colmap_id))
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(camera.rotation()), camera.translation())
        image = pycolmap.Image(name=f"{camera_id}.png", camera_id=colmap_id, image_id=colmap_id)
        reconstruction.add_image_with_trivial_frame(image, pose)
    return reconstruction


def write_calibration(result: RigCalibration, folder: str | Path, plots: bool = True) -> CalibrationOutputs:
    """Write ``geometry.json``, ``colmap/`` (binary model) and ``report.html`` with its PNG plots.

    Raises FileExistsError when ``folder`` already holds a geometry.json (a calibration is never overwritten).
    """
    folder = Path(folder)
    geometry_path = folder / "geometry.json"
    if geometry_path.exists():
        raise FileExistsError(f"{geometry_path} exists; choose a new --out folder (calibrations are kept)")
    folder.mkdir(parents=True, exist_ok=True)
    result.geometry.write(geometry_path)
    colmap_dir = folder / "colmap"
    colmap_dir.mkdir(exist_ok=True)
    if result.geometry.cameras:
        colmap_rig_model(result.geometry).write(str(colmap_dir))
    report, images = write_report(result, folder, plots)
    return CalibrationOutputs(folder, geometry_path, colmap_dir, report, tuple(images))
