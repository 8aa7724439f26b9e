"""colour.json: what it holds, that it round-trips, and how correction uses it (and refuses bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from capturerig.calibration.colour import (
    SCHEMA,
    CameraColour,
    ColourCalibration,
    delta_e_2000,
    fit_camera_colour,
    lab_to_linear,
    linear_to_lab,
    load_colour,
    load_reference,
    save_colour,
    srgb_decode,
)


def _codes(gammas: tuple[float, float, float], gains: tuple[float, float, float]) -> np.ndarray:
    scene = lab_to_linear(load_reference().lab_d50, "linear-rec2020")
    return np.asarray(np.clip(scene * np.array(gains) * 0.85, 0, 1) ** (1 / np.array(gammas)), dtype=np.float64)


def _calibration(space: str = "linear-srgb") -> tuple[ColourCalibration, np.ndarray]:
    codes = _codes((2.3, 2.1, 2.2), (1.08, 1.0, 0.9))
    fit = fit_camera_colour(codes, load_reference(), np.ones(24, dtype=bool), space)
    camera = CameraColour("cam07", fit.chosen, space, fit.candidate.in_sample_de, fit.candidate.loo_de,
                          fit.candidates, (), ("a warning",), ("cam07/chart.png",))
    return ColourCalibration({"cam07": camera}, space, {"source": "test"}), codes


def _chart_image(codes: np.ndarray) -> np.ndarray:
    """A 4 x 6 image, one pixel per patch, 8-bit BGR."""
    return np.asarray(np.rint(codes[:, ::-1] * 255).reshape(4, 6, 3), dtype=np.uint8)


def test_correct_turns_a_cameras_chart_into_the_reference_in_srgb() -> None:
    calibration, codes = _calibration()
    corrected = calibration.correct("cam07", _chart_image(codes))
    assert corrected.dtype == np.uint8
    assert corrected.shape == (4, 6, 3)
    lab = linear_to_lab(srgb_decode(corrected.reshape(24, 3)[:, ::-1] / 255.0))
    in_gamut = np.ones(24, dtype=bool)
    in_gamut[17] = False  # cyan lies outside sRGB: an 8-bit sRGB output clips it
    assert delta_e_2000(lab, load_reference().lab_d50)[in_gamut].mean() < 0.6  # 8-bit in, 8-bit out
    sixteen = calibration.correct("cam07", _chart_image(codes), bits=16)
    assert sixteen.dtype == np.uint16
    assert np.abs(sixteen.astype(float) / 257 - corrected).max() <= 0.51


def test_the_file_round_trips_and_corrects_identically(tmp_path: Path) -> None:
    for space in ("linear-srgb", "linear-rec2020"):
        calibration, codes = _calibration(space)
        path = save_colour(calibration, tmp_path / space / "colour.json")
        data = json.loads(path.read_text())
        assert data["schema"] == SCHEMA == "capturerig.colour/1"
        entry = data["cameras"]["cam07"]
        assert entry["model"] in ("matrix", "root-polynomial-2")
        assert entry["working_space"] == space
        assert entry["dE00"]["leave_one_out"]["mean"] == pytest.approx(calibration.cameras["cam07"].loo_mean,
                                                                       abs=1e-4)
        assert len(entry["dE00"]["in_sample"]["patches"]) == 24
        assert {c["model"] for c in entry["candidates"]} == {"matrix", "root-polynomial-2"}
        loaded = load_colour(path)
        assert list(loaded.cameras) == ["cam07"]
        image = _chart_image(codes)
        assert np.abs(loaded.correct("cam07", image).astype(int) - calibration.correct("cam07", image)).max() <= 1


def test_unknown_cameras_and_bad_requests_are_refused_by_name() -> None:
    calibration, codes = _calibration()
    with pytest.raises(KeyError, match=r"camera 'cam99' has no colour calibration \(calibrated: cam07\)"):
        calibration.correct("cam99", _chart_image(codes))
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        calibration.correct("cam07", _chart_image(codes), bits=12)
    with pytest.raises(ValueError, match="expected an 8- or 16-bit BGR image"):
        calibration.correct("cam07", np.zeros((4, 6), dtype=np.uint8))


def test_a_damaged_file_names_file_camera_and_field(tmp_path: Path) -> None:
    calibration, _ = _calibration()
    path = save_colour(calibration, tmp_path / "colour.json")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema": "capturerig.colour/0"}))
    with pytest.raises(ValueError, match=r"colour.json: schema: expected 'capturerig.colour/1', found "):
        load_colour(path)
    broken = json.loads(json.dumps(data))
    del broken["cameras"]["cam07"]["gains"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"colour.json: cameras.cam07.gains: missing"):
        load_colour(path)
    broken = json.loads(json.dumps(data))
    broken["cameras"]["cam07"]["coefficients"] = [[1, 0, 0]]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"cameras.cam07.coefficients: .* needs \d+ x 3 numbers"):
        load_colour(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"colour.json:1: not valid JSON"):
        load_colour(path)
