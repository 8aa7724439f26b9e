"""Request bodies of the panel's API (the OpenAPI schema and its fuzz test are generated from these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from capturerig.config import FixtureCommand

__all__ = ["ConfirmPose", "FixtureLevels", "PackageBuild", "ReshootRequest", "ReshootTake", "SceneRequest",
           "SessionStart"]

SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionStart(_Body):
    subject: str = Field(pattern=SUBJECT_PATTERN, description="subject id (consent is checked for it)")
    rig: str | None = Field(default=None, max_length=128, description="rig id (default: the panel's first rig)")
    plan: str | None = Field(default=None, max_length=128, description="plan id (default: the rig's first plan)")
    confirm_poses: bool = Field(default=True, description="ask the operator before each operator-confirmed pose")


class ReshootRequest(_Body):
    confirm_poses: bool = True


class ReshootTake(_Body):
    reason: str = Field(default="the operator asked after a failed check", min_length=1, max_length=500,
                        description="why, as the journal and the timeline keep it")
    confirm_poses: bool = Field(default=True, description="after the run: ask the operator before each "
                                                          "operator-confirmed pose of the re-shoot")


class ConfirmPose(_Body):
    confirmed: bool = Field(description="true: the subject holds the pose, shoot it; false: abort the session")


class SceneRequest(_Body):
    name: str = Field(min_length=1, max_length=128, description="a rig scene, a plan lighting state, or blackout")
    rig: str | None = Field(default=None, max_length=128)
    plan: str | None = Field(default=None, max_length=128, description="plan whose lighting states to offer")


class FixtureLevels(_Body):
    levels: dict[str, FixtureCommand] = Field(max_length=512, description="fixture id -> command")
    rig: str | None = Field(default=None, max_length=128)


class PackageBuild(_Body):
    session: str = Field(min_length=1, max_length=128, description="session folder name")
