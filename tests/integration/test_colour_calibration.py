"""Colour calibration of the simulated 16-camera studio, as a technician runs it from the command line.

Every sim camera has its own colour mix, white balance and per-channel tone curve; each shoots the
ColorChecker (evenly lit, 0.6 m in front of it). Acceptance: per-camera leave-one-out mean dE00 <= 1.2 with
the root-polynomial model; after correction, dE00 between cameras has mean <= 0.5 and max <= 1.5.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner, Result

from capturerig.calibration.colour import (
    delta_e_2000,
    detect_chart,
    linear_to_lab,
    load_reference,
    sample_patches,
    srgb_decode,
)
from capturerig.cli import app
from capturerig.config import LoadedRig
from capturerig_sim import camera_truth
from capturerig_sim.colour_chart import (
    capture_chart_images,
    chart_facing_camera,
    project_chart_points,
    render_chart,
)

runner = CliRunner()
_CONSISTENCY = re.compile(r"(before|after)[^:]*: mean (\d+\.\d+), max (\d+\.\d+)")


@pytest.fixture(scope="module")
def chart_shots(tmp_path_factory: pytest.TempPathFactory, loaded: LoadedRig) -> Path:
    images = tmp_path_factory.mktemp("colour") / "images"
    written = capture_chart_images(loaded.config, images, loaded.path.parent)
    assert len(written) == 16
    return images


@pytest.fixture(scope="module")
def calibrated(chart_shots: Path) -> tuple[Result, Path]:
    out = chart_shots.parent / "calibration" / "colour.json"
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(chart_shots), "--out", str(out)])
    return result, out


def test_sixteen_cameras_meet_the_accuracy_and_agree_with_each_other(calibrated: tuple[Result, Path]) -> None:
    result, out = calibrated
    assert result.exit_code == 0, result.output
    figures = {kind: (float(mean), float(worst)) for kind, mean, worst in _CONSISTENCY.findall(result.output)}
    assert figures["before"][0] > 1.5, "uncorrected cameras disagree visibly (there is something to correct)"
    assert figures["after"][0] <= 0.5, result.output
    assert figures["after"][1] <= 1.5, result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "capturerig.colour/1"
    assert sorted(data["cameras"]) == [f"cam{n:02d}" for n in range(16)]
    for camera_id, entry in data["cameras"].items():
        root_poly = [c["leave_one_out_mean"] for c in entry["candidates"] if c["model"] == "root-polynomial-2"]
        assert min(root_poly) <= 1.2, camera_id
        assert entry["dE00"]["leave_one_out"]["mean"] <= 1.2, camera_id
        assert entry["excluded_patches"] == []
        assert entry["warnings"] == []
    assert data["consistency"]["after"]["mean"] <= 0.5
    assert data["consistency"]["after"]["outliers"] == []
    report = out.parent / "colour-report"
    assert "Cross-camera consistency" in (report / "report.html").read_text()
    assert cv2.imread(str(report / "swatches.png")) is not None
    assert cv2.imread(str(report / "detections" / "cam07.png")) is not None


def test_colour_apply_makes_every_cameras_chart_look_like_the_reference(
        calibrated: tuple[Result, Path], chart_shots: Path, tmp_path: Path) -> None:
    _, calibration = calibrated
    shots = tmp_path / "shots"
    for camera_id in ("cam00", "cam03", "cam09"):
        shutil.copytree(chart_shots / camera_id, shots / camera_id)
    corrected = tmp_path / "corrected"
    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(shots),
                                 "--out", str(corrected)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 corrected images" in result.output
    in_gamut = np.ones(24, dtype=bool)
    in_gamut[17] = False  # cyan is outside sRGB: 8-bit sRGB output clips it
    reference = load_reference().lab_d50
    for camera_id in ("cam00", "cam09"):
        image = cv2.imread(str(corrected / camera_id / "chart.png"))
        location = detect_chart(image)
        assert location is not None
        lab = linear_to_lab(srgb_decode(sample_patches(image, location).mean))
        assert delta_e_2000(lab, reference)[in_gamut].mean() < 0.8, camera_id
    sixteen = tmp_path / "corrected16"
    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(shots),
                                 "--out", str(sixteen), "--16bit"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(sixteen / "cam03" / "chart.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    result = runner.invoke(app, ["colour", "apply", "--calib", str(calibration), "--in", str(shots),
                                 "--out", str(shots)])
    assert result.exit_code == 2
    assert "would replace the originals" in result.output


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_bad_shots_are_named_and_the_other_cameras_still_calibrated(
        loaded: LoadedRig, chart_shots: Path, tmp_path: Path) -> None:
    rig, base = loaded.config, loaded.path.parent
    images = tmp_path / "images"
    shutil.copytree(chart_shots / "cam00", images / "cam00")
    _write(images / "cam01" / "chart.png", render_chart(rig.cameras[1], rig, base, chart=False))
    _write(images / "cam02" / "chart.png", render_chart(rig.cameras[2], rig, base, settings={"shutter": "1/1.6"}))
    _write(images / "cam03" / "chart.png", render_chart(rig.cameras[3], rig, base, settings={"shutter": "1/30"}))
    far = {"distance_m": 3.0, "yaw_deg": 0.0}
    _write(images / "cam04" / "chart.png", render_chart(rig.cameras[4], rig, base, **far))
    out = tmp_path / "calibration" / "colour.json"

    result = runner.invoke(app, ["calibrate", "colour", "--images", str(images), "--out", str(out)])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "cam01: no chart found in chart.png" in output
    assert (out.parent / "colour-debug" / "cam01_chart_no_chart.png").is_file()
    assert "cam04: no chart found in chart.png" in output, "too small for the detector"
    assert "2 camera(s) not calibrated: cam01, cam04" in output
    data = json.loads(out.read_text())
    assert sorted(data["cameras"]) == ["cam00", "cam02", "cam03"]
    assert data["cameras"]["cam02"]["excluded_patches"] == [
        {"patch": 19, "name": "white", "reason": "clipped (100 % of its pixels at full scale)"}]
    assert data["cameras"]["cam02"]["dE00"]["leave_one_out"]["patches"][18] is None
    assert any("under-exposed chart" in w for w in data["cameras"]["cam03"]["warnings"])

    # The operator clicks cam04's chart corners (here: the sim's truth) into a corner file.
    truth = camera_truth(rig.cameras[4], rig)
    corners = project_chart_points(truth, chart_facing_camera(truth, **far),
                                   [[0, 0], [16.75, 0], [16.75, 11.25], [0, 11.25]])
    corner_file = tmp_path / "corners.yaml"
    corner_file.write_text(yaml.safe_dump({"charts": {"cam04": corners.round(1).tolist()}}))
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(images), "--out", str(out),
                                 "--corners", str(corner_file), "--model", "root-polynomial"])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    assert "cam04" in data["cameras"]
    assert data["cameras"]["cam04"]["model"] == "root-polynomial-2"
    assert data["cameras"]["cam04"]["dE00"]["leave_one_out"]["mean"] <= 1.5


def test_missing_folder_and_bad_corner_file_exit_2(tmp_path: Path, chart_shots: Path) -> None:
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(tmp_path / "nope"), "--out",
                                 str(tmp_path / "c.json")])
    assert result.exit_code == 2
    assert "no such folder" in result.output
    corner_file = tmp_path / "corners.yaml"
    corner_file.write_text("charts:\n  cam00: [[1, 2]]\n")
    result = runner.invoke(app, ["calibrate", "colour", "--images", str(chart_shots), "--out",
                                 str(tmp_path / "c.json"), "--corners", str(corner_file)])
    assert result.exit_code == 2
    assert "corners.yaml:2 charts.cam00: chart corners must be four [x, y] pixel pairs" in result.output
