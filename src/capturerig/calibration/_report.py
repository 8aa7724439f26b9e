"""report.html and its PNG plots: verdicts first, then per-camera figures, coverage, residuals and the rig."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from capturerig.calibration._calibrate import RigCalibration

__all__ = ["write_report"]


def _figure(width: float, height: float) -> Figure:
    """A figure drawn to files only (no pyplot, no display); matplotlib is imported here because importing it
    costs every process that loads the calibration package about a second."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _grid(count: int) -> tuple[int, int]:
    columns = min(8, max(1, count))
    return (count + columns - 1) // columns, columns


def _coverage_plot(result: RigCalibration, path: Path) -> Path:
    bundle = result.bundle
    cameras = sorted(result.geometry.cameras)
    rows, columns = _grid(len(cameras))
    figure: Figure = _figure(2.0 * columns, 2.6 * rows)
    for index, camera in enumerate(cameras):
        axes = figure.add_subplot(rows, columns, index + 1)
        entry = result.geometry.cameras[camera]
        if bundle is not None:
            for view in bundle.views:
                if view.camera == camera:
                    axes.plot(view.corners[:, 0], view.corners[:, 1], ".", markersize=1.5)
        axes.set_xlim(0, entry.width)
        axes.set_ylim(entry.height, 0)
        axes.set_aspect("equal")
        axes.set_xticks([])
        axes.set_yticks([])
        covered = float((result.coverage[camera] > 0).mean()) if camera in result.coverage else 0.0
        axes.set_title(f"{camera}: {100 * covered:.0f} %", fontsize=8)
    figure.suptitle("corners used per camera (one colour per view); % of 8x8 image cells reached")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _residual_plot(result: RigCalibration, path: Path) -> Path:
    figure: Figure = _figure(7, 4)
    axes = figure.add_subplot(1, 1, 1)
    if result.bundle is not None and result.bundle.residuals:
        norms = np.concatenate([np.linalg.norm(r, axis=1) for r in result.bundle.residuals])
        axes.hist(norms, bins=80, color="tab:blue")
        axes.axvline(float(np.sqrt(np.mean(norms**2))), color="tab:red", label="RMS")
        axes.legend()
    axes.set_xlabel("reprojection error of a corner (px)")
    axes.set_ylabel("corners")
    axes.set_title("residuals after the joint adjustment (outliers removed)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _per_view_plot(result: RigCalibration, path: Path) -> Path:
    cameras = sorted(result.geometry.cameras)
    figure: Figure = _figure(max(6.0, 0.5 * len(cameras) + 2), 4)
    axes = figure.add_subplot(1, 1, 1)
    for index, camera in enumerate(cameras):
        values = [rms for (cam, _), rms in result.per_view_rms.items() if cam == camera]
        axes.plot(np.full(len(values), index), values, "o", markersize=3, alpha=0.7)
    axes.set_xticks(range(len(cameras)))
    axes.set_xticklabels(cameras, rotation=90, fontsize=8)
    axes.set_ylabel("RMS of one view (px)")
    axes.set_title("per-view reprojection error")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _rig_plot(result: RigCalibration, path: Path, axes_pair: tuple[int, int], title: str) -> Path:
    figure: Figure = _figure(6, 6)
    axes = figure.add_subplot(1, 1, 1)
    a, b = axes_pair
    names = "xyz"
    for camera, params in sorted(result.cameras.items()):
        centre = params.centre
        forward = params.R[2] * 0.3
        axes.plot(centre[a], centre[b], "o", color="tab:blue")
        axes.plot([centre[a], centre[a] + forward[a]], [centre[b], centre[b] + forward[b]], "-", color="tab:blue")
        axes.annotate(camera, (centre[a], centre[b]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        nominal = result.nominal_centres.get(camera)
        if nominal is not None:
            axes.plot(nominal[a], nominal[b], "o", markerfacecolor="none", color="tab:gray")
    if result.bundle is not None:
        transform = result.transform
        for r, t in result.bundle.boards.values():
            del r
            centre = transform.apply(t)
            axes.plot(centre[a], centre[b], ".", color="tab:orange", markersize=3)
    axes.set_xlabel(f"{names[a]} (m)")
    axes.set_ylabel(f"{names[b]} (m)")
    axes.set_aspect("equal")
    axes.set_title(f"{title}: calibrated (blue, with view direction), rig file (grey), board origins (orange)",
                   fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _camera_rows(result: RigCalibration) -> str:
    rows = []
    for camera, entry in sorted(result.geometry.cameras.items()):
        k = entry.matrix()
        s = entry.sigmas
        centre_sigma = 1000 * float(np.sqrt(sum(s.get(f"centre_{a}", 0.0) ** 2 for a in "xyz")))
        rotation_sigma = float(np.sqrt(sum(s.get(f"rotation_{a}", 0.0) ** 2 for a in "xyz")))
        cells = [camera, f"{k[0, 0]:.2f} ± {s.get('fx', 0):.2f}", f"{k[1, 1]:.2f} ± {s.get('fy', 0):.2f}",
                 f"{k[0, 2]:.2f} ± {s.get('cx', 0):.2f}", f"{k[1, 2]:.2f} ± {s.get('cy', 0):.2f}",
                 ", ".join(f"{d:.4f}" for d in entry.dist), f"{entry.rms_px:.3f}", str(entry.views_used),
                 f"{100 * entry.outlier_share:.1f} %", f"{centre_sigma:.2f}", f"{rotation_sigma:.4f}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


def _verdict_rows(result: RigCalibration) -> str:
    ordered = sorted(result.geometry.verdicts, key=lambda v: v.passed)
    return "\n".join(
        f'<tr class="{"pass" if v.passed else "fail"}"><td>{"pass" if v.passed else "FAIL"}</td>'
        f"<td>{html.escape(v.check)}</td><td>{html.escape(v.camera or '')}</td><td>{html.escape(v.reason)}</td></tr>"
        for v in ordered)


def write_report(result: RigCalibration, folder: Path, plots: bool = True) -> tuple[Path, list[Path]]:
    """Write ``report.html`` (and, with ``plots``, its PNG figures) into ``folder``."""
    images: list[Path] = []
    if plots and result.geometry.cameras:
        images = [_coverage_plot(result, folder / "coverage.png"), _residual_plot(result, folder / "residuals.png"),
                  _per_view_plot(result, folder / "per_view.png"),
                  _rig_plot(result, folder / "rig_top.png", (0, 1), "top view"),
                  _rig_plot(result, folder / "rig_side.png", (0, 2), "side view")]
    geometry = result.geometry
    failed = geometry.failed()
    headline = "PASSED: every quality gate passed" if not failed else f"FAILED: {len(failed)} quality gate(s) failed"
    figures = "\n".join(f'<figure><img src="{p.name}" alt="{p.stem}"></figure>' for p in images)
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Geometry calibration {html.escape(geometry.rig or '')}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:90%}} tr.fail td{{background:#fdd}} .headline{{font-size:130%;font-weight:bold}}
img{{max-width:100%}}</style></head><body>
<h1>Geometry calibration</h1>
<p class="headline">{html.escape(headline)}</p>
<p>rig: {html.escape(geometry.rig or '(none)')}; board: {html.escape(geometry.board.name)}
({geometry.board.squares_x} x {geometry.board.squares_y}, {1000 * geometry.board.square_length_m:g} mm squares);
created {html.escape(geometry.created)}; frame: {html.escape(geometry.gauge)};
scale vs rig file: {'n/a' if geometry.scale_vs_nominal is None else f'{geometry.scale_vs_nominal:.4f}'};
sigma inflation from the odd/even split: {geometry.sigma_inflation:.2f}; solved in {result.seconds:.1f} s.</p>
<h2>Verdicts</h2>
<table><tr><th></th><th>check</th><th>camera</th><th>reason</th></tr>
{_verdict_rows(result)}
</table>
<h2>Cameras</h2>
<table><tr><th>camera</th><th>fx (px)</th><th>fy</th><th>cx</th><th>cy</th><th>k1, k2, p1, p2, k3</th>
<th>RMS (px)</th><th>views</th><th>outliers</th><th>centre σ (mm)</th><th>rotation σ (deg)</th></tr>
{_camera_rows(result)}
</table>
<h2>Plots</h2>
{figures}
</body></html>
"""
    path = folder / "report.html"
    path.write_text(document, encoding="utf-8")
    return path, images
