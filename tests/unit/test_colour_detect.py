"""Finding the ColorChecker in sim camera images: where cv2.mcc puts it, which way up, and what it samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capturerig.calibration.colour import (
    NEUTRAL_PATCHES,
    detect_chart,
    draw_detection,
    load_chart_corners,
    location_from_corners,
    patch_centres_units,
    sample_patches,
)
from capturerig.config import ConfigError, LoadedRig
from capturerig_sim import camera_truth
from capturerig_sim.colour_chart import CHART_SETTINGS, chart_facing_camera, project_chart_points, render_chart


def _truth_centres(loaded: LoadedRig, camera_index: int, **pose: float) -> np.ndarray:
    camera = loaded.config.cameras[camera_index]
    truth = camera_truth(camera, loaded.config)
    return project_chart_points(truth, chart_facing_camera(truth, **pose), patch_centres_units())


@pytest.mark.parametrize("roll_deg", [0.0, 180.0, 25.0])
def test_the_chart_is_found_the_right_way_up_where_the_camera_sees_it(loaded: LoadedRig, roll_deg: float) -> None:
    image = render_chart(loaded.config.cameras[5], loaded.config, loaded.path.parent, roll_deg=roll_deg)
    location = detect_chart(image)
    assert location is not None
    assert location.method == "mcc"
    found = location.patch_quads().mean(axis=1)
    truth = _truth_centres(loaded, 5, roll_deg=roll_deg)
    # Patch 1 (dark skin) is where the truth says, whichever way up the chart is held.
    assert np.linalg.norm(found - truth, axis=1).max() < 6.0, "patch centres within 6 px (patches are ~45 px)"
    samples = sample_patches(image, location)
    grey = samples.mean[list(NEUTRAL_PATCHES)].mean(axis=1)
    assert np.all(np.diff(grey) < 0), "the bottom row runs from white to black"
    assert samples.clipped.max() == 0.0
    assert samples.std.max() < 2.5 / 255, "a flat-lit patch only carries sensor noise"


def test_an_empty_stage_has_no_chart_and_the_attempt_can_be_drawn(loaded: LoadedRig) -> None:
    image = render_chart(loaded.config.cameras[0], loaded.config, loaded.path.parent, chart=False)
    assert detect_chart(image) is None
    drawn = draw_detection(image, None, "cam00: no chart found in chart.png")
    assert drawn.shape == image.shape
    assert drawn.dtype == np.uint8
    assert np.any(drawn != image), "the message (and any square candidates) are drawn on a copy"


def test_given_corners_sample_a_chart_too_small_for_the_detector(loaded: LoadedRig) -> None:
    camera = loaded.config.cameras[3]
    image = render_chart(camera, loaded.config, loaded.path.parent, distance_m=3.0, yaw_deg=0.0)
    assert detect_chart(image) is None, "patches of ~10 px are below cv2.mcc's minimum contour area"
    truth = camera_truth(camera, loaded.config)
    prop = chart_facing_camera(truth, distance_m=3.0, yaw_deg=0.0)
    corners = project_chart_points(truth, prop, [[0, 0], [16.75, 0], [16.75, 11.25], [0, 11.25]])
    samples = sample_patches(image, location_from_corners(corners))
    grey = samples.mean[list(NEUTRAL_PATCHES)].mean(axis=1)
    assert np.all(np.diff(grey) < 0)


def test_over_exposure_shows_as_clipped_patches(loaded: LoadedRig) -> None:
    camera = loaded.config.cameras[2]
    image = render_chart(camera, loaded.config, loaded.path.parent, settings={**CHART_SETTINGS, "shutter": "1"})
    location = detect_chart(image)
    assert location is not None
    samples = sample_patches(image, location)
    assert samples.clipped[18] > 0.5, "the white patch is clipped at 1 s"
    assert samples.clipped[23] == 0.0, "the black one is not"


def test_bad_corners_are_refused_with_the_expected_order() -> None:
    with pytest.raises(ValueError, match=r"four \[x, y\] pixel pairs"):
        location_from_corners([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="dark skin, bluish green, black, white corner"):
        location_from_corners([[0, 0], [100, 100], [100, 0], [0, 100]])


def test_a_corner_file_with_a_bad_entry_names_file_line_and_camera(tmp_path: Path) -> None:
    path = tmp_path / "corners.yaml"
    path.write_text("charts:\n  cam01: [[10, 10], [300, 12], [298, 200], [12, 198]]\n  cam02: [[1, 2], [3, 4]]\n")
    with pytest.raises(ConfigError, match=r"corners.yaml:3 charts.cam02: chart corners must be four"):
        load_chart_corners(path)
    path.write_text("charts:\n  cam01: [[10, 10], [300, 12], [298, 200], [12, 198]]\n")
    assert load_chart_corners(path)["cam01"].shape == (4, 2)
