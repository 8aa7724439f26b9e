"""What the technician is asked before an operator-confirmed pose: the subject to hold it, the rig to be cleared
for the clean plates, or the subject back in the rig after them. One wording for the CLI and the panel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from capturerig.config import PLATE_POSE_ID, Pose

__all__ = ["PosePrompt", "PromptKind", "pose_prompt"]


class PromptKind(StrEnum):
    """Which question a pose prompt asks."""

    POSE = "pose"  # is the subject holding the pose?
    PLATE = "plate"  # is the rig clear for the clean plates?
    SUBJECT_BACK = "subject_back"  # the plates are shot: is the subject back in the rig, holding the pose?


@dataclass(frozen=True)
class PosePrompt:
    """The question for one pose: ``title`` what a panel shows in bold before it (empty for a plain pose),
    ``question`` what is asked (answered yes to shoot, no to abort)."""

    kind: PromptKind
    pose_id: str
    title: str
    question: str


def pose_prompt(pose: Pose, previous_pose_id: str | None = None) -> PosePrompt:
    """The prompt for ``pose``; ``previous_pose_id`` is the pose asked before it in this run (None: the first),
    so the first subject pose after the plates asks for the subject back in the rig."""
    if pose.id == PLATE_POSE_ID:
        return PosePrompt(PromptKind.PLATE, pose.id, "Clear the rig for the clean plates",
                          "Nobody and nothing may stay in it (the subject, props, stands, yourself); leave the "
                          "lights and cameras as they are. Is the rig clear?")
    described = f" ({pose.description})" if pose.description else ""
    if previous_pose_id == PLATE_POSE_ID:
        return PosePrompt(PromptKind.SUBJECT_BACK, pose.id, f"Subject back in the rig: pose {pose.id}",
                          f"The clean plates are shot: bring the subject back into the rig. Is the subject "
                          f"holding pose {pose.id}{described}?")
    return PosePrompt(PromptKind.POSE, pose.id, "", f"Is the subject holding pose {pose.id}{described}?")
