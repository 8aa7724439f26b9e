"""geometry.json: every camera's lens and pose in the rig frame, with uncertainties and verdicts.

Schema ``capturerig.geometry/1``. Poses follow COLMAP's cam_from_world: x_cam = R x_world + t, OpenCV
camera axes (x right, y down, z forward), metres; the world is the rig frame (z up, origin at the
turntable centre) when the calibration was aligned to a rig file (``gauge: "rig"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field, ValidationError

from capturerig.calibration._board import BoardSpec
from capturerig.config import ConfigError, FrozenModel

__all__ = ["GEOMETRY_SCHEMA", "CameraGeometry", "Geometry", "Verdict", "load_geometry"]

GEOMETRY_SCHEMA = "capturerig.geometry/1"

Vector3 = tuple[float, float, float]
Matrix3 = tuple[Vector3, Vector3, Vector3]


class _GeometryModel(FrozenModel):
    model_config = ConfigDict(populate_by_name=True)  # "schema" in the file, ``schema_`` in code


class Verdict(_GeometryModel):
    """One quality gate's outcome, in plain words (``reason`` names the camera and the cause)."""

    check: str
    passed: bool
    reason: str
    camera: str | None = None
    value: float | None = None
    limit: float | None = None


class CameraGeometry(_GeometryModel):
    """One camera's calibrated lens (OpenCV model) and pose (x_cam = R x_world + t, metres)."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    model: Literal["OPENCV"] = "OPENCV"
    K: Matrix3
    dist: tuple[float, float, float, float, float] = Field(description="k1, k2, p1, p2, k3")
    R: Matrix3
    t: Vector3
    rms_px: float = Field(ge=0)
    sigmas: dict[str, float] = Field(
        default_factory=dict, description="one-sigma of fx, fy, cx, cy (px), k1..k3, p1, p2, centre_x/y/z (m) "
                                          "and rotation_x/y/z (deg, about the world axes)")
    views_used: int = Field(ge=0)
    corners_used: int = Field(default=0, ge=0)
    outlier_share: float = Field(default=0.0, ge=0, le=1)

    def matrix(self) -> np.ndarray:
        return np.array(self.K, dtype=np.float64)

    def distortion(self) -> np.ndarray:
        return np.array(self.dist, dtype=np.float64)

    def rotation(self) -> np.ndarray:
        return np.array(self.R, dtype=np.float64)

    def translation(self) -> np.ndarray:
        return np.array(self.t, dtype=np.float64)

    def centre(self) -> np.ndarray:
        """Camera centre in the world (rig) frame."""
        return np.asarray(-self.rotation().T @ self.translation(), dtype=np.float64)


class Geometry(_GeometryModel):
    """The whole file. ``passed`` is True only when every verdict passed."""

    schema_: Literal["capturerig.geometry/1"] = Field(default="capturerig.geometry/1", alias="schema")
    rig: str | None = None
    id: str | None = Field(default=None, description="names this calibration wherever it is used (packages "
                                                      "record it): the rig and the UTC time it was made")
    board: BoardSpec
    created: str
    gauge: str = Field(description='"rig": aligned to the rig file\'s nominal camera centres (rigidly, no '
                                   'scale); "camera:<id>": that camera\'s frame')
    passed: bool
    verdicts: tuple[Verdict, ...]
    cameras: dict[str, CameraGeometry]
    scale_vs_nominal: float | None = Field(default=None, description="best-fit scale of the calibrated camera "
                                                                     "centres onto the rig file's (1 = agree)")
    sigma_inflation: float = Field(default=1.0, ge=1, description="factor the Jacobian sigmas were multiplied "
                                                                  "by so that they cover the odd/even "
                                                                  "split-half differences")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    def rms_px(self) -> float | None:
        """Reprojection RMS over every camera (px), or None without cameras."""
        if not self.cameras:
            return None
        return float(np.sqrt(np.mean([camera.rms_px**2 for camera in self.cameras.values()])))


def load_geometry(path: str | Path) -> Geometry:
    """Read a geometry.json; raises ConfigError naming the file and field for a file that does not fit."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError.single(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError.single(str(path), f"not valid JSON: {exc.msg}", exc.lineno) from exc
    if isinstance(data, dict) and data.get("schema") != GEOMETRY_SCHEMA:
        raise ConfigError.single(str(path), f"schema is {data.get('schema')!r}, expected {GEOMETRY_SCHEMA!r} "
                                            "(a geometry.json written by `capturerig calibrate geometry`)")
    try:
        return Geometry.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError.single(str(path), f"{where}: {first['msg']} ({len(exc.errors())} problem(s))") from exc
