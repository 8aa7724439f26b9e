"""What a photo tool and a trainer read about each image: XMP sidecars (exiftool) and colour correction.

Sidecars carry the camera serial, rig position, take, lighting state, exposure, times and the IPTC digital
source type, plus whatever the consent provenance adds; colour correction changes the training pixels while
the captured originals are kept, referenced or dropped as the user chose.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pycolmap
import pytest

from capturerig.config import RigConfig, default_rig_path, load_rig
from capturerig.packaging import ColourCorrection, PackageFrame, check_package, write_package
from tests.unit._package_frames import METADATA, make_frames

CAMERAS = ("cam00", "cam05")
CONSENT_XMP = {"plus:ModelReleaseStatus": "http://ns.useplus.org/ldf/vocab/MR-LMR",
               "plus:ModelReleaseID": "C-0001", "Iptc4xmpExt:DigitalSourceType":
               "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


def _exiftool(path: Path) -> dict[str, Any]:
    result = subprocess.run(["exiftool", "-j", "-G1", str(path)], capture_output=True, text=True, timeout=30,
                            check=True)
    document: dict[str, Any] = json.loads(result.stdout)[0]
    return document


def test_exiftool_reads_serial_position_take_lighting_exposure_times_and_consent(
    rig: RigConfig, tmp_path: Path,
) -> None:
    frames = make_frames(rig, tmp_path / "session", CAMERAS, lights=("olat-fx3",))
    root = write_package(rig, frames, tmp_path / "package", METADATA, xmp_fields=CONSENT_XMP).snapshots[0]
    frame = frames[3]  # cam05 at station s01 (90 degrees)
    tags = _exiftool(root / "xmp" / f"{frame.name}.xmp")
    assert tags["XMP-iptcExt:DigitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assert tags["XMP-exifEX:SerialNumber"] == rig.camera("cam05").serial
    assert tags["XMP-capturerig:RigPosition"] == " ".join(f"{c:g}" for c in rig.camera("cam05").pose.position)
    assert tags["XMP-capturerig:Take"] == "p00/s01/olat-fx3/b0"
    assert tags["XMP-capturerig:StationAngle"] == 90
    assert tags["XMP-capturerig:LightingState"] == "olat-fx3"
    assert tags["XMP-capturerig:OlatIndex"] == 3
    assert tags["XMP-capturerig:Polarisation"] == "cross"
    assert json.loads(tags["XMP-capturerig:LightingLevels"]) == {"fx3": {"intensity": 1.0, "white": 1.0}}
    assert (tags["XMP-exif:ExposureTime"], tags["XMP-exif:FNumber"], tags["XMP-exif:ISO"]) == ("1/125", 8.0, 100)
    assert tags["XMP-exif:DateTimeOriginal"] == "2025:11:24 16:00:03.250+00:00"  # exposed_at of frame 3
    assert tags["XMP-capturerig:StoredAt"] == "2025:11:24 16:00:04.500+00:00"
    assert tags["XMP-capturerig:OriginalSha256"] == frame.sha256
    assert tags["XMP-plus:ModelReleaseStatus"] == "Limited or Incomplete Model Releases"  # exiftool's words
    assert tags["XMP-plus:ModelReleaseID"] == "C-0001"
    # Sidecars stay out of images/: gsplat pairs that folder's sorted file list with the model's names.
    assert all(path.suffix == ".jpg" for path in (root / "images").iterdir())


def _gains(camera_id: str) -> np.ndarray:
    return np.array([0.5, 1.0, 1.5]) if camera_id == "cam00" else np.array([1.0, 0.75, 1.0])


def _correct(camera_id: str, image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(float) * _gains(camera_id), 0, 255).astype(np.uint8)


COLOUR = ColourCorrection(correct=_correct, document=b'{"schema": "capturerig.colour/1"}\n')


@pytest.mark.parametrize("originals", ["keep", "reference", "drop"])
def test_colour_correction_changes_the_training_pixels_and_originals_go_where_asked(
    rig: RigConfig, tmp_path: Path, originals: str,
) -> None:
    frames = make_frames(rig, tmp_path / "session", CAMERAS)
    summary = write_package(rig, frames, tmp_path / "package", METADATA, colour=COLOUR, originals=originals)
    assert summary.colour_applied
    data, snapshot = summary.data_dir, summary.snapshots[0]
    assert (data / "calibration" / "colour.json").read_bytes() == COLOUR.document
    document = json.loads((data / "package.json").read_text())
    assert document["colour"] == {"applied": True, "file": "calibration/colour.json", "originals": originals}
    entries = {entry["name"]: entry for entry in document["frames"]}
    for frame in frames:
        captured = cv2.imread(str(frame.source)).astype(float)
        packaged = cv2.imread(str(snapshot / "images" / frame.name)).astype(float)
        expected = np.clip(captured * _gains(frame.camera_id), 0, 255)
        assert np.abs(packaged - expected).mean() < 2.0, frame.name
        undistorted = cv2.imread(str(snapshot / "undistorted" / "images" / frame.name)).astype(float)
        centre = undistorted[undistorted.shape[0] // 2 - 4:undistorted.shape[0] // 2 + 4,
                             undistorted.shape[1] // 2 - 4:undistorted.shape[1] // 2 + 4].mean(axis=(0, 1))
        assert np.abs(centre - expected[expected.shape[0] // 2, expected.shape[1] // 2]).max() < 12, frame.name
        entry = entries[frame.name]
        assert entry["sha256"] == frame.sha256
        assert entry["colour_corrected"] is True
        original = data / "originals" / frame.name
        if originals == "keep":
            assert entry["original_path"] == f"originals/{frame.name}"
            assert os.path.samefile(original, frame.source)
        else:
            assert not original.exists()
            assert "original_path" not in entry
        if originals == "reference":
            assert entry["original_reference"] == {"path": str(frame.source.resolve()), "sha256": frame.sha256}
        else:
            assert "original_reference" not in entry
    report = check_package(summary.out_dir)
    assert report.ok, report.problems
    tags = _exiftool(snapshot / "xmp" / f"{frames[0].name}.xmp")
    assert tags["XMP-capturerig:ColourCorrected"] is True


def test_colour_correction_of_an_image_it_cannot_correct_names_the_frame(rig: RigConfig, tmp_path: Path) -> None:
    frames: list[PackageFrame] = make_frames(rig, tmp_path / "session", ("cam00",), (("s00", 0.0),))
    grey = frames[0].source.with_suffix(".png")
    cv2.imwrite(str(grey), np.zeros((640, 480), np.uint16))
    bad = replace(frames[0], source=grey, name=grey.name, sha256=hashlib.sha256(grey.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=r"frame 'cam00_p00_s00_l00\.png' .*needs an 8-bit colour image"):
        write_package(rig, [bad], tmp_path / "package", METADATA, colour=COLOUR)
    assert not (tmp_path / "package").exists()


def test_an_image_whose_size_is_not_its_cameras_is_refused_naming_both(rig: RigConfig, tmp_path: Path) -> None:
    frames = make_frames(rig, tmp_path / "session", ("cam05",), (("s00", 0.0),), scale=2)
    with pytest.raises(ValueError, match=r"frame 'cam05_p00_s00_l00\.jpg' .*is 240x320 but camera cam05 is 480x640"):
        write_package(rig, frames, tmp_path / "package", METADATA)
    assert not (tmp_path / "package").exists()


def test_masks_travel_with_their_images_and_raw_files_stay_out_of_the_models(rig: RigConfig,
                                                                             tmp_path: Path) -> None:
    frames = make_frames(rig, tmp_path / "session", CAMERAS, (("s00", 0.0),))
    masked = []
    for frame in frames:
        mask = tmp_path / "session" / f"{frame.name}.mask.png"
        cv2.imwrite(str(mask), np.full((640, 480), 255, np.uint8))
        masked.append(replace(frame, mask=mask))
    raw = tmp_path / "session" / "cam00_p00_s00_l00.nef"
    raw.write_bytes(b"NIKON RAW stand-in " * 100)
    masked.append(replace(frames[0], source=raw, name=raw.name, sha256=hashlib.sha256(raw.read_bytes()).hexdigest()))
    root = write_package(rig, masked, tmp_path / "package", METADATA).snapshots[0]
    transforms = json.loads((root / "transforms.json").read_text())
    assert [f["mask_path"] for f in transforms["frames"]] == [f"masks/{f.name[:-4]}.png" for f in frames]
    for entry in transforms["frames"]:
        assert cv2.imread(str(root / entry["mask_path"]), cv2.IMREAD_GRAYSCALE).min() == 255
    assert (root / "raw" / raw.name).read_bytes() == raw.read_bytes()
    assert all(path.suffix == ".jpg" for path in (root / "images").iterdir())
    assert len(transforms["frames"]) == len(frames)
    assert pycolmap.Reconstruction(str(root / "colmap" / "sparse" / "0")).num_images() == len(frames)
    assert check_package(root.parents[2]).ok
    with pytest.raises(ValueError, match="snapshot p00_l00: some frames have a mask and some do not"):
        write_package(rig, [*masked[:1], *frames[1:]], tmp_path / "mixed", METADATA)
