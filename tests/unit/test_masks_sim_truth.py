"""The simulator's stage as masks meet it: soft floor shadows, spill, clean plates and the true alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from capturerig.config import LightingCondition, RigConfig, default_rig_path, load_rig
from capturerig.lighting import frames_for_condition
from capturerig_sim.render import (
    camera_truth,
    clean_plate,
    fixture_lights,
    floor_mask,
    render_image,
    render_linear,
    stage_look,
    subject_alpha,
    subject_mask,
)

LOOK = {"shadows": True, "light_radius_m": 0.15, "spill": 0.3, "backdrop": [0.01, 0.03, 0.015]}


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


def _white(rig: RigConfig) -> dict[tuple[str, int], bytes]:
    condition = LightingCondition.model_validate(
        {"id": "w", "levels": {"*": {"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}}})
    return frames_for_condition(rig, condition)


def test_without_a_look_the_render_is_unchanged(rig: RigConfig) -> None:
    plain = rig.model_copy(update={"simulation": {**rig.simulation, "look": {}}})
    camera = rig.cameras[8]
    assert stage_look(rig) == stage_look(plain)
    assert np.array_equal(render_image(camera, rig, _white(rig), noise_seed=1),
                          render_image(camera, plain, _white(rig), noise_seed=1))


def test_the_subject_shadows_the_floor_softly_and_darkest_near_its_feet(rig: RigConfig) -> None:
    camera = rig.cameras[8]  # the high ring sees the table top round the feet
    truth = camera_truth(camera, rig)
    lights = fixture_lights(rig, _white(rig))
    plain = render_linear(truth, lights, 0.0).sum(axis=2)
    shaded = render_linear(truth, lights, 0.0, look=stage_look(
        rig.model_copy(update={"simulation": {"look": LOOK}}))).sum(axis=2)
    floor = floor_mask(camera, 0.0, rig)
    ratio = shaded[floor] / plain[floor]
    assert ratio.max() <= 1.0 + 1e-6  # a shadow only takes light away
    assert ratio.min() < 0.4  # deep by the feet
    assert 0.1 < float(np.mean(ratio < 0.9)) < 0.6  # a region of the table, not all of it
    # Soft: between lit and deep shadow there are many partly lit pixels (a penumbra), not a hard step.
    assert float(np.mean((ratio > 0.45) & (ratio < 0.85))) > 0.05
    # Darker near the feet: the floor within 15 px of the subject in the image against the rest of it.
    near = cv2.dilate(subject_mask(camera, 0.0, rig).astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert ratio[near[floor]].mean() < ratio[~near[floor]].mean() - 0.1


def test_spill_tints_the_subjects_edge_towards_the_backdrop_and_leaves_its_middle(rig: RigConfig) -> None:
    camera = rig.cameras[0]
    truth = camera_truth(camera, rig)
    lights = fixture_lights(rig, _white(rig))
    plain = render_linear(truth, lights, 0.0)
    spilled = render_linear(truth, lights, 0.0, look=stage_look(
        rig.model_copy(update={"simulation": {"look": {"spill": 0.5, "backdrop": [0.0, 0.5, 0.0]}}})))
    subject = subject_mask(camera, 0.0, rig)
    change = np.abs(spilled - plain).sum(axis=2)
    inner = subject.copy()
    for _ in range(6):  # six pixels in from the silhouette
        inner[1:-1, 1:-1] &= inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    edge = subject & ~inner
    assert change[edge].mean() > 5 * change[inner].mean()
    assert (spilled[edge][:, 1] - plain[edge][:, 1]).mean() > 0  # greener, as the backdrop is


def test_a_clean_plate_is_the_empty_rig_under_the_same_light(rig: RigConfig) -> None:
    camera = rig.cameras[8]
    staged = rig.model_copy(update={"simulation": {**rig.simulation, "look": LOOK}})
    plate = clean_plate(camera, staged, _white(rig)).astype(int)
    image = render_image(camera, staged, _white(rig)).astype(int)
    subject = subject_alpha(camera, 0.0, staged) > 0.5
    floor = floor_mask(camera, 0.0, staged)
    assert subject.any()
    assert np.array_equal(plate[~subject & ~floor], image[~subject & ~floor])  # the backdrop: no change
    assert (image[floor].sum(axis=1) <= plate[floor].sum(axis=1) + 1).all()  # the floor: only shadowed
    assert (plate[subject] != image[subject]).any(axis=1).mean() > 0.9


def test_the_true_alpha_is_the_subjects_coverage_at_every_angle(rig: RigConfig) -> None:
    camera = rig.cameras[3]
    for angle in (0.0, 90.0):
        alpha = subject_alpha(camera, angle, rig)
        assert alpha.dtype == np.float32
        assert set(np.unique(alpha)) <= {0.0, 1.0}
        assert np.array_equal(alpha > 0.5, subject_mask(camera, angle, rig))


def test_a_malformed_look_is_refused_naming_the_key(rig: RigConfig) -> None:
    for look, key in (({"spill": 2}, "spill"), ({"shadow": True}, "unknown key 'shadow'"),
                      ({"backdrop": [0.1, 0.2]}, "backdrop"), ({"light_radius_m": 0}, "light_radius_m")):
        bad = rig.model_copy(update={"simulation": {"look": look}})
        with pytest.raises(ValueError, match=f"simulation.look.*{key}"):
            stage_look(bad)
