"""Colour calibration from RAW chart shots: fitted on linear camera RGB (no tone curve), and said so.

The sim cameras shoot the same chart as DNG (their sensor's linear light, lens falloff stated in the file);
the fit needs no linearisation. Targets from RAW (issue 21): worst camera's leave-one-out mean dE00 <= 0.5,
cross-camera mean <= 0.3 and max <= 1.0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from capturerig.calibration.colour import (
    delta_e_2000,
    detect_chart,
    linear_to_lab,
    load_reference,
    sample_patches,
    srgb_decode,
    srgb_encode,
)
from capturerig.cli import app
from capturerig.config import LoadedRig
from capturerig_sim.colour_chart import capture_chart_images, render_chart_raw

runner = CliRunner()
CAMERAS = ("cam00", "cam05", "cam10", "cam15")  # a quarter of the ring: the fit is per camera
_AFTER = re.compile(r"after[^:]*: mean (\d+\.\d+), max (\d+\.\d+)")


@pytest.fixture(scope="module")
def raw_shots(tmp_path_factory: pytest.TempPathFactory, loaded: LoadedRig) -> Path:
    images = tmp_path_factory.mktemp("colour-raw") / "images"
    written = capture_chart_images(loaded.config, images, loaded.path.parent, raw=True, camera_ids=CAMERAS)
    assert all(path.suffix == ".dng" for path in written.values())
    return images


def test_raw_chart_shots_calibrate_every_camera_linearly_and_tightly(raw_shots: Path) -> None:
    out = raw_shots.parent / "colour.json"
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(raw_shots), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert sorted(data["cameras"]) == list(CAMERAS)
    for camera_id, entry in data["cameras"].items():
        assert entry["input"]["source"] == "raw", camera_id
        assert "LibRaw" in entry["input"]["how"]
        assert entry["linearisation"]["degree"] == 0  # no tone curve to undo
        assert entry["dE00"]["leave_one_out"]["mean"] <= 0.5, camera_id
    after = _AFTER.search(" ".join(result.output.split()))
    assert after is not None, result.output
    assert float(after.group(1)) <= 0.3
    assert float(after.group(2)) <= 1.0


def test_a_chart_clipped_in_raw_is_refused_naming_the_file_and_the_patches(
        loaded: LoadedRig, raw_shots: Path, tmp_path: Path) -> None:
    rig, base = loaded.config, loaded.path.parent
    images = tmp_path / "images"
    (images / "cam05").mkdir(parents=True)
    (images / "cam05" / "bright.dng").write_bytes(
        render_chart_raw(rig.camera("cam05"), rig, base, settings={"shutter": "1/1.6"}))  # 2 stops over
    out = tmp_path / "colour.json"
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(images), "--out", str(out)])
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "cam05: bright.dng is clipped in RAW on patch" in output, output
    assert "19 white" in output
    assert "shoot the chart darker" in output


def test_colour_apply_develops_raw_into_8_bit_srgb_and_16_bit_linear_tiff(
        raw_shots: Path, tmp_path: Path) -> None:
    calibration = tmp_path / "colour.json"
    assert runner.invoke(app, ["calibrate", "colour", "--images", str(raw_shots), "--out",
                               str(calibration)]).exit_code == 0
    srgb_dir, linear_dir = tmp_path / "srgb", tmp_path / "linear"
    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(raw_shots),
                                 "--out", str(srgb_dir)])
    assert result.exit_code == 0, result.output
    assert "4 corrected images (8-bit sRGB)" in " ".join(result.output.split())
    image = cv2.imread(str(srgb_dir / "cam05" / "chart.png"), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8
    reference = load_reference()
    location = detect_chart(image)
    assert location is not None
    corrected = linear_to_lab(srgb_decode(sample_patches(image, location).mean), "linear-srgb")
    assert float(np.mean(delta_e_2000(corrected, reference.lab_d50))) < 1.0  # 8-bit rounding and noise only

    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(raw_shots),
                                 "--out", str(linear_dir), "--linear"])
    assert result.exit_code == 0, result.output
    linear = tifffile.imread(linear_dir / "cam05" / "chart.tif")
    assert linear.dtype == np.uint16
    assert linear.shape == image.shape
    # The same correction without the sRGB curve: encoding the linear TIFF gives the 8-bit rendition.
    encoded = np.rint(srgb_encode(linear.astype(np.float64) / 65535.0) * 255.0)
    assert np.abs(encoded - image[..., ::-1]).max() <= 1


def test_a_raw_calibration_is_not_applied_to_jpegs(raw_shots: Path, tmp_path: Path) -> None:
    calibration = tmp_path / "colour.json"
    assert runner.invoke(app, ["calibrate", "colour", "--images", str(raw_shots), "--out",
                               str(calibration)]).exit_code == 0
    jpegs = tmp_path / "jpegs" / "cam00"
    jpegs.mkdir(parents=True)
    cv2.imwrite(str(jpegs / "take.jpg"), np.zeros((64, 64, 3), dtype=np.uint8))
    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(jpegs.parent),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "cam00's colour calibration was made from RAW files" in " ".join(result.output.split())
