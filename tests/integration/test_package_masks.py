"""Masks inside a package, as each trainer reads them, made from the session's clean plates.

The session is the simulated studio's (rendered by ``capturerig_sim.render`` as bench/masks.py does, on a stage
with soft floor shadows and backdrop spill: the subject, and the empty rig as the plan's ``plate`` pose shoots
it), written into a session-like folder and handed to the package path (``engine._package.package_frames``, what
``package_session`` calls) as the session's frames. A point on the simulator's subject projects inside its mask
through transforms.json (nerfstudio's rules) and through the COLMAP model, in the distorted images and in the
undistorted ones; a point well off the subject lands outside. The masks follow nerfstudio's rules for
``mask_path`` and COLMAP's ``<image name>.png`` naming; bad input fails naming what is missing and leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pycolmap
import pytest

from capturerig.config import PLATE_POSE_ID, RigConfig, default_plan_path, default_rig_path, load_plan, load_rig
from capturerig.engine._package import load_package_geometry, package_frames
from capturerig.lighting import frames_for_condition
from capturerig.masks import MaskError
from capturerig.packaging import PackageFrame, check_package, nominal_geometry
from capturerig_sim._body import BODY_PARTS
from capturerig_sim.render import camera_truth, clean_plate, encode_jpeg, render_image, subject_alpha

# The lower ring every 45 degrees but two, and two of the upper ring: enough for the visual hull.
CAMERAS = ("cam00", "cam02", "cam03", "cam04", "cam06", "cam07", "cam09", "cam13")
LIGHTS = ("l00", "l01")
LOOK = {"shadows": True, "light_radius_m": 0.15, "spill": 0.3, "backdrop": [0.01, 0.03, 0.015]}
METADATA = {"session_id": "S-masks-0001", "subject_id": "S-masks", "rig": "sim-studio", "plan": "sim-demo"}
# Inside the body (part centres), so on the subject in every camera that sees them.
ON_SUBJECT = np.array([part.centre for part in BODY_PARTS
                       if part.name in ("head", "chest", "abdomen", "pelvis", "left_thigh", "right_thigh")])
# Well off the subject: on the table top and in the air beside it (checked against the true alpha below).
OFF_SUBJECT = np.array([[0.45, 0.35, 0.02], [-0.4, -0.45, 0.02], [0.0, 0.55, 1.2], [0.5, -0.5, 1.6],
                        [-0.55, 0.1, 0.5]])


@dataclass(frozen=True)
class Session:
    rig: RigConfig
    frames: list[PackageFrame]
    geometry_file: Path
    root: Path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _frame(rig: RigConfig, path: Path, camera: str, pose: str, light: str) -> PackageFrame:
    return PackageFrame(source=path, name=path.name, camera_id=camera, pose_id=pose, station_id="s00",
                        light_id=light, bracket_id="b0", station_angle_deg=0.0, sha256=_sha(path),
                        lighting={"id": light, "name": light, "polarisation": "none", "levels": {}},
                        role="plate" if pose == PLATE_POSE_ID else "image")


def render_session(root: Path, cameras: tuple[str, ...] = CAMERAS, lights: tuple[str, ...] = LIGHTS) -> Session:
    """The subject and the clean plates (pose ``plate``) of ``cameras`` under ``lights`` at station s00 (0 deg),
    as the sim camera's JPEGs, and the simulator's true cameras as a geometry calibration."""
    loaded = load_rig(default_rig_path())
    rig = loaded.config.model_copy(update={"simulation": {**loaded.config.simulation, "look": LOOK}})
    states = {state.id: state for state in load_plan(default_plan_path(), loaded).config.lighting}
    frames = []
    for light in lights:
        dmx = frames_for_condition(rig, states[light])
        for index, camera_id in enumerate(cameras):
            camera = rig.camera(camera_id)
            for pose, pixels in (("p00", render_image(camera, rig, dmx, 0.0, noise_seed=100 + index)),
                                 (PLATE_POSE_ID, clean_plate(camera, rig, dmx, 0.0, noise_seed=200 + index))):
                path = root / "files" / f"{camera_id}_{pose}_s00_{light}.jpg"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(encode_jpeg(pixels))
                frames.append(_frame(rig, path, camera_id, pose, light))
    return Session(rig, frames, truth_geometry(rig, root / "geometry.json"), root)


def truth_geometry(rig: RigConfig, path: Path) -> Path:
    """The simulator's true cameras as a geometry calibration (a perfect one), written to ``path``."""
    document = nominal_geometry(rig).document
    for camera_id, entry in document["cameras"].items():
        truth = camera_truth(rig.camera(camera_id), rig)
        entry.update(K=truth.intrinsics.matrix().tolist(),
                     dist=list(np.concatenate([truth.intrinsics.distortion(), np.zeros(5)])[:5]),
                     R=truth.rotation.tolist(), t=truth.translation.tolist())
    document.update(source="calibration", gauge="rig", passed=True, verdicts=[], id="sim-truth")
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return render_session(tmp_path_factory.mktemp("masks-session"))


