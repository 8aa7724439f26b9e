"""``capturerig calibrate colour`` (fit every camera from chart shots) and ``capturerig colour apply``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from capturerig.cli._calibrate import calibrate_app
from capturerig.cli._output import BAD_INPUT, FAILED, console, errors, fail
from capturerig.config import ConfigError

if TYPE_CHECKING:
    from capturerig.calibration.colour import ColourRun, Consistency

__all__ = ["colour_app"]

colour_app = typer.Typer(no_args_is_help=True, help="Colour-correct images with a colour calibration.")

_MODEL_CHOICES = {"auto": ("matrix", "root-polynomial-2"), "matrix": ("matrix",),
                  "root-polynomial": ("root-polynomial-2",)}


def _consistency_line(label: str, consistency: Consistency | None) -> str:
    if consistency is None or len(consistency.camera_ids) < 2:
        return f"{label}: fewer than two cameras"
    worst = consistency.worst()
    where = "" if worst is None else f" ({worst[0]} vs {worst[1]}, patch {worst[2] + 1})"
    outliers = f"; outlier cameras: {', '.join(consistency.outliers)}" if consistency.outliers else ""
    return f"{label}: mean {consistency.mean:.2f}, max {consistency.max:.2f}{where}{outliers}"


_MODEL_LABELS = {"matrix": "3x3 matrix", "root-polynomial-2": "root-poly 2"}


def _print_run(run: ColourRun) -> None:
    table = Table(title="dE00 against the chart reference (LOO: leave-one-out)")
    for column in ("camera", "model", "LOO mean", "root-poly LOO", "in-sample", "WB R/G/B", "EV", "notes"):
        table.add_column(column)
    for camera_id, camera in sorted(run.calibration.cameras.items()):
        model = camera.model
        rp = [c.loo_mean for c in camera.candidates if c.model == "root-polynomial-2"]
        notes = [str(p) for p in camera.excluded] + list(camera.warnings)
        table.add_row(camera_id, f"{_MODEL_LABELS.get(model.model, model.model)}, lin {model.linearisation.degree}",
                      f"{camera.loo_mean:.2f}", f"{min(rp):.2f}" if rp and math.isfinite(min(rp)) else "-",
                      f"{camera.in_sample_mean:.2f}", "/".join(f"{g:.2f}" for g in model.white_balance),
                      f"{math.log2(model.exposure_gain):+.2f}", escape("\n".join(notes)))
    console.print(table)
    console.print("cross-camera dE00 (every pair of cameras, every patch)")
    console.print("  " + _consistency_line("before (images read as sRGB)", run.before))
    console.print("  " + _consistency_line("after correction            ", run.after))


@calibrate_app.command("colour")
def calibrate_colour_command(
    images: Annotated[Path, typer.Option("--images", help="folder of chart shots: DIR/<camera_id>/<name>.<ext>")],
    out: Annotated[Path, typer.Option("--out", help="colour calibration file to write (colour.json)")],
    corners: Annotated[Path | None, typer.Option(
        "--corners", help="YAML file of chart corners per camera, used where detection fails")] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="folder for report.html and swatches.png (default: beside --out, colour-report/)")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="auto (chosen by leave-one-out error), matrix or root-polynomial")] = "auto",
    working_space: Annotated[str, typer.Option(
        "--working-space", help="linear-srgb or linear-rec2020")] = "linear-srgb",
    raw: Annotated[bool, typer.Option("--raw", help="the images are linear already (developed with no tone "
                                      "curve); RAW files (DNG, CR2, NEF ...) are always fitted linearly")] = False,
) -> None:
    """Fit every camera's colour correction from ColorChecker 24 shots; compare cameras before and after."""
    from capturerig.calibration.colour import (
        WORKING_SPACES,
        calibrate_colour,
        find_chart_images,
        load_chart_corners,
        save_colour,
        write_report,
    )

    if model not in _MODEL_CHOICES:
        raise fail(f"--model {model}: use one of {', '.join(_MODEL_CHOICES)}", BAD_INPUT)
    if working_space not in WORKING_SPACES:
        raise fail(f"--working-space {working_space}: use one of {', '.join(WORKING_SPACES)}", BAD_INPUT)
    try:
        fallback = load_chart_corners(corners) if corners is not None else None
        found = find_chart_images(images)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    debug_dir = out.parent / "colour-debug"
    console.print(f"{sum(len(v) for v in found.values())} chart shots from {len(found)} cameras in {images}")
    if any(p.suffix.lower() in (".jpg", ".jpeg") for shots in found.values() for p in shots):
        console.print("[yellow]note: JPEG chart shots: quantised chroma shifts patch means by up to ~1 code "
                      "(1-2 dE00 on dark greys); shoot the chart losslessly (RAW/TIFF/PNG) for best results")
    run = calibrate_colour(images, corners=fallback, working_space=working_space, models=_MODEL_CHOICES[model],
                           raw=raw, debug_dir=debug_dir)
    for problem in run.problems:
        errors.print(f"[red]{escape(str(problem))}", highlight=False)
    if not run.calibration.cameras:
        raise fail(f"no camera could be calibrated; {out} not written", FAILED)
    _print_run(run)
    save_colour(run.calibration, out)
    page = write_report(run, report or out.parent / "colour-report")
    console.print(f"wrote {out} ({len(run.calibration.cameras)} cameras) and {page}")
    if run.problems:
        raise fail(f"{len(run.problems)} camera(s) not calibrated: "
                   f"{', '.join(sorted({p.camera_id for p in run.problems}))}", FAILED)


@colour_app.command("apply")
def colour_apply(
    calib: Annotated[Path, typer.Option("--calib", help="colour calibration file (colour.json)")],
    in_dir: Annotated[Path, typer.Option("--in", help="images to correct: DIR/<camera_id>/*")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the corrected images")],
    sixteen_bit: Annotated[bool, typer.Option("--16bit", help="write 16-bit PNG instead of 8-bit")] = False,
    linear: Annotated[bool, typer.Option("--linear", help="write 16-bit linear TIFF in the calibration's "
                                         "working space (no sRGB curve) instead")] = False,
) -> None:
    """Write colour-corrected copies of every camera's images (sRGB; 8-bit by default, 16-bit PNG on request,
    16-bit linear TIFF with --linear). RAW files (DNG, CR2, NEF ...) are developed linearly first."""
    from capturerig.calibration.colour import apply_to_folder, load_colour

    try:
        calibration = load_colour(calib)
        result = apply_to_folder(calibration, in_dir, out_dir, 16 if sixteen_bit else 8, linear=linear)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    for problem in result.problems:
        errors.print(f"[red]{escape(str(problem))}", highlight=False)
    kind = "16-bit linear TIFF" if linear else "16-bit sRGB" if sixteen_bit else "8-bit sRGB"
    console.print(f"wrote {len(result.written)} corrected images ({kind}) to {out_dir}")
    if result.problems:
        raise typer.Exit(FAILED)
