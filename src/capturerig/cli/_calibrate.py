"""``capturerig calibrate``: printable boards and the rig's geometry from ChArUco views.

Other modules add their own commands to :data:`calibrate_app` (colour, live capture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from capturerig.calibration import (
    BoardDetection,
    BoardSpec,
    CaptureDetections,
    RigCalibration,
    calibrate_rig,
    default_output_dir,
    detect_capture,
    images_in_dir,
    load_board,
    write_calibration,
)
from capturerig.cli._output import BAD_INPUT, FAILED, console, errors, fail
from capturerig.config import ConfigError, LoadedRig, load_rig

__all__ = ["calibrate_app"]

calibrate_app = typer.Typer(no_args_is_help=True, help="Calibrate the rig: camera geometry and colour.")

BoardOption = Annotated[Path, typer.Option("--board", help="board file, or the name of one in calibration/boards/")]


@calibrate_app.command("board-image")
def board_image(board: BoardOption,
                out: Annotated[Path, typer.Option("--out", help="PNG or PDF file to write")],
                dpi: Annotated[int, typer.Option("--dpi", min=72, max=2400, help="print resolution")] = 300,
                ) -> None:
    """Render a board at its true printed size (PNG or PDF); print it at 100 % scale, then measure it."""
    from capturerig.calibration import write_board_image

    try:
        spec = load_board(board)
    except ConfigError as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    if out.suffix.lower() not in (".png", ".pdf"):
        raise fail(f"--out {out}: use a .png or .pdf file name", BAD_INPUT)
    written = write_board_image(spec, out, dpi)
    width_mm, height_mm = (1000 * s for s in spec.size_m)
    console.print(f"{written}: {spec.name}, {spec.squares_x} x {spec.squares_y} squares of "
                  f"{1000 * spec.square_length_m:g} mm ({width_mm:g} x {height_mm:g} mm) at {dpi} dpi; "
                  "print at 100 % and check a square with a ruler")


def _images(images: Path | None, session: Path | None) -> dict[str, dict[str, Path]]:
    if (images is None) == (session is None):
        raise fail("give either --images DIR (DIR/<camera_id>/<frame>.png) or --session DIR (a calibration "
                   "session), not both", BAD_INPUT)
    try:
        if images is not None:
            return images_in_dir(images)
        from capturerig.engine import calibration_frames

        assert session is not None
        return calibration_frames(session)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc


def _rig(rig: Path | None, session: Path | None) -> LoadedRig | None:
    """--rig, else the session's rig snapshot, else none: a technician's own images are calibrated rig-free
    rather than judged against the simulated studio's cameras."""
    path = rig if rig is not None else session / "rig.yaml" if session is not None else None
    if path is None:
        console.print("rig: none given, so the lenses and poses come from the images alone, in the frame of the "
                      "best-connected camera (--rig RIG to align them to a rig file and compare)", highlight=False)
        return None
    try:
        return load_rig(path)
    except ConfigError as exc:
        raise fail(str(exc), BAD_INPUT) from exc


def _rig_gates_unchecked(result: RigCalibration, loaded: LoadedRig | None) -> str | None:
    """Why the gates that compare with the rig file (its scale, each camera's position) were not run, if not."""
    if loaded is None:
        return "no rig given (--rig RIG to compare with the rig file)"
    if result.geometry.gauge != "rig":
        return f"fewer than 3 cameras of rig '{loaded.config.name}' were calibrated"
    return None


def _detect(found: dict[str, dict[str, Path]], spec: BoardSpec) -> CaptureDetections:
    total = sum(len(frames) for frames in found.values())
    seen: dict[str, int] = {}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("finding the board", total=total, detail="")

        def on_image(camera: str, frame: str, detection: BoardDetection | None) -> None:
            if detection is not None:
                seen[camera] = seen.get(camera, 0) + 1
            progress.update(task, advance=1, detail=f"{camera}/{frame}: "
                            + (f"{len(detection)} corners" if detection is not None else "no board"))

        try:
            capture = detect_capture(found, spec, on_image)
        except ValueError as exc:
            raise fail(str(exc), BAD_INPUT) from exc
    console.print("board views per camera: " + ", ".join(f"{c} {seen.get(c, 0)}" for c in found))
    return capture


