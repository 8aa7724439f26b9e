"""Colorimetry of the chart reference, and the per-camera fit on synthetic cameras whose truth is known."""

from __future__ import annotations

from pathlib import Path

import colour
import numpy as np
import pytest

from capturerig.calibration.colour import (
    NEUTRAL_PATCHES,
    fit_camera_colour,
    lab_to_linear,
    linear_to_lab,
    load_reference,
    model_terms,
    working_space_matrix,
)
from capturerig.calibration.colour._reference import D50_ICC


def test_the_packaged_reference_is_the_post_2014_colorchecker() -> None:
    chart = load_reference()
    assert len(chart.names) == 24
    assert chart.names[0] == "dark skin"
    assert chart.names[23] == "black"
    assert chart.lab_d50[0].tolist() == [37.54, 14.37, 14.92]
    assert chart.lab_d50[18].tolist() == [95.19, -1.03, 2.93]


def test_d50_reference_reaches_linear_srgb_by_bradford_as_colour_science_does() -> None:
    chart = load_reference()
    white_d50 = colour.XYZ_to_xy(D50_ICC)
    xyz_d50 = colour.Lab_to_XYZ(chart.lab_d50, white_d50)
    d65 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    xyz_d65 = colour.chromatic_adaptation(xyz_d50, D50_ICC, d65, method="Von Kries", transform="Bradford")
    expected = colour.XYZ_to_RGB(xyz_d65, "sRGB", illuminant=None, chromatic_adaptation_transform=None)
    ours = lab_to_linear(chart.lab_d50, "linear-srgb")
    assert np.abs(ours - expected).max() < 2e-4
    assert ours[17, 0] < 0.0, "the chart's cyan lies outside sRGB (negative red)"
    assert np.all(lab_to_linear(chart.lab_d50, "linear-rec2020") > 0.0), "but inside Rec. 2020"


def test_lab_and_linear_round_trip_in_both_working_spaces() -> None:
    chart = load_reference()
    for space in ("linear-srgb", "linear-rec2020"):
        assert np.abs(linear_to_lab(lab_to_linear(chart.lab_d50, space), space) - chart.lab_d50).max() < 1e-9
    to_2020 = working_space_matrix("linear-srgb", "linear-rec2020")
    assert np.allclose(to_2020 @ np.ones(3), np.ones(3)), "white stays white between D65 spaces"


def test_a_broken_reference_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "chart.csv"
    path.write_text("# comment\nindex,name,L,a,b\n1,dark skin,37.54,14.37,oops\n")
    with pytest.raises(ValueError, match=r"chart.csv:3: expected 'index,name,L,a,b' with numbers"):
        load_reference(path)
    path.write_text("index,name,L,a,b\n1,dark skin,37.54,14.37,14.92\n")
    with pytest.raises(ValueError, match="expected 24 patches, found 1"):
        load_reference(path)


def _camera(gammas: tuple[float, float, float], gains: tuple[float, float, float], mix_seed: int,
            noise: float = 0.0) -> np.ndarray:
    """What a synthetic camera records of the chart: codes 0..1, per-channel gamma, own mix and gains."""
    rng = np.random.default_rng(mix_seed)
    mix = np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3)) * (1 - np.eye(3))
    mix /= mix.sum(axis=1, keepdims=True)
    scene = lab_to_linear(load_reference().lab_d50, "linear-rec2020")
    camera = np.clip(scene @ mix.T * np.array(gains) * 0.8, 0.0, 1.0)
    codes = camera ** (1.0 / np.array(gammas))
    return np.asarray(codes + rng.normal(0.0, noise, codes.shape), dtype=np.float64)


def test_a_camera_with_its_own_gammas_and_white_balance_is_corrected_to_well_under_one_de00() -> None:
    codes = _camera((2.3, 2.1, 2.25), (1.1, 1.0, 0.85), mix_seed=1, noise=0.001)
    fit = fit_camera_colour(codes, load_reference(), np.ones(24, dtype=bool))
    assert fit.candidate.loo_mean < 0.3
    assert {(c.model, c.degree) for c in fit.candidates} == {
        ("matrix", 1), ("matrix", 2), ("root-polynomial-2", 1), ("root-polynomial-2", 2)}
    assert fit.candidate.loo_mean == min(c.loo_mean for c in fit.candidates), "chosen by leave-one-out error"
    # The per-channel gamma is recovered; white balance undoes the camera's gains.
    if fit.chosen.linearisation.degree == 1:
        assert np.allclose(fit.chosen.linearisation.coefficients[:, 0], (2.3, 2.1, 2.25), atol=0.05)
    assert fit.chosen.white_balance[0] < 1.0 < fit.chosen.white_balance[2]


def test_excluded_patches_take_no_part_and_too_few_patches_are_refused() -> None:
    codes = _camera((2.2, 2.2, 2.2), (1.0, 1.0, 1.0), mix_seed=2, noise=0.001)
    use = np.ones(24, dtype=bool)
    use[[6, 15]] = False
    codes_bad = codes.copy()
    codes_bad[[6, 15]] = 0.0  # garbage where the patches are excluded
    fit = fit_camera_colour(codes_bad, load_reference(), use)
    assert np.isnan(fit.candidate.loo_de[[6, 15]]).all()
    assert fit.candidate.loo_mean < 0.3
    use[:14] = False
    with pytest.raises(ValueError, match=r"only 9 usable patches \(6 neutral\); a fit needs at least 12"):
        fit_camera_colour(codes, load_reference(), use)


def test_raw_input_needs_gains_only() -> None:
    scene = lab_to_linear(load_reference().lab_d50, "linear-srgb")
    codes = np.clip(scene * np.array([0.5, 0.6, 0.4]), 0, 1)
    codes[17, 0] = 0.0  # a linear camera cannot record negative light
    fit = fit_camera_colour(codes, load_reference(), np.ones(24, dtype=bool), degrees=(0,))
    assert fit.chosen.linearisation.degree == 0
    assert np.allclose(fit.chosen.gains, (2.0, 1 / 0.6, 2.5), rtol=0.02)


def test_root_polynomial_terms_scale_with_exposure_like_the_matrix() -> None:
    rgb = np.random.default_rng(0).uniform(0.01, 1.0, (50, 3))
    for model in ("matrix", "root-polynomial-2"):
        assert np.allclose(model_terms(2.5 * rgb, model), 2.5 * model_terms(rgb, model))


def test_the_neutral_patches_are_the_bottom_row() -> None:
    chart = load_reference()
    assert [chart.names[i] for i in NEUTRAL_PATCHES] == [
        "white", "neutral 8", "neutral 6.5", "neutral 5", "neutral 3.5", "black"]
