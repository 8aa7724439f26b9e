"""A RAW+JPEG session: both files of every exposure are stored, hashed and journalled under one take."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import yaml

import capturerig
from capturerig.calibration.colour import calibrate_colour, save_colour
from capturerig.develop import develop_linear
from capturerig.engine import Journal, package_session
from capturerig.packaging import verify_package
from capturerig.plan import expand_plan
from capturerig_sim.colour_chart import capture_chart_images
from tests._raw_sessions import shoot_raw_session


def test_every_camera_delivers_its_dng_and_its_jpeg_to_each_take(studio_files: Path, tmp_path: Path) -> None:
    session_dir = shoot_raw_session(studio_files, tmp_path / "session")
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    journal = Journal(session_dir)
    takes = expand_plan(rig.config, plan.config)
    stored = list(journal.events("FileStored"))
    journal.close()
    per_take = Counter((e["take_id"], e["file_format"]) for e in stored)
    assert per_take == Counter({(t.id, f): 16 for t in takes for f in ("raw", "jpeg")})
    pairs = {(e["take_id"], e["camera_id"]): e for e in stored if e["file_format"] == "raw"}
    first = next(iter(pairs.values()))
    assert first["path"].endswith(".dng")
    assert first["card_name"].endswith(".DNG")
    developed = develop_linear(session_dir / first["path"], half_size=True)
    assert 0.0 < float(developed.rgb.mean()) < 1.0  # a real exposure, not black or clipped


def test_a_raw_session_packages_srgb_renditions_for_trainers_linear_ones_and_the_originals(
        studio_files: Path, tmp_path: Path) -> None:
    session = shoot_raw_session(studio_files, tmp_path / "session", cameras=2)  # cam00, cam01 RAW+JPEG; 14 JPEG
    package_session(session, tmp_path / "package")
    assert verify_package(tmp_path / "package") == []
    data = tmp_path / "package" / "data"
    snapshot = data / "snapshots" / "p00_l00"
    transforms = json.loads((snapshot / "transforms.json").read_text())
    names = sorted(Path(f["file_path"]).name for f in transforms["frames"])
    assert len(names) == 16 * 2  # one trainer image per camera and station, never the RAW's JPEG twice
    assert "cam00_p00_s00_l00.png" in names
    assert "cam02_p00_s00_l00.jpg" in names
    rendition = cv2.imread(str(snapshot / "images" / "cam00_p00_s00_l00.png"), cv2.IMREAD_UNCHANGED)
    assert rendition.dtype == np.uint8
    assert rendition.shape[2] == 3
    linear = tifffile.imread(snapshot / "linear" / "cam00_p00_s00_l00.tif")
    assert linear.dtype == np.uint16
    assert linear.shape == rendition.shape
    assert (snapshot / "raw" / "cam00_p00_s00_l00.dng").read_bytes()[:4] == b"II*\x00"
    assert (data / "originals" / "cam00_p00_s00_l00.jpg").is_file()  # the camera's own JPEG, kept aside
    package = json.loads((data / "package.json").read_text())
    entry = next(f for f in package["frames"] if f["name"] == "cam00_p00_s00_l00.png")
    assert entry["rendition"]["from"].endswith(".dng")
    assert "no colour calibration" in entry["rendition"]["colour"]
    assert entry["linear_path"].endswith("linear/cam00_p00_s00_l00.tif")


def _first_takes(studio: Path, stations: int, lights: int) -> int:
    """Cut the demo plan of ``studio`` to its first stations and lighting states; how many takes it then has."""
    path = studio / "plan.yaml"
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert len(plan["stations"]) >= stations, f"{path} changed: update this test"
    assert len(plan["lighting"]) >= lights, f"{path} changed: update this test"
    plan["stations"], plan["lighting"] = plan["stations"][:stations], plan["lighting"][:lights]
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return stations * lights * len(plan["poses"]) * len(plan["brackets"])


def test_raw_frames_are_corrected_by_a_raw_made_calibration_and_refused_by_an_image_made_one(
        studio_files: Path, tmp_path: Path) -> None:
    # Two takes, not the demo's eight: colour correction is per frame, and every camera's frames are corrected in
    # the package (the check is that RAW frames are, whatever their number).
    takes = _first_takes(studio_files, stations=1, lights=2)
    session = shoot_raw_session(studio_files, tmp_path / "session", cameras=2)
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    charts = tmp_path / "charts"
    raw_cameras = ["cam00", "cam01"]
    capture_chart_images(rig.config, charts, rig.path.parent, raw=True, camera_ids=raw_cameras)
    capture_chart_images(rig.config, charts, rig.path.parent,
                         camera_ids=[c.id for c in rig.config.cameras if c.id not in raw_cameras])
    run = calibrate_colour(charts)
    assert run.problems == []
    save_colour(run.calibration, tmp_path / "colour.json")
    package_session(session, tmp_path / "package", colour=tmp_path / "colour.json")
    assert verify_package(tmp_path / "package") == []
    frames = json.loads((tmp_path / "package" / "data" / "package.json").read_text())["frames"]
    renditions = [f for f in frames if "rendition" in f]
    assert len(renditions) == 2 * takes
    assert all(f["colour_corrected"] and f["rendition"]["linear_space"] == "linear-srgb" for f in renditions)

    # The same file as if cam00 and cam01 had been fitted on their JPEG-like images instead.
    document = json.loads((tmp_path / "colour.json").read_text())
    for camera_id in raw_cameras:
        document["cameras"][camera_id]["input"]["source"] = "image"
    (tmp_path / "colour-images.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"cam0[01]'s colour calibration was made from images; its RAW frames"):
        package_session(session, tmp_path / "package-2", colour=tmp_path / "colour-images.json")
    assert not (tmp_path / "package-2").exists()  # nothing half-written
