"""A package's cameras are where the calibration (or the rig) says, in COLMAP's and nerfstudio's conventions.

What a trainer sees: pycolmap reads every model (one rig, one frame per station); a 3-D point lands on the
same pixel whether it is projected through transforms.json read by nerfstudio's rules or through the
COLMAP model; the undistorted PINHOLE images show that point where the PINHOLE model says.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pycolmap
import pytest

from capturerig.config import ConfigError, RigConfig, default_rig_path, load_rig
from capturerig.engine._package import load_package_geometry
from capturerig.packaging import PackageFrame, geometry_from_document, nominal_geometry, write_package
from tests.unit._package_frames import METADATA, make_frames

# Stations of the demo plan (0 and 90 degrees) plus an odd angle and a rig position without a turntable.
STATIONS: tuple[tuple[str, float | None], ...] = (("s00", 0.0), ("s01", 90.0), ("s02", 37.5), ("r00", None))
POINTS = np.array([[0.0, 0.0, 1.0], [0.12, -0.07, 1.25], [-0.2, 0.15, 0.7], [0.05, 0.3, 1.5]])
CAMERAS = ("cam00", "cam03", "cam05", "cam09", "cam14")


def _rz(angle_deg: float | None) -> np.ndarray:
    a = math.radians(angle_deg or 0.0)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


def _calibrated_document(rig: RigConfig) -> dict[str, Any]:
    """A geometry.json as `capturerig calibrate geometry` writes it: the rig moved a little, k3 on one camera."""
    document = nominal_geometry(rig).document
    cameras = {}
    for index, (camera_id, entry) in enumerate(document["cameras"].items()):
        k = np.array(entry["K"])
        k[0, 0] *= 1.01
        k[1, 2] += 1.7
        dist = list(entry["dist"])
        dist[4] = 0.011 if camera_id == "cam03" else 0.0
        rotation = cv2.Rodrigues(np.array([0.01, -0.02, 0.005 * index]))[0] @ np.array(entry["R"])
        cameras[camera_id] = {**entry, "K": k.tolist(), "dist": dist, "R": rotation.tolist(),
                              "t": (np.array(entry["t"]) + np.array([0.01, -0.005, 0.02])).tolist(),
                              "rms_px": 0.21, "sigmas": {"fx": 0.3}, "views_used": 40}
    return {"schema": "capturerig.geometry/1", "rig": rig.name, "gauge": "rig", "passed": True,
            "verdicts": [], "cameras": cameras}


@pytest.fixture(scope="module")
def package(rig: RigConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PackageFrame], Any]:
    base = tmp_path_factory.mktemp("geometry")
    frames = make_frames(rig, base / "session", CAMERAS, STATIONS)
    (base / "geometry.json").write_text(json.dumps(_calibrated_document(rig)))
    geometry = load_package_geometry(base / "geometry.json", rig)
    summary = write_package(rig, frames, base / "package", METADATA, geometry=geometry)
    assert (summary.num_images, summary.num_cameras, summary.geometry_source) == (20, 5, "calibration")
    return summary.snapshots[0], frames, geometry


def _model(root: Path, which: str = "colmap") -> pycolmap.Reconstruction:
    return pycolmap.Reconstruction(str(root / which / "sparse" / "0"))


def test_pycolmap_reads_one_rig_with_a_frame_per_station_and_cameras_turned_with_the_subject(
    package: tuple[Path, list[PackageFrame], Any],
) -> None:
    root, frames, geometry = package
    for which in ("colmap", "undistorted"):
        model = _model(root, which)
        assert (model.num_images(), model.num_cameras(), model.num_points3D()) == (20, 5, 0)
        assert (model.num_rigs(), model.num_frames(), model.num_reg_frames()) == (1, 4, 4)
        assert model.rig(1).num_sensors() == 5
        by_name = {frame.name: frame for frame in frames}
        for image in model.images.values():
            frame = by_name[image.name]
            camera = geometry.cameras[frame.camera_id]
            expected = _rz(frame.station_angle_deg).T @ (-camera.rotation.T @ camera.translation)
            np.testing.assert_allclose(image.projection_center(), expected, rtol=0, atol=1e-9)
            assert (root / "images" / image.name).is_file()
            assert (root / "undistorted" / "images" / image.name).is_file()
    calibration = pycolmap.Reconstruction(str(root.parents[1] / "calibration" / "colmap"))
    assert (calibration.num_cameras(), calibration.num_rigs(), calibration.num_frames()) == (5, 1, 4)
    assert sorted(image.name for image in calibration.images.values())[:2] == ["cam00_r00", "cam00_s00"]


def test_colmap_cameras_carry_the_calibration_with_pixel_centres_at_half(
    rig: RigConfig, package: tuple[Path, list[PackageFrame], Any],
) -> None:
    root, _, geometry = package
    model = _model(root)
    for camera_id in CAMERAS:
        colmap_camera = model.camera([c.id for c in rig.cameras].index(camera_id) + 1)
        cam = geometry.cameras[camera_id]
        k1, k2, p1, p2, k3 = cam.dist
        expected = [cam.k[0, 0], cam.k[1, 1], cam.k[0, 2] + 0.5, cam.k[1, 2] + 0.5, k1, k2, p1, p2]
        if camera_id == "cam03":
            assert colmap_camera.model.name == "FULL_OPENCV"
            expected += [k3, 0.0, 0.0, 0.0]
        else:
            assert colmap_camera.model.name == "OPENCV"
        np.testing.assert_allclose(colmap_camera.params, expected, rtol=0, atol=1e-12)
    assert {camera.model.name for camera in _model(root, "undistorted").cameras.values()} == {"PINHOLE"}


def _nerfstudio_project(transforms: dict[str, Any], frame: dict[str, Any], points: np.ndarray) -> np.ndarray:
    """Project world points the way nerfstudio's nerfstudio_dataparser reads transforms.json.

    Intrinsics per frame (else the top level: ``fl_x``, ``fl_y``, ``cx``, ``cy``), distortion from
    ``camera_utils.get_distortion_params(k1, k2, k3, k4, p1, p2)``, ``transform_matrix`` as camera-to-world
    with OpenGL axes (camera looks down -z, y up), orientation_method="none", center_method="none",
    auto_scale_poses=False; the image coordinate of a pixel centre is its index + 0.5 (pixel_offset) and the
    distortion is camera_utils' radial_and_tangential model.
    """
    def value(key: str, default: float | None = None) -> float:
        found = frame.get(key, transforms.get(key, default))
        assert found is not None, key
        return float(found)

    assert transforms["camera_model"] == "OPENCV"
    k1, k2, k3, k4, p1, p2 = (value(k, 0.0) for k in ("k1", "k2", "k3", "k4", "p1", "p2"))
    c2w = np.array(frame["transform_matrix"], dtype=float)[:3]
    rotation, centre = c2w[:, :3], c2w[:, 3]
    in_camera = (points - centre) @ rotation  # rows: c2w^T (p - c)
    x, y = in_camera[:, 0] / -in_camera[:, 2], -in_camera[:, 1] / -in_camera[:, 2]  # OpenGL -> image plane
    r = x * x + y * y
    d = 1.0 + r * (k1 + r * (k2 + r * (k3 + r * k4)))
    xd = d * x + 2.0 * p1 * x * y + p2 * (r + 2.0 * x * x)
    yd = d * y + 2.0 * p2 * x * y + p1 * (r + 2.0 * y * y)
    return np.stack([value("fl_x") * xd + value("cx"), value("fl_y") * yd + value("cy")], axis=1)


def test_a_point_lands_on_the_same_pixel_through_transforms_json_colmap_and_the_calibration(
    package: tuple[Path, list[PackageFrame], Any],
) -> None:
    root, frames, geometry = package
    model = _model(root)
    transforms = json.loads((root / "transforms.json").read_text())
    entries = {entry["file_path"]: entry for entry in transforms["frames"]}
    assert len(entries) == len(frames)
    for frame in frames:
        image = model.find_image_with_name(frame.name)
        via_colmap = np.array([image.camera.img_from_cam(image.cam_from_world() * p) for p in POINTS])
        via_nerfstudio = _nerfstudio_project(transforms, entries[f"images/{frame.name}"], POINTS)
        # The calibration's own OpenCV model (top-left pixel centre at 0): the package is half a pixel on.
        cam = geometry.cameras[frame.camera_id]
        rvec, _ = cv2.Rodrigues(cam.rotation @ _rz(frame.station_angle_deg))
        via_calibration, _ = cv2.projectPoints(POINTS, rvec, cam.translation, cam.k, cam.dist)
        via_calibration = via_calibration.reshape(-1, 2) + 0.5
        np.testing.assert_allclose(via_colmap, via_calibration, rtol=0, atol=1e-6, err_msg=frame.name)
        np.testing.assert_allclose(via_nerfstudio, via_calibration, rtol=0, atol=1e-6, err_msg=frame.name)
        assert 0 < via_calibration[0, 0] < cam.width
        assert 0 < via_calibration[0, 1] < cam.height


def test_transforms_json_frames_point_at_images_and_keep_their_ids(
    package: tuple[Path, list[PackageFrame], Any],
) -> None:
    root, frames, _ = package
    transforms = json.loads((root / "transforms.json").read_text())
    assert [entry["file_path"] for entry in transforms["frames"]] == [f"images/{f.name}" for f in frames]
    for entry, frame in zip(transforms["frames"], frames, strict=True):
        assert (root / entry["file_path"]).is_file()
        ids = (entry["camera_id"], entry["pose_id"], entry["station_id"], entry["light_id"], entry["bracket_id"])
        assert ids == (frame.camera_id, "p00", frame.station_id, "l00", "b0")
        assert ("k3" in entry) == (frame.camera_id == "cam03")
        assert np.allclose(np.array(entry["transform_matrix"])[3], [0, 0, 0, 1])


def test_undistorted_images_show_a_point_where_the_pinhole_model_projects_it(
    rig: RigConfig, tmp_path: Path,
) -> None:
    """A bright dot drawn at the distorted projection moves to the PINHOLE projection after undistortion."""
    camera = rig.camera("cam03")
    geometry = nominal_geometry(rig)
    cam = geometry.cameras["cam03"]
    point = np.array([0.25, -0.3, 1.6])  # off-centre, where distortion moves pixels the most
    rvec, _ = cv2.Rodrigues(cam.rotation)
    distorted, _ = cv2.projectPoints(point.reshape(1, 3), rvec, cam.translation, cam.k, cam.dist)
    u, v = distorted.ravel()
    image = np.full((camera.intrinsics.height, camera.intrinsics.width, 3), 20, np.uint8)
    cv2.circle(image, (round(u * 16), round(v * 16)), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    source = tmp_path / "cam03_p00_s00_l00.png"  # lossless, so the centroid is not moved by JPEG blocks
    cv2.imwrite(str(source), image)
    frames = make_frames(rig, tmp_path / "session", ("cam00",), (("s00", 0.0),))
    frames.append(replace(frames[0], source=source, name=source.name, camera_id="cam03",
                          sha256=hashlib.sha256(source.read_bytes()).hexdigest()))
    snapshot = write_package(rig, frames, tmp_path / "package", METADATA).snapshots[0]
    model = _model(snapshot, "undistorted")
    undistorted = model.find_image_with_name(source.name)
    assert undistorted.camera.model.name == "PINHOLE"
    expected = undistorted.camera.img_from_cam(undistorted.cam_from_world() * point) - 0.5  # to OpenCV pixels
    got = cv2.imread(str(snapshot / "undistorted" / "images" / source.name), cv2.IMREAD_GRAYSCALE)
    assert got.shape == (undistorted.camera.height, undistorted.camera.width)
    weights = np.clip(got.astype(float) - 20.0, 0, None)
    ys, xs = np.mgrid[0:got.shape[0], 0:got.shape[1]]
    centroid = np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()
    assert np.linalg.norm(centroid - expected) < 0.15, (centroid, expected)
    assert np.linalg.norm(np.array([u, v]) - expected) > 1.0  # the dot really moved


def test_images_bin_keeps_the_layout_legacy_colmap_readers_parse(
    package: tuple[Path, list[PackageFrame], Any],
) -> None:
    """3DGS and older nerfstudio parse images.bin by hand; read it the way they do."""
    root, frames, geometry = package
    data = (root / "colmap" / "sparse" / "0" / "images.bin").read_bytes()
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
        cam = geometry.cameras[frame.camera_id]
        w, x, y, z = qvec
        from_q = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ])
        np.testing.assert_allclose(from_q, cam.rotation @ _rz(frame.station_angle_deg), atol=1e-9)
        np.testing.assert_allclose(tvec, cam.translation, atol=1e-9)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["cameras"].pop("cam07"), r"camera 'cam07' of rig 'sim-studio' is not calibrated"),
    (lambda d: d["cameras"]["cam02"].update(width=640), r"cameras\.cam02 is 640x640, but the rig's images are 480x640"),
    (lambda d: d["cameras"]["cam04"].update(R=[[1, 0, 0], [0, 1, 0], [0, 0, 2]]), r"cameras\.cam04\.R: not a rotation"),
    (lambda d: d["cameras"]["cam05"].update(K=[[1, 0], [0, 1]]), r"cameras\.cam05\.K: shape \(2, 2\), want \(3, 3\)"),
    (lambda d: d["cameras"]["cam06"].update(model="FISHEYE"), r"cameras\.cam06\.model: 'FISHEYE' is not supported"),
    (lambda d: d.update(schema="other/1"), r"schema is 'other/1', want 'capturerig\.geometry/1'"),
    (lambda d: d.update(gauge="camera:cam00"), r"gauge is 'camera:cam00', but a package needs poses in the rig frame"),
])
def test_a_geometry_file_that_does_not_fit_the_rig_is_refused_naming_file_and_camera(
    rig: RigConfig, tmp_path: Path, edit: Any, message: str,
) -> None:
    document = _calibrated_document(rig)
    edit(document)
    path = tmp_path / "geometry.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=message) as caught:
        load_package_geometry(path, rig)
    assert str(path) in str(caught.value)
    with pytest.raises(ValueError, match=message):
        geometry_from_document(document, rig)


def test_a_geometry_file_that_is_not_json_names_the_line(rig: RigConfig, tmp_path: Path) -> None:
    path = tmp_path / "geometry.json"
    path.write_text('{\n  "schema": "capturerig.geometry/1",\n  "cameras": {,}\n}\n')
    with pytest.raises(ConfigError, match=r"geometry\.json:3.*not valid JSON"):
        load_package_geometry(path, rig)
