"""Geometry calibration against the virtual studio's ground truth: our joint adjustment vs cv2.calibrateMultiview.

Renders a calibration capture of the example studio (16 cameras on rings 2.2 m from the axis, the same
poses, lenses and ground-truth perturbation, ``simulation.truth``) as the simulated operator shoots it,
finds the board, then calibrates twice on the same detections. The example studio's bodies are 480 x 640
(0.3 MP, fx ~700); studio photogrammetry bodies have 24-45 MP. ``--scale N`` renders every camera N times
finer (same field of view, fx ~700 N; default 3: 1440 x 1920, 2.8 MP, fx ~2100), a variant the bench builds itself
(``rig_at_scale``); the example studio is unchanged. Corner noise stays about the same in pixels, so
angles come out about N times finer: a rotation is told from a principal point shift only by the lens's
own perspective (0.02 deg moves the image as much as a 0.24 px principal point shift at fx 700), and the
errors of both are noise the sigmas account for, not bias.
By default 80 frames (a few minutes' work for a technician): a sweep of 32 positions through the volume,
shared by neighbouring cameras, and three close-ups per camera, the board filling over half the image,
tilted 31-38 deg about an image diagonal and slid towards another corner each round. Those close-ups pin
the principal point, and with it the rotation. With 40 frames each camera gets one close-up.
The two methods:

- ours: ``capturerig.calibration.calibrate_rig`` (per-camera calibrateCameraExtended, spanning-tree start,
  one joint robust bundle adjustment of all lenses, camera poses and board poses, split-half checks);
- OpenCV 5's ``cv2.calibrateMultiview`` seeded with the same per-camera calibrateCameraExtended intrinsics
  (CALIB_USE_INTRINSIC_GUESS). It needs the same points in every camera of a frame and the same number in
  every frame, so each frame keeps 12 corners spread over those all its cameras saw (a camera is dropped
  from a frame when fewer are common). That uses less of the data than ours does; its intrinsics come from
  the per-camera calibrations on all corners.

Each result is compared with the truth in the frame it reports in: a rig-frame result (3 or more cameras)
is aligned to the true centres by a rigid transform (no scale), as its sigmas are propagated through the
alignment to the rig file's centres; a result in one camera's frame (fewer cameras calibrated) is compared
with the truth seen from that camera, whose own pose it holds exactly. Per camera: focal length error (%),
principal point (px), rotation (deg), centre (mm), RMS (px), and the share of our errors within 3 reported
sigmas. Targets (issue 5): focal <= 0.05 %, principal point <= 1 px, rotation <= 0.02 deg, centre <= 0.5 mm,
RMS <= 0.25 px, >= 95 % within 3 sigma, centre error >= 3x smaller than calibrateMultiview's, runtime
<= 90 s for 16 cameras x 40 frames on 2 cores. A run below the acceptance's capture (fewer than 40 frames
or cameras left out) records its accuracy unjudged; its sigmas are judged all the same.

Run: .venv/bin/python bench/calibration.py [--frames 80] [--scale N] [--seed 0] [--images DIR] [--quick]
(--images reuses a rendered capture, its scale read from its truth.json; --quick renders 16 frames at
scale 1: too few for 16 cameras, a smoke run.)
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _figures import record  # bench/ is on sys.path when a script runs

from capturerig.calibration import (
    CameraParams,
    CaptureDetections,
    RigidTransform,
    calibrate_rig,
    detect_capture,
    images_in_dir,
    load_board,
    rigid_align,
    rotation_angle_deg,
    rotation_vector,
)
from capturerig.calibration._initial import initial_lens
from capturerig.config import RigConfig, default_rig_path, load_rig
from capturerig_sim.calib_capture import CalibrationTruth, render_calibration_capture

BENCH = "calibration"
# calibrateMultiview takes the same number of points in every frame (NUM_POINTS x 3 per frame).
POINTS_PER_FRAME = 12
# Sweep plus three tilted close-ups per camera (see capturerig_sim.calib_operator.close_up_rounds).
DEFAULT_FRAMES = 80
QUICK_FRAMES = 16
DEFAULT_SCALE = 3
TARGETS = {"focal_pct": 0.05, "principal_px": 1.0, "rotation_deg": 0.02, "centre_mm": 0.5, "rms_px": 0.25}


def _true_params(truth: CalibrationTruth, camera: str) -> CameraParams:
    true = truth.cameras[camera]
    return CameraParams(K=true.intrinsics.matrix(), dist=true.intrinsics.distortion(), R=true.rotation,
                        t=true.translation)


def _compared(cameras: dict[str, CameraParams], truth: CalibrationTruth,
              gauge: str = "rig") -> dict[str, tuple[CameraParams, CameraParams]]:
    """Each camera's estimate and its truth, in one frame: the frame the calibration reports in.

    A rig-gauge result is aligned to the true centres by a rigid transform (as its sigmas are propagated
    through the alignment to the rig file's centres); a result in the frame of one camera (``camera:ID``,
    when fewer than 3 cameras could be calibrated) is compared with the truth seen from that camera.
    """
    ids = sorted(cameras)
    if gauge.startswith("camera:"):
        root = _true_params(truth, gauge.split(":", 1)[1])
        into_root = RigidTransform(root.R, root.t)
        return {c: (cameras[c], _true_params(truth, c).transformed(into_root)) for c in ids}
    align = rigid_align(np.array([cameras[c].centre for c in ids]), np.array([truth.cameras[c].centre for c in ids]))
    return {c: (cameras[c].transformed(align), _true_params(truth, c)) for c in ids}


def _errors(pairs: dict[str, tuple[CameraParams, CameraParams]]) -> dict[str, dict[str, float]]:
    result = {}
    for camera, (estimate, true) in pairs.items():
        result[camera] = {"focal_pct": 100 * abs(estimate.K[0, 0] / true.K[0, 0] - 1),
                          "principal_px": float(np.linalg.norm(estimate.K[:2, 2] - true.K[:2, 2])),
                          "rotation_deg": rotation_angle_deg(estimate.R, true.R),
                          "centre_mm": 1000 * float(np.linalg.norm(estimate.centre - true.centre))}
    return result


def _z_scores(pairs: dict[str, tuple[CameraParams, CameraParams]],
              sigmas: dict[str, dict[str, float]]) -> np.ndarray:
    """Every parameter's true error over its reported sigma (a parameter the gauge holds exactly is skipped)."""
    z = []
    for camera, (estimate, true) in pairs.items():
        s = sigmas[camera]
        errors = {"fx": estimate.K[0, 0] - true.K[0, 0], "fy": estimate.K[1, 1] - true.K[1, 1],
                  "cx": estimate.K[0, 2] - true.K[0, 2], "cy": estimate.K[1, 2] - true.K[1, 2]}
        errors.update({f"centre_{a}": e for e, a in zip(estimate.centre - true.centre, "xyz", strict=True)})
        rotation = np.degrees(rotation_vector(estimate.R.T @ true.R))
        errors.update({f"rotation_{a}": e for e, a in zip(rotation, "xyz", strict=True)})
        errors.update({n: estimate.dist[k] - true.dist[k] for k, n in enumerate(("k1", "k2", "p1", "p2", "k3"))})
        for name, error in errors.items():
            if s[name] > 0:
                z.append(error / s[name])
            elif abs(error) > 1e-9:
                z.append(np.inf)  # claimed exact, and it is not
    return np.array(z)


