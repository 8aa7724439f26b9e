"""The calibration page's work, on the calibration packages' public API: geometry from a calibration
session's ChArUco frames, colour from a session's ColorChecker shots, and "accept" that installs a report's
file as the rig's current calibration (``<calibration root>/<rig>/geometry.json`` or ``colour.json``, which
the packages page then uses).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capturerig.calibration import BoardSpec, Geometry, calibrate_rig, detect_capture, load_board, write_calibration
from capturerig.calibration.colour import calibrate_colour, save_colour
from capturerig.calibration.colour import write_report as write_colour_report
from capturerig.config import ConfigError, LoadedPlan, LoadedRig, PlanKind, load_plan
from capturerig.engine import Session, calibration_frames
from capturerig.files import fsync_dir
from capturerig.web._problems import PanelProblem

__all__ = ["CURRENT_FILES", "CalibrationRefused", "Progress", "accept_file", "colour_from_session",
           "current_calibration", "geometry_from_session", "per_camera_table"]

CURRENT_FILES = {"geometry": "geometry.json", "colour": "colour.json"}
Progress = Callable[[str, float | None], None]  # the stage in words, the fraction of it done (None: unknown)


class CalibrationRefused(PanelProblem):
    """This session cannot give that calibration (not a calibration session, no chart seen): what, which
    session or camera, and the panel action that gets one. Says no server path and no CLI flag."""

    def __init__(self, what: str, where: str = "", todo: str = "") -> None:
        super().__init__(what, where, todo, status=422)


def _no_progress(stage: str, fraction: float | None) -> None:
    """The default progress: nobody watches."""


def _short(message: str, session_dir: Path | None = None) -> str:
    """A calibration package's message without its file hints (``(see /server/path)``, ``--corners``), and with
    the session's folder named as the session the technician knows."""
    text = message.split(";")[0].split(" (see ")[0].strip()
    if session_dir is not None:
        for folder in (str(session_dir.resolve()), str(session_dir)):
            text = text.replace(folder + "/", "").replace(folder, f"session {session_dir.name}")
    return text


def _chart_shots(session_dir: Path) -> tuple[LoadedPlan, dict[str, list[Path]]]:
    """The session's own plan snapshot (it may not fit today's rig) and its verified images by camera."""
    session = Session.open(session_dir)
    try:
        by_camera: dict[str, list[Path]] = {}
        for record in session.folder.journal.verified_files():
            if record.camera_id is not None:
                by_camera.setdefault(record.camera_id, []).append(session_dir / record.path)
        return session.folder.plan, by_camera
    finally:
        session.close()


def _board_of_session(session_dir: Path, rig: LoadedRig) -> BoardSpec:
    plan = load_plan(session_dir / "plan.yaml", rig)
    if plan.config.kind != PlanKind.CALIBRATION or plan.config.calibration is None:
        raise CalibrationRefused(
            f"session {session_dir.name} was shot with plan '{plan.config.name}' ({plan.config.kind.value}); "
            "geometry needs a calibration session (a board plan)", f"session {session_dir.name}",
            "Choose the session of a board plan, or shoot the board from this page (Shoot the board) and "
            "solve geometry from that session.")
    source = json.loads((session_dir / "session.json").read_text(encoding="utf-8")).get("plan_source", "")
    board_name = plan.config.calibration.board
    beside = Path(source).parent / board_name if source else Path(board_name)
    try:
        return load_board(beside if beside.suffix and beside.exists() else board_name)
    except ConfigError as exc:
        raise CalibrationRefused(f"the board '{board_name}' of plan '{plan.config.name}' is not known to this "
                                 "panel", f"session {session_dir.name}, plan '{plan.config.name}' (calibration.board)",
                                 "Put the board's file in the studio's calibration/boards folder, or shoot a plan "
                                 "that names a known board.") from exc


