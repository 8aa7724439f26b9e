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
from pathlib import Path
from typing import Any

from capturerig.calibration import calibrate_rig, detect_capture, load_board, write_calibration
from capturerig.calibration.colour import calibrate_colour, save_colour
from capturerig.calibration.colour import write_report as write_colour_report
from capturerig.config import ConfigError, LoadedRig, PlanKind, load_plan
from capturerig.engine import Session, calibration_frames
from capturerig.files import fsync_dir

__all__ = ["CURRENT_FILES", "CalibrationRefused", "accept_file", "colour_from_session", "current_calibration",
           "geometry_from_session"]

CURRENT_FILES = {"geometry": "geometry.json", "colour": "colour.json"}


class CalibrationRefused(ValueError):
    """This session cannot give that calibration (not a calibration session, no chart seen); the message says
    why and what to shoot instead."""


def _verified_images(session_dir: Path) -> dict[str, list[Path]]:
    session = Session.open(session_dir)
    try:
        by_camera: dict[str, list[Path]] = {}
        for record in session.folder.journal.verified_files():
            if record.camera_id is not None:
                by_camera.setdefault(record.camera_id, []).append(session_dir / record.path)
        return by_camera
    finally:
        session.close()


def geometry_from_session(session_dir: Path, rig: LoadedRig, out_dir: Path) -> dict[str, Any]:
    """Calibrate every camera's lens and pose from a calibration session's board frames.

    Raises CalibrationRefused (not a calibration session), ConfigError (its board is unknown), ValueError from
    the calibration package (its frames cannot be read).
    """
    plan = load_plan(session_dir / "plan.yaml", rig)
    if plan.config.kind != PlanKind.CALIBRATION or plan.config.calibration is None:
        raise CalibrationRefused(f"session {session_dir.name} was shot with plan '{plan.config.name}' "
                         f"({plan.config.kind.value}); geometry needs a calibration session (a plan of kind "
                         "calibration, e.g. `capturerig calibrate capture`)")
    source = json.loads((session_dir / "session.json").read_text(encoding="utf-8")).get("plan_source", "")
    board_name = plan.config.calibration.board
    beside = Path(source).parent / board_name if source else Path(board_name)
    board = load_board(beside if beside.suffix and beside.exists() else board_name)
    capture = detect_capture(calibration_frames(session_dir), board)
    result = calibrate_rig(capture, rig.config)
    written = write_calibration(result, out_dir / "run", plots=True)
    geometry = result.geometry
    return {
        "ok": not geometry.failed(), "file": str(written.geometry.relative_to(session_dir)),
        "board": board.name, "seconds_solver": round(result.seconds, 2),
        "cameras": {camera_id: {"rms_px": round(entry.rms_px, 3), "views": entry.views_used}
                    for camera_id, entry in sorted(geometry.cameras.items())},
        "verdicts": [{"check": v.check, "passed": v.passed, "reason": v.reason} for v in geometry.verdicts],
        "plots": [p.relative_to(session_dir).as_posix() for p in written.plots if p.suffix == ".png"],
    }


def colour_from_session(session_dir: Path, rig: LoadedRig, out_dir: Path) -> dict[str, Any]:
    """Fit each camera's colour correction from a session's ColorChecker shots.

    Raises CalibrationRefused when no camera saw a chart it could fit; ValueError or FileNotFoundError from the
    colour package when the session's images cannot be read as chart images.
    """
    frames = out_dir / "frames"
    if frames.exists():
        shutil.rmtree(frames)
    for camera_id, paths in _verified_images(session_dir).items():
        (frames / camera_id).mkdir(parents=True)
        for path in paths:
            os.symlink(path.resolve(), frames / camera_id / path.name)  # no copies: the journal's files, read
    run = calibrate_colour(frames, debug_dir=out_dir / "debug")
    if not run.calibration.cameras:
        problems = "; ".join(str(p) for p in run.problems[:5])
        raise CalibrationRefused(f"no camera of session {session_dir.name} could be colour-calibrated: {problems}")
    colour_file = save_colour(run.calibration, out_dir / "colour.json")
    write_colour_report(run, out_dir)
    return {
        "ok": not run.problems, "file": str(colour_file.relative_to(session_dir)),
        "cameras": {camera_id: {"model": camera.model.model, "loo_mean_de00": round(float(camera.loo_mean), 3)}
                    for camera_id, camera in sorted(run.calibration.cameras.items())},
        "problems": [str(p) for p in run.problems],
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
        raise FileNotFoundError(f"the {kind} report of {session_dir.name} names no file to accept")
    if not report.get("ok", False):
        raise ConfigError.single(str(source), f"this {kind} calibration failed a quality check; re-shoot it "
                                              "rather than accept it")
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
