"""Geometry calibration of a whole rig: lenses, spanning-tree start, one joint bundle adjustment, gates."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from capturerig.calibration._bundle import BundleResult, bundle_adjust, views_from_detections
from capturerig.calibration._detect import coverage
from capturerig.calibration._gauge import align_to, aligned_covariance
from capturerig.calibration._geometry_file import CameraGeometry, Geometry, Matrix3, Verdict
from capturerig.calibration._initial import LensGuess, initial_lens, initial_rig
from capturerig.calibration._model import INTRINSIC_NAMES, CameraParams, RigidTransform, best_fit_scale
from capturerig.calibration._observations import CaptureDetections
from capturerig.calibration._split import SplitCheck, corner_points, projection_sigma_px, sigma_inflation, split_checks
from capturerig.calibration._verdicts import GateLimits, quality_verdicts
from capturerig.config import RigConfig

__all__ = ["CalibrationOptions", "RigCalibration", "calibrate_rig"]


@dataclass(frozen=True)
class CalibrationOptions:
    """How the solve is run and judged.

    Attributes
    ----------
    min_views
        A camera must see the board in at least this many frames to be calibrated at all.
    outlier_sigmas
        Corners farther than this many robust sigmas from the model are rejected.
    max_inconsistent_share
        A camera with a larger share of rejected corners is left out of the rig (and named).
    cross_validate
        Also solve odd/even and first/second-half frame splits (verdicts, and the sigma check).
    limits
        The quality gates' thresholds.
    """

    min_views: int = 5
    outlier_sigmas: float = 4.0
    max_inconsistent_share: float = 0.15
    cross_validate: bool = True
    limits: GateLimits = field(default_factory=GateLimits)


@dataclass(frozen=True)
class RigCalibration:
    """Everything a calibration produced: the geometry file's content plus what the report shows."""

    geometry: Geometry
    cameras: dict[str, CameraParams]  # in the output frame
    bundle: BundleResult | None
    transform: RigidTransform  # solver frame -> output frame
    coverage: dict[str, np.ndarray]  # 8 x 8 corner counts per camera
    per_view_rms: dict[tuple[str, str], float]  # (camera, frame) -> RMS px
    splits: list[SplitCheck]
    nominal_centres: dict[str, np.ndarray]
    seconds: float


def _nominal(rig: RigConfig | None, capture: CaptureDetections) -> tuple[dict[str, np.ndarray], dict[str, LensGuess]]:
    """Nominal camera centres and lens seeds from the rig file (cameras whose image size matches)."""
    centres: dict[str, np.ndarray] = {}
    seeds: dict[str, LensGuess] = {}
    if rig is None:
        return centres, seeds
    for camera in rig.cameras:
        R, t = camera.pose.cam_from_world()
        centres[camera.id] = -R.T @ t
        size = capture.image_sizes.get(camera.id)
        if size == (camera.intrinsics.width, camera.intrinsics.height):
            seeds[camera.id] = LensGuess(camera.intrinsics.matrix(), camera.intrinsics.distortion(), 0.0, {})
    return centres, seeds


def _inconsistent(capture: CaptureDetections, bundle: BundleResult, limit: float) -> dict[str, float]:
    """Cameras most of whose corners the robust solve rejected (share of their detected corners)."""
    shares = {}
    for camera in bundle.cameras:
        detected = sum(len(d) for d in capture.views[camera].values())
        used = sum(len(v.ids) for v in bundle.views if v.camera == camera)
        if detected and 1.0 - used / detected > limit:
            shares[camera] = 1.0 - used / detected
    if len(shares) * 2 >= len(bundle.cameras):
        return {}  # half the rig disagreeing is not one bad camera: let the per-camera gates speak
    return shares


def _camera_sigmas(covariance: np.ndarray, inflation: float) -> dict[str, float]:
    """One-sigma per parameter from a camera's aligned (15, 15) covariance, times the split-half inflation."""
    sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None)) * inflation
    sigmas = {name: float(sigma[i]) for i, name in enumerate(INTRINSIC_NAMES)}
    for i, axis in enumerate("xyz"):
        sigmas[f"centre_{axis}"] = float(sigma[9 + i])
        sigmas[f"rotation_{axis}"] = float(np.degrees(sigma[12 + i]))
    return sigmas


