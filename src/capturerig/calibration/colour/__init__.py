"""Colour calibration: find a ColorChecker 24, fit each camera's correction, match colour across cameras.

Users load a calibration and correct images with it::

    calibration = load_colour("colour.json")
    for camera_id in calibration.cameras:
        corrected = calibration.correct(camera_id, image_bgr)          # 8-bit sRGB, BGR
        corrected16 = calibration.correct(camera_id, image_bgr, bits=16)
"""

from capturerig.calibration.colour._apply import ApplyResult, apply_to_folder
from capturerig.calibration.colour._calibration import (
    SCHEMA,
    CameraColour,
    ColourCalibration,
    ExcludedPatch,
    load_colour,
    save_colour,
)
from capturerig.calibration.colour._ciede2000 import delta_e_2000
from capturerig.calibration.colour._consistency import OUTLIER_FLOOR_DE, Consistency, cross_camera_consistency
from capturerig.calibration.colour._detect import (
    CHART_SIZE_UNITS,
    ChartLocation,
    PatchSamples,
    detect_chart,
    draw_detection,
    location_from_corners,
    orient,
    patch_centres_units,
    sample_patches,
)
from capturerig.calibration.colour._fit import (
    LINEARISATION_DEGREES,
    MODELS,
    Candidate,
    ColourModel,
    FitResult,
    Linearisation,
    fit_camera_colour,
    fit_colour_model,
    model_terms,
)
from capturerig.calibration.colour._pipeline import (
    CLIPPED_FRACTION,
    IMAGE_SUFFIXES,
    NONUNIFORM_STD,
    UNDER_EXPOSED_WHITE,
    CameraProblem,
    ColourRun,
    calibrate_colour,
    find_chart_images,
    load_chart_corners,
)
from capturerig.calibration.colour._reference import (
    NEUTRAL_PATCHES,
    WHITE_PATCH,
    WORKING_SPACES,
    ChartReference,
    lab_to_linear,
    linear_to_lab,
    load_reference,
    srgb_decode,
    srgb_encode,
    working_space_matrix,
)
from capturerig.calibration.colour._report import swatch_image, write_report

__all__ = [
    "CHART_SIZE_UNITS",
    "CLIPPED_FRACTION",
    "IMAGE_SUFFIXES",
    "LINEARISATION_DEGREES",
    "MODELS",
    "NEUTRAL_PATCHES",
    "NONUNIFORM_STD",
    "OUTLIER_FLOOR_DE",
    "SCHEMA",
    "UNDER_EXPOSED_WHITE",
    "WHITE_PATCH",
    "WORKING_SPACES",
    "ApplyResult",
    "CameraColour",
    "CameraProblem",
    "Candidate",
    "ChartLocation",
    "ChartReference",
    "ColourCalibration",
    "ColourModel",
    "ColourRun",
    "Consistency",
    "ExcludedPatch",
    "FitResult",
    "Linearisation",
    "PatchSamples",
    "apply_to_folder",
    "calibrate_colour",
    "cross_camera_consistency",
    "delta_e_2000",
    "detect_chart",
    "draw_detection",
    "find_chart_images",
    "fit_camera_colour",
    "fit_colour_model",
    "lab_to_linear",
    "linear_to_lab",
    "load_chart_corners",
    "load_colour",
    "load_reference",
    "location_from_corners",
    "model_terms",
    "orient",
    "patch_centres_units",
    "sample_patches",
    "save_colour",
    "srgb_decode",
    "srgb_encode",
    "swatch_image",
    "working_space_matrix",
    "write_report",
]
