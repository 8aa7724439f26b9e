"""Masks in the package writer and the plate pairing of the package path, on small synthetic captures.

The trainers' rules are checked on a real simulated session in tests/integration/test_package_masks.py; here:
a mask file that breaks nerfstudio's rules is refused naming it (and no bag is left), a clean plate is packaged
as an original and never as a training image, plates pair by camera, lighting state, station and bracket (another
station only where the empty rig looks the same), and a mask task writes only into folders that exist.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.config import PLATE_POSE_ID, RigConfig, default_rig_path, load_rig
from capturerig.engine._package import _pair_plates, package_frames
from capturerig.masks import ExposureJob, MaskError, mask_exposure
from capturerig.packaging import PackageFrame, PackageIntegrityError, write_package
from tests.unit._package_frames import METADATA, make_frames


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


def _plate_of(frame: PackageFrame, folder: Path, station: str | None = None) -> PackageFrame:
    """A plate frame for ``frame``'s camera, light and bracket (at ``station``), its file a copy of the image."""
    station = station or frame.station_id
    name = f"{frame.camera_id}_{PLATE_POSE_ID}_{station}_{frame.light_id}.jpg"
    path = folder / name
    path.write_bytes(Path(frame.source).read_bytes())
    return replace(frame, source=path, name=name, pose_id=PLATE_POSE_ID, station_id=station, role="plate",
                   take_id=f"{PLATE_POSE_ID}/{station}/{frame.light_id}/{frame.bracket_id}", snapshot="")


def _mask_file(path: Path, pixels: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), pixels)
    return path


@pytest.mark.parametrize(("kind", "expected"), [
    ("colour", "want a single-channel 8-bit PNG"),
    ("size", "240x320 but camera cam00 is 480x640"),
    ("grey", "holds values other than 0 and 255"),
])
def test_a_mask_breaking_nerfstudios_rules_is_refused_naming_it_and_no_bag_is_left(
    rig: RigConfig, tmp_path: Path, kind: str, expected: str,
) -> None:
    frames = make_frames(rig, tmp_path / "session", ("cam00",), (("s00", 0.0),))
    pixels = {"colour": np.zeros((640, 480, 3), np.uint8), "size": np.zeros((320, 240), np.uint8),
              "grey": np.full((640, 480), 128, np.uint8)}[kind]
    mask = _mask_file(tmp_path / "mask.png", pixels)
    with pytest.raises(ValueError, match=expected) as caught:
        write_package(rig, [replace(frames[0], mask=mask)], tmp_path / "out" / "package", METADATA)
    assert str(mask) in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_plate_is_kept_as_an_original_and_never_becomes_a_training_image(rig: RigConfig, tmp_path: Path) -> None:
    frames = make_frames(rig, tmp_path / "session", ("cam00", "cam01"), (("s00", 0.0),))
    plate = _plate_of(frames[0], tmp_path / "session")
    plate = replace(plate, sha256=hashlib.sha256(Path(plate.source).read_bytes()).hexdigest())
    summary = write_package(rig, [*frames, plate], tmp_path / "package", METADATA)
    data = summary.data_dir
    document = json.loads((data / "package.json").read_text())
    assert summary.num_images == 2
    assert len(summary.snapshots) == 1
    assert [f["name"] for f in document["frames"]] == [f.name for f in frames]
    assert [p["file_path"] for p in document["plates"]] == [f"plates/cam00/{plate.name}"]
    assert (data / "plates" / "cam00" / plate.name).read_bytes() == Path(plate.source).read_bytes()
    assert not list(data.glob(f"snapshots/*/*/{plate.name}"))
    transforms = json.loads((summary.snapshots[0] / "transforms.json").read_text())
    assert all(PLATE_POSE_ID not in frame["file_path"] for frame in transforms["frames"])
    assert document["masks"] == {"present": False}
    with pytest.raises(ValueError, match="the 1 frames given are all clean plates"):
        write_package(rig, [plate], tmp_path / "plates-only", METADATA)
    # A plate that changed after it was verified is refused like any captured file, and no bag is left.
    with pytest.raises(PackageIntegrityError, match=f"frame '{plate.name}'"):
        write_package(rig, [*frames, replace(plate, sha256="0" * 64)], tmp_path / "out" / "changed", METADATA)
    assert list((tmp_path / "out").iterdir()) == []


