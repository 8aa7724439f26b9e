"""The plan: what to shoot (poses x stations x lighting x brackets) and the rules for re-shooting."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from capturerig.config._base import FrozenModel
from capturerig.config._lighting import LightingCondition, Subject
from capturerig.config._qc import QcSettings
from capturerig.config._validation import PLAN_ID_PATTERN

__all__ = [
    "PLATE_POSE_ID",
    "Bracket",
    "CalibrationCapture",
    "Consistency",
    "Coverage",
    "LightingCondition",
    "PlanConfig",
    "PlanKind",
    "Plates",
    "Pose",
    "Settle",
    "Station",
    "Subject",
]

_ID_PATTERN = PLAN_ID_PATTERN  # no '_' or '/': ids are joined into file names and take ids


class Consistency(StrEnum):
    """What is re-shot when a take fails: the take alone (static subject) or its whole pose (people)."""

    TAKE = "take"
    POSE = "pose"


PLATE_POSE_ID = "plate"
"""The pose id of a plan's clean plates (the empty rig); reserved, so no subject pose may use it."""


class Plates(StrEnum):
    """When a plan shoots its clean plates (every camera, station, lighting state and bracket, the rig empty):
    before the subject steps in, after the subject leaves, or not at all."""

    BEFORE = "before"
    AFTER = "after"
    NONE = "none"


class Pose(FrozenModel):
    id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    operator_confirmed: bool = Field(
        default=True, description="the operator must confirm the subject holds the pose before it is shot"
    )


class Station(FrozenModel):
    """A turntable angle (degrees) or a named rig position."""

    id: str = Field(pattern=_ID_PATTERN)
    angle_deg: float | None = None
    position: str | None = None


class Bracket(FrozenModel):
    id: str = Field(pattern=_ID_PATTERN)
    ev: float = Field(default=0.0, ge=-5, le=5)


class Settle(FrozenModel):
    # From sending a lighting state to steady light (what a technician measures with a meter): covers the
    # frame's time on the wire; fixtures whose profiles name a settle get that after the frame is out.
    lights_s: float = Field(default=0.05, ge=0, le=30)
    turntable_s: float = Field(default=0.2, ge=0, le=60)


class Coverage(FrozenModel):
    """What the plan needs before a take (and the session) counts as complete."""

    min_cameras: int | None = Field(default=None, ge=1, description="default: every camera in camera_groups")


class PlanKind(StrEnum):
    """A capture of a subject, or a geometry calibration (each take = one position of a ChArUco board)."""

    CAPTURE = "capture"
    CALIBRATION = "calibration"


class CalibrationCapture(FrozenModel):
    """What a calibration plan shoots: ``frames`` board positions of ``board``, each confirmed by the technician."""

    board: str = Field(min_length=1,
                       description="board file (relative to the plan file) or a name in calibration/boards")
    frames: int = Field(default=40, ge=1, le=999, description="board positions, one take each")
    min_views: int = Field(default=8, ge=1, description="good board views each camera should get (coaching)")


def calibration_frame_id(index: int) -> str:
    """The pose id of board position ``index`` in a calibration plan: ``f000``, ``f001`` ..."""
    return f"f{index:03d}"


