"""A calibration session's images as calibration reads them: per camera, per board position (frame)."""

from __future__ import annotations

from pathlib import Path

from capturerig.config import PlanKind
from capturerig.engine._session import SessionFolder
from capturerig.plan import expand_plan

__all__ = ["calibration_frames"]

# When a camera records several formats, the one calibration should read (decodable, full resolution).
_PREFERRED_FORMATS = ("png", "tiff", "jpeg")


def _rank(file_format: str | None) -> int:
    return _PREFERRED_FORMATS.index(file_format) if file_format in _PREFERRED_FORMATS else len(_PREFERRED_FORMATS)


def calibration_frames(session_dir: str | Path) -> dict[str, dict[str, Path]]:
    """Every verified image of a calibration session: ``{camera_id: {frame_stem: path}}``.

    The frame stem is the board position's pose id (``f000`` ...), or the take's stem (``f000_s00_l01``)
    when the plan shoots several takes per position; the same stem across cameras is the same instant.
    Only takes the journal proves verified count (the attempt that verified, not a failed one before it).

    Raises
    ------
    FileNotFoundError
        When ``session_dir`` is not a capturerig session.
    ValueError
        When the session's plan is not of kind calibration.
    """
    folder = SessionFolder.open(Path(session_dir))
    try:
        plan = folder.plan.config
        if plan.kind != PlanKind.CALIBRATION:
            raise ValueError(f"{session_dir}: plan '{plan.name}' is of kind {plan.kind.value}, not calibration; "
                             "calibrate from a session shot with a calibration plan (kind: calibration)")
        takes = {take.id: take for take in expand_plan(folder.rig.config, plan)}
        per_pose: dict[str, int] = {}
        for take in takes.values():
            per_pose[take.pose.id] = per_pose.get(take.pose.id, 0) + 1
        chosen: dict[str, dict[str, tuple[int, Path]]] = {}
        for record in folder.journal.verified_files():
            shot = takes.get(record.take_id or "")
            if shot is None or record.camera_id is None:
                continue
            stem = shot.pose.id if per_pose[shot.pose.id] == 1 else shot.stem
            frames = chosen.setdefault(record.camera_id, {})
            rank = _rank(record.format)
            if stem not in frames or rank < frames[stem][0]:
                frames[stem] = (rank, folder.path / record.path)
    finally:
        folder.journal.close()
    return {camera_id: {stem: chosen[camera_id][stem][1] for stem in sorted(chosen[camera_id])}
            for camera_id in sorted(chosen)}