def _multiview(capture: CaptureDetections) -> tuple[dict[str, CameraParams], float]:
    """cv2.calibrateMultiview on the frames' common corners, seeded with per-camera intrinsics."""
    cameras = sorted(capture.views)
    frames = sorted({f for views in capture.views.values() for f in views})
    lenses = {c: initial_lens(capture.views[c], capture.image_sizes[c]) for c in cameras}
    object_points, image_points = [], [[] for _ in cameras]
    mask = np.zeros((len(cameras), len(frames)), dtype=np.uint8)
    kept_frames = 0
    for frame in frames:
        seeing = [c for c in cameras if frame in capture.views[c]]
        while seeing:
            common = set.intersection(*(set(capture.views[c][frame].ids.tolist()) for c in seeing))
            if len(common) >= POINTS_PER_FRAME:
                break
            seeing.remove(min(seeing, key=lambda c: len(capture.views[c][frame])))
        if len(seeing) == 0:
            continue
        spread = sorted(common)
        ids = [spread[round(k)] for k in np.linspace(0, len(spread) - 1, POINTS_PER_FRAME)]
        board_points = capture.board.corner_points()[ids].astype(np.float32)
        object_points.append(board_points)
        for k, camera in enumerate(cameras):
            if camera in seeing:
                detection = capture.views[camera][frame]
                where = {int(i): n for n, i in enumerate(detection.ids)}
                image_points[k].append(detection.corners[[where[i] for i in ids]].astype(np.float32))
                mask[k, kept_frames] = 1
            else:
                image_points[k].append(np.zeros((len(ids), 2), dtype=np.float32))
        kept_frames += 1
    mask = mask[:, :kept_frames]
    sizes = [capture.image_sizes[c] for c in cameras]
    models = np.full((len(cameras), 1), cv2.CALIB_MODEL_PINHOLE, dtype=np.uint8)
    Ks = [lenses[c].K.copy() for c in cameras]
    dists = [lenses[c].dist.reshape(1, 5).copy() for c in cameras]
    # As OpenCV's multiview sample does: the global flag says "start from these Ks", the per-camera flags
    # (none) let each camera's lens be refined.
    per_camera = np.zeros(len(cameras), dtype=np.int32)
    started = time.perf_counter()
    _, Ks, dists, Rs, Ts = cv2.calibrateMultiview(object_points, image_points, sizes, mask, models, Ks, dists,
                                                   None, None, flagsForIntrinsics=per_camera,
                                                   flags=cv2.CALIB_USE_INTRINSIC_GUESS)
    seconds = time.perf_counter() - started
    result = {}
    for k, camera in enumerate(cameras):
        R = np.asarray(Rs[k], dtype=np.float64)
        if R.shape != (3, 3):
            R = cv2.Rodrigues(R.reshape(3))[0]
        result[camera] = CameraParams(K=np.asarray(Ks[k], dtype=np.float64),
                                      dist=np.asarray(dists[k], dtype=np.float64).reshape(-1)[:5], R=R,
                                      t=np.asarray(Ts[k], dtype=np.float64).reshape(3))
    return result, seconds


