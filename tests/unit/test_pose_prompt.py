"""The words a technician reads before a pose: hold it, clear the rig for the clean plates, or the subject back
in the rig after them -- the same on the terminal and the panel."""

from __future__ import annotations

from capturerig.cli._app import confirm_prompt_text
from capturerig.config import Pose, default_plan_path, default_rig_path, load_plan, load_rig
from capturerig.engine import PromptKind, pose_prompt


def _plate() -> Pose:
    rig = load_rig(default_rig_path())
    return load_plan(default_plan_path(), rig).config.replace(plates="before").plate_pose


def test_the_plate_pose_asks_for_the_rig_cleared() -> None:
    prompt = pose_prompt(_plate(), None)
    assert prompt.kind is PromptKind.PLATE
    assert prompt.title == "Clear the rig for the clean plates"
    assert "Nobody and nothing may stay in it" in prompt.question
    assert prompt.question.endswith("Is the rig clear?")
    # The terminal's line: Enter shoots the empty rig.
    text = confirm_prompt_text(_plate(), "p00")
    assert text.startswith("Clear the rig for the clean plates")
    assert "press Enter" in text


def test_the_first_subject_pose_after_the_plates_asks_for_the_subject_back() -> None:
    pose = Pose(id="p00", description="A-pose")
    back = pose_prompt(pose, "plate")
    assert back.kind is PromptKind.SUBJECT_BACK
    assert back.title == "Subject back in the rig: pose p00"
    assert "bring the subject back into the rig" in back.question
    assert back.question.endswith("Is the subject holding pose p00 (A-pose)?")
    assert confirm_prompt_text(pose, "plate") == back.question


def test_a_subject_pose_otherwise_asks_as_it_always_did() -> None:
    pose = Pose(id="p01", description="arms down")
    for previous in (None, "p00"):
        prompt = pose_prompt(pose, previous)
        assert (prompt.kind, prompt.title) == (PromptKind.POSE, "")
        assert confirm_prompt_text(pose, previous) == "Is the subject holding pose p01 (arms down)?"
    assert pose_prompt(Pose(id="p02"), None).question == "Is the subject holding pose p02?"