def _summary(result: RigCalibration) -> None:
    table = Table(title="cameras")
    for column in ("camera", "fx", "fy", "cx", "cy", "RMS px", "views", "centre σ mm", "rotation σ deg"):
        table.add_column(column, justify="right")
    for camera, entry in sorted(result.geometry.cameras.items()):
        k, s = entry.matrix(), entry.sigmas
        centre = 1000 * sum(s.get(f"centre_{a}", 0.0) ** 2 for a in "xyz") ** 0.5
        rotation = sum(s.get(f"rotation_{a}", 0.0) ** 2 for a in "xyz") ** 0.5
        table.add_row(camera, f"{k[0, 0]:.2f}", f"{k[1, 1]:.2f}", f"{k[0, 2]:.2f}", f"{k[1, 2]:.2f}",
                      f"{entry.rms_px:.3f}", str(entry.views_used), f"{centre:.2f}", f"{rotation:.4f}")
    console.print(table)
    for verdict in result.geometry.failed():
        errors.print(f"[red]FAIL[/red] {verdict.check}: {verdict.reason}", highlight=False)


@calibrate_app.command("geometry")
def geometry(board: BoardOption,
             images: Annotated[Path | None, typer.Option("--images", help="folder of <camera_id>/<frame>.<ext> "
                                                         "images; the same frame name = the same instant")] = None,
             session: Annotated[Path | None, typer.Option("--session", help="a calibration session folder "
                                                          "(instead of --images)")] = None,
             out: Annotated[Path | None, typer.Option("--out", help="output folder (default: "
                                                      "calibration/<rig>/<timestamp>/)")] = None,
             rig: Annotated[Path | None, typer.Option("--rig", help="rig file: seeds the lenses, aligns the result "
                                                      "to its frame and compares camera positions and scale "
                                                      "(default: the session's rig; with --images none)")] = None,
             plots: Annotated[bool, typer.Option("--plots/--no-plots", help="write the PNG plots")] = True,
             ) -> None:
    """Calibrate every camera's lens and pose from ChArUco views; write geometry.json, COLMAP model, report.

    Exits with 1 when a quality gate failed (the results are still written, with the reasons).
    """
    try:
        spec = load_board(board)
    except ConfigError as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    found = _images(images, session)
    loaded = _rig(rig, session)
    rig_config = loaded.config if loaded is not None else None
    unknown = sorted(set(found) - {c.id for c in rig_config.cameras}) if rig_config is not None else []
    if loaded is not None and unknown:
        raise fail(f"camera folder(s) {', '.join(unknown)} are not cameras of rig '{loaded.config.name}' "
                   f"({loaded.path}); give the rig they belong to with --rig, or no --rig to calibrate them "
                   "rig-free", BAD_INPUT)
    capture = _detect(found, spec)
    with console.status("calibrating") as status:
        result = calibrate_rig(capture, rig_config, on_stage=lambda text: status.update(f"calibrating: {text}"))
    folder = out if out is not None else default_output_dir("calibration", rig_config.name if rig_config else None)
    try:
        written = write_calibration(result, folder, plots=plots)
    except FileExistsError as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    _summary(result)
    console.print(f"geometry: {written.geometry}")
    console.print(f"COLMAP:   {written.colmap}")
    console.print(f"report:   {written.report}")
    unchecked = _rig_gates_unchecked(result, loaded)
    if unchecked is not None:
        console.print(f"not checked: the rig's scale and each camera's position against the rig file: {unchecked}",
                      highlight=False)
    failed = result.geometry.failed()
    if failed:
        raise fail(f"{len(failed)} quality gate(s) failed; see {written.report}", FAILED)
    console.print(f"all {len(result.geometry.verdicts)} quality gates passed ({result.seconds:.1f} s)")
