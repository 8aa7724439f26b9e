"""The demo's studio day: calibrate the rig (geometry, then colour) once, keep it, reuse it while the rig holds.

What a studio does each morning, on the simulated studio: a technician walks the ChArUco board through the
capture volume (the geometry calibration plan, one take per board position), ``calibrate geometry`` solves
every camera's lens and pose in one rig frame; a ColorChecker stands in front of every camera under the house
lights (the colour chart plan, one take), ``calibrate colour`` fits every camera's colour. Both are kept in
a :class:`~capturerig.calibration.CalibrationStore` in the demo's folder, and a later run reuses them only
while the rig file (its simulation section included) is unchanged.

The stages are chosen by configuration, not by importing the simulators: each calibration session's rig
snapshot is the demo rig with ``simulation.stage`` set (``calibration``: an empty stage and a technician with
the board; ``colour-chart``: a chart stand before every camera), so the session can be resumed as it was shot.

The demo signs its package (C2PA) with a TEST identity kept in its own folder (``signing/``), made on the first
run: never the studio's real identity, and never one in the user's config dir.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import capturerig
from capturerig.calibration import (
    CalibrationStore,
    StoredCalibration,
    calibrate_rig,
    detect_capture,
    load_board,
    write_calibration,
)
from capturerig.cli._output import BAD_INPUT, FAILED, console, fail
from capturerig.config import (
    LoadedPlan,
    LoadedRig,
    default_calibration_plan_path,
    default_chart_plan_path,
)
from capturerig.engine import Event, Journal, RunState, Session, TakeVerified, calibration_frames
from capturerig.plan import expand_plan
from capturerig.provenance import IDENTITY_FILE, IdentityError, create_test_identity, load_identity
from capturerig.web import accept_file, current_calibration

__all__ = ["demo_signing_dir", "studio_calibration"]


def demo_signing_dir(folder: Path) -> Path:
    """The demo's signing identity folder, with a TEST identity made there when it has none (one line said)."""
    made = "reused"
    try:
        identity = load_identity(folder)
        identity.check_valid()
    except IdentityError:  # none yet; or an old demo's, expired or damaged: a TEST identity is simply made anew
        identity = create_test_identity(folder, studio="capturerig demo studio",
                                        force=(folder / IDENTITY_FILE).is_file())
        made = "made"
    console.print(f"signing: a TEST identity ({made} in {identity.directory}; not for production, its trust.pem "
                  "is the only root that verifies the demo's package)", highlight=False)
    return identity.directory


def _staged_rig(rig: LoadedRig, stage: str, folder: Path) -> LoadedRig:
    """``rig`` with ``simulation.stage: <stage>``, written to ``folder`` (the session snapshots that file)."""
    text = rig.text
    if "\nsimulation:\n" in text:
        text = text.replace("\nsimulation:\n", f"\nsimulation:\n  stage: {stage}\n", FAILED)
    elif "\nsimulation:" in text:
        raise fail(f"{rig.path}: write the simulation section as a block (one key per line) so the demo can "
                   "set its stage", BAD_INPUT)
    else:
        text = text.rstrip("\n") + f"\nsimulation:\n  stage: {stage}\n"
    path = folder / f"rig-{stage}.yaml"
    path.write_text(text, encoding="utf-8")
    return capturerig.load_rig(path)


@contextmanager
def _takes_bar(session: Session, label: str, total: int) -> Iterator[None]:
    """One transient progress bar over a calibration session's takes (no line per board position)."""
    progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    task = progress.add_task(label, total=total)

    def on_event(event: Event) -> None:
        if isinstance(event, TakeVerified):
            progress.advance(task)

    session.subscribe(on_event)
    with progress:
        yield


def _shoot(rig: LoadedRig, plan: LoadedPlan, subject: str, path: Path, label: str) -> Path:
    """Run a calibration session (an object on the stage, no consent needed) to its end; its folder."""
    session = Session.create(rig, plan, subject, path)
    takes = len(expand_plan(rig.config, plan.config))
    try:
        with _takes_bar(session, label, takes):
            result = session.run()
    finally:
        session.close()
    if result.state != RunState.DONE:
        raise fail(f"{label}: session {result.state.value}: {result.error}\nresume with: capturerig resume {path}",
                   FAILED)
    return path


def _geometry(rig: LoadedRig, folder: Path) -> tuple[Path, str, str, dict[str, float]]:
    """Shoot the board, calibrate; ``geometry.json``, the calibration's id and time, and its figures."""
    started = time.monotonic()
    staged = _staged_rig(rig, "calibration", folder)
    plan = capturerig.load_plan(default_calibration_plan_path(), staged)
    assert plan.config.calibration is not None  # a calibration plan has its section (validated)
    board = load_board(plan.config.calibration.board)
    session = _shoot(staged, plan, f"board-{board.name}", folder / "geometry-capture", "geometry capture")
    frames = calibration_frames(session)
    images = sum(len(stems) for stems in frames.values())
    console.print(f"  geometry capture: {plan.config.calibration.frames} board positions, {images} images "
                  f"verified ({time.monotonic() - started:.0f} s)", highlight=False)
    with console.status("calibrating geometry"):
        result = calibrate_rig(detect_capture(frames, board), staged.config)
        written = write_calibration(result, folder / "geometry", plots=False)
    geometry = result.geometry
    failed = geometry.failed()
    if failed or geometry.id is None:
        raise fail(f"geometry calibration: {len(failed)} quality gate(s) failed ({failed[0].check if failed else ''}"
                   f"{': ' + failed[0].reason if failed else ''}); see {written.report}", FAILED)
    rms = geometry.rms_px() or math.nan
    worst = max(geometry.cameras.items(), key=lambda item: item[1].rms_px)
    console.print(f"  geometry {geometry.id}: {len(geometry.cameras)} cameras, reprojection RMS {rms:.3f} px "
                  f"(worst {worst[0]} {worst[1].rms_px:.3f} px), all {len(geometry.verdicts)} quality gates "
                  f"passed (report: {written.report.relative_to(folder)})", highlight=False)
    return written.geometry, geometry.id, geometry.created, {"geometry_rms_px": rms,
                                                              "geometry_gates": len(geometry.verdicts)}