def per_camera_table(geometry: Geometry, cameras: list[str]) -> list[dict[str, Any]]:
    """The report's verdict table: per camera its RMS, views, gates passed, verdict and the reason in words;
    the checks of the whole rig (scale) as a last row."""
    rows = []
    for camera_id in cameras:
        entry = geometry.cameras.get(camera_id)
        verdicts = [v for v in geometry.verdicts if v.camera == camera_id]
        failed = [v for v in verdicts if not v.passed]
        if entry is None and not verdicts:
            continue
        reason = ("; ".join(v.reason.removeprefix(f"{camera_id}: ") for v in failed) if failed
                  else f"all {len(verdicts)} checks passed")
        rows.append({"camera": camera_id, "rms_px": None if entry is None else round(entry.rms_px, 3),
                     "views": None if entry is None else entry.views_used,
                     "gates_passed": len(verdicts) - len(failed), "gates": len(verdicts),
                     "verdict": "fail" if failed or entry is None else "pass", "reason": reason})
    rig_wide = [v for v in geometry.verdicts if v.camera is None]
    if rig_wide:
        failed = [v for v in rig_wide if not v.passed]
        rms = geometry.rms_px()
        rows.append({"camera": "whole rig", "rms_px": None if rms is None else round(rms, 3),
                     "views": None, "gates_passed": len(rig_wide) - len(failed), "gates": len(rig_wide),
                     "verdict": "fail" if failed else "pass",
                     "reason": "; ".join(v.reason for v in failed or rig_wide)})
    return rows


def geometry_from_session(session_dir: Path, rig: LoadedRig, out_dir: Path,
                          progress: Progress = _no_progress) -> dict[str, Any]:
    """Calibrate every camera's lens and pose from a calibration session's board frames.

    Raises CalibrationRefused (not a calibration session, unknown board, no usable board view).
    """
    board = _board_of_session(session_dir, rig)
    frames = calibration_frames(session_dir)
    total = max(1, sum(len(stems) for stems in frames.values()))
    done = 0

    def on_image(camera: str, frame: str, detection: object) -> None:
        nonlocal done
        done += 1
        progress(f"finding the board: {camera} {frame}", done / total)

    progress("finding the board", 0.0)
    try:
        capture = detect_capture(frames, board, on_image)
        progress("solving", None)
        result = calibrate_rig(capture, rig.config, on_stage=lambda text: progress(f"solving: {text}", None))
    except ValueError as exc:
        raise CalibrationRefused(f"session {session_dir.name} gives no geometry: {_short(str(exc), session_dir)}",
                                 f"session {session_dir.name}", "Shoot the board again from this page, closer "
                                 "to every camera, then solve geometry from the new session.") from exc
    progress("writing the report and plots", None)
    written = write_calibration(result, out_dir / "run", plots=True)
    geometry = result.geometry
    return {
        "ok": not geometry.failed(), "file": str(written.geometry.relative_to(session_dir)),
        "board": board.name, "seconds_solver": round(result.seconds, 2),
        "table": per_camera_table(geometry, [c.id for c in rig.config.cameras]),
        "cameras": {camera_id: {"rms_px": round(entry.rms_px, 3), "views": entry.views_used}
                    for camera_id, entry in sorted(geometry.cameras.items())},
        "verdicts": [{"check": v.check, "passed": v.passed, "reason": v.reason} for v in geometry.verdicts],
        "plots": [p.relative_to(session_dir).as_posix() for p in written.plots if p.suffix == ".png"],
    }


