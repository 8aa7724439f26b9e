"""`capturerig demo`: a whole simulated session and its training package, checked against the simulator's truth."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import pycolmap
import pytest

from capturerig.cli._serve import panel_settings
from capturerig.config import default_plan_path, load_plan
from capturerig.lighting import frames_for_condition
from capturerig.plan import expand_plan
from capturerig.web import PanelServer, create_app
from capturerig_sim import camera_response, camera_truth, expected_image, subject_mask
from tests.integration.conftest import Demo

SNAPSHOTS = ("p00_l00", "p00_l01", "p00_l02", "p00_l03")


def _snapshot(demo: Demo, snapshot_id: str) -> Path:
    return demo.package / "data" / "snapshots" / snapshot_id


def _image(demo: Demo, name: str) -> np.ndarray:
    """A captured image as the camera delivered it (the bag keeps it beside its colour-corrected copy)."""
    image = cv2.imread(str(demo.package / "data" / "originals" / name))
    assert image is not None, name
    return image


def test_demo_prints_where_the_session_and_package_are(demo: Demo) -> None:
    flat = " ".join(demo.output.split())
    assert "8/8 takes verified" in flat
    assert "128 images from 16 cameras" in flat
    assert "4 snapshots" in flat
    assert "BagIt" in flat
    assert f"{_snapshot(demo, 'p00_l00')}/transforms.json" in flat
    assert "colmap/sparse/0" in flat


def test_demo_calibrates_the_studio_first_and_says_what_each_stage_found(demo: Demo) -> None:
    flat = " ".join(demo.output.split())
    assert "calibration: calibrating the studio (no calibration stored in" in flat
    assert re.search(r"geometry capture: 40 board positions, 640 images verified", flat), flat
    found = re.search(r"geometry (sim-studio-\d{8}T\d{6}Z): 16 cameras, reprojection RMS (\d\.\d+) px .*? all "
                      r"(\d+) quality gates passed", flat)
    assert found, flat
    calibration_id, rms = found.group(1), float(found.group(2))
    assert rms < 0.3
    colour = re.search(r"colour: 16 cameras from their chart shots .*? leave-one-out dE00 mean (\d\.\d+)", flat)
    assert colour, flat
    assert float(colour.group(1)) < 2.0, flat
    assert f"geometry: calibrated (calibration {calibration_id}, RMS {rms:.3f} px); colour corrected" in flat
    stored = demo.out / "calibration" / calibration_id
    assert (stored / "studio-calibration.json").is_file()
    # The panel the demo ends with builds its packages with the same calibration.
    current = demo.out / "calibration" / "sim-studio"
    assert (current / "geometry.json").read_bytes() == (stored / "geometry" / "geometry.json").read_bytes()
    assert (current / "colour.json").read_bytes() == (stored / "colour" / "colour.json").read_bytes()
    document = json.loads((demo.package / "data" / "package.json").read_text())
    assert document["geometry"]["source"] == "calibration"
    assert document["geometry"]["id"] == calibration_id
    assert document["colour"]["applied"] is True


def test_packaged_cameras_are_the_cameras_that_shot_the_images(demo: Demo) -> None:
    """The package's cameras agree with the simulator's truth (the nominal rig is ~4 mm and ~0.3 deg off)."""
    rig = demo.rig.config
    model = pycolmap.Reconstruction(str(_snapshot(demo, "p00_l00") / "colmap" / "sparse" / "0"))
    packaged = {image.name.split("_")[0]: image for image in model.images.values() if "_s00_" in image.name}
    truths = {camera.id: camera_truth(camera, rig) for camera in rig.cameras}
    centres = np.array([packaged[c].projection_center() for c in truths])
    true_centres = np.array([truth.centre for truth in truths.values()])
    # The calibration's frame is its best rigid fit to the nominal centres: compare after one rigid fit.
    rotation, translation = _rigid_fit(centres, true_centres)
    residual_mm = 1000 * np.linalg.norm(centres @ rotation.T + translation - true_centres, axis=1)
    assert np.sqrt(np.mean(residual_mm**2)) < 1.5, residual_mm
    angles_deg = {}
    for camera_id, truth in truths.items():
        focal = packaged[camera_id].camera.params[0]
        assert focal == pytest.approx(truth.intrinsics.fx, rel=0.003), camera_id
        turned = (packaged[camera_id].cam_from_world().rotation.matrix() @ rotation.T) @ truth.rotation.T
        angles_deg[camera_id] = np.degrees(np.arccos(np.clip((np.trace(turned) - 1) / 2, -1, 1)))
    rms_deg = np.sqrt(np.mean(np.square(list(angles_deg.values()))))
    assert rms_deg < 0.1, f"orientations {rms_deg:.3f} deg rms from the truth: {angles_deg}"
    assert max(angles_deg.values()) < 0.2, angles_deg


def _rigid_fit(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R, t minimising |R source + t - target| (Kabsch, no scale)."""
    mean_source, mean_target = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((target - mean_target).T @ (source - mean_source))
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    return rotation, mean_target - rotation @ mean_source


