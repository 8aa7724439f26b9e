"""The plan: what to shoot (poses x stations x lighting x brackets) and the rules for re-shooting."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from capturerig.config._profiles import ChannelRole
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
]

_ID_PATTERN = PLAN_ID_PATTERN  # no '_' or '/': ids are joined into file names and take ids


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _level_in_range(level: float) -> float:
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level {level:g} is outside 0..1 (0 = off, 1 = full)")
    return level


Level = Annotated[float, AfterValidator(_level_in_range)]


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


class LightingCondition(_Frozen):
    """A lighting state: fixture id (or ``*`` for every fixture) -> channel role -> level 0..1."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = ""
    levels: dict[str, dict[ChannelRole, Level]] = Field(default_factory=dict)


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
    lighting: tuple[LightingCondition, ...] = Field(min_length=1)
    brackets: tuple[Bracket, ...] = (Bracket(id="b0"),)
    camera_groups: tuple[str, ...] = Field(min_length=1, description="rig group names or camera ids")
    settle: Settle = Settle()
    consistency: Consistency = Consistency.TAKE
    retries: int = Field(default=2, ge=0, le=10)
    coverage: Coverage = Coverage()
