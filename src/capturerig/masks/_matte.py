"""Difference matting against a clean plate: what differs from the empty rig, less what only darkened it.

Per pixel, in linear light: the difference of image and plate over the noise expected there (:func:`noise_sigma`
of the plate, for image and plate both, plus a small share of the level for JPEG blocks and light flicker)
gives a score z. A shadow darkens the plate's colour, and smoothly: under light of one colour by one factor
for every channel; where the fixtures and the room's ambient differ in colour (a red key, a white ambient) a
shadow that hides the key shifts the chromaticity too, so the test is per channel: a pixel whose every channel
is at most its plate's (within the noise) and whose ratios to the plate vary little round it is background
however large its z. A subject in front of the plate fails it: its texture makes the ratios vary, and it is
seldom darker than the plate in all three channels. The rest is thresholded with hysteresis (strong seeds grow
into weak neighbours), opened to drop specks, closed, its small holes filled, and only the large components
kept; at its edge luma decides (a JPEG's colour bleeds past the subject, see :func:`_trim_edge`).

Pixels the evidence leaves in doubt (explained as a shadow, or a weak difference) are returned as ``unsure``:
where a visual hull is available it decides them (:mod:`capturerig.masks._hull`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.masks._linear import (
    MIN_SIGMA_CODES,
    Float32Array,
    LinearImage,
    encoded_values,
    noise_sigma,
    texture_of,
)

__all__ = ["Matte", "MatteSettings", "clean_mask", "difference_matte", "fill_holes"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MatteSettings:
    """Thresholds of the difference matte (scores are in noise sigmas).

    Attributes
    ----------
    strong, weak
        Hysteresis: a component of pixels scoring over ``weak`` counts when it holds one over ``strong``.
    unsure
        Below ``weak`` but over this: a weak difference, left to the hull when there is one.
    relative
        Share of the plate's level added to the noise (flicker, a plate shot minutes apart).
    texture
        Share of the plate's local detail added to the noise (JPEG blocks, a shift of a fraction of a pixel).
    ringing
        At the edge of a JPEG's mask, a pixel's luma difference must exceed this share of the largest one
        within ``edge_px`` (a JPEG rings beside a strong edge, in proportion to it).
    edge_px
        Width of the mask's edge band where luma decides (JPEG's half-resolution colour and a demosaic's
        fringes reach that far); 0 turns the trim off.
    edge_keep
        A pixel of the edge band whose score is over this stays whatever its luma says.
    shadow_min_k, shadow_max_k
        How much a shadow may darken (the share of the plate's light left) and how near 1 a "no change" may
        brighten, per channel.
    shadow_spread
        Largest standard deviation of a channel's ratio to the plate over 7 x 7 pixels, relative to the ratio:
        shadows vary smoothly, a subject's texture in front of the plate does not.
    max_hole
        Holes in the mask up to this share of its area are filled (a patch of the subject that matched the
        plate); larger ones are real (between the legs, an arm on the hip).
    min_component
        Components smaller than this share of the largest are dropped (specks, stray blobs).
    """

    strong: float = 10.0
    weak: float = 4.0
    unsure: float = 2.0
    relative: float = 0.02
    texture: float = 0.25
    ringing: float = 0.12
    edge_px: int = 2
    edge_keep: float = 20.0
    shadow_min_k: float = 0.03
    shadow_max_k: float = 1.05
    shadow_spread: float = 0.15
    max_hole: float = 0.01
    min_component: float = 0.02


@dataclass(frozen=True)
class Matte:
    """A camera's verdict on one image: ``foreground`` (the mask) and ``unsure`` pixels (bool, height x width)."""

    foreground: BoolArray
    unsure: BoolArray


def _local_std(values: Float32Array, size: int = 7) -> Float32Array:
    """Standard deviation of ``values`` over ``size`` x ``size`` pixels."""
    mean = cv2.blur(values, (size, size))
    square = cv2.blur(values * values, (size, size))
    return np.sqrt(np.maximum(square - mean * mean, 0.0)).astype(np.float32)


def _shadow_like(image: Float32Array, plate: Float32Array, variance: Float32Array,
                 settings: MatteSettings) -> BoolArray:
    """Pixels that a smooth darkening of the plate explains: every channel's ratio to the plate at most 1
    (within the noise) and at least ``shadow_min_k``, and each ratio nearly constant round the pixel."""
    noise = np.sqrt(variance)
    # A channel whose plate is at its own noise level carries no light to take away: it cannot vote.
    used = plate > 5.0 * noise
    darker = (image <= plate * settings.shadow_max_k + 2.0 * noise) & (image >= plate * settings.shadow_min_k
                                                                       - 2.0 * noise)
    dark = np.where(used, darker, True).all(axis=2) & used.any(axis=2)
    # Ratios of 3 x 3 means: the noise of single pixels would hide how smooth a shadow is.
    ratio = cv2.blur(image, (3, 3)) / np.maximum(cv2.blur(plate, (3, 3)), np.float32(1e-6))
    # Over every pixel of the window, subject or not: a dark, unlit patch of the subject is smooth by itself
    # but not beside the rest of the subject, and a shadow's contact with the subject is its edge's business.
    spread = np.stack([_local_std(np.ascontiguousarray(ratio[..., c])) for c in range(ratio.shape[2])], axis=2)
    spread /= np.maximum(ratio, np.float32(1e-3))
    smooth = np.where(used, spread <= settings.shadow_spread, True).all(axis=2)
    return np.asarray(dark & smooth, dtype=bool)


def _score(image: Float32Array, plate: Float32Array, variance: Float32Array) -> Float32Array:
    """The difference in noise sigmas, root mean square over the channels."""
    return np.asarray(np.sqrt((((image - plate) ** 2) / variance).mean(axis=2)), dtype=np.float32)


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # JPEG's Y (BT.601), the part stored at full size


def _trim_edge(foreground: BoolArray, score: Float32Array, sigma: Float32Array, image: LinearImage,
               plate: LinearImage, settings: MatteSettings) -> BoolArray:
    """Drop colour fringes and ringing from the mask's edge band.

    An 8-bit JPEG stores colour at half resolution (4:2:0), so colour bleeds a pixel or two past the subject's
    edge, and its blocks ring beside a strong edge; demosaicing a RAW file makes colour fringes of its own. In
    the band, a pixel stays when its luma (a JPEG's own Y, at full resolution) differs from the plate's by more
    than the noise and by more than a share of the largest luma difference next to it (ringing scales with the
    edge), or when its whole difference is larger than bleeding colour makes (``edge_keep``).
    """
    size = 2 * settings.edge_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    edge = foreground & ~cv2.erode(foreground.astype(np.uint8), kernel).astype(bool)
    luma = np.abs((encoded_values(image) - encoded_values(plate)) @ _LUMA)
    # The luma's noise, in the file's own values: a code or more for 8-bit files, the plate's for linear ones.
    noise = MIN_SIGMA_CODES if image.encoding == "srgb8" else np.sqrt(2.0) * (sigma @ _LUMA)
    nearby = cv2.dilate(luma, kernel)
    kept = (luma > settings.weak * noise) & (luma > settings.ringing * nearby) | (score > settings.edge_keep)
    return clean_mask(foreground & ~(edge & ~kept), settings.min_component, settings.max_hole)


def _hysteresis(score: Float32Array, strong: float, weak: float) -> BoolArray:
    candidates = (score > weak).astype(np.uint8)
    count, labels = cv2.connectedComponents(candidates, connectivity=8)
    seeded = np.zeros(count, dtype=bool)
    seeded[np.unique(labels[score > strong])] = True
    seeded[0] = False
    return np.asarray(seeded[labels], dtype=bool)


def fill_holes(mask: BoolArray, max_share: float) -> BoolArray:
    """Fill the holes (background no path of background joins to the border) of at most ``max_share`` of the
    mask's area."""
    background = (~mask).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep_background = stats[:, cv2.CC_STAT_AREA] > max_share * max(int(mask.sum()), 1)
    keep_background[border] = True
    keep_background[0] = True  # label 0 is the foreground itself
    return np.asarray(mask | ~keep_background[labels], dtype=bool)


def clean_mask(mask: BoolArray, min_component: float, max_hole: float) -> BoolArray:
    """Open, close, fill small holes, keep the components of at least ``min_component`` of the largest one."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    cleaned = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, kernel)
    filled = fill_holes(cleaned.astype(bool), max_hole)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= min_component * areas.max()
    return np.asarray(keep[labels], dtype=bool)


def difference_matte(image_file: LinearImage, plate_file: LinearImage,
                     settings: MatteSettings = MatteSettings()) -> Matte:
    """The foreground of ``image_file`` against its clean ``plate_file`` (linear RGB, the same size).

    Raises
    ------
    ValueError
        When the two differ in shape.
    """
    image, plate = image_file.rgb, plate_file.rgb
    if image.shape != plate.shape:
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but its plate is "
                         f"{plate.shape[1]}x{plate.shape[0]}")
    sigma = noise_sigma(plate_file)
    # Image and plate are both noisy: twice the variance, plus the level's and the detail's shares.
    variance = (2.0 * sigma * sigma + (settings.relative * plate) ** 2
                + (settings.texture * texture_of(plate_file)) ** 2 + np.float32(1e-10))
    score = _score(image, plate, variance)
    shadow = _shadow_like(image, plate, variance, settings)
    score_fg = np.where(shadow, np.float32(0.0), score)
    raw = _hysteresis(score_fg, settings.strong, settings.weak)
    foreground = clean_mask(raw, settings.min_component, settings.max_hole)
    if settings.edge_px:
        foreground = _trim_edge(foreground, score, sigma, image_file, plate_file, settings)
    unsure = ~foreground & ((shadow & (score > settings.weak)) | ((score > settings.unsure) & ~raw))
    return Matte(foreground, np.asarray(unsure, dtype=bool))
