"""Calibration: camera geometry from ChArUco views (this package) and colour (:mod:`capturerig.calibration.colour`).

Geometry: boards (:func:`load_board`), detection (:func:`detect_board`, :func:`detect_capture`), the joint
calibration of a rig (:func:`calibrate_rig`) and its outputs (:func:`write_calibration`, geometry.json read
back by :func:`load_geometry`).
"""

from capturerig.calibration._board import BoardSpec, boards_dir, load_board, write_board_image
from capturerig.calibration._calibrate import CalibrationOptions, RigCalibration, calibrate_rig
from capturerig.calibration._detect import MIN_CORNERS, BoardDetection, coverage, detect_board
from capturerig.calibration._geometry_file import GEOMETRY_SCHEMA, CameraGeometry, Geometry, Verdict, load_geometry
from capturerig.calibration._model import CameraParams, RigidTransform, rigid_align, rotation_angle_deg, rotation_vector
from capturerig.calibration._observations import CaptureDetections, detect_capture, images_in_dir
from capturerig.calibration._outputs import (
    CalibrationOutputs,
    colmap_rig_model,
    default_output_dir,
    write_calibration,
)
from capturerig.calibration._store import (
    STORE_SCHEMA,
    CalibrationStore,
    StoredCalibration,
    rig_changes,
    rig_document,
)
from capturerig.calibration._synthetic import board_pose_facing, simulate_detections, sweep_board_poses
from capturerig.calibration._verdicts import GateLimits

__all__ = [
    "GEOMETRY_SCHEMA",
    "MIN_CORNERS",
    "STORE_SCHEMA",
    "BoardDetection",
    "BoardSpec",
    "CalibrationOptions",
    "CalibrationOutputs",
    "CalibrationStore",
    "CameraGeometry",
    "CameraParams",
    "CaptureDetections",
    "GateLimits",
    "Geometry",
    "RigCalibration",
    "RigidTransform",
    "StoredCalibration",
    "Verdict",
    "board_pose_facing",
    "boards_dir",
    "calibrate_rig",
    "colmap_rig_model",
    "coverage",
    "default_output_dir",
    "detect_board",
    "detect_capture",
    "images_in_dir",
    "load_board",
    "load_geometry",
    "rig_changes",
    "rig_document",
    "rigid_align",
    "rotation_angle_deg",
    "rotation_vector",
    "simulate_detections",
    "sweep_board_poses",
    "write_board_image",
    "write_calibration",
]