def test_plates_pair_by_camera_light_station_and_bracket_and_only_where_the_empty_rig_looks_the_same(
    rig: RigConfig, tmp_path: Path,
) -> None:
    # Rig positions without a turntable (angle None): the empty rig is the same at r00 and r01.
    frames = make_frames(rig, tmp_path / "session", ("cam00", "cam01"), (("r00", None), ("r01", None)))
    plates = [_plate_of(frame, tmp_path / "session") for frame in frames if frame.station_id == "r00"]
    pairs, fallbacks = _pair_plates(frames, plates)
    assert {name: plate.name for name, plate in pairs.items()} == {
        "cam00_p00_r00_l00.jpg": "cam00_plate_r00_l00.jpg", "cam01_p00_r00_l00.jpg": "cam01_plate_r00_l00.jpg",
        "cam00_p00_r01_l00.jpg": "cam00_plate_r00_l00.jpg", "cam01_p00_r01_l00.jpg": "cam01_plate_r00_l00.jpg"}
    assert fallbacks == ["cam00_p00_r01_l00.jpg: plate cam00_plate_r00_l00.jpg (station r00, the same turntable "
                         "angle)", "cam01_p00_r01_l00.jpg: plate cam01_plate_r00_l00.jpg (station r00, the same "
                         "turntable angle)"]
    # Turntable stations at other angles do not share plates; nor do brackets.
    turned = make_frames(rig, tmp_path / "turned", ("cam00",), (("s00", 0.0), ("s01", 90.0)))
    with pytest.raises(MaskError, match=r"cam00_p00_s01_l00.jpg: no clean plate of camera cam00 for lighting "
                                        r"state l00 at station s01, bracket b0 \(.jpg files\); its plates cover "
                                        r"l00@s00/b0.jpg"):
        _pair_plates(turned, [_plate_of(turned[0], tmp_path / "turned")])
    with pytest.raises(MaskError, match="bracket b1"):
        _pair_plates([replace(turned[0], bracket_id="b1")], [_plate_of(turned[0], tmp_path / "turned")])


def test_masks_on_without_plates_and_an_unknown_choice_are_refused_before_anything_is_written(
    rig: RigConfig, tmp_path: Path,
) -> None:
    frames = make_frames(rig, tmp_path / "session", ("cam00",), (("s00", 0.0),))
    with pytest.raises(MaskError, match="--masks on: session S-package-0001 has no clean plates"):
        package_frames(rig, frames, tmp_path / "package", METADATA, masks="on")
    with pytest.raises(MaskError, match="--masks must be one of auto, on, off, got 'yes'"):
        package_frames(rig, frames, tmp_path / "package", METADATA, masks="yes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session"]


def test_a_mask_task_writes_into_existing_folders_only(rig: RigConfig, tmp_path: Path) -> None:
    """A task still running after its package was given up must not bring the removed mask folder back."""
    frames = make_frames(rig, tmp_path / "session", ("cam00",), (("s00", 0.0),))
    plate = _plate_of(frames[0], tmp_path / "session")
    gone = tmp_path / "gone" / "cam00" / "cam00_p00_s00_l00.png"
    job = ExposureJob("p00/s00/l00/b0", (("cam00", str(frames[0].source), str(plate.source), str(gone)),))
    with pytest.raises(FileNotFoundError):
        mask_exposure(job)
    assert not (tmp_path / "gone").exists()
    gone.parent.mkdir(parents=True)
    written = mask_exposure(job)
    assert written.written == (str(gone),)
    assert not written.hull
    assert written.note is None
    mask = cv2.imread(str(gone), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (640, 480)
    assert not mask.any()
    assert [p.name for p in gone.parent.iterdir()] == [gone.name]  # no temporary left
