"""Cross-camera consistency and applying a calibration to a folder of images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.calibration.colour import (
    CameraColour,
    ColourCalibration,
    apply_to_folder,
    cross_camera_consistency,
    fit_camera_colour,
    lab_to_linear,
    load_reference,
)


def test_pairwise_differences_and_an_outlier_camera_are_reported() -> None:
    reference = load_reference().lab_d50
    rng = np.random.default_rng(5)
    labs = {f"cam{n:02d}": reference + rng.normal(0, 0.1, reference.shape) for n in range(6)}
    labs["cam03"] = labs["cam03"] + np.array([0.0, 3.0, 0.0])  # a camera with a magenta cast
    result = cross_camera_consistency(labs)
    assert result.outliers == ("cam03",)
    worst = result.worst()
    assert worst is not None
    assert "cam03" in worst[:2]
    assert result.pairwise.shape == (6, 6, 24)
    assert result.max == pytest.approx(worst[3])
    assert 0.1 < result.mean < result.max
    summary = result.summary()
    assert summary["outliers"] == ["cam03"]
    assert set(summary["to_consensus"]) == set(labs)


def test_patches_a_camera_could_not_use_are_left_out_of_the_comparison() -> None:
    reference = load_reference().lab_d50
    first, second = reference.copy(), reference.copy()
    second[18] = np.nan  # clipped white on one camera
    result = cross_camera_consistency({"a": first, "b": second})
    assert result.mean == 0.0
    assert result.max == 0.0
    assert result.outliers == ()


def _calibration() -> tuple[ColourCalibration, np.ndarray]:
    scene = lab_to_linear(load_reference().lab_d50, "linear-rec2020")
    codes = np.clip(scene * 0.85, 0, 1) ** (1 / 2.2)
    fit = fit_camera_colour(codes, load_reference(), np.ones(24, dtype=bool))
    camera = CameraColour("cam00", fit.chosen, "linear-srgb", fit.candidate.in_sample_de, fit.candidate.loo_de)
    return ColourCalibration({"cam00": camera}), codes


def test_apply_writes_each_cameras_images_and_names_what_it_skips(tmp_path: Path) -> None:
    calibration, codes = _calibration()
    image = np.rint(np.repeat(np.repeat(codes[:, ::-1].reshape(4, 6, 3), 8, 0), 8, 1) * 255).astype(np.uint8)
    (tmp_path / "in" / "cam00").mkdir(parents=True)
    (tmp_path / "in" / "cam05").mkdir(parents=True)
    assert cv2.imwrite(str(tmp_path / "in" / "cam00" / "a.jpg"), image)
    assert cv2.imwrite(str(tmp_path / "in" / "cam00" / "b.png"), image)
    (tmp_path / "in" / "cam00" / "c.png").write_bytes(b"not an image")
    assert cv2.imwrite(str(tmp_path / "in" / "cam05" / "a.png"), image)
    result = apply_to_folder(calibration, tmp_path / "in", tmp_path / "out")
    assert sorted(p.name for p in result.written) == ["a.jpg", "b.png"]
    assert any("cam05: no colour calibration for this camera" in p for p in result.problems)
    assert any(p.endswith("c.png: not an 8/16-bit colour image; skipped") for p in result.problems)
    written = cv2.imread(str(tmp_path / "out" / "cam00" / "b.png"))
    assert np.array_equal(written, calibration.correct("cam00", image))
    sixteen = apply_to_folder(calibration, tmp_path / "in", tmp_path / "out16", bits=16)
    assert sorted(p.name for p in sixteen.written) == ["a.png", "b.png"], "16-bit output is always PNG"
    assert (tmp_path / "in" / "cam00" / "c.png").read_bytes() == b"not an image", "inputs are never touched"
