"""From a session's journal to a training package: only verified files, renamed to stable flat names."""

from __future__ import annotations

from pathlib import Path

from capturerig.config import load_body_profile
from capturerig.engine._control import Session, capturerig_version
from capturerig.engine._journal import TakeStatus
from capturerig.lighting import frames_for_condition
from capturerig.packaging import PackageFrame, PackageSummary, write_package
from capturerig.plan import expand_plan

__all__ = ["IncompleteSession", "package_session"]


class IncompleteSession(RuntimeError):
    """The session still has takes the journal cannot prove done; resume it before packaging."""


def package_session(session_dir: str | Path, out_dir: str | Path, allow_incomplete: bool = False) -> PackageSummary:
    """Package every verified take of a session into ``out_dir`` (which must not exist yet)."""
    session = Session.open(session_dir)
    try:
        folder = session.folder
        rig, plan = folder.rig.config, folder.plan.config
        base_dir = folder.rig.path.parent
        records = folder.journal.takes()
        takes = expand_plan(rig, plan)
        missing = [t.id for t in takes if records.get(t.id) is None or records[t.id].status != TakeStatus.VERIFIED]
        if missing and not allow_incomplete:
            raise IncompleteSession(f"{len(missing)} of {len(takes)} takes are not verified (first: {missing[0]}); "
                                    f"run `capturerig resume {folder.path}` first")
        lighting = {}
        for condition in {t.lighting.state_id: t.lighting for t in takes}.values():  # generators expanded
            dmx = {f"{output}/{universe}": frame.rstrip(b"\0").hex()
                   for (output, universe), frame in frames_for_condition(rig, condition, base_dir).items()}
            lighting[condition.state_id] = {
                "id": condition.state_id, "name": condition.name, "polarisation": condition.polarisation,
                "levels": {k: v.model_dump(exclude_none=True) for k, v in condition.levels.items()}, "dmx_hex": dmx}
        frames = []
        by_id = {t.id: t for t in takes}
        for file in folder.journal.verified_files():
            take = by_id.get(file.take_id or "")
            if take is None or file.camera_id is None or file.format is None:
                raise RuntimeError(f"{folder.journal.path}: file {file.path} belongs to no take of the plan "
                                   "snapshot; the journal does not match this session's plan.yaml")
            extension = load_body_profile(rig.camera(file.camera_id).body, base_dir).formats[file.format].extension
            frames.append(PackageFrame(
                source=folder.path / file.path, name=take.file_name(file.camera_id, extension),
                camera_id=file.camera_id, pose_id=take.pose.id, station_id=take.station.id,
                light_id=take.lighting.state_id, bracket_id=take.bracket.id,
                station_angle_deg=take.station.angle_deg, sha256=file.sha256,
                lighting=lighting[take.lighting.state_id]))
        metadata = {"session_id": folder.info.session_id, "subject_id": folder.info.subject_id,
                    "consent_basis": folder.info.consent_basis, "rig": rig.name, "plan": plan.name,
                    "created_at": folder.info.created_at, "capturerig_version": capturerig_version(),
                    "takes_verified": len(takes) - len(missing), "takes_planned": len(takes)}
        return write_package(rig, frames, Path(out_dir), metadata)
    finally:
        session.close()