def _table(name: str, errors: dict[str, dict[str, float]], rms: dict[str, float] | None) -> dict[str, float]:
    print(f"\n{name}")
    print(f"{'camera':8} {'focal %':>9} {'pp px':>7} {'rot deg':>9} {'centre mm':>10} {'RMS px':>7}")
    for camera, e in errors.items():
        r = f"{rms[camera]:7.3f}" if rms else "      -"
        print(f"{camera:8} {e['focal_pct']:9.4f} {e['principal_px']:7.3f} {e['rotation_deg']:9.4f} "
              f"{e['centre_mm']:10.3f} {r}")
    worst = {key: max(e[key] for e in errors.values()) for key in ("focal_pct", "principal_px", "rotation_deg",
                                                                     "centre_mm")}
    median = {key: float(np.median([e[key] for e in errors.values()])) for key in worst}
    print(f"{'median':8} {median['focal_pct']:9.4f} {median['principal_px']:7.3f} {median['rotation_deg']:9.4f} "
          f"{median['centre_mm']:10.3f}")
    print(f"{'worst':8} {worst['focal_pct']:9.4f} {worst['principal_px']:7.3f} {worst['rotation_deg']:9.4f} "
          f"{worst['centre_mm']:10.3f}   targets {TARGETS}")
    return {**{f"worst {k}": v for k, v in worst.items()}, **{f"median {k}": v for k, v in median.items()}}


def rig_at_scale(rig: RigConfig, scale: int) -> RigConfig:
    """The studio with every camera's sensor ``scale`` times finer: same poses, lenses and ground-truth seam.

    Width, height and focal lengths grow by ``scale`` and the principal point moves with the pixel grid, so
    each camera sees the same field of view; ``simulation.truth`` still perturbs every camera the same way
    (focal length in per cent, rotation and centre alike; the principal point by the same number of pixels).
    """
    if scale == 1:
        return rig
    cameras = []
    for camera in rig.cameras:
        lens = camera.intrinsics
        finer = lens.model_copy(update={
            "width": lens.width * scale, "height": lens.height * scale, "fx": lens.fx * scale,
            "fy": lens.fy * scale, "cx": (lens.cx + 0.5) * scale - 0.5, "cy": (lens.cy + 0.5) * scale - 0.5})
        cameras.append(camera.model_copy(update={"intrinsics": finer}))
    return rig.model_copy(update={"cameras": tuple(cameras)})