def test_every_image_is_its_own_cameras_rendering_of_the_scene(demo: Demo) -> None:
    rig = demo.rig.config
    takes = expand_plan(rig, load_plan(default_plan_path(), demo.rig).config)
    for take in (takes[0], takes[6]):  # full white at 0 degrees, side key light at 90 degrees
        frames = frames_for_condition(rig, take.lighting)
        expected = {c.id: expected_image(c, rig, frames, take.station.angle_deg or 0.0).astype(float)
                    for c in rig.cameras}
        for camera in rig.cameras:
            got = _image(demo, take.file_name(camera.id, "jpg")).astype(float)
            own = np.abs(got - expected[camera.id]).mean()
            others = [np.abs(got - image).mean() for cid, image in expected.items() if cid != camera.id]
            assert own < 3.0, f"{camera.id} {take.id}: differs from its own rendering by {own:.1f} levels"
            assert own < 0.5 * min(others), f"{camera.id} {take.id} looks like another camera's view"


def _linear_subject_mean(demo: Demo, camera_id: str, light: str, station: str = "s00") -> np.ndarray:
    camera = demo.rig.config.camera(camera_id)
    linear = camera_response(camera.serial).to_linear(_image(demo, f"{camera_id}_p00_{station}_{light}.jpg"))
    mask = subject_mask(camera, 0.0 if station == "s00" else 90.0)
    return np.asarray(linear[mask].mean(axis=0))


def test_subject_brightness_follows_the_lighting_levels(demo: Demo) -> None:
    for camera in demo.rig.config.cameras:
        full = _linear_subject_mean(demo, camera.id, "l00")
        half = _linear_subject_mean(demo, camera.id, "l01")
        ratio = half.sum() / full.sum()
        assert 0.42 < ratio < 0.58, f"{camera.id}: half intensity gave {ratio:.2f} of full brightness"
        red = _linear_subject_mean(demo, camera.id, "l03")
        assert red[0] > 4 * max(red[1], red[2]), f"{camera.id}: all-red scene is not red ({red})"


def test_side_key_light_brightens_only_the_cameras_on_that_side(demo: Demo) -> None:
    # l02 lights fixtures fx0, fx1, fx7 (the +x side); at station s00 cam00 (+x) faces them, cam04 (-x) does not.
    lit = _linear_subject_mean(demo, "cam00", "l02").sum()
    dark = _linear_subject_mean(demo, "cam04", "l02").sum()
    assert lit > 5 * dark


