"""Difference matting against a clean plate: the subject is found, its shadow on the floor is not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.masks import LinearImage, MatteSettings, difference_matte, srgb_to_linear

SIZE = (240, 320)  # rows, columns
SYNTHETIC = Path("synthetic.jpg")


def _encode(linear: npt.NDArray[np.float64], noise: float, seed: int) -> npt.NDArray[np.uint8]:
    """Linear RGB to 8-bit sRGB codes with a little sensor noise, through a real JPEG."""
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(np.clip(linear, 1e-9, 1), 1 / 2.4)
                       - 0.055) * 255.0
    encoded += np.random.default_rng(seed).normal(0.0, noise, encoded.shape)
    codes = np.clip(np.rint(encoded), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", codes[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.ascontiguousarray(decoded[..., ::-1]).astype(np.uint8)


def _stage() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_],
                      npt.NDArray[np.bool_]]:
    """A plate (dark backdrop over a textured floor), the scene with a subject and its soft shadow, the true
    subject and where the shadow falls outside it."""
    rows, cols = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float64)
    rng = np.random.default_rng(7)
    plate = np.empty((*SIZE, 3))
    plate[:] = (0.012, 0.03, 0.016)  # a dark green backdrop
    floor = rows > 150
    texture = cv2.GaussianBlur(rng.uniform(0.5, 1.5, (*SIZE, 3)), (0, 0), 2.0)
    plate[floor] = (np.array([0.30, 0.24, 0.18]) * texture)[floor]
    # The subject: an upright ellipse standing on the floor, with a texture of its own.
    subject = ((cols - 160) / 40) ** 2 + ((rows - 110) / 90) ** 2 <= 1.0
    colour = cv2.GaussianBlur(rng.uniform(0.05, 0.6, (*SIZE, 3)), (0, 0), 1.5)
    # The soft shadow: a smooth darkening to the subject's right on the floor, deeper near its foot; the key
    # light is warm and the ambient white, so where the key is hidden the floor also turns cooler.
    distance = np.hypot((cols - 215) / 70, (rows - 190) / 40)
    key_left = 0.3 + 0.7 * np.clip(distance - 0.2, 0.0, 1.0)  # a penumbra some 50 px wide round a core
    shade = np.stack([key_left, 0.1 + 0.9 * key_left, 0.25 + 0.75 * key_left], axis=-1)
    scene = plate * np.where(floor[..., None], shade, 1.0)
    scene[subject] = colour[subject]
    shadow = floor & ~subject & (key_left < 0.9)
    return plate, scene, subject, shadow


@pytest.mark.parametrize("seed", [1, 2])
def test_the_subject_is_masked_and_its_shadow_on_the_floor_is_not(seed: int) -> None:
    plate, scene, subject, shadow = _stage()
    assert shadow.sum() > 3000  # the shadow is a large region, not a sliver
    image = LinearImage(srgb_to_linear(_encode(scene, 1.0, seed)), SYNTHETIC, "srgb8")
    clean = LinearImage(srgb_to_linear(_encode(plate, 1.0, seed + 100)), SYNTHETIC, "srgb8")

    matte = difference_matte(image, clean)

    mask = matte.foreground
    iou = (mask & subject).sum() / (mask | subject).sum()
    assert iou >= 0.97, f"IoU {iou:.3f}"
    # Right at the subject's edge a JPEG mixes the two (its colour is stored at half resolution), so the
    # pixels within 3 px of the subject are judged as its edge is, not as shadow.
    away = shadow & ~cv2.dilate(subject.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (mask & away).sum() <= 0.01 * away.sum(), "the shadow was taken for the subject"
    assert (mask & shadow).sum() <= 0.05 * shadow.sum()


def test_without_the_shadow_test_the_same_shadow_is_taken_for_the_subject() -> None:
    """The shadow above is strong enough to matter: the test that keeps it out is what does."""
    plate, scene, _, shadow = _stage()
    image = LinearImage(srgb_to_linear(_encode(scene, 1.0, 1)), SYNTHETIC, "srgb8")
    clean = LinearImage(srgb_to_linear(_encode(plate, 1.0, 101)), SYNTHETIC, "srgb8")

    matte = difference_matte(image, clean, MatteSettings(shadow_max_k=-1.0))  # nothing counts as a shadow

    assert (matte.foreground & shadow).sum() > 0.3 * shadow.sum()


def test_an_image_of_the_empty_rig_gives_an_empty_mask() -> None:
    plate, _, _, _ = _stage()
    image = LinearImage(srgb_to_linear(_encode(plate, 1.0, 5)), SYNTHETIC, "srgb8")
    clean = LinearImage(srgb_to_linear(_encode(plate, 1.0, 6)), SYNTHETIC, "srgb8")

    assert not difference_matte(image, clean).foreground.any()


def test_an_image_and_plate_of_different_sizes_are_refused() -> None:
    small = LinearImage(np.zeros((10, 12, 3), np.float32), SYNTHETIC, "srgb8")
    large = LinearImage(np.zeros((12, 10, 3), np.float32), SYNTHETIC, "srgb8")
    with pytest.raises(ValueError, match="image is 12x10 but its plate is 10x12"):
        difference_matte(small, large)
