"""Calibrate every camera from a folder of chart shots: find, sample, check, fit, compare across cameras.

Input layout: ``DIR/<camera_id>/<name>.<ext>``: PNG, JPEG or TIFF (8 or 16 bit), or RAW files (DNG, CR2/CR3,
NEF, ARW ... as LibRaw reads them), developed linearly (:mod:`capturerig.develop`) so the fit runs on linear
camera RGB with no tone curve to undo; a camera's shots are all RAW or all images, never mixed. Several shots
of one camera are averaged patch by patch. When ``cv2.mcc`` cannot find the chart in a shot, four corners from the
operator's corner file stand in (see :func:`load_chart_corners`); when neither exists, the shot is saved with
what detection saw drawn on it, and the camera is reported by name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._calibration import CameraColour, ColourCalibration, ExcludedPatch
from capturerig.calibration.colour._consistency import Consistency, cross_camera_consistency
from capturerig.calibration.colour._detect import (
    ChartLocation,
    PatchSamples,
    detect_chart,
    draw_detection,
    location_from_corners,
    orient,
    sample_patches,
)
from capturerig.calibration.colour._fit import LINEARISATION_DEGREES, MODELS, fit_camera_colour
from capturerig.calibration.colour._reference import (
    WHITE_PATCH,
    ChartReference,
    linear_to_lab,
    load_reference,
    srgb_decode,
)
from capturerig.config import ConfigError, ConfigProblem, load_located_yaml
from capturerig.develop import DevelopError, develop_linear, is_raw, linear_bgr16, preview_bgr8

__all__ = [
    "CLIPPED_FRACTION",
    "IMAGE_SUFFIXES",
    "NONUNIFORM_STD",
    "UNDER_EXPOSED_WHITE",
    "CameraProblem",
    "ColourRun",
    "calibrate_colour",
    "find_chart_images",
    "load_chart_corners",
]

FloatArray = npt.NDArray[np.float64]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # besides RAW files (capturerig.develop.is_raw)
CLIPPED_FRACTION = 0.02  # a patch with more of its pixels at full scale than this is excluded
NONUNIFORM_STD = 0.03  # of full scale (~8 codes of 255): glare, a shadow or corners off the patch
UNDER_EXPOSED_WHITE = 0.5  # white patch below half of full scale: dark patches drown in noise and quantisation


@dataclass(frozen=True)
class CameraProblem:
    """A camera that could not be calibrated, why, and the image that shows it (if one was saved)."""

    camera_id: str
    message: str
    debug_image: Path | None = None

    def __str__(self) -> str:
        shown = f" (see {self.debug_image})" if self.debug_image else ""
        return f"{self.camera_id}: {self.message}{shown}"


@dataclass
class ColourRun:
    """Everything a calibration run produced: the calibration, the failures and the evidence.

    Attributes
    ----------
    calibration
        The cameras that could be calibrated, with the cross-camera summary.
    problems
        Cameras that could not be calibrated.
    samples
        Averaged patch samples per calibrated camera.
    locations
        Where the chart was found in each camera's shots.
    before, after
        Cross-camera consistency of the raw images (read as sRGB) and of the corrected patches.
    timings
        Seconds per camera: ``detect`` (finding and sampling the chart) and ``fit``.
    overlays
        Each calibrated camera's first shot with the chart and sampled squares drawn (8-bit BGR).
    """

    calibration: ColourCalibration
    problems: list[CameraProblem] = field(default_factory=list)
    samples: dict[str, PatchSamples] = field(default_factory=dict)
    locations: dict[str, list[ChartLocation]] = field(default_factory=dict)
    before: Consistency | None = None
    after: Consistency | None = None
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    overlays: dict[str, npt.NDArray[np.uint8]] = field(default_factory=dict)


def find_chart_images(images_dir: Path) -> dict[str, list[Path]]:
    """Chart shots by camera id from ``images_dir/<camera_id>/<name>.<ext>``.

    Raises
    ------
    FileNotFoundError
        When ``images_dir`` is not a folder.
    ValueError
        When it holds no camera folder with an image in it.
    """
    if not images_dir.is_dir():
        raise FileNotFoundError(f"{images_dir}: no such folder (expected {images_dir}/<camera_id>/<image>)")
    found = {}
    for folder in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir()
                        if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or is_raw(p)))
        if images:
            found[folder.name] = images
    if not found:
        raise ValueError(f"{images_dir}: no chart images found (expected {images_dir}/<camera_id>/<name>"
                         f"{{{','.join(IMAGE_SUFFIXES)}}} or a RAW file)")
    return found


def load_chart_corners(path: Path) -> dict[str, FloatArray]:
    """Read the operator's chart corners: the fallback when detection fails.

    The file is YAML::

        # pixels, in chart order: dark-skin corner, bluish-green corner, black corner, white corner
        charts:
          cam03: [[112, 240], [398, 262], [385, 455], [104, 430]]     # every shot of cam03
          cam07/chart-2.png: [[...], [...], [...], [...]]             # one shot

    Raises
    ------
    ConfigError
        Naming the file, line and field of each entry that is not four [x, y] pixel pairs.
    """
    doc = load_located_yaml(path)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("charts"), dict):
        raise ConfigError([doc.problem(("charts",), "expected a mapping 'charts: {camera_id: [[x, y] x 4]}'")])
    corners: dict[str, FloatArray] = {}
    problems: list[ConfigProblem] = []
    for key, value in data["charts"].items():
        try:
            corners[str(key)] = location_from_corners(value).corners
        except (ValueError, TypeError) as exc:
            problems.append(doc.problem(("charts", key), str(exc)))
    if problems:
        raise ConfigError(problems)
    return corners


def _read_image(path: Path) -> npt.NDArray[np.generic]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read {path.name} as an image")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = image[..., :3]
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path.name}: {image.dtype} images are not supported (8- or 16-bit only)")
    return np.ascontiguousarray(image)


def _read_shot(path: Path) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]:
    """The shot to find the chart in and the one to sample: one image, or for a RAW file an 8-bit preview
    and its 16-bit linear development."""
    if not is_raw(path):
        image = _read_image(path)
        return image, image
    try:
        developed = develop_linear(path, name=path.name)
    except DevelopError as exc:
        raise ValueError(str(exc)) from exc
    return preview_bgr8(developed), linear_bgr16(developed)


def _debug_path(debug_dir: Path, camera_id: str, image: Path) -> Path:
    debug_dir.mkdir(parents=True, exist_ok=True)
    return debug_dir / f"{camera_id}_{image.stem}_no_chart.png"


def _average(samples: list[PatchSamples]) -> PatchSamples:
    if len(samples) == 1:
        return samples[0]
    return PatchSamples(np.mean([s.mean for s in samples], axis=0), np.mean([s.std for s in samples], axis=0),
                        np.max([s.clipped for s in samples], axis=0), np.sum([s.pixels for s in samples], axis=0))


def _screen(samples: PatchSamples, reference: ChartReference) -> tuple[list[ExcludedPatch], list[str]]:
    """Patches to leave out (clipped, not uniform) and warnings (under-exposure)."""
    excluded = []
    for index in range(len(samples.mean)):
        name = reference.names[index]
        if samples.clipped[index] > CLIPPED_FRACTION:
            excluded.append(ExcludedPatch(index, name, f"clipped ({100 * samples.clipped[index]:.0f} % of its "
                                                        "pixels at full scale)"))
        elif samples.std[index].max() > NONUNIFORM_STD:
            excluded.append(ExcludedPatch(index, name, f"not uniform (spread {255 * samples.std[index].max():.1f} "
                                                        "of 255 codes): glare, shadow or corners off the patch"))
    warnings = []
    white = float(samples.mean[WHITE_PATCH].max())
    if white < UNDER_EXPOSED_WHITE:
        warnings.append(f"under-exposed chart: the white patch is at {100 * white:.0f} % of full scale (aim for "
                        "80-95 %); dark patches are noisy and the fit is less certain")
    return excluded, warnings


def calibrate_colour(images_dir: Path, *, corners: Mapping[str, npt.ArrayLike] | None = None,
                     reference: ChartReference | None = None, working_space: str = "linear-srgb",
                     models: tuple[str, ...] = MODELS, raw: bool = False, debug_dir: Path | None = None,
                     ) -> ColourRun:
    """Calibrate every camera with chart shots under ``images_dir``.

    Parameters
    ----------
    images_dir
        ``images_dir/<camera_id>/<name>.<ext>``.
    corners
        Fallback chart corners by ``camera_id`` or ``camera_id/<file name>`` (see :func:`load_chart_corners`).
    reference
        The chart reference (default: the packaged post-2014 ColorChecker data).
    working_space
        ``linear-srgb`` (default) or ``linear-rec2020``.
    models
        Colour models to choose from by leave-one-out error.
    raw
        The images are linear already (RAW developed elsewhere without a tone curve): no linearisation. RAW
        files themselves are recognised by their names and always fit linearly.
    debug_dir
        Where shots without a chart are saved with the detection attempt drawn (default:
        ``images_dir/../colour-debug``).

    Raises
    ------
    FileNotFoundError, ValueError
        When ``images_dir`` holds no chart images (see :func:`find_chart_images`).
    """
    chart = reference or load_reference()
    debug_dir = debug_dir or images_dir.parent / "colour-debug"
    fallback = dict(corners or {})
    run = ColourRun(ColourCalibration({}, working_space, {
        "source": chart.source, "illuminant": "ICC D50, CIE 1931 2 degree observer",
        "adaptation": "Bradford, D50 to the working space's D65"}))
    before_lab: dict[str, FloatArray] = {}
    after_lab: dict[str, FloatArray] = {}
    for camera_id, images in find_chart_images(images_dir).items():
        started = time.perf_counter()
        shots: list[PatchSamples] = []
        locations: list[ChartLocation] = []
        failures: list[CameraProblem] = []
        clipped_raw: list[CameraProblem] = []  # RAW shots with patches at the sensor's white level
        linear = raw or any(is_raw(p) for p in images)
        if linear and not raw and not all(is_raw(p) for p in images):
            run.problems.append(CameraProblem(camera_id, "its folder mixes RAW files and images; calibrate from "
                                              "one kind (RAW for the linear fit)"))
            continue
        for image_path in images:
            try:
                image, sampled = _read_shot(image_path)
                location = detect_chart(image)
                given = fallback.get(f"{camera_id}/{image_path.name}", fallback.get(camera_id))
                if location is None and given is not None:
                    location = orient(image, location_from_corners(given))
                if location is None:
                    debug = _debug_path(debug_dir, camera_id, image_path)
                    message = f"no chart found in {image_path.name}"
                    cv2.imwrite(str(debug), draw_detection(image, None, f"{camera_id}: {message}"))
                    failures.append(CameraProblem(camera_id, message + "; give its corners in a corner file "
                                                  "(--corners)", debug))
                    continue
                shot = sample_patches(sampled, location)
                clipped = [f"{k + 1} {chart.names[k]}" for k in np.flatnonzero(shot.clipped > CLIPPED_FRACTION)]
                if clipped and is_raw(image_path):  # the sensor's white level: that light is lost, not tone-mapped
                    clipped_raw.append(CameraProblem(camera_id, f"{image_path.name} is clipped in RAW on patch "
                                                     f"{', '.join(clipped)}; shoot the chart darker (a shorter "
                                                     "shutter or less light) and calibrate again"))
                    continue
                shots.append(shot)
                locations.append(location)
                if camera_id not in run.overlays:
                    how = "found by cv2.mcc" if location.method == "mcc" else "corners from the corner file"
                    run.overlays[camera_id] = draw_detection(image, location, f"{camera_id} {image_path.name}: {how}")
            except ValueError as exc:
                failures.append(CameraProblem(camera_id, f"{image_path.name}: {exc}"))
        detected = time.perf_counter()
        if clipped_raw:
            run.problems.extend(clipped_raw)
            continue
        if not shots:
            run.problems.extend(failures or [CameraProblem(camera_id, "no usable chart shot")])
            continue
        samples = _average(shots)
        excluded, warnings = _screen(samples, chart)
        warnings += [str(f) for f in failures]  # some shots failed, others were usable
        use = np.ones(len(samples.mean), dtype=bool)
        use[[patch.index for patch in excluded]] = False
        try:
            fit = fit_camera_colour(samples.mean, chart, use, working_space, models,
                                    (0,) if linear else LINEARISATION_DEGREES)
        except ValueError as exc:
            excluded_text = "; ".join(str(p) for p in excluded)
            run.problems.append(CameraProblem(camera_id, f"{exc}" + (f" (excluded: {excluded_text})"
                                                                    if excluded_text else "")))
            continue
        run.calibration.cameras[camera_id] = CameraColour(
            camera_id, fit.chosen, working_space, fit.candidate.in_sample_de, fit.candidate.loo_de, fit.candidates,
            tuple(excluded), tuple(warnings), tuple(str(p.relative_to(images_dir)) for p in images),
            source="raw" if any(is_raw(p) for p in images) else "linear" if raw else "image")
        run.samples[camera_id] = samples
        run.locations[camera_id] = locations
        before = linear_to_lab(samples.mean if linear else srgb_decode(samples.mean), "linear-srgb")
        after = linear_to_lab(fit.chosen.apply(samples.mean), working_space)
        before[~use] = np.nan
        after[~use] = np.nan
        before_lab[camera_id], after_lab[camera_id] = before, after
        run.timings[camera_id] = {"detect": detected - started, "fit": time.perf_counter() - detected}
    run.before = cross_camera_consistency(before_lab)
    run.after = cross_camera_consistency(after_lab)
    run.calibration.consistency = {"before": run.before.summary(), "after": run.after.summary()}
    return run