def test_pycolmap_reads_the_model_and_camera_centres_match_the_rig_within_the_mounting_tolerance(
        demo: Demo) -> None:
    images = []
    for snapshot in SNAPSHOTS:
        model = pycolmap.Reconstruction(str(_snapshot(demo, snapshot) / "colmap" / "sparse" / "0"))
        assert (model.num_cameras(), model.num_images(), model.num_frames()) == (16, 32, 2)  # 2 stations
        images += list(model.images.values())
    assert len({image.name for image in images}) == 128
    for image in images:
        match = re.match(r"(cam\d+)_p00_(s\d+)_l\d+\.jpg", image.name)
        assert match, image.name
        camera = demo.rig.config.camera(match.group(1))
        angle = np.radians(0.0 if match.group(2) == "s00" else 90.0)
        # The subject turned by +angle, so in the subject frame the camera sits at Rz(-angle) c.
        undo = np.array([[np.cos(angle), np.sin(angle), 0], [-np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        # Calibrated: within the studio's mounting tolerance of the rig file (simulation.truth: 5 mm rms).
        assert np.linalg.norm(image.projection_center() - undo @ np.array(camera.pose.position)) < 0.02


def test_transforms_json_and_colmap_project_a_point_to_the_same_pixel(demo: Demo) -> None:
    transforms = json.loads((_snapshot(demo, "p00_l02") / "transforms.json").read_text())
    model = pycolmap.Reconstruction(str(_snapshot(demo, "p00_l02") / "colmap" / "sparse" / "0"))
    by_name = {image.name: image for image in model.images.values()}
    point = np.array([0.12, -0.05, 1.3])  # on the subject's chest, subject frame
    for frame in transforms["frames"][::3]:
        image = by_name[Path(frame["file_path"]).name]
        colmap_pixel = image.camera.img_from_cam(image.cam_from_world() * point)
        c2w = np.array(frame["transform_matrix"])
        w2c = np.linalg.inv(c2w @ np.diag([1.0, -1.0, -1.0, 1.0]))  # OpenGL -> OpenCV camera axes
        k = np.array([[frame["fl_x"], 0, frame["cx"]], [0, frame["fl_y"], frame["cy"]], [0, 0, 1]])
        dist = np.array([frame["k1"], frame["k2"], frame["p1"], frame["p2"], frame.get("k3", 0.0)])
        rvec, _ = cv2.Rodrigues(w2c[:3, :3])
        nerf_pixel, _ = cv2.projectPoints(point.reshape(1, 1, 3), rvec, w2c[:3, 3], k, dist)
        assert np.allclose(nerf_pixel.ravel(), colmap_pixel, atol=1e-6), frame["file_path"]


def test_session_journal_proves_every_file_and_package_verifies(demo: Demo) -> None:
    with sqlite3.connect(demo.session / "journal.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        statuses = [row[0] for row in db.execute("SELECT status FROM takes")]
        files = db.execute("SELECT path, size, sha256 FROM files").fetchall()
    assert statuses == ["verified"] * 8
    assert len(files) == 128
    result = subprocess.run([sys.executable, "-m", "capturerig", "verify", str(demo.package)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "every file matches both manifests" in result.stdout
    assert "8/8 planned takes complete" in " ".join(result.stdout.split())


def test_the_demos_folder_opens_in_the_panel_later_with_its_subject_and_nothing_else_given(
        demo: Demo, tmp_path: Path) -> None:
    assert f"capturerig serve {demo.out}" in " ".join(demo.output.split())
    settings = panel_settings(demo.out, (None,))  # as `capturerig serve DIR` builds it
    server = PanelServer(create_app(dataclasses.replace(settings, port=0, cache_dir=tmp_path / "thumbs")),
                         "127.0.0.1", 0)
    server.start()
    try:
        subjects = httpx.get(f"{server.url}/api/subjects", timeout=10).json()
        sessions = httpx.get(f"{server.url}/api/sessions", timeout=10).json()
    finally:
        server.stop()
    assert subjects["purpose"] == "demo"
    assert [(s["id"], s["status"]) for s in subjects["subjects"]] == [("demo-subject", "valid")]
    assert [s["name"] for s in sessions] == [demo.session.name]