@pytest.fixture(scope="module")
def package(session: Session) -> Path:
    out = session.root / "package"
    geometry = load_package_geometry(session.geometry_file, session.rig)
    package_frames(session.rig, session.frames, out, METADATA, geometry=geometry, rgba=True, workers=2)
    return out


def _snapshots(package: Path) -> list[Path]:
    return sorted((package / "data" / "snapshots").iterdir())


def _nerfstudio_project(transforms: dict[str, Any], frame: dict[str, Any], points: np.ndarray) -> np.ndarray:
    """World points to pixels as nerfstudio reads transforms.json (see tests/unit/test_package_geometry.py): per
    frame OPENCV intrinsics, camera-to-world with OpenGL axes, pixel centres at index + 0.5."""
    def value(key: str) -> float:
        return float(frame.get(key, transforms.get(key, 0.0)))

    k1, k2, k3, k4, p1, p2 = (value(k) for k in ("k1", "k2", "k3", "k4", "p1", "p2"))
    c2w = np.array(frame["transform_matrix"], dtype=float)[:3]
    in_camera = (points - c2w[:, 3]) @ c2w[:, :3]
    x, y = in_camera[:, 0] / -in_camera[:, 2], -in_camera[:, 1] / -in_camera[:, 2]
    r = x * x + y * y
    d = 1.0 + r * (k1 + r * (k2 + r * (k3 + r * k4)))
    xd = d * x + 2.0 * p1 * x * y + p2 * (r + 2.0 * x * x)
    yd = d * y + 2.0 * p2 * x * y + p1 * (r + 2.0 * y * y)
    return np.stack([value("fl_x") * xd + value("cx"), value("fl_y") * yd + value("cy")], axis=1)


def _at(mask: np.ndarray, pixel: np.ndarray) -> int | None:
    """The mask's value at a pixel coordinate (pixel centres at index + 0.5); None outside the image."""
    column, row = int(np.floor(pixel[0])), int(np.floor(pixel[1]))
    if 0 <= row < mask.shape[0] and 0 <= column < mask.shape[1]:
        return int(mask[row, column])
    return None


def _truly_off(camera_id: str, rig: RigConfig, pixel: np.ndarray, margin: int = 8) -> bool:
    """The simulator's true alpha is 0 all round ``pixel`` (a point behind the subject is not off it)."""
    alpha = subject_alpha(rig.camera(camera_id), 0.0, rig)
    column, row = int(np.floor(pixel[0])), int(np.floor(pixel[1]))
    if not (margin <= row < alpha.shape[0] - margin and margin <= column < alpha.shape[1] - margin):
        return False
    return bool(alpha[row - margin:row + margin + 1, column - margin:column + margin + 1].max() == 0.0)


def _read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


def test_a_subject_point_projects_inside_its_mask_through_transforms_json_and_colmap_and_an_off_point_outside(
    package: Path, session: Session,
) -> None:
    checked = {"on": 0, "off": 0}
    for snapshot in _snapshots(package):
        transforms = json.loads((snapshot / "transforms.json").read_text())
        distorted = pycolmap.Reconstruction(str(snapshot / "colmap" / "sparse" / "0"))
        undistorted = pycolmap.Reconstruction(str(snapshot / "undistorted" / "sparse" / "0"))
        for entry in transforms["frames"]:
            name = Path(entry["file_path"]).name
            camera_id = entry["camera_id"]
            ns_mask = _read_mask(snapshot / entry["mask_path"])
            routes = [(_nerfstudio_project(transforms, entry, ON_SUBJECT),
                       _nerfstudio_project(transforms, entry, OFF_SUBJECT), ns_mask, "transforms.json")]
            for model, folder in ((distorted, "colmap"), (undistorted, "undistorted")):
                image = model.find_image_with_name(name)
                project = np.array
                on = project([image.camera.img_from_cam(image.cam_from_world() * p) for p in ON_SUBJECT])
                off = project([image.camera.img_from_cam(image.cam_from_world() * p) for p in OFF_SUBJECT])
                routes.append((on, off, _read_mask(snapshot / folder / "masks" / f"{name}.png"), folder))
            # Off the subject by the simulator's truth, judged in the distorted image.
            truly_off = [_truly_off(camera_id, session.rig, pixel) for pixel in routes[0][1]]
            for on, off, mask, route in routes:
                for pixel in on:
                    assert _at(mask, pixel) == 255, (name, route, pixel)
                    checked["on"] += 1
                for pixel, really in zip(off, truly_off, strict=True):
                    if really:
                        assert _at(mask, pixel) == 0, (name, route, pixel)
                        checked["off"] += 1
    assert checked["on"] == 3 * len(ON_SUBJECT) * len(CAMERAS) * len(LIGHTS)
    assert checked["off"] >= 3 * len(CAMERAS) * len(LIGHTS)


