"""A calibration capture: through the engine with the simulated technician, and rendered offline with its truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from capturerig.calibration import detect_board, load_board
from capturerig.cli._app import app
from capturerig.config import load_plan, load_rig
from capturerig.engine import Journal, calibration_frames
from capturerig_sim.calib_capture import BUMP_ROTATION_DEG, CalibrationTruth, render_calibration_capture
from capturerig_sim.calib_operator import STAGE_ENV

PLAN = """\
name: short-calibration
kind: calibration
calibration: {board: studio-charuco, frames: 3, min_views: 2}
lighting:
  - id: l00
    levels: {"*": {intensity: 0.3, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}
camera_groups: [cam00, cam01, cam08]
"""


def test_a_calibration_plan_shoots_one_take_per_board_position_and_lists_every_cameras_frames(
        studio_files: Path, tmp_path: Path, fast_sim: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STAGE_ENV, "calibration")  # the virtual studio: empty stage, a technician with a board
    plan_file = studio_files / "short-calibration.yaml"
    plan_file.write_text(PLAN, encoding="utf-8")
    session_dir = tmp_path / "calibration-session"
    result = CliRunner().invoke(app, ["calibrate", "capture", "--rig", str(studio_files / "rig.yaml"),
                                      "--plan", str(plan_file), "--out", str(session_dir), "--yes"])
    assert result.exit_code == 0, result.output
    assert "board position f002: corners found by cam00" in result.output  # the close-up of cam00
    assert "good views" in result.output
    assert "cam08:" in result.output
    assert f"--session {session_dir}" in result.output

    frames = calibration_frames(session_dir)
    assert {camera: list(stems) for camera, stems in frames.items()} == {
        camera: ["f000", "f001", "f002"] for camera in ("cam00", "cam01", "cam08")}
    journal = Journal(session_dir)
    try:
        proven = {record.path: record.sha256 for record in journal.verified_files()}
    finally:
        journal.close()
    board = load_board("studio-charuco")
    for _camera, stems in frames.items():
        for path in stems.values():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == proven[str(path.relative_to(session_dir))]
    close_up = cv2.imread(str(frames["cam00"]["f002"]), cv2.IMREAD_GRAYSCALE)
    found = detect_board(close_up, board)
    assert found is not None
    assert len(found) >= 15


def test_a_capture_plan_is_not_a_calibration_session(studio_files: Path, tmp_path: Path) -> None:
    rig = load_rig(studio_files / "rig.yaml")
    assert load_plan(studio_files / "plan.yaml", rig).config.kind == "capture"
    with pytest.raises(FileNotFoundError, match="not a capturerig session"):
        calibration_frames(tmp_path)


def test_an_offline_capture_writes_every_cameras_frames_and_the_truth_with_its_faults(tmp_path: Path) -> None:
    loaded = load_rig(Path(__file__).resolve().parents[2] / "examples" / "sim-studio" / "rig.yaml")
    rig = loaded.config.model_copy(update={"cameras": loaded.config.cameras[:4]})
    board = load_board("studio-charuco")
    truth = render_calibration_capture(rig, board, tmp_path, frames=4, seed=0, bumped_camera="cam01",
                                       lone_camera="cam00", workers=2)
    assert truth.frames == ["f000", "f001", "f002", "f003"]
    for camera in ("cam00", "cam01", "cam02", "cam03"):
        assert sorted(p.name for p in (tmp_path / camera).iterdir()) == [f"{f}.png" for f in truth.frames]
    again = CalibrationTruth.load(tmp_path)
    assert again.frames == truth.frames
    assert again.lone_frame == truth.lone_frame
    assert np.allclose(again.cameras["cam02"].rotation, truth.cameras["cam02"].rotation)
    # cam01 was knocked before the second half; the truth says by how much and from when.
    assert again.bumped_from == "f002"
    before, after = again.camera_at("cam01", "f001"), again.camera_at("cam01", "f002")
    turned, _ = cv2.Rodrigues(after.rotation @ before.rotation.T)
    assert np.degrees(np.linalg.norm(turned)) == pytest.approx(BUMP_ROTATION_DEG, rel=1e-6)
    # cam00 sees the board in its one frame only.
    seen = [frame for frame in truth.frames
            if detect_board(cv2.imread(str(tmp_path / "cam00" / f"{frame}.png"), cv2.IMREAD_GRAYSCALE), board)]
    assert seen == [truth.lone_frame]