def colour_from_session(session_dir: Path, rig: LoadedRig, out_dir: Path,
                        progress: Progress = _no_progress) -> dict[str, Any]:
    """Fit each camera's colour correction from a session's ColorChecker shots.

    Raises CalibrationRefused for a board session, and when no camera saw a chart it could fit.
    """
    plan, shots = _chart_shots(session_dir)
    todo = ("Choose the session shot with the colour chart, or shoot the chart from this page (Shoot the chart) "
            "and solve colour from that session.")
    if plan.config.kind == PlanKind.CALIBRATION:  # its images hold a board, never a chart: say so at once
        raise CalibrationRefused(f"session {session_dir.name} is a board (geometry) session; colour needs a "
                                 "session of the colour chart", f"session {session_dir.name} "
                                 f"(plan '{plan.config.name}')", todo)
    progress("collecting the chart shots", 0.0)
    frames = out_dir / "frames"
    if frames.exists():
        shutil.rmtree(frames)
    for camera_id, paths in shots.items():
        (frames / camera_id).mkdir(parents=True)
        for path in paths:
            os.symlink(path.resolve(), frames / camera_id / path.name)  # no copies: the journal's files, read
    progress("finding the chart and fitting each camera", None)
    run = calibrate_colour(frames, debug_dir=out_dir / "debug")
    problems = [f"{p.camera_id}: {_short(p.message)}" for p in run.problems]
    if not run.calibration.cameras:
        cameras = sorted({p.camera_id for p in run.problems})
        named = ", ".join(cameras[:4]) + (f" and {len(cameras) - 4} more" if len(cameras) > 4 else "")
        first = problems[0] if problems else "no chart shot in the session"
        raise CalibrationRefused(f"no camera of session {session_dir.name} could be colour-calibrated: {first}",
                                 f"session {session_dir.name}: no chart in the images of {named or 'any camera'}",
                                 todo)
    progress("writing the report", None)
    colour_file = save_colour(run.calibration, out_dir / "colour.json")
    write_colour_report(run, out_dir)
    table = [{"camera": camera_id, "rms_px": None, "de00": round(float(camera.loo_mean), 3),
              "gates_passed": 1, "gates": 1, "verdict": "pass",
              "reason": f"leave-one-out dE00 {camera.loo_mean:.2f} ({camera.model.model})"}
             for camera_id, camera in sorted(run.calibration.cameras.items())]
    table += [{"camera": p.camera_id, "rms_px": None, "de00": None, "gates_passed": 0, "gates": 1,
               "verdict": "fail", "reason": _short(p.message)} for p in run.problems]
    return {
        "ok": not run.problems, "file": str(colour_file.relative_to(session_dir)), "table": table,
        "cameras": {camera_id: {"model": camera.model.model, "loo_mean_de00": round(float(camera.loo_mean), 3)}
                    for camera_id, camera in sorted(run.calibration.cameras.items())},
        "problems": problems,
        "consistency_after": None if run.after is None else [round(float(x), 3) for x in run.after.to_consensus],
        "plots": [p.relative_to(session_dir).as_posix() for p in sorted(out_dir.glob("*.png"))],
    }


def current_calibration(calibration_dir: Path, rig_name: str) -> dict[str, Path]:
    """The rig's accepted calibration files by kind (those that exist)."""
    folder = calibration_dir / rig_name
    return {kind: folder / name for kind, name in CURRENT_FILES.items() if (folder / name).is_file()}


def accept_file(kind: str, report: dict[str, Any], session_dir: Path, calibration_dir: Path, rig_name: str) -> Path:
    """Install the report's file as the rig's current ``kind`` calibration; the previous one is kept beside it."""
    source = session_dir / str(report.get("file", ""))
    if not source.is_file() or session_dir.resolve() not in source.resolve().parents:
        raise CalibrationRefused(f"the {kind} report of session {session_dir.name} names no file to accept",
                                 f"session {session_dir.name}", f"Solve {kind} again from this session, then accept.")
    if not report.get("ok", False):
        raise CalibrationRefused(f"this {kind} calibration failed a quality check", f"session {session_dir.name}: "
                                 "see the failed rows of the verdict table", "Shoot again where the table says, "
                                 f"then solve {kind} from the new session and accept that one.")
    folder = calibration_dir / rig_name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / CURRENT_FILES[kind]
    if target.exists():
        target.replace(folder / f"{target.stem}.{time.strftime('%Y%m%d-%H%M%S')}.json")
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    (folder / f"{kind}.accepted.json").write_text(json.dumps({"session": session_dir.name, "from": str(source),
                                                              "accepted_at": time.time()}, indent=2) + "\n")
    fsync_dir(folder)
    return target