def _scale_of(truth: CalibrationTruth, rig: RigConfig) -> int:
    """The sensor scale a rendered capture was made at (its true image widths over the rig file's)."""
    camera = rig.cameras[0]
    return max(1, round(truth.cameras[camera.id].intrinsics.width / camera.intrinsics.width))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"board frames to render (default {DEFAULT_FRAMES}; the issue asks for >= 40)")
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE,
                        help=f"sensor resolution factor over the example studio's 480 x 640 (default {DEFAULT_SCALE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=Path, help="a capture rendered before (with its truth.json)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FRAMES} frames at scale 1 (a smoke run: below the acceptance's 40 frames)")
    args = parser.parse_args()
    frames = QUICK_FRAMES if args.quick else args.frames
    scale = 1 if args.quick else args.scale
    studio = load_rig(default_rig_path()).config
    board = load_board("studio-charuco")
    print(f"machine: {platform.machine()}, python {platform.python_version()}, opencv {cv2.__version__}")
    with tempfile.TemporaryDirectory(prefix="capturerig-calib-bench-") as scratch:
        images = args.images or Path(scratch) / "capture"
        if args.images is None:
            started = time.perf_counter()
            render_calibration_capture(rig_at_scale(studio, scale), board, images, frames=frames, seed=args.seed,
                                       workers=2)
            print(f"rendered {len(studio.cameras)} cameras x {frames} frames at scale {scale} in "
                  f"{time.perf_counter() - started:.1f} s")
        truth = CalibrationTruth.load(images)
        scale = _scale_of(truth, studio)
        rig = rig_at_scale(studio, scale)
        started = time.perf_counter()
        capture = detect_capture(images_in_dir(images), truth.board)
        detect_s = time.perf_counter() - started
        started = time.perf_counter()
        ours = calibrate_rig(capture, rig)
        solve_s = time.perf_counter() - started
    frames = len(truth.frames)
    size = rig.cameras[0].intrinsics
    print(f"scale {scale}: {size.width} x {size.height} px, fx ~{size.fx:.0f}; detection {detect_s:.1f} s; our "
          f"calibration {solve_s:.1f} s (with split-half checks); {len(ours.geometry.failed())} failed gates; "
          f"sigma inflation {ours.geometry.sigma_inflation:.2f}; gauge {ours.geometry.gauge}")
    for verdict in ours.geometry.failed():
        print(f"  FAIL {verdict.reason}")
    if not ours.cameras:
        print("no camera could be calibrated")
        return 1
    rms = {c: e.rms_px for c, e in ours.geometry.cameras.items()}
    ours_pairs = _compared(ours.cameras, truth, ours.geometry.gauge)
    our_figures = _table(f"ours (joint bundle adjustment, {len(ours.cameras)} cameras, gauge {ours.geometry.gauge})",
                         _errors(ours_pairs), rms)
    z = _z_scores(ours_pairs, {c: e.sigmas for c, e in ours.geometry.cameras.items()})
    coverage = float((np.abs(z) <= 3).mean())
    print(f"ours: {100 * coverage:.1f} % of {z.size} true errors within 3 reported sigmas (target >= 95 %); "
          f"RMS of error / sigma {np.sqrt(np.mean(np.square(z[np.isfinite(z)]))):.2f} (1 when honest)")
    try:
        theirs, multiview_s = _multiview(capture)
        their_figures = _table(f"cv2.calibrateMultiview ({multiview_s:.1f} s)", _errors(_compared(theirs, truth)),
                               None)
    except cv2.error as exc:
        print(f"cv2.calibrateMultiview failed: {exc}")
        their_figures = {}
    calibrated = len(ours.cameras)
    cameras_label = f"{calibrated} of {len(studio.cameras)} cameras" if calibrated < len(studio.cameras) \
        else f"{calibrated} cameras"
    label = f"{cameras_label} x {frames} frames, {size.width} x {size.height} px"
    # A quick run is below the acceptance's capture (16 cameras, >= 40 frames): its accuracy is shown, not
    # judged. Its sigmas are judged all the same: a calibration must never claim more than it knows.
    judged = not args.quick and frames >= 40 and calibrated == len(studio.cameras)
    note = "" if judged else "smoke run below the acceptance capture: not judged"
    for key, target in TARGETS.items():
        goal = target if judged else None
        if key == "rms_px":
            record(BENCH, f"ours worst per-camera RMS, {label}", max(rms.values()), "px", target=goal, note=note)
            continue
        unit = {"focal_pct": "%", "principal_px": "px", "rotation_deg": "deg", "centre_mm": "mm"}[key]
        record(BENCH, f"ours worst {key}, {label}", our_figures[f"worst {key}"], unit, target=goal, note=note)
        record(BENCH, f"ours median {key}, {label}", our_figures[f"median {key}"], unit, target=goal, note=note)
        if their_figures:
            record(BENCH, f"calibrateMultiview median {key}, {label}", their_figures[f"median {key}"], unit)
    record(BENCH, f"ours errors within 3 sigma, {label}", 100 * coverage, "%", target=95, better="higher")
    if their_figures:
        ratio = their_figures["median centre_mm"] / our_figures["median centre_mm"]
        print(f"camera centre error, median: calibrateMultiview / ours = {ratio:.1f}x (target >= 3x)")
        record(BENCH, f"calibrateMultiview / ours median centre error, {label}", ratio, "x",
               target=3 if judged else None, better="higher", note=note)
    record(BENCH, f"our calibration runtime, {label}", solve_s, "s", target=90 if judged and frames == 40 else None,
           note="joint adjustment + odd/even and first/second-half re-solves; detection excluded"
                + ("" if frames == 40 else "; the target (90 s) is for 16 cameras x 40 frames"))
    record(BENCH, f"board detection, {label}", detect_s, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
