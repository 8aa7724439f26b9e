"""A package's cameras are where the rig says, in both COLMAP's and nerfstudio's conventions.

What a trainer sees: pycolmap reads sparse/0 and finds each camera at the rig position (turned with the
subject for turntable stations), and a 3-D point lands on the same pixel whichever file it reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from capturerig.config import RigConfig, default_plan_path, default_rig_path, load_plan, load_rig
from capturerig.packaging import PackageFrame, write_package

# Stations of the demo plan (0 and 90 degrees) plus an odd angle and a rig position without a turntable.
STATIONS: tuple[tuple[str, float | None], ...] = (("s00", 0.0), ("s01", 90.0), ("s02", 37.5), ("r00", None))
POINTS = np.array([[0.0, 0.0, 1.0], [0.12, -0.07, 1.25], [-0.2, 0.15, 0.7], [0.05, 0.3, 1.5]])


def _rz(angle_deg: float | None) -> np.ndarray:
    a = math.radians(angle_deg or 0.0)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _frames(rig: RigConfig, folder: Path) -> list[PackageFrame]:
    loaded = load_rig(default_rig_path())
    lighting = load_plan(default_plan_path(), loaded).config.lighting[0].model_dump(mode="json")
    folder.mkdir()
    frames = []
    for s_index, (station_id, angle) in enumerate(STATIONS):
        for c_index, camera in enumerate(rig.cameras):
            name = f"{camera.id}_p00_{station_id}_l00.jpg"
            pixels = np.full((camera.intrinsics.height // 8, camera.intrinsics.width // 8, 3), 0, np.uint8)
            pixels[:, :, 0] = c_index * 15
            pixels[:, :, 1] = s_index * 60
            source = folder / name
            assert cv2.imwrite(str(source), pixels)
            frames.append(PackageFrame(
                source=source, name=name, camera_id=camera.id, pose_id="p00", station_id=station_id,
                light_id="l00", bracket_id="b0", station_angle_deg=angle,
                sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
                lighting={**lighting, "dmx": {"0": bytes([255, 128, 0, 7])}},
            ))
    return frames


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    config = load_rig(default_rig_path()).config
    # One camera with k3 != 0, so the FULL_OPENCV path is covered by every geometry check below.
    cam = config.cameras[3]
    k3_cam = cam.model_copy(update={"intrinsics": cam.intrinsics.model_copy(
        update={"dist": (-0.05, 0.02, 0.0005, -0.0003, 0.011)})})
    return config.model_copy(update={"cameras": (*config.cameras[:3], k3_cam, *config.cameras[4:])})


@pytest.fixture(scope="module")
def package(rig: RigConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PackageFrame]]:
    base = tmp_path_factory.mktemp("geometry")
    frames = _frames(rig, base / "session")
    metadata = {"session_id": "S1", "subject_id": "mannequin", "rig": rig.name, "plan": "sim-demo",
                "created": "2025-01-01T12:00:00+00:00", "capturerig_version": "0.1.0"}
    summary = write_package(rig, frames, base / "package", metadata)
    assert summary.num_images == len(frames) == 16 * len(STATIONS)
    assert summary.num_cameras == 16
    return summary.out_dir, frames


def test_pycolmap_finds_every_camera_at_its_rig_centre_turned_with_the_subject(
    rig: RigConfig, package: tuple[Path, list[PackageFrame]]
) -> None:
    root, frames = package
    model = pycolmap.Reconstruction(str(root / "sparse" / "0"))
    assert (model.num_images(), model.num_cameras(), model.num_points3D()) == (len(frames), 16, 0)
    by_name = {frame.name: frame for frame in frames}
    for image in model.images.values():
        frame = by_name[image.name]
        pose = rig.camera(frame.camera_id).pose
        expected = _rz(frame.station_angle_deg).T @ np.asarray(pose.position)
        np.testing.assert_allclose(image.projection_center(), expected, rtol=0, atol=1e-6)
        assert (root / "images" / image.name).is_file()


def test_colmap_cameras_carry_the_rig_intrinsics_with_pixel_centres_at_half(
    rig: RigConfig, package: tuple[Path, list[PackageFrame]]
) -> None:
    model = pycolmap.Reconstruction(str(package[0] / "sparse" / "0"))
    for index, camera in enumerate(rig.cameras):
        colmap_camera = model.camera(index + 1)
        i = camera.intrinsics
        k1, k2, p1, p2, k3 = i.distortion()
        expected = [i.fx, i.fy, i.cx + 0.5, i.cy + 0.5, k1, k2, p1, p2]
        if k3:
            assert colmap_camera.model_name == "FULL_OPENCV"
            expected += [k3, 0.0, 0.0, 0.0]
        else:
            assert colmap_camera.model_name == "OPENCV"
        assert (colmap_camera.width, colmap_camera.height) == (i.width, i.height)
        np.testing.assert_allclose(colmap_camera.params, expected, rtol=0, atol=1e-12)
    assert sum(c.model_name == "FULL_OPENCV" for c in model.cameras.values()) == 1


def _project_transforms_entry(entry: dict[str, object], points: np.ndarray) -> np.ndarray:
    """What a nerfstudio-style reader does: OpenGL c2w -> OpenCV w2c, then the OpenCV camera model."""
    c2w = np.array(entry["transform_matrix"], dtype=float)
    c2w[:3, 1:3] *= -1.0
    w2c = np.linalg.inv(c2w)
    k = np.array([[entry["fl_x"], 0.0, entry["cx"]], [0.0, entry["fl_y"], entry["cy"]], [0.0, 0.0, 1.0]])
    dist = np.array([entry["k1"], entry["k2"], entry["p1"], entry["p2"], entry.get("k3", 0.0)], dtype=float)
    rvec, _ = cv2.Rodrigues(w2c[:3, :3])
    pixels, _ = cv2.projectPoints(points, rvec, w2c[:3, 3], k, dist)
    return pixels.reshape(-1, 2)


def test_a_point_lands_on_the_same_pixel_in_colmap_transforms_json_and_the_rig(
    rig: RigConfig, package: tuple[Path, list[PackageFrame]]
) -> None:
    root, frames = package
    model = pycolmap.Reconstruction(str(root / "sparse" / "0"))
    transforms = json.loads((root / "transforms.json").read_text())
    assert transforms["camera_model"] == "OPENCV"
    entries = {entry["file_path"]: entry for entry in transforms["frames"]}
    for frame in frames:
        camera = rig.camera(frame.camera_id)
        image = model.find_image_with_name(frame.name)
        colmap_cam = model.camera(image.camera_id)
        via_colmap = np.array([colmap_cam.img_from_cam(image.cam_from_world() * p) for p in POINTS])
        via_json = _project_transforms_entry(entries[f"images/{frame.name}"], POINTS)
        # The rig's own model, in OpenCV pixels (top-left centre at 0): the package is half a pixel on.
        r, t = camera.pose.cam_from_world()
        rvec, _ = cv2.Rodrigues(r @ _rz(frame.station_angle_deg))
        via_rig, _ = cv2.projectPoints(POINTS, rvec, t, camera.intrinsics.matrix(),
                                       camera.intrinsics.distortion())
        via_rig = via_rig.reshape(-1, 2) + 0.5
        np.testing.assert_allclose(via_colmap, via_rig, rtol=0, atol=1e-6, err_msg=frame.name)
        np.testing.assert_allclose(via_json, via_rig, rtol=0, atol=1e-6, err_msg=frame.name)
        # The subject centre is in view of every camera: pixels inside the image, a sanity check of axes.
        assert 0 < via_rig[0, 0] < camera.intrinsics.width
        assert 0 < via_rig[0, 1] < camera.intrinsics.height


def test_transforms_json_frames_point_at_images_and_keep_their_ids(
    package: tuple[Path, list[PackageFrame]],
) -> None:
    root, frames = package
    transforms = json.loads((root / "transforms.json").read_text())
    assert [entry["file_path"] for entry in transforms["frames"]] == [f"images/{f.name}" for f in frames]
    for entry, frame in zip(transforms["frames"], frames, strict=True):
        assert (root / entry["file_path"]).is_file()
        ids = (entry["camera_id"], entry["pose_id"], entry["station_id"], entry["light_id"], entry["bracket_id"])
        assert ids == (frame.camera_id, "p00", frame.station_id, "l00", "b0")
        assert ("k3" in entry) == (frame.camera_id == "cam03")
        assert np.allclose(np.array(entry["transform_matrix"])[3], [0, 0, 0, 1])


def test_package_json_records_metadata_lighting_and_conventions(
    package: tuple[Path, list[PackageFrame]],
) -> None:
    root, frames = package
    document = json.loads((root / "package.json").read_text())
    assert document["metadata"]["session_id"] == "S1"
    assert document["metadata"]["capturerig_version"] == "0.1.0"
    assert {"world", "colmap", "nerfstudio", "pixels"} <= set(document["conventions"])
    assert "z up" in document["conventions"]["world"]
    first = document["frames"][0]
    assert first["name"] == frames[0].name
    assert first["sha256"] == frames[0].sha256
    assert first["lighting"]["id"] == "l00"
    assert first["lighting"]["dmx"] == {"0": "ff800007"}  # DMX bytes stored as hex
    assert document["cameras"]["cam03"]["colmap_model"] == "FULL_OPENCV"


def test_images_bin_keeps_the_layout_legacy_colmap_readers_parse(
    rig: RigConfig, package: tuple[Path, list[PackageFrame]]
) -> None:
    """3DGS and older nerfstudio parse images.bin by hand; read it the way they do."""
    root, frames = package
    data = (root / "sparse" / "0" / "images.bin").read_bytes()
    (count,), offset = struct.unpack_from("<Q", data), 8
    poses = {}
    for _ in range(count):
        _image_id, qw, qx, qy, qz, tx, ty, tz, _camera_id = struct.unpack_from("<I7dI", data, offset)
        offset += 64
        end = data.index(b"\0", offset)
        name = data[offset:end].decode()
        (num_points,) = struct.unpack_from("<Q", data, end + 1)
        offset = end + 9 + num_points * 24
        poses[name] = (np.array([qw, qx, qy, qz]), np.array([tx, ty, tz]))
    assert offset == len(data)
    assert len(poses) == len(frames)
    for frame in frames:
        qvec, tvec = poses[frame.name]
        r, t = rig.camera(frame.camera_id).pose.cam_from_world()
        expected = pycolmap.Rotation3d(r @ _rz(frame.station_angle_deg)).matrix()
        w, x, y, z = qvec
        from_q = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ])
        np.testing.assert_allclose(from_q, expected, atol=1e-9)
        np.testing.assert_allclose(tvec, t, atol=1e-9)
