"""Geometry calibration against the virtual studio's ground truth: our joint adjustment vs cv2.calibrateMultiview.

Renders a calibration capture of the example studio (16 cameras, 480 x 640, fx ~700, rings 2.2 m from the
axis) as the simulated operator shoots it, finds the board, then calibrates twice on the same detections.
By default 80 frames (a few minutes' work for a technician): a sweep of 32 positions through the volume,
shared by neighbouring cameras, and three close-ups per camera, the board filling over half the image,
tilted 31-38 deg about an image diagonal and slid towards another corner each round. Those close-ups pin
the principal point, and with it the rotation (a 0.02 deg rotation moves the image as much as a 0.24 px
principal point shift at fx 700, so the two are told apart only by the lens's own perspective cues).
With 40 frames each camera gets one close-up and the principal point (hence rotation) errors double.
The two methods:

- ours: ``capturerig.calibration.calibrate_rig`` (per-camera calibrateCameraExtended, spanning-tree start,
  one joint robust bundle adjustment of all lenses, camera poses and board poses, split-half checks);
- OpenCV 5's ``cv2.calibrateMultiview`` seeded with the same per-camera calibrateCameraExtended intrinsics
  (CALIB_USE_INTRINSIC_GUESS). It needs the same points in every camera of a frame and the same number in
  every frame, so each frame keeps 12 corners spread over those all its cameras saw (a camera is dropped
  from a frame when fewer are common). That uses less of the data than ours does; its intrinsics come from
  the per-camera calibrations on all corners.

Both are aligned to the truth by a rigid transform of the camera centres (no scale), then per camera:
focal length error (%), principal point (px), rotation (deg), centre (mm), RMS (px), and the share of our
errors within 3 reported sigmas. Targets (issue 5): focal <= 0.05 %, principal point <= 1 px, rotation
<= 0.02 deg, centre <= 0.5 mm, RMS <= 0.25 px, >= 95 % within 3 sigma, centre error >= 3x smaller than
calibrateMultiview's, runtime <= 90 s for 16 cameras x 40 frames on 2 cores.

Run: .venv/bin/python bench/calibration.py [--frames 80] [--seed 0] [--images DIR] [--quick]
(--images reuses a rendered capture; --quick renders 16 frames.)
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
    calibrate_rig,
    detect_capture,
    images_in_dir,
    load_board,
    rigid_align,
    rotation_angle_deg,
    rotation_vector,
)
from capturerig.calibration._initial import initial_lens
from capturerig.config import default_rig_path, load_rig
from capturerig_sim.calib_capture import CalibrationTruth, render_calibration_capture

BENCH = "calibration"
# calibrateMultiview takes the same number of points in every frame (NUM_POINTS x 3 per frame).
POINTS_PER_FRAME = 12
# Sweep plus three tilted close-ups per camera (see capturerig_sim.calib_operator.close_up_rounds).
DEFAULT_FRAMES = 80
TARGETS = {"focal_pct": 0.05, "principal_px": 1.0, "rotation_deg": 0.02, "centre_mm": 0.5, "rms_px": 0.25}


def _errors(cameras: dict[str, CameraParams], truth: CalibrationTruth) -> dict[str, dict[str, float]]:
    ids = sorted(cameras)
    align = rigid_align(np.array([cameras[c].centre for c in ids]), np.array([truth.cameras[c].centre for c in ids]))
    result = {}
    for camera in ids:
        estimate, true = cameras[camera].transformed(align), truth.cameras[camera]
        true_K = true.intrinsics.matrix()
        result[camera] = {"focal_pct": 100 * abs(estimate.K[0, 0] / true_K[0, 0] - 1),
                          "principal_px": float(np.linalg.norm(estimate.K[:2, 2] - true_K[:2, 2])),
                          "rotation_deg": rotation_angle_deg(estimate.R, true.rotation),
                          "centre_mm": 1000 * float(np.linalg.norm(estimate.centre - true.centre))}
    return result


def _coverage_of_sigmas(result_cameras: dict[str, CameraParams], sigmas: dict[str, dict[str, float]],
                        truth: CalibrationTruth) -> float:
    ids = sorted(result_cameras)
    align = rigid_align(np.array([result_cameras[c].centre for c in ids]),
                        np.array([truth.cameras[c].centre for c in ids]))
    z = []
    for camera in ids:
        estimate, true, s = result_cameras[camera].transformed(align), truth.cameras[camera], sigmas[camera]
        true_K = true.intrinsics.matrix()
        z += [(estimate.K[0, 0] - true_K[0, 0]) / s["fx"], (estimate.K[1, 1] - true_K[1, 1]) / s["fy"],
              (estimate.K[0, 2] - true_K[0, 2]) / s["cx"], (estimate.K[1, 2] - true_K[1, 2]) / s["cy"]]
        z += [e / s[f"centre_{a}"] for e, a in zip(estimate.centre - true.centre, "xyz", strict=True)]
        rotation = np.degrees(rotation_vector(estimate.R.T @ true.rotation))
        z += [e / s[f"rotation_{a}"] for e, a in zip(rotation, "xyz", strict=True)]
        z += [(estimate.dist[k] - true.intrinsics.distortion()[k]) / s[n]
              for k, n in enumerate(("k1", "k2", "p1", "p2", "k3"))]
    return float((np.abs(np.array(z)) <= 3).mean())


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"board frames to render (default {DEFAULT_FRAMES}; the issue asks for >= 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=Path, help="a capture rendered before (with its truth.json)")
    parser.add_argument("--quick", action="store_true", help="16 frames instead of --frames")
    args = parser.parse_args()
    frames = 16 if args.quick else args.frames
    rig = load_rig(default_rig_path()).config
    board = load_board("studio-charuco")
    print(f"machine: {platform.machine()}, python {platform.python_version()}, opencv {cv2.__version__}")
    with tempfile.TemporaryDirectory(prefix="capturerig-calib-bench-") as scratch:
        images = args.images or Path(scratch) / "capture"
        if args.images is None:
            started = time.perf_counter()
            render_calibration_capture(rig, board, images, frames=frames, seed=args.seed, workers=2)
            print(f"rendered {len(rig.cameras)} cameras x {frames} frames in {time.perf_counter() - started:.1f} s")
        truth = CalibrationTruth.load(images)
        started = time.perf_counter()
        capture = detect_capture(images_in_dir(images), truth.board)
        detect_s = time.perf_counter() - started
        started = time.perf_counter()
        ours = calibrate_rig(capture, rig)
        solve_s = time.perf_counter() - started
    frames = len(truth.frames)
    print(f"detection {detect_s:.1f} s; our calibration {solve_s:.1f} s (with split-half checks); "
          f"{len(ours.geometry.failed())} failed gates; sigma inflation {ours.geometry.sigma_inflation:.2f}")
    for verdict in ours.geometry.failed():
        print(f"  FAIL {verdict.reason}")
    rms = {c: e.rms_px for c, e in ours.geometry.cameras.items()}
    our_figures = _table("ours (joint bundle adjustment)", _errors(ours.cameras, truth), rms)
    coverage = _coverage_of_sigmas(ours.cameras, {c: e.sigmas for c, e in ours.geometry.cameras.items()}, truth)
    print(f"ours: {100 * coverage:.1f} % of true errors within 3 reported sigmas (target >= 95 %)")
    try:
        theirs, multiview_s = _multiview(capture)
        their_figures = _table(f"cv2.calibrateMultiview ({multiview_s:.1f} s)", _errors(theirs, truth), None)
    except cv2.error as exc:
        print(f"cv2.calibrateMultiview failed: {exc}")
        their_figures = {}
    label = f"16 cameras x {frames} frames"
    for key, target in TARGETS.items():
        if key == "rms_px":
            record(BENCH, f"ours worst per-camera RMS, {label}", max(rms.values()), "px", target=target)
            continue
        unit = {"focal_pct": "%", "principal_px": "px", "rotation_deg": "deg", "centre_mm": "mm"}[key]
        record(BENCH, f"ours worst {key}, {label}", our_figures[f"worst {key}"], unit, target=target)
        record(BENCH, f"ours median {key}, {label}", our_figures[f"median {key}"], unit, target=target)
        if their_figures:
            record(BENCH, f"calibrateMultiview median {key}, {label}", their_figures[f"median {key}"], unit)
    record(BENCH, f"ours errors within 3 sigma, {label}", 100 * coverage, "%", target=95, better="higher")
    if their_figures:
        ratio = their_figures["median centre_mm"] / our_figures["median centre_mm"]
        print(f"camera centre error, median: calibrateMultiview / ours = {ratio:.1f}x (target >= 3x)")
        record(BENCH, f"calibrateMultiview / ours median centre error, {label}", ratio, "x", target=3,
               better="higher")
    record(BENCH, f"our calibration runtime, {label}", solve_s, "s", target=90,
           note="joint adjustment + odd/even and first/second-half re-solves; detection excluded")
    record(BENCH, f"board detection, {label}", detect_s, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
