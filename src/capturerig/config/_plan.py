"""The plan: what to shoot (poses x stations x lighting x brackets) and the rules for re-shooting."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from capturerig.config._lighting import LightingCondition, Subject
from capturerig.config._validation import PLAN_ID_PATTERN

__all__ = [
    "Bracket",
    "Consistency",
    "Coverage",
    "LightingCondition",
    "PlanConfig",
    "Pose",
    "Settle",
    "Station",
    "Subject",
]

_ID_PATTERN = PLAN_ID_PATTERN  # no '_' or '/': ids are joined into file names and take ids


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Consistency(StrEnum):
    """What is re-shot when a take fails: the take alone (static subject) or its whole pose (people)."""

    TAKE = "take"
    POSE = "pose"


class Pose(_Frozen):
    id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    operator_confirmed: bool = Field(
        default=True, description="the operator must confirm the subject holds the pose before it is shot"
    )


class Station(_Frozen):
    """A turntable angle (degrees) or a named rig position."""

    id: str = Field(pattern=_ID_PATTERN)
    angle_deg: float | None = None
    position: str | None = None


class Bracket(_Frozen):
    id: str = Field(pattern=_ID_PATTERN)
    ev: float = Field(default=0.0, ge=-5, le=5)


class Settle(_Frozen):
    lights_s: float = Field(default=0.05, ge=0, le=30)
    turntable_s: float = Field(default=0.2, ge=0, le=60)


class Coverage(_Frozen):
    """What the plan needs before a take (and the session) counts as complete."""

    min_cameras: int | None = Field(default=None, ge=1, description="default: every camera in camera_groups")


class PlanConfig(_Frozen):
    name: str
    poses: tuple[Pose, ...] = Field(min_length=1)
    stations: tuple[Station, ...] = Field(min_length=1)
    lighting: tuple[LightingCondition, ...] = Field(
        min_length=1, description="lighting states and generators (olat, gradient), expanded in this order")
    brackets: tuple[Bracket, ...] = (Bracket(id="b0"),)
    camera_groups: tuple[str, ...] = Field(min_length=1, description="rig group names or camera ids")
    settle: Settle = Settle()
    consistency: Consistency = Consistency.TAKE
    retries: int = Field(default=2, ge=0, le=10)
    coverage: Coverage = Coverage()
    subject: Subject = Subject()