def _colour(rig: LoadedRig, folder: Path) -> tuple[Path, dict[str, float]]:
    """Shoot a chart in every camera, fit every camera's colour; ``colour.json`` and its figures."""
    from capturerig.calibration.colour import calibrate_colour, save_colour, write_report

    started = time.monotonic()
    staged = _staged_rig(rig, "colour-chart", folder)
    plan = capturerig.load_plan(default_chart_plan_path(), staged)
    session = _shoot(staged, plan, "colorchecker24", folder / "colour-capture", "colour chart")
    shots = folder / "colour" / "shots"
    journal = Journal(session)
    try:
        for record in journal.verified_files():
            if record.camera_id is None:
                continue
            target = shots / record.camera_id / Path(record.path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(session / record.path, target)  # the same file: the journal's hash still proves it
    finally:
        journal.close()
    run = calibrate_colour(shots, debug_dir=folder / "colour" / "debug")
    if run.problems or not run.calibration.cameras:
        raise fail("colour calibration: " + "; ".join(str(problem) for problem in run.problems), FAILED)
    path = save_colour(run.calibration, folder / "colour" / "colour.json")
    report = write_report(run, folder / "colour" / "report")
    loo = [camera.loo_mean for camera in run.calibration.cameras.values()]
    figures = {"colour_loo_de00_mean": sum(loo) / len(loo), "colour_loo_de00_max": max(loo)}
    if run.after is not None:
        figures.update(colour_between_cameras_de00_mean=run.after.mean, colour_between_cameras_de00_max=run.after.max)
    between = (f"; between cameras dE00 mean {run.after.mean:.2f}, max {run.after.max:.2f}"
               if run.after is not None else "")
    console.print(f"  colour: {len(run.calibration.cameras)} cameras from their chart shots "
                  f"({time.monotonic() - started:.0f} s), leave-one-out dE00 mean "
                  f"{figures['colour_loo_de00_mean']:.2f} (worst camera {figures['colour_loo_de00_max']:.2f})"
                  f"{between} (report: {report.relative_to(folder)})", highlight=False)
    return path, figures


def _install_for_panel(stored: StoredCalibration, store_dir: Path, rig_name: str) -> None:
    """Make ``stored`` the rig's current calibration in the panel (``<store>/<rig>/``): packages built there
    use it too. Nothing changes when it already is; a replaced file is kept beside (the panel's accept)."""
    current = current_calibration(store_dir, rig_name)
    for kind, source in (("geometry", stored.geometry), ("colour", stored.colour)):
        if kind in current and current[kind].read_bytes() == source.read_bytes():
            continue
        accept_file(kind, {"file": source.relative_to(stored.folder).as_posix(), "ok": True}, stored.folder,
                    store_dir, rig_name)


def studio_calibration(rig: LoadedRig, store_dir: Path) -> StoredCalibration:
    """The studio's calibration for ``rig``: the stored one while the rig is unchanged, else a new one.

    Prints what it reuses, or why it calibrates and each stage's result. Raises typer.Exit (through
    :func:`fail`) when a session or a calibration fails; nothing half-made is stored (what it shot stays in
    its hidden folder).
    """
    store = CalibrationStore(store_dir)
    try:
        stored, reasons = store.for_rig(rig.config)
    except ValueError as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    if stored is not None:
        console.print(f"calibration: reusing {stored.id} from {stored.created} (the rig is unchanged since): "
                      f"geometry RMS {stored.figures.get('geometry_rms_px', math.nan):.3f} px, colour dE00 "
                      f"{stored.figures.get('colour_loo_de00_mean', math.nan):.2f}", highlight=False)
        _install_for_panel(stored, store_dir, rig.config.name)
        return stored
    console.print("calibration: calibrating the studio (" + "; ".join(reasons) + ")", highlight=False)
    started = time.monotonic()
    partial = store.begin()
    try:
        geometry, calibration_id, created, figures = _geometry(rig, partial)
        colour, colour_figures = _colour(rig, partial)
        stored = store.commit(partial, calibration_id, created, rig.config, geometry, colour,
                              {**figures, **colour_figures, "seconds": time.monotonic() - started})
    except BaseException as error:
        # Its sessions hold captured images: kept, hidden from the store (it has no index), named here.
        error.add_note(f"the unfinished calibration is kept in {partial}")
        console.print(f"[yellow]calibration not stored; what it shot is kept in {partial}", highlight=False)
        raise
    _install_for_panel(stored, store_dir, rig.config.name)
    console.print(f"calibration {stored.id} stored in {stored.folder} ({time.monotonic() - started:.0f} s; "
                  f"reports inside) and made the rig's current one in the panel ({store_dir / rig.config.name}); "
                  "the next demo reuses it while the rig is unchanged", highlight=False)
    return stored