def result_points(bundle: BundleResult, camera: str, transform: RigidTransform) -> np.ndarray:
    """The corners ``camera`` used, in the output frame."""
    return transform.apply(corner_points(bundle, camera))


def _matrix(array: np.ndarray) -> Matrix3:
    rows = np.asarray(array, dtype=np.float64).reshape(3, 3)
    return ((float(rows[0, 0]), float(rows[0, 1]), float(rows[0, 2])),
            (float(rows[1, 0]), float(rows[1, 1]), float(rows[1, 2])),
            (float(rows[2, 0]), float(rows[2, 1]), float(rows[2, 2])))


def _vector(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values).reshape(-1))


def calibrate_rig(capture: CaptureDetections, rig: RigConfig | None = None,
                  options: CalibrationOptions | None = None,
                  on_stage: Callable[[str], None] | None = None) -> RigCalibration:
    """Calibrate every camera's lens and pose from a capture of board views.

    Parameters
    ----------
    capture
        The detections (see :func:`detect_capture`).
    rig
        The rig file: seeds the lenses, and the result is aligned (rigidly, no scale) to its nominal
        camera centres, so it is in the rig frame (metres, z up). Without it the result is in the frame of
        the best-connected camera.
    options
        Solver settings and gate limits.
    on_stage
        Called with a short description as each stage starts (for progress displays).

    Returns
    -------
    RigCalibration
        Never raises for bad data: cameras that cannot be calibrated get failing verdicts that say why.
    """
    options = options or CalibrationOptions()
    started = time.perf_counter()
    stage = on_stage or (lambda _: None)
    nominal_centres, seeds = _nominal(rig, capture)
    verdicts: list[Verdict] = []
    expected = list(capture.image_sizes) + [c for c in nominal_centres if c not in capture.image_sizes]
    usable: list[str] = []
    for camera in expected:
        count = len(capture.views.get(camera, {}))
        if camera not in capture.image_sizes:
            verdicts.append(Verdict(check="views", camera=camera, passed=False, value=0, limit=options.min_views,
                                    reason=f"{camera}: no images of this camera in the capture"))
        elif count < options.min_views:
            where = f"{count} frame" + ("" if count == 1 else "s")
            verdicts.append(Verdict(check="views", camera=camera, passed=False, value=count, limit=options.min_views,
                                    reason=f"{camera}: sees the board in {where} only (needs at least "
                                           f"{options.min_views}); show the board to this camera more often, "
                                           "near and far, tilted"))
        else:
            usable.append(camera)
    stage(f"lens of each camera ({len(usable)} cameras)")
    lenses = {}
    for camera in usable:
        seed = seeds.get(camera)
        lenses[camera] = initial_lens(capture.views[camera], capture.image_sizes[camera],
                                      None if seed is None else seed.K, None if seed is None else seed.dist)
    grid = {c: coverage(capture.views.get(c, {}).values(), *capture.image_sizes[c], cells=8)
            for c in capture.image_sizes}
    if not usable:
        return _empty(capture, rig, verdicts, grid, nominal_centres, started)
    stage("rig from the spanning tree of shared views")
    guess = initial_rig(capture.views, lenses)
    for camera in guess.unreachable:
        verdicts.append(Verdict(check="connected", camera=camera, passed=False,
                                reason=f"{camera}: not connected to the other cameras: it never saw the board at "
                                       f"the same instant as a camera linked to {guess.root}; hold the board "
                                       "where it and a neighbour both see it"))
    connected = [c for c in usable if c in guess.cameras]
    stage(f"joint bundle adjustment ({len(connected)} cameras, {len(guess.boards)} board poses)")
    bundle = bundle_adjust(views_from_detections(capture.views, connected), guess.cameras, guess.boards, guess.root,
                           outlier_sigmas=options.outlier_sigmas)
    # A camera that disagrees with the rest drags the board poses it shares and spoils its neighbours too:
    # leave out the worst one, solve again, and repeat while one still stands out.
    for _ in range(len(connected) // 2):
        inconsistent = _inconsistent(capture, bundle, options.max_inconsistent_share)
        if not inconsistent:
            break
        camera = max(inconsistent, key=lambda c: inconsistent[c])
        share = inconsistent[camera]
        verdicts.append(Verdict(
            check="consistency", camera=camera, passed=False, value=share, limit=options.max_inconsistent_share,
            reason=f"{camera}: {100 * share:.0f} % of its corners disagree with the rest of the rig, so it was "
                   "left out: the camera moved during the capture (bumped, a loose mount or lens), or its "
                   "images are not from this capture"))
        connected = [c for c in connected if c != camera]
        root = guess.root if guess.root in connected else max(connected, key=lambda c: len(capture.views[c]))
        stage(f"joint bundle adjustment without {camera}")
        bundle = bundle_adjust(views_from_detections(capture.views, connected), guess.cameras, guess.boards, root,
                               outlier_sigmas=options.outlier_sigmas)
    target = {c: nominal_centres[c] for c in bundle.cameras if c in nominal_centres}
    use_rig = len(target) >= 3
    transform = align_to(bundle.cameras, target) if use_rig else RigidTransform(np.eye(3), np.zeros(3))
    cameras = {c: p.transformed(transform) for c, p in bundle.cameras.items()}
    aligned = aligned_covariance(bundle.cameras, bundle.camera_covariance, target if use_rig else None)
    splits: list[SplitCheck] = []
    inflation = 1.0
    if options.cross_validate:
        stage("cross-validation: odd/even and first/second-half frames")
        splits = split_checks(capture, bundle, options.min_views)
        inflation = sigma_inflation(splits)
    scale = best_fit_scale(np.array([cameras[c].centre for c in target]),
                           np.array([target[c] for c in target])) if use_rig else None
    per_view = {(v.camera, v.frame): float(np.sqrt(np.mean(np.sum(r**2, axis=1))))
                for v, r in zip(bundle.views, bundle.residuals, strict=True)}
    detected = {c: sum(len(d) for d in capture.views[c].values()) for c in connected}
    used = {c: sum(len(v.ids) for v in bundle.views if v.camera == c) for c in bundle.cameras}
    geometry_cameras = {}
    for camera, params in cameras.items():
        residuals = np.concatenate([r for v, r in zip(bundle.views, bundle.residuals, strict=True)
                                    if v.camera == camera])
        width, height = capture.image_sizes[camera]
        geometry_cameras[camera] = CameraGeometry(
            width=width, height=height, K=_matrix(params.K), dist=_vector(params.dist),
            R=_matrix(params.R), t=_vector(params.t),
            rms_px=float(np.sqrt(np.mean(np.sum(residuals**2, axis=1)))),
            sigmas=_camera_sigmas(aligned[camera], inflation),
            views_used=sum(1 for v in bundle.views if v.camera == camera), corners_used=used[camera],
            outlier_share=1.0 - used[camera] / detected[camera] if detected[camera] else 0.0)
    precision = {c: projection_sigma_px(cameras[c], aligned[c] * inflation**2,
                                        result_points(bundle, c, transform)) for c in cameras}
    verdicts += quality_verdicts(geometry_cameras, per_view, grid, splits, scale, cameras, target,
                                 capture.board.square_length_m, options.limits, precision)
    geometry = Geometry(rig=None if rig is None else rig.name, board=capture.board, **_made_now(rig),
                        gauge="rig" if use_rig else f"camera:{bundle.root}",
                        passed=all(v.passed for v in verdicts), verdicts=tuple(verdicts), cameras=geometry_cameras,
                        scale_vs_nominal=scale, sigma_inflation=inflation)
    return RigCalibration(geometry, cameras, bundle, transform, grid, per_view, splits, nominal_centres,
                          time.perf_counter() - started)


def _made_now(rig: RigConfig | None) -> dict[str, str]:
    """``created`` (ISO 8601 UTC) and the calibration ``id`` it gives: ``<rig>-<yyyymmdd>T<hhmmss>Z``."""
    now = time.gmtime()
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", now),
            "id": f"{rig.name if rig is not None else 'rig'}-{time.strftime('%Y%m%dT%H%M%SZ', now)}"}


def _empty(capture: CaptureDetections, rig: RigConfig | None, verdicts: list[Verdict],
           grid: Mapping[str, np.ndarray], nominal: dict[str, np.ndarray], started: float) -> RigCalibration:
    geometry = Geometry(rig=None if rig is None else rig.name, board=capture.board, **_made_now(rig),
                        gauge="none", passed=False,
                        verdicts=tuple(verdicts), cameras={})
    return RigCalibration(geometry, {}, None, RigidTransform(np.eye(3), np.zeros(3)), dict(grid), {}, [], nominal,
                          time.perf_counter() - started)