def test_masks_match_the_simulators_true_alpha(package: Path, session: Session) -> None:
    """Not a benchmark (bench/masks.py is): the masks in the bag are the subject, not just any blob."""
    for snapshot in _snapshots(package):
        for camera_id in CAMERAS:
            mask = _read_mask(snapshot / "masks" / f"{camera_id}_p00_s00_{snapshot.name.split('_')[1]}.png") > 127
            truth = subject_alpha(session.rig.camera(camera_id), 0.0, session.rig) > 0.5
            iou = (mask & truth).sum() / (mask | truth).sum()
            assert iou > 0.95, (snapshot.name, camera_id, iou)


def test_masks_follow_nerfstudio_rules_and_colmap_naming_and_plates_are_no_training_images(package: Path) -> None:
    document = json.loads((package / "data" / "package.json").read_text())
    manifest = {line.split("  ", 1)[1]: line.split("  ", 1)[0]
                for line in (package / "manifest-sha256.txt").read_text().splitlines()}
    for snapshot in _snapshots(package):
        assert PLATE_POSE_ID not in snapshot.name
        transforms = json.loads((snapshot / "transforms.json").read_text())
        assert len(transforms["frames"]) == len(CAMERAS)
        for entry in transforms["frames"]:
            # nerfstudio: every frame has a mask_path, relative to transforms.json; one channel, 8 bits, the
            # image's size, black = ignore (and only 0 / 255).
            mask = _read_mask(snapshot / entry["mask_path"])
            image = cv2.imread(str(snapshot / entry["file_path"]), cv2.IMREAD_UNCHANGED)
            assert mask.dtype == np.uint8
            assert mask.ndim == 2
            assert mask.shape == image.shape[:2] == (entry["h"], entry["w"])
            assert set(np.unique(mask)) <= {0, 255}
            assert (mask == 255).any()
            assert (mask == 0).any()
            assert PLATE_POSE_ID not in entry["file_path"]
            in_bag = f"data/{snapshot.relative_to(package / 'data').as_posix()}/{entry['mask_path']}"
            assert manifest[in_bag] == _sha(package / in_bag)  # verify checks the masks like every file
        for folder in ("colmap", "undistorted"):
            model = pycolmap.Reconstruction(str(snapshot / folder / "sparse" / "0"))
            names = {image.name for image in model.images.values()}
            assert len(names) == len(CAMERAS)
            assert not any(PLATE_POSE_ID in n for n in names)
            # COLMAP: --ImageReader.mask_path <dir> reads <dir>/<image name>.png; the masks are exactly those.
            assert {p.name for p in (snapshot / folder / "masks").iterdir()} == {f"{n}.png" for n in names}
            for image in model.images.values():
                mask = _read_mask(snapshot / folder / "masks" / f"{image.name}.png")
                assert mask.shape == (image.camera.height, image.camera.width)
                assert set(np.unique(mask)) <= {0, 255}
        # 3DGS: RGBA beside the undistorted images, the undistorted mask as alpha, colour 0 where it is 0.
        for entry in (f for f in document["frames"] if f["snapshot"] == snapshot.name):
            rgba = cv2.imread(str(package / "data" / entry["rgba_path"]), cv2.IMREAD_UNCHANGED)
            undistorted_mask = _read_mask(package / "data" / entry["undistorted_mask_path"])
            assert rgba.shape[2] == 4
            assert entry["rgba_path"].startswith(f"snapshots/{snapshot.name}/undistorted/rgba/images/")
            assert np.array_equal(rgba[..., 3], undistorted_mask)
            assert not rgba[..., :3][undistorted_mask == 0].any()
        # ... a 3DGS source folder of its own: its model names the PNGs (3DGS finds images by the model's names),
        # with the undistorted model's cameras and poses.
        rgba_model = pycolmap.Reconstruction(str(snapshot / "undistorted" / "rgba" / "sparse" / "0"))
        undistorted_model = pycolmap.Reconstruction(str(snapshot / "undistorted" / "sparse" / "0"))
        by_name = {image.name: image for image in undistorted_model.images.values()}
        assert {image.name for image in rgba_model.images.values()} == {
            p.name for p in (snapshot / "undistorted" / "rgba" / "images").iterdir()}
        for image in rgba_model.images.values():
            twin = by_name[f"{Path(image.name).stem}.jpg"]
            assert np.allclose(image.cam_from_world().matrix(), twin.cam_from_world().matrix())
            assert image.camera.params.tolist() == twin.camera.params.tolist()
    plates = document["plates"]
    assert len(plates) == len(CAMERAS) * len(LIGHTS)
    for plate in plates:
        assert plate["file_path"] == f"plates/{plate['camera_id']}/{plate['name']}"
        assert manifest[f"data/{plate['file_path']}"] == plate["sha256"]
    masks = document["masks"]
    assert masks["present"]
    assert masks["made"]
    assert masks["exposures_with_hull"] == masks["exposures"] == len(LIGHTS)
    assert "sim-truth" in masks["hull"]
    assert masks["rgba"]
    assert masks["undistorted"]
    assert masks["plate_of"]["cam03_p00_s00_l01.jpg"] == "cam03_plate_s00_l01.jpg"


