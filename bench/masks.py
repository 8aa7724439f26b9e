"""Foreground masks from clean plates: IoU against the simulator's true alpha, with and without the visual hull.

Renders the demo rig's cameras (``--cameras``, default all 16) at one turntable angle under each lighting state
of the demo plan, on a stage that shows what masks must survive (rig ``simulation.look``: soft shadows of the
subject on the table top, darker floor round the feet, a dark green backdrop spilling onto the subject's edge),
as the sim camera's JPEGs, plus a clean plate of the empty rig per camera and lighting state (another noise
draw). Then ``capturerig.masks.make_masks`` runs on those folders twice: without geometry (the difference matte
alone) and with the simulator's true cameras as the geometry (a perfect calibration: the visual hull), and
each mask is scored against ``subject_alpha`` (IoU). Targets (issue 22): mean >= 0.98, worst >= 0.95.
Run: .venv/bin/python bench/masks.py [--cameras 16] [--angle 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from capturerig.config import default_plan_path, default_rig_path, load_plan, load_rig
from capturerig.lighting import frames_for_condition
from capturerig.masks import HullCamera, make_masks
from capturerig_sim.render import camera_truth, clean_plate, encode_jpeg, render_image, subject_alpha

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import record  # bench/ is not a package; bench/all.py collects these figures

MEAN_TARGET = 0.98
WORST_TARGET = 0.95
LOOK = {"shadows": True, "light_radius_m": 0.15, "spill": 0.3, "backdrop": [0.01, 0.03, 0.015]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--angle", type=float, default=0.0)
    args = parser.parse_args()
    loaded = load_rig(default_rig_path())
    rig = loaded.config.model_copy(update={"simulation": {**loaded.config.simulation, "look": LOOK}})
    states = load_plan(default_plan_path(), loaded).config.lighting
    cameras = rig.cameras[: args.cameras]
    geometry = {}
    for camera in cameras:
        truth = camera_truth(camera, rig)
        intr = truth.intrinsics
        geometry[camera.id] = HullCamera(intr.width, intr.height, intr.matrix(),
                                         np.concatenate([intr.distortion(), np.zeros(5)])[:5], truth.rotation,
                                         truth.translation)
    with tempfile.TemporaryDirectory(prefix="capturerig-bench-masks-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        for state in states:
            frames = frames_for_condition(rig, state)
            for index, camera in enumerate(cameras):
                image = render_image(camera, rig, frames, args.angle, noise_seed=1000 + index)
                plate = clean_plate(camera, rig, frames, args.angle, noise_seed=2000 + index)
                for folder, pixels in (("images", image), ("plates", plate)):
                    name = f"p00_s00_{state.id}.jpg" if folder == "images" else f"{state.id}.jpg"
                    path = root / folder / camera.id / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(encode_jpeg(pixels))
        print(f"rendered {len(states)} lighting states x {len(cameras)} cameras, images and plates, "
              f"in {time.perf_counter() - started:.1f} s")
        truths = {camera.id: subject_alpha(camera, args.angle, rig) > 0.5 for camera in cameras}
        results = {}
        for label, hull in (("without hull", None), ("with hull", geometry)):
            report = make_masks(root / "plates", root / "images", root / label.replace(" ", "-"), hull)
            scores = {}
            for state in states:
                for camera in cameras:
                    path = root / label.replace(" ", "-") / camera.id / f"p00_s00_{state.id}.png"
                    written = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                    if written is None:
                        raise SystemExit(f"{path}: no mask written")
                    mask, alpha = written > 127, truths[camera.id]
                    scores[(state.id, camera.id)] = float((mask & alpha).sum() / (mask | alpha).sum())
            results[label] = (scores, report.seconds)
    print(f"\n{'state':6} {'camera':7} {'without hull':>13} {'with hull':>10}")
    for key in results["without hull"][0]:
        print(f"{key[0]:6} {key[1]:7} {results['without hull'][0][key]:13.4f} {results['with hull'][0][key]:10.4f}")
    count = len(results["without hull"][0])
    print()
    for label, (scores, seconds) in results.items():
        values = np.array(list(scores.values()))
        worst = min(scores, key=scores.__getitem__)
        per_image = seconds / count
        print(f"{label}: IoU mean {values.mean():.4f} (target >= {MEAN_TARGET}), worst {values.min():.4f} "
              f"({worst[0]} {worst[1]}; target >= {WORST_TARGET}); {per_image:.2f} s per image")
        record("masks", f"IoU mean, {label}", values.mean(), "IoU", target=MEAN_TARGET, better="higher",
               note=f"{len(states)} lighting states x {len(cameras)} cameras, floor shadows and spill")
        record("masks", f"IoU worst camera and state, {label}", values.min(), "IoU", target=WORST_TARGET,
               better="higher", note=f"{worst[0]} {worst[1]}")
        record("masks", f"time per image, {label}", per_image, "s", note="read, matte, hull, write; one process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
