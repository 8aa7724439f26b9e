"""The colour calibration report: an HTML page and a before/after swatch image per camera.

Each patch of the swatch image shows three things: the reference colour (top half), what the camera recorded
read as sRGB (bottom left) and the corrected colour (bottom right); a good correction makes the bottom right
match the top.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._consistency import Consistency
from capturerig.calibration.colour._pipeline import ColourRun
from capturerig.calibration.colour._reference import (
    ChartReference,
    lab_to_linear,
    load_reference,
    srgb_encode,
    working_space_matrix,
)

__all__ = ["swatch_image", "write_report"]

_CELL = 40
_LABEL_WIDTH = 70
_HEADER = 22


def _to_bgr8(linear_srgb: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    return np.rint(srgb_encode(linear_srgb)[..., ::-1] * 255.0).astype(np.uint8)


def swatch_image(run: ColourRun, reference: ChartReference | None = None) -> npt.NDArray[np.uint8]:
    """Rows of 24 patches, one row per calibrated camera: reference / recorded / corrected (8-bit BGR)."""
    chart = reference or load_reference()
    camera_ids = sorted(run.calibration.cameras)
    patches = len(chart.names)
    image = np.full((_HEADER + _CELL * max(1, len(camera_ids)), _LABEL_WIDTH + _CELL * patches, 3), 255, np.uint8)
    reference_bgr = _to_bgr8(lab_to_linear(chart.lab_d50, "linear-srgb"))
    for patch in range(patches):
        cv2.putText(image, str(patch + 1), (_LABEL_WIDTH + patch * _CELL + 10, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for row, camera_id in enumerate(camera_ids):
        camera = run.calibration.cameras[camera_id]
        samples = run.samples[camera_id]
        recorded = np.rint(np.clip(samples.mean, 0.0, 1.0)[:, ::-1] * 255.0).astype(np.uint8)
        corrected = camera.model.apply(samples.mean)
        if camera.working_space != "linear-srgb":
            corrected = corrected @ working_space_matrix(camera.working_space, "linear-srgb").T
        corrected_bgr = _to_bgr8(corrected)
        top = _HEADER + row * _CELL
        cv2.putText(image, camera_id, (4, top + _CELL // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        excluded = {patch.index for patch in camera.excluded}
        for patch in range(patches):
            left = _LABEL_WIDTH + patch * _CELL
            half, inner = _CELL // 2, _CELL - 2
            image[top + 1:top + half, left + 1:left + inner] = reference_bgr[patch]
            image[top + half:top + inner, left + 1:left + half] = recorded[patch]
            image[top + half:top + inner, left + half:left + inner] = corrected_bgr[patch]
            if patch in excluded:
                cv2.line(image, (left + 2, top + 2), (left + inner - 1, top + inner - 1), (0, 0, 255), 2)
    return image


def _consistency_row(label: str, consistency: Consistency | None) -> str:
    if consistency is None or len(consistency.camera_ids) < 2:
        return f"<tr><td>{label}</td><td colspan=3>fewer than two cameras</td></tr>"
    worst = consistency.worst()
    worst_text = "" if worst is None else f"{worst[0]} vs {worst[1]}, patch {worst[2] + 1}"
    outliers = ", ".join(consistency.outliers) or "none"
    return (f"<tr><td>{label}</td><td>{consistency.mean:.2f}</td><td>{consistency.max:.2f} ({html.escape(worst_text)})"
            f"</td><td>{html.escape(outliers)}</td></tr>")


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}"


def write_report(run: ColourRun, out_dir: Path, reference: ChartReference | None = None) -> Path:
    """Write ``report.html`` and ``swatches.png`` into ``out_dir``; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    swatches = out_dir / "swatches.png"
    cv2.imwrite(str(swatches), swatch_image(run, reference))
    detections = out_dir / "detections"
    for camera_id, overlay in run.overlays.items():
        detections.mkdir(exist_ok=True)
        cv2.imwrite(str(detections / f"{camera_id}.png"), overlay)
    rows = []
    for camera_id, camera in sorted(run.calibration.cameras.items()):
        model = camera.model
        rp = [c.loo_mean for c in camera.candidates if c.model == "root-polynomial-2"]
        notes = [str(p) for p in camera.excluded] + list(camera.warnings)
        shown = html.escape(camera_id)
        if camera_id in run.overlays:
            shown = f'<a href="detections/{shown}.png">{shown}</a>'
        rows.append(
            f"<tr><td>{shown}</td><td>{model.model}, lin. degree {model.linearisation.degree}</td>"
            f"<td>{_number(camera.loo_mean)}</td><td>{_number(float(np.nanmax(camera.loo_de)))}</td>"
            f"<td>{_number(min(rp)) if rp else '-'}</td><td>{_number(camera.in_sample_mean)}</td>"
            f"<td>{' / '.join(f'{g:.3f}' for g in model.white_balance)}</td>"
            f"<td>{math.log2(model.exposure_gain):+.2f}</td>"
            f"<td>{'<br>'.join(html.escape(n) for n in notes)}</td></tr>")
    problems = []
    for problem in run.problems:
        link = ""
        if problem.debug_image is not None:
            target = Path(problem.debug_image).resolve()
            link = f' (<a href="{html.escape(target.as_uri())}">detection attempt</a>)'
        problems.append(f"<li>{html.escape(problem.camera_id)}: {html.escape(problem.message)}{link}</li>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Colour calibration</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}</style></head><body>
<h1>Colour calibration</h1>
<p>Working space: {html.escape(run.calibration.working_space)}; reference:
{html.escape(run.calibration.reference.get("source", ""))}
({html.escape(run.calibration.reference.get("adaptation", ""))}). {len(run.calibration.cameras)} cameras
calibrated, {len(run.problems)} not.</p>
<h2>Cross-camera consistency (dE00 between every pair of cameras, per patch)</h2>
<table><tr><th></th><th>mean</th><th>max</th><th>outlier cameras</th></tr>
{_consistency_row("before (images read as sRGB)", run.before)}
{_consistency_row("after correction", run.after)}</table>
<h2>Cameras</h2>
<p>Each camera links to its chart shot with what was sampled drawn on it.</p>
<table><tr><th>camera</th><th>model</th><th>leave-one-out mean dE00</th><th>leave-one-out max</th>
<th>root-polynomial leave-one-out mean</th><th>in-sample mean</th><th>white balance R/G/B</th>
<th>exposure (stops)</th><th>notes</th></tr>
{"".join(rows)}</table>
{"<h2>Not calibrated</h2><ul>" + "".join(problems) + "</ul>" if problems else ""}
<h2>Swatches</h2>
<p>Each patch: reference (top), recorded read as sRGB (bottom left), corrected (bottom right); a red stroke
marks a patch left out of the fit.</p>
<img src="swatches.png" alt="before and after swatches per camera">
</body></html>
"""
    report = out_dir / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