def test_verify_checks_the_masks_and_names_a_missing_one(package: Path, tmp_path: Path) -> None:
    assert check_package(package).ok, check_package(package).problems
    copy = tmp_path / "package"
    shutil.copytree(package, copy)
    missing = next((copy / "data" / "snapshots").iterdir()) / "undistorted" / "masks" / "cam06_p00_s00_l00.jpg.png"
    missing.unlink()
    (copy / "data" / "plates" / "cam02" / "cam02_plate_s00_l01.jpg").unlink()
    problems = "\n".join(check_package(copy).problems)
    relative = missing.relative_to(copy).as_posix()
    assert f"{relative}: missing (undistorted COLMAP mask of cam06_p00_s00_l00.jpg)" in problems
    assert "data/plates/cam02/cam02_plate_s00_l01.jpg: missing (clean plate of take plate/s00/l01/b0" in problems


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(("broken", "expected"), [
    ("camera", ["camera cam03: no clean plates in the session"]),
    ("lighting", ["cam02_p00_s00_l01.jpg: no clean plate of camera cam02 for lighting state l01 at station s00",
                  "its plates cover l00@s00/b0.jpg"]),
    ("size", ["cam06_p00_s00_l00.jpg is 480x640 but its plate", "is 240x320: plates from another rig"]),
    ("on-without-plates", ["--masks on: session S-masks-0001 has no clean plates"]),
])
def test_bad_plates_are_refused_naming_what_is_missing_and_nothing_is_left(
    session: Session, tmp_path: Path, broken: str, expected: list[str],
) -> None:
    frames = list(session.frames)
    masks = "auto"
    if broken == "camera":
        frames = [f for f in frames if not (f.role == "plate" and f.camera_id == "cam03")]
    elif broken == "lighting":
        frames = [f for f in frames if not (f.role == "plate" and f.camera_id == "cam02" and f.light_id == "l01")]
    elif broken == "size":
        index = next(i for i, f in enumerate(frames) if f.role == "plate" and f.name == "cam06_plate_s00_l00.jpg")
        small = tmp_path / "cam06_plate_s00_l00.jpg"
        small.write_bytes(encode_jpeg(cv2.resize(cv2.imread(str(frames[index].source)), (240, 320))))
        frames[index] = replace(frames[index], source=small, sha256=_sha(small))
    else:
        frames, masks = [f for f in frames if f.role != "plate"], "on"
    out = tmp_path / "out" / "package"
    with pytest.raises(MaskError) as caught:
        package_frames(session.rig, frames, out, METADATA, masks=masks, workers=2)
    for text in expected:
        assert text in str(caught.value), str(caught.value)
    assert not out.exists()
    assert not out.parent.exists() or _leftovers(out.parent) == []


def test_without_geometry_the_masks_are_made_without_the_hull_and_the_package_says_so(
    session: Session, tmp_path: Path,
) -> None:
    frames = [f for f in session.frames if f.light_id == "l00"]
    out = tmp_path / "package"
    package_frames(session.rig, frames, out, METADATA, undistort=False, workers=2)
    document = json.loads((out / "data" / "package.json").read_text())
    masks = document["masks"]
    assert masks["made"]
    assert masks["exposures_with_hull"] == 0
    assert masks["hull"].startswith("none: no geometry calibration was given")
    assert document["geometry"]["source"] == "nominal"
    assert all(frame["mask_path"] for frame in document["frames"])
    assert masks["undistorted"] is None
    assert check_package(out).ok
    # --masks off: the plates are still kept (originals), and no frame has a mask.
    off = tmp_path / "off"
    package_frames(session.rig, frames, off, METADATA, masks="off", undistort=False, workers=2)
    document = json.loads((off / "data" / "package.json").read_text())
    assert document["masks"] == {"present": False, "made": False, "why": "turned off (--masks off)"}
    assert len(document["plates"]) == len(CAMERAS)
    assert not any("mask_path" in f for f in document["frames"])
    with pytest.raises(MaskError, match="--rgba: RGBA images carry the masks as alpha"):
        package_frames(session.rig, frames, tmp_path / "rgba", METADATA, masks="off", rgba=True)