class PlanConfig(FrozenModel):
    """What to shoot. ``kind: calibration`` plans name a board and a frame count instead of poses and stations.

    A calibration plan's poses are its board positions (``f000`` ...), each confirmed by the technician once
    the board is in place; its one station is wherever the turntable is; its subject is an object.
    """

    name: str = Field(description="the plan's name, recorded in every session shot with it")
    kind: PlanKind = Field(default=PlanKind.CAPTURE, description="capture (a subject) or calibration (a board)")
    calibration: CalibrationCapture | None = Field(
        default=None, description="board and frame count; only (and always) in a plan of kind calibration")
    poses: tuple[Pose, ...] = Field(min_length=1, description="what the subject holds, shot in this order")
    stations: tuple[Station, ...] = Field(
        min_length=1, description="turntable angles or rig positions, visited in this order within each pose")
    lighting: tuple[LightingCondition, ...] = Field(
        min_length=1, description="lighting states and generators (olat, gradient), expanded in this order")
    brackets: tuple[Bracket, ...] = Field(default=(Bracket(id="b0"),),
                                          description="exposure offsets (EV) shot for every lighting state")
    camera_groups: tuple[str, ...] = Field(min_length=1, description="rig group names or camera ids")
    settle: Settle = Field(default=Settle(), description="waits after the lights and the turntable move")
    consistency: Consistency = Field(
        default=Consistency.TAKE, description="what a failed take re-shoots: the take alone, or its whole pose")
    retries: int = Field(default=2, ge=0, le=10,
                         description="re-shoots of a failed take (or pose) before the session stops as failed")
    coverage: Coverage = Field(default=Coverage(), description="what a take needs to count as complete")
    subject: Subject = Field(default=Subject(), description="person or object; people get the flash limit")
    qc: QcSettings = Field(default=QcSettings(), description="per-image checks during the capture and what a "
                                                             "failed check does (ask, reshoot, report)")
    plates: Plates = Field(default=Plates.NONE, description="clean plates of the empty rig (for masks): shot "
                                                            "before the subject's poses, after them, or none")

    @model_validator(mode="before")
    @classmethod
    def _calibration_takes(cls, data: Any) -> Any:
        """A calibration plan gets one operator-confirmed pose per board position, one station, an object."""
        if not isinstance(data, dict) or data.get("kind") != PlanKind.CALIBRATION.value:
            return data
        section = data.get("calibration")
        if not isinstance(section, dict):
            raise ValueError("a plan of kind calibration needs a 'calibration' section (board, frames)")
        for key in ("poses", "stations"):
            if key in data:
                raise ValueError(f"a calibration plan makes its own {key} (one pose per board position); "
                                 f"remove '{key}' and set calibration.frames")
        frames = section.get("frames", 40)
        count = frames if isinstance(frames, int) and not isinstance(frames, bool) and 1 <= frames <= 999 else 1
        filled = dict(data)
        filled["poses"] = [{"id": calibration_frame_id(index), "operator_confirmed": True,
                            "description": f"board position {index + 1} of {count}: hold the board still"}
                           for index in range(count)]
        filled["stations"] = [{"id": "s00", "position": "as-is"}]  # the turntable stays where it is
        filled.setdefault("subject", {"kind": "object"})
        return filled

    def _replace_state(self) -> dict[str, Any]:
        state = super()._replace_state()
        if self.kind == PlanKind.CALIBRATION:
            # Validation makes a calibration plan's poses and stations from its calibration section (and
            # refuses them given), so a copy leaves them out and gets them made again, matching any change.
            state.pop("poses", None)
            state.pop("stations", None)
        return state

    @model_validator(mode="after")
    def _calibration_section(self) -> PlanConfig:
        if self.kind == PlanKind.CAPTURE and self.calibration is not None:
            raise ValueError("'calibration' belongs only in a plan of kind calibration (add kind: calibration)")
        return self

    @model_validator(mode="after")
    def _plate_pose_reserved(self) -> PlanConfig:
        if any(pose.id == PLATE_POSE_ID for pose in self.poses):
            raise ValueError(f"pose id '{PLATE_POSE_ID}' is reserved for the clean plates (set plates: before or "
                             "after to shoot them); rename the pose")
        if self.kind == PlanKind.CALIBRATION and self.plates != Plates.NONE:
            raise ValueError("a calibration plan shoots no clean plates (remove 'plates')")
        return self

    @property
    def plate_pose(self) -> Pose:
        """The pose the plates are shot in: confirmed by the technician once the rig is clear."""
        return Pose(id=PLATE_POSE_ID, operator_confirmed=True,
                    description="clean plate: clear the rig (nobody and nothing in it) before it is shot")

    @property
    def shooting_poses(self) -> tuple[Pose, ...]:
        """The subject's poses with the plate pose before or after them, as ``plates`` says."""
        if self.plates == Plates.BEFORE:
            return (self.plate_pose, *self.poses)
        if self.plates == Plates.AFTER:
            return (*self.poses, self.plate_pose)
        return self.poses
