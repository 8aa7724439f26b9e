"""Colour calibration figures on the simulated 16-camera studio: accuracy, agreement, and what it costs.

1. Shoots the ColorChecker with every sim camera (evenly lit, lossless PNG; ``--jpeg`` passes the shots
   through the sim camera's JPEG encoder at quality 92 first) unless ``--images`` names a folder of shots.
2. Times, per camera, detection + sampling (``cv2.mcc``) and the fit (4 candidates x 24 leave-one-out folds).
3. Compares our root-polynomial degree-2 fit with colour-science's ``matrix_colour_correction`` (method
   "Finlayson 2015", degree 2, root-polynomial) on the same patches: both get our linearised, white-balanced
   camera RGB and the same linear sRGB targets, so the figures compare the regressions, in-sample and
   leave-one-out.
4. Prints cross-camera dE00 before (images read as sRGB) and after correction.

Targets (issue 6): leave-one-out mean dE00 <= 1.2 per camera with root-polynomial; after correction,
cross-camera mean <= 0.5 and max <= 1.5. Run: .venv/bin/python bench/colour.py [--jpeg] [--images DIR].

``--raw``: the same cameras and chart shot as DNG (the sim sensor's linear light) and as JPEG q92, each
calibrated, side by side: per-camera leave-one-out (the chosen model) and cross-camera dE00. Targets from RAW
(issue 21): worst camera <= 0.5, cross-camera mean <= 0.3, max <= 1.0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "0")
# Run as a script, this file's folder comes first on sys.path and this file would shadow colour-science's
# package, which is also called "colour".
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]


def _recorder() -> Callable[..., object]:
    """bench/_figures.record, loaded by path (this folder is off sys.path, see above)."""
    spec = importlib.util.spec_from_file_location("_figures", Path(__file__).resolve().parent / "_figures.py")
    if spec is None or spec.loader is None:
        raise ImportError("bench/_figures.py is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_figures"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    record: Callable[..., object] = module.record
    return record


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _colour_science_rp2(camera: np.ndarray, target: np.ndarray, use: np.ndarray) -> tuple[float, float]:
    """colour-science's Finlayson 2015 root-polynomial degree 2: in-sample and leave-one-out mean dE00."""
    from colour.characterisation import apply_matrix_colour_correction, matrix_colour_correction

    from capturerig.calibration.colour import delta_e_2000, linear_to_lab, load_reference

    reference = load_reference().lab_d50

    def fit_predict(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ccm = matrix_colour_correction(camera[train], target[train], method="Finlayson 2015", degree=2,
                                       root_polynomial_expansion=True)
        return np.asarray(apply_matrix_colour_correction(camera[rows], ccm, method="Finlayson 2015", degree=2,
                                                         root_polynomial_expansion=True))

    used = np.flatnonzero(use)
    in_sample = delta_e_2000(linear_to_lab(fit_predict(used, used)), reference[used])
    loo = []
    for patch in used:
        train = used[used != patch]
        loo.append(float(delta_e_2000(linear_to_lab(fit_predict(train, np.array([patch])))[0], reference[patch])))
    return float(in_sample.mean()), float(np.mean(loo))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="folder of chart shots DIR/<camera_id>/<name>.<ext>")
    parser.add_argument("--jpeg", action="store_true", help="render through the sim camera's JPEG encoder")
    parser.add_argument("--raw", action="store_true", help="RAW (DNG) beside JPEG q92, same cameras and chart")
    args = parser.parse_args()
    if args.raw:
        return _raw_beside_jpeg()

    from capturerig.calibration.colour import calibrate_colour, load_reference
    from capturerig.config import default_rig_path, load_rig

    record = _recorder()
    kind = "JPEG q92 shots" if args.jpeg else "lossless shots"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as scratch:
        images = args.images
        if images is None:
            from capturerig_sim.colour_chart import capture_chart_images

            rig = load_rig(default_rig_path())
            images = Path(scratch) / "images"
            started = time.perf_counter()
            capture_chart_images(rig.config, images, rig.path.parent, jpeg=args.jpeg)
            print(f"rendered {len(rig.config.cameras)} chart shots ({'JPEG q92' if args.jpeg else 'lossless'}) "
                  f"in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        run = calibrate_colour(images, debug_dir=Path(scratch) / "debug")
        total = time.perf_counter() - started
    for problem in run.problems:
        print(f"NOT CALIBRATED {problem}")
    detect = [t["detect"] for t in run.timings.values()]
    fit = [t["fit"] for t in run.timings.values()]
    print(f"calibrated {len(run.calibration.cameras)} cameras in {total:.1f} s")
    print(f"per camera, detection + sampling: median {statistics.median(detect) * 1000:.0f} ms, "
          f"p99 {_percentile(detect, 99) * 1000:.0f} ms")
    print(f"per camera, fit (4 candidates, leave-one-out): median {statistics.median(fit) * 1000:.0f} ms, "
          f"p99 {_percentile(fit, 99) * 1000:.0f} ms")

    target = load_reference().linear("linear-srgb")
    print("\ncamera  chosen                  LOO    ours rp2 LOO / in-sample   colour-science rp2 LOO / in-sample")
    worst_rp = 0.0
    disagreement = 0.0
    for camera_id, camera in sorted(run.calibration.cameras.items()):
        ours = next(c for c in camera.candidates if c.model == "root-polynomial-2" and
                    c.degree == camera.model.linearisation.degree)
        worst_rp = max(worst_rp, min(c.loo_mean for c in camera.candidates if c.model == "root-polynomial-2"))
        use = np.isfinite(camera.in_sample_de)
        linear = camera.model.camera_linear(run.samples[camera_id].mean)
        theirs_in, theirs_loo = _colour_science_rp2(linear, target, use)
        disagreement = max(disagreement, abs(theirs_loo - ours.loo_mean))
        print(f"{camera_id}   {camera.model.model:18s} {camera.model.linearisation.degree}  {camera.loo_mean:5.2f}"
              f"    {ours.loo_mean:5.2f} / {np.nanmean(ours.in_sample_de):5.2f}"
              f"                 {theirs_loo:5.2f} / {theirs_in:5.2f}")
    print(f"\nworst per-camera root-polynomial LOO mean dE00: {worst_rp:.2f} (target <= 1.2)")
    print(f"largest |ours - colour-science| root-polynomial LOO mean: {disagreement:.2f} dE00")
    record("colour", f"worst camera root-polynomial LOO mean dE00 ({kind})", worst_rp, "dE00", target=1.2)
    record("colour", f"ours vs colour-science Finlayson 2015 LOO, largest gap ({kind})", disagreement, "dE00")
    record("colour", "detection + sampling per camera, median", statistics.median(detect) * 1000, "ms")
    record("colour", "fit per camera (4 candidates, leave-one-out), median", statistics.median(fit) * 1000, "ms")
    if run.before is not None and run.after is not None:
        print(f"cross-camera dE00 before (read as sRGB): mean {run.before.mean:.2f}, max {run.before.max:.2f}")
        print(f"cross-camera dE00 after correction:      mean {run.after.mean:.2f}, max {run.after.max:.2f} "
              "(target mean <= 0.5, max <= 1.5)")
        record("colour", f"cross-camera dE00 before correction, mean ({kind})", run.before.mean, "dE00")
        record("colour", f"cross-camera dE00 after correction, mean ({kind})", run.after.mean, "dE00", target=0.5)
        record("colour", f"cross-camera dE00 after correction, max ({kind})", run.after.max, "dE00", target=1.5)
    return 0 if not run.problems else 1


RAW_TARGETS = {"worst camera LOO": 0.5, "cross-camera mean": 0.3, "cross-camera max": 1.0}


def _raw_beside_jpeg() -> int:
    """Calibrate the same 16 cameras from DNG and from JPEG q92 chart shots; print and record both."""
    from capturerig.calibration.colour import calibrate_colour
    from capturerig.config import default_rig_path, load_rig
    from capturerig_sim.colour_chart import capture_chart_images

    record = _recorder()
    rig = load_rig(default_rig_path())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for kind in ("RAW (DNG)", "JPEG q92"):
            images = Path(scratch) / kind.split()[0]
            started = time.perf_counter()
            capture_chart_images(rig.config, images, rig.path.parent, raw=kind.startswith("RAW"),
                                 jpeg=kind.startswith("JPEG"))
            shot = time.perf_counter() - started
            run = calibrate_colour(images, debug_dir=Path(scratch) / "debug")
            fitted = time.perf_counter() - started - shot
            if run.problems or run.after is None:
                print(f"{kind}: NOT CALIBRATED {[str(p) for p in run.problems]}")
                return 1
            loo = {camera_id: camera.loo_mean for camera_id, camera in run.calibration.cameras.items()}
            worst = max(loo, key=lambda camera_id: loo[camera_id])
            figures[kind] = {"worst camera LOO": loo[worst], "cross-camera mean": run.after.mean,
                             "cross-camera max": run.after.max}
            print(f"{kind}: {len(loo)} cameras shot in {shot:.1f} s, calibrated in {fitted:.1f} s; worst {worst}")
    print(f"\n{'dE00':24s} {'RAW (DNG)':>10s} {'JPEG q92':>10s}   target from RAW")
    for name, target in RAW_TARGETS.items():
        raw, jpeg = figures["RAW (DNG)"][name], figures["JPEG q92"][name]
        verdict = "ok" if raw <= target else "OVER TARGET"
        print(f"{name:24s} {raw:10.2f} {jpeg:10.2f}   <= {target:g} ({verdict})")
        record("colour", f"{name} dE00 from RAW (DNG)", raw, "dE00", target=target, note=f"JPEG q92: {jpeg:.2f}")
    return 0 if all(figures["RAW (DNG)"][n] <= t for n, t in RAW_TARGETS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
